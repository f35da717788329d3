//! The command the container runs, as the trace starts from it: the image's
//! Entrypoint and Cmd with `docker run`'s overrides, its HEALTHCHECK, and the
//! options (`--exec`, `--keep`, rules, what a probe observed) a trace runs
//! with. `analyze`, `rewrite` and `licenses` all trace through [`run_trace`].

use crate::fs::Rootfs;
use crate::image::Image;
use crate::rules;
use serde::Serialize;
use std::collections::BTreeMap;

/// What to trace besides the image's own entrypoint.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Replaces the Entrypoint (like `docker run --entrypoint`): a non-empty
    /// one also clears the image's Cmd unless `cmd` is given.
    pub entrypoint: Option<Vec<String>>,
    /// Replaces the Cmd (like `docker run IMAGE ARG…`).
    pub cmd: Option<Vec<String>>,
    pub exec: Vec<String>,
    /// The user's `--keep` globs (traced when they are ELF files).
    pub keep: Vec<String>,
    /// The user's `--keep-package` names (their ELF files traced).
    pub keep_packages: Vec<String>,
    pub rules: crate::rules::Rules,
    /// Replaces the image's HEALTHCHECK test (`--healthcheck`): `Some(None)`
    /// removes it, `Some(Some(test))` is a new `["CMD", …]`/`["CMD-SHELL", …]`.
    pub healthcheck: Option<Option<Vec<String>>>,
    /// Image paths a probe saw the container open (`--probe`) → the probe.
    pub observed: BTreeMap<String, String>,
}

impl Options {
    /// Entrypoint and Cmd as the container will run them: the image's, with
    /// the overrides applied as `docker run` applies them.
    pub fn command(&self, image: &Image) -> (Vec<String>, Vec<String>) {
        let cfg = image.config.config().as_ref();
        let strings = |v: Option<&Vec<String>>| v.cloned().unwrap_or_default();
        let entrypoint = match &self.entrypoint {
            Some(e) => e.clone(),
            None => strings(cfg.and_then(|c| c.entrypoint().as_ref())),
        };
        // moby's merge: a new non-empty Entrypoint drops the image's Cmd; an
        // empty one (`--entrypoint ''`) runs the image's Cmd directly.
        let cmd = match (&self.cmd, &self.entrypoint) {
            (Some(c), _) => c.clone(),
            (None, Some(e)) if !e.is_empty() => Vec::new(),
            (None, _) => strings(cfg.and_then(|c| c.cmd().as_ref())),
        };
        (entrypoint, cmd)
    }

    /// The HEALTHCHECK test the container will run (`["CMD", …]` or
    /// `["CMD-SHELL", "…"]`): the override, else the image's; None when it
    /// has none (or `["NONE"]`, which disables an inherited one).
    pub fn healthcheck(&self, image: &Image) -> Option<Vec<String>> {
        let test = match &self.healthcheck {
            Some(h) => h.clone()?,
            None => image_healthcheck(&image.config_raw)?.test,
        };
        match test.first().map(String::as_str) {
            Some("CMD" | "CMD-SHELL") if test.len() > 1 => Some(test),
            _ => None,
        }
    }
}

/// Docker's `config.Healthcheck` (the image-spec leaves it out; Docker,
/// BuildKit and Buildah write it, also in OCI configs).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Healthcheck {
    /// `["CMD", prog, args…]`, `["CMD-SHELL", "command"]` or `["NONE"]`.
    pub test: Vec<String>,
    /// Interval, Timeout, StartPeriod, StartInterval (nanoseconds) and Retries, as the image has them.
    #[serde(flatten)]
    pub timing: BTreeMap<String, serde_json::Value>,
}

/// The image config's Healthcheck, if it has one with a Test.
pub fn image_healthcheck(raw: &[u8]) -> Option<Healthcheck> {
    let v: serde_json::Value = serde_json::from_slice(raw).ok()?;
    let h = v.get("config")?.get("Healthcheck")?.as_object()?;
    let test: Vec<String> = h
        .get("Test")?
        .as_array()?
        .iter()
        .filter_map(|t| t.as_str().map(String::from))
        .collect();
    if test.is_empty() {
        return None;
    }
    let timing = h
        .iter()
        .filter(|(k, _)| *k != "Test")
        .map(|(k, v)| (k.to_lowercase(), v.clone()))
        .collect();
    Some(Healthcheck { test, timing })
}

