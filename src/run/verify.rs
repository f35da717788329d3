//! `--verify`: the slimmed image must pass every probe the original passed.
//! The verdict names each probe that broke, what the slim container said,
//! and — when the original run was observed (`--probe`) — the files it
//! opened that the slimmed image lacks, each with the `--keep` that adds it.

use super::probe::Report;
use crate::fs::Tree;
use serde::Serialize;

/// A probe the original passed and the slimmed image failed.
#[derive(Debug, Clone, Serialize)]
pub struct Broken {
    pub probe: String,
    pub original: String,
    pub slimmed: String,
    /// The tail of what the slim container (or the probe) wrote.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub output: String,
}

/// A file the original opened under a probe that the slimmed image lacks.
#[derive(Debug, Clone, Serialize)]
pub struct Missing {
    pub path: String,
    pub probe: String,
    /// The option that keeps it.
    pub keep: String,
}

/// The comparison of the two runs.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Verdict {
    pub broken: Vec<Broken>,
    /// Probes that fail on the original too: they check nothing.
    pub failing_on_original: Vec<String>,
    pub missing: Vec<Missing>,
}

impl Verdict {
    pub fn passed(&self) -> bool {
        self.broken.is_empty()
    }
}

/// Compares the original's run with the slimmed image's (`slim_tree`).
pub fn compare(original: &Report, slimmed: &Report, slim_tree: &Tree) -> Verdict {
    let mut v = Verdict::default();
    for o in &original.outcomes {
        if !o.passed {
            v.failing_on_original.push(o.probe.clone());
            continue;
        }
        match slimmed.outcomes.iter().find(|s| s.probe == o.probe) {
            Some(s) if !s.passed => v.broken.push(Broken {
                probe: o.probe.clone(),
                original: o.status.clone(),
                slimmed: s.status.clone(),
                output: if s.output.is_empty() {
                    slimmed.output.clone()
                } else {
                    s.output.clone()
                },
            }),
            _ => {}
        }
    }
    for (path, probe) in &original.observed {
        let there = slim_tree
            .resolve(path, false)
            .ok()
            .is_some_and(|r| slim_tree.get(&r.path).is_some());
        if !there {
            v.missing.push(Missing {
                path: path.clone(),
                probe: probe.clone(),
                keep: format!("--keep {path}"),
            });
        }
    }
    v
}

impl std::fmt::Display for Verdict {
    /// The lines `rewrite` says when the slimmed image fails.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for b in &self.broken {
            writeln!(
                f,
                "{}: passed on the original ({}), failed on the slimmed image: {}",
                b.probe, b.original, b.slimmed
            )?;
            if !b.output.is_empty() {
                let lines: Vec<&str> = b.output.lines().collect();
                let from = lines.len().saturating_sub(12);
                for l in &lines[from..] {
                    writeln!(f, "    | {l}")?;
                }
            }
        }
        if !self.missing.is_empty() {
            writeln!(
                f,
                "the original opened {} file(s) the slimmed image lacks:",
                self.missing.len()
            )?;
            for m in self.missing.iter().take(40) {
                writeln!(f, "    {:<60} {}", m.path, m.keep)?;
            }
            if self.missing.len() > 40 {
                writeln!(
                    f,
                    "    … {} more (--format json lists them all)",
                    self.missing.len() - 40
                )?;
            }
        }
        Ok(())
    }
}
