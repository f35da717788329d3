//! The probe options' part of `analyze` and `rewrite`: checked before the
//! image is read, run with a line on stderr per probe, printed with the plan.

use super::options::ProbeArgs;
use crate::run::probe::{Probe, Report, Settings};
use std::io::Write;

/// Checks the probe options before any work: each value parses and, when
/// any probe may run, an OCI runtime is there. None: no probe asked for.
pub(crate) fn settings(args: &ProbeArgs, verify: bool) -> anyhow::Result<Option<Settings>> {
    let any = args.probe
        || verify
        || !args.probe_http.is_empty()
        || !args.probe_exec.is_empty()
        || !args.probe_run.is_empty();
    if !any {
        return Ok(None);
    }
    // Syntax first: a mistyped probe is a usage error however the image turns out.
    args.probes(None, false)
        .or_else(|e| match args.probe || verify {
            // "needs a probe" waits for the image: its HEALTHCHECK may be one.
            true if e.to_string().contains("needs a probe") => Ok(Vec::new()),
            _ => Err(e),
        })?;
    let s = args.settings()?;
    if args.probe && !crate::run::is_root() {
        return Err(crate::run::probe::Error::Observe(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            "slim is not running as root",
        ))
        .into());
    }
    crate::tmp::sweep(&s.parent);
    Ok(Some(s))
}

/// Runs the probes with `run`, saying each outcome on stderr (`which`
/// image) unless quiet.
pub(crate) fn run_said(
    which: &str,
    probes: &[Probe],
    quiet: bool,
    run: impl FnOnce() -> anyhow::Result<Report>,
) -> anyhow::Result<Report> {
    if !quiet {
        let names: Vec<String> = probes.iter().map(ToString::to_string).collect();
        eprintln!("slim: probing the {which} image: {}", names.join(", "));
    }
    let r = run()?;
    if !quiet {
        for o in &r.outcomes {
            eprintln!(
                "slim:   {} {} ({}, {:.1} s)",
                o.probe,
                if o.passed { "passed" } else { "FAILED" },
                o.status,
                o.seconds
            );
        }
    }
    Ok(r)
}

/// The probes section of a human report: each probe on the original, and on
/// the slimmed image when verified.
pub(crate) fn human(
    o: &mut impl Write,
    original: &Report,
    slimmed: Option<&Report>,
) -> std::io::Result<()> {
    writeln!(o, "Probes")?;
    for p in &original.outcomes {
        let mut line = format!(
            "  {:<40} original: {}",
            p.probe,
            if p.passed { &p.status } else { "FAILED" }
        );
        if !p.passed {
            line.push_str(&format!(" ({})", p.status));
        }
        if let Some(s) = slimmed.and_then(|s| s.outcomes.iter().find(|s| s.probe == p.probe)) {
            line.push_str(&format!(
                "  slimmed: {}",
                if s.passed {
                    s.status.clone()
                } else {
                    format!("FAILED ({})", s.status)
                }
            ));
        }
        writeln!(o, "{line}")?;
    }
    Ok(())
}