/// Problems that make the analysis meaningless.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{what}: {source}")]
    Resolve {
        what: String,
        source: crate::fs::ResolveError,
    },
}

/// Runs the trace the report is built on.
pub fn run_trace(
    image: &Image,
    layers: &Rootfs,
    catalog: &crate::catalog::Catalog,
    opts: &Options,
) -> Result<crate::trace::Trace, Error> {
    let cfg = image.config.config().as_ref();
    let strings = |v: Option<&Vec<String>>| v.cloned().unwrap_or_default();
    let (mut argv, cmd) = opts.command(image);
    argv.extend(cmd);
    let topts = crate::trace::TraceOptions {
        argv,
        env: strings(cfg.and_then(|c| c.env().as_ref())),
        workdir: cfg
            .and_then(|c| c.working_dir().clone())
            .unwrap_or_default(),
        exec: opts.exec.clone(),
        keep: opts.keep.clone(),
        keep_packages: opts.keep_packages.clone(),
        healthcheck: opts.healthcheck(image).unwrap_or_default(),
        observed: opts.observed.clone(),
    };
    crate::trace::trace(layers, catalog, &opts.rules, &topts).map_err(|e| Error::Resolve {
        what: "entrypoint".into(),
        source: e,
    })
}

/// The default PATH of container runtimes when the image sets none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Why a program the container runs is not there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotFound {
    /// A path (`/app/run`, `./run`) that is not a regular file in the image.
    #[error("{0} is not a regular file in the image")]
    NotAFile(String),
    /// A bare name no PATH directory holds.
    #[error("{0} is not found in PATH")]
    NotOnPath(String),
}

/// Finds the program a container runs for `argv0`: through PATH (from the
/// image Env) or relative to WorkingDir, following symlinks in the image.
/// Returns the path it was found at (not symlink-resolved), or why not;
/// a symlink loop is an error.
pub fn resolve_program(
    tree: &crate::fs::Tree,
    argv0: &str,
    env: &[String],
    workdir: &str,
) -> Result<Result<String, NotFound>, crate::fs::ResolveError> {
    let candidates: Vec<String> = if argv0.contains('/') {
        if argv0.starts_with('/') {
            vec![argv0.to_string()]
        } else {
            vec![rules::normalize(&format!(
                "{}/{argv0}",
                if workdir.is_empty() { "/" } else { workdir }
            ))]
        }
    } else {
        let path = env
            .iter()
            .find_map(|e| e.strip_prefix("PATH="))
            .unwrap_or(DEFAULT_PATH);
        path.split(':')
            .filter(|d| d.starts_with('/'))
            .map(|d| format!("{}/{argv0}", d.trim_end_matches('/')))
            .collect()
    };
    for c in &candidates {
        match tree.resolve(c, true) {
            Ok(r) if tree.get(&r.path).is_some_and(|n| n.is_file()) => return Ok(Ok(c.clone())),
            Err(e @ crate::fs::ResolveError::Loop { .. }) => return Err(e),
            _ => {}
        }
    }
    Ok(Err(if argv0.contains('/') {
        NotFound::NotAFile(argv0.to_string())
    } else {
        NotFound::NotOnPath(argv0.to_string())
    }))
}

/// The image's programs (executable files and links) closest to `want`, a
/// program name or path that is not there: by name, else by whole path.
pub(super) fn closest_programs(tree: &crate::fs::Tree, want: &str) -> Vec<String> {
    let programs: Vec<(String, &str)> = tree
        .iter()
        .filter(|(_, n)| (n.is_file() || n.symlink_target().is_some()) && n.meta.mode & 0o111 != 0)
        .map(|(p, _)| (format!("/{p}"), p.rsplit('/').next().unwrap_or(p)))
        .collect();
    let base = want.rsplit('/').next().unwrap_or(want);
    let names = rules::closest(base, programs.iter().map(|(_, b)| *b));
    let mut out: Vec<String> = Vec::new();
    for n in names {
        out.extend(
            programs
                .iter()
                .filter(|(_, b)| *b == n)
                .map(|(p, _)| p.clone()),
        );
    }
    // `/usr/sbin/ngnix`: of the programs of that name, the nearest path first.
    if want.contains('/') {
        out.sort_by_key(|p| rules::distance(want, p));
    }
    if out.is_empty() && want.contains('/') {
        out = rules::closest(want, programs.iter().map(|(p, _)| p.as_str()))
            .into_iter()
            .map(String::from)
            .collect();
    }
    out.truncate(5);
    out
}
