//! `slim rewrite`: write the slimmed image.

use super::{human_bytes, progress::Bars, Format, ImageArgs};
use crate::transport::Output;
use anyhow::Context;
use serde_json::json;
use std::io::Write;
use std::process::ExitCode;

mod index;

/// Turn the image into a distroless one that still runs, and say what went.
///
/// slim traces what the entrypoint needs (see `slim analyze`), adds the
/// profile's skeleton (users and groups, nsswitch, CA certificates, time
/// zones, os-release, /tmp, /home/nonroot, SSL_CERT_FILE) and package metadata
/// scanners read (/var/lib/dpkg/status.d, copyright files), and writes one
/// reproducible layer. Shells, package managers, docs and everything the
/// trace did not reach are left out. An entrypoint that needs a shell is
/// refused, with the ways out, instead of writing an image that cannot start.
///
/// Examples:
///   slim rewrite nginx.tar --to distroless -o nginx-slim.tar
///   slim rewrite app.tar --to distroless --nonroot --keep '/etc/app/**' -o oci:out:1.0
///   slim rewrite app.tar --to distroless --dry-run --format json | jq .dropped
///   slim rewrite docker://registry.example.com/app:2 --to distroless \
///       -o docker://registry.example.com/app:2-slim --creds "$USER:$TOKEN"
///   slim rewrite app.tar --probe-http 8080/healthz --probe --verify -o app-slim.tar
///   slim rewrite oci:multi:1 --platform linux/amd64,linux/arm64 -o oci:multi:1-slim
///
/// A multi-platform index is slimmed whole: each platform (or those --platform
/// lists) traced with its own objects, concurrently, into an index with the
/// same platform descriptors; attestation manifests are dropped. A platform
/// that fails fails the rewrite; --force writes the others and names it.
///
/// Probes run the image daemonless with runc, crun or youki, as Docker would
/// (its default capabilities, a private network with loopback only, pid and
/// memory limits). --probe keeps what the original opened under them;
/// --verify runs them again on the slimmed image before anything is written.
///
/// Exit status: 0 written (or dry run), 2 refused or failed, 3 the slimmed
/// image fails a probe the original passed (nothing written; --force writes it).
#[derive(clap::Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct Args {
    #[command(flatten)]
    image: ImageArgs,
    /// Where to write the image (as for `slim copy`): a path, oci:DIR[:TAG],
    /// oci-archive:PATH[:TAG], docker-archive:PATH[:REF], or docker://HOST/REPO:TAG.
    #[arg(
        short = 'o',
        long = "output",
        value_name = "DEST",
        required_unless_present = "dry_run"
    )]
    output: Option<String>,
    #[command(flatten)]
    slim: super::options::SlimArgs,
    /// Print the plan (kept and dropped files and bytes by category) without writing.
    #[arg(long)]
    dry_run: bool,
    /// Output format of the plan.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
    /// Also save the plan as JSON to this file.
    #[arg(long, value_name = "PATH")]
    report: Option<std::path::PathBuf>,
    /// Also write an SBOM of the slimmed image: FORMAT=PATH (spdx-json, cyclonedx-json,
    /// cyclonedx-json@1.5). Repeatable.
    #[arg(long, value_name = "FORMAT=PATH")]
    sbom: Vec<String>,
    /// Layer compression (docker-archive layers are always uncompressed). zstd
    /// needs recent tools: umoci 0.4.7 and Docker < 23 cannot read it.
    #[arg(long, value_enum, default_value = "gzip")]
    compression: super::Codec,
    /// 1: one layer. 2: a system layer (the profile's files and its system
    /// packages: libc, CA certificates, time zones, …) under an app layer, so
    /// images slimmed from one base share the first.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=2))]
    layers: u8,
    /// Write even when the result fails slim's checks, replace an -o that is not
    /// an image or is the input itself. (A directory is never deleted.)
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    probes: super::options::ProbeArgs,
    /// Run the probes on the slimmed image before writing it: when one that passed
    /// on the original fails, nothing is written and slim exits 3, naming the probe,
    /// the container's last output and (with --probe) the files it lacks.
    #[arg(long, help_heading = "Probes")]
    verify: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut out = args.output.as_deref().map(Output::parse).transpose()?;
    if let Some(o) = &mut out {
        o.force = args.force;
        args.image.registry.apply(o)?;
    }
    if matches!(args.compression, super::Codec::Zstd)
        && out.as_ref().is_some_and(|o| {
            let zstd = Some(crate::image::Compression::Zstd);
            o.destination().compression(zstd) == zstd
        })
    {
        super::warn_zstd();
    }
    let sboms = super::sbom_files::parse_specs(&args.sbom)?;
    if sboms.iter().any(|s| s.path.is_none()) {
        anyhow::bail!("--sbom takes FORMAT=PATH (stdout carries the plan)");
    }
    let profile = args.slim.profile()?;
    let mut probe_settings = super::probes::settings(&args.probes, args.verify)?;
    if let Some(s) = &mut probe_settings {
        // --verify watches the original too where it can (as root), so that a
        // failure can name the files the slimmed image lacks; only --probe keeps them.
        s.observe = args.probes.probe || (args.verify && crate::run::is_root());
    }
    let mut opts = crate::rewrite::Options {
        analyze: args.slim.analyze_options()?,
        plan: args.slim.plan_options(&profile),
        profile,
        nonroot: args.slim.nonroot,
        force: args.force,
        compression: args.compression.into(),
        split_layers: args.layers == 2,
        source_date_epoch: super::source_date_epoch()?,
    };
    let dest = out.as_ref().filter(|_| !args.dry_run);
    // Every file this writes is checked before any work: a bad --report never
    // leaves a written image behind.
    let mut files: Vec<_> = sboms.iter().filter_map(|s| s.file("--sbom")).collect();
    if let Some(p) = &args.report {
        files.insert(
            0,
            super::outputs::FileOut {
                option: "--report".into(),
                path: p.clone(),
                kind: super::outputs::Kind::Report,
            },
        );
    }
    super::outputs::check(&files, Some(&args.image.image), dest, args.force)?;
    if let Some(o) = dest {
        super::note_bare_destination(args.output.as_deref().unwrap_or_default(), o);
    }
    let platforms = args.image.platforms()?;
    let human = args.format == Format::Human;
    let (image, layers) = match platforms.as_slice() {
        [_] => super::load_for(&args.image, human, dest)?,
        _ => match index::open(&args, &platforms, dest)? {
            crate::transport::Opened::Index(ix) => {
                return index::run(
                    &args,
                    *ix,
                    out.as_ref(),
                    &opts,
                    &platforms,
                    probe_settings.is_some(),
                    &sboms,
                )
            }
            crate::transport::Opened::Image(i) => super::read_opened(&args.image, *i, human)?,
        },
    };
    if let Some(o) = &mut out {
        o.mount_from = image.reference.as_remote();
        if !args.dry_run {
            super::name_docker_archive(o, &image);
        }
    }
    let quiet = args.image.quiet || args.format != Format::Human;
    let mut probes = Vec::new();
    let original = match &probe_settings {
        Some(s) => {
            probes = args
                .probes
                .probes(opts.analyze.healthcheck(&image), args.verify)?;
            let r = super::probes::run_said("original", &probes, quiet, || {
                Ok(crate::analyze::probe(
                    &image,
                    &layers,
                    &opts.analyze,
                    &probes,
                    s,
                )?)
            })?;
            for p in r.outcomes.iter().filter(|o| !o.passed) {
                eprintln!(
                    "slim: warning: {} fails on the original image ({}): it checks nothing",
                    p.probe, p.status
                );
            }
            if args.probes.probe {
                opts.analyze.observed = r.observed.clone();
            }
            Some(r)
        }
        None => None,
    };
    let rewrite = crate::rewrite::prepare(&image, &layers, &opts)?;
    // Warnings are said; errors (an image that would not start) stop the
    // rewrite unless --force, and are said as warnings when forced. A refused
    // rewrite says only the refusal (the rest is in --format json and --report).
    let refusal = rewrite.refusal(args.force).err();
    for d in rewrite.problems().filter(|_| refusal.is_none()) {
        if !d.refused() || args.force {
            eprintln!("slim: warning: {d}");
        }
    }
    let plan = &rewrite.plan;

    // The report is made whether or not the image is written: a refused
    // rewrite still tells CI what it planned and why it stopped.
    let mut report = serde_json::to_value(plan)?;
    report["source"] = json!(image.reference.to_string());
    report["profile"] = json!(opts.profile.name);
    report["diagnostics"] = serde_json::to_value(
        rewrite
            .trace
            .diagnostics
            .iter()
            .chain(&plan.diagnostics)
            .collect::<Vec<_>>(),
    )?;
    report["refused"] = json!(refusal.as_ref().map(ToString::to_string));
    report["written"] = serde_json::Value::Null;
    // --verify: the slimmed image, unpacked from the plan, under the same probes.
    let mut slimmed = None;
    let mut verdict = None;
    if let (true, Some(s), Some(orig), None) = (args.verify, &probe_settings, &original, &refusal) {
        let r = super::probes::run_said("slimmed", &probes, quiet, || {
            Ok(rewrite.probe(&image, &layers, &opts, &probes, s)?)
        })?;
        verdict = Some(crate::run::verify::compare(orig, &r, &plan.tree));
        slimmed = Some(r);
    }
    if let Some(orig) = &original {
        report["probes"] = json!({
            "original": orig,
            "observed": args.probes.probe.then_some(orig.observed.len()),
            "observed_only": rewrite.trace.kept.iter().filter_map(|(p, r)| match r {
                crate::trace::Reason::Observed { probe } => Some(json!({"path": p, "probe": probe})),
                _ => None,
            }).collect::<Vec<_>>(),
            "slimmed": slimmed,
            "verdict": verdict,
        });
    }
    let failed = verdict.as_ref().is_some_and(|v| !v.passed());
    if failed {
        let v = verdict.as_ref().expect("verdict");
        match args.force {
            true => eprint!("slim: warning: --force: writing an image that fails a probe:\n{v}"),
            false => eprint!(
                "slim: error: the slimmed image fails a probe the original passed; nothing written (--force writes it anyway):\n{v}"
            ),
        }
        if v.missing.is_empty() && !args.probes.probe {
            eprintln!(
                "slim: hint: --probe watches the original under the probes and keeps what it opens"
            );
        }
    }
    let written = match (&out, args.dry_run, &refusal) {
        (Some(out), false, None) if !failed || args.force => {
            let bars = Bars::new(!args.image.quiet && args.format == Format::Human);
            let w = rewrite.write(&image, &layers, out, &opts, &bars);
            bars.clear();
            let w = w.with_context(|| format!("writing {}", out.location()))?;
            report["written"] = serde_json::to_value(&w)?;
            if !sboms.is_empty() {
                written_sboms(&args, out, w.manifest_digest.as_ref(), None, &sboms)?;
            }
            Some(w)
        }
        _ => None,
    };
    save_report(&args, &report)?;
    let mut o = std::io::stdout().lock();
    match args.format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut o, &report)?;
            writeln!(o)?;
        }
        Format::Human => {
            let kept_files: usize = plan.kept.values().map(|c| c.files).sum();
            let kept_bytes: u64 = plan.kept.values().map(|c| c.bytes).sum();
            writeln!(
                o,
                "Kept       {kept_files} files, {} (of {} files, {})",
                human_bytes(kept_bytes),
                plan.source_files,
                human_bytes(plan.source_bytes)
            )?;
            for (k, c) in &plan.kept {
                writeln!(
                    o,
                    "  {:<16} {:>6} files {:>10}",
                    k,
                    c.files,
                    human_bytes(c.bytes)
                )?;
            }
            let dropped_files: usize = plan.dropped.values().map(|c| c.files).sum();
            let dropped_bytes: u64 = plan.dropped.values().map(|c| c.bytes).sum();
            writeln!(
                o,
                "Dropped    {dropped_files} files, {}",
                human_bytes(dropped_bytes)
            )?;
            for (k, c) in &plan.dropped {
                writeln!(
                    o,
                    "  {:<16} {:>6} files {:>10}",
                    k,
                    c.files,
                    human_bytes(c.bytes)
                )?;
            }
            writeln!(
                o,
                "Packages   {} with metadata in {}",
                plan.packages.len(),
                if plan.metadata.is_empty() {
                    "no database".to_string()
                } else {
                    plan.metadata.join(", ")
                }
            )?;
            if let Some(orig) = &original {
                super::probes::human(&mut o, orig, slimmed.as_ref())?;
                let only = rewrite
                    .trace
                    .kept
                    .values()
                    .filter(|r| r.kind() == "observed")
                    .count();
                if args.probes.probe {
                    writeln!(
                        o,
                        "Observed   {} files opened, {only} kept for that alone (--format json lists them)",
                        orig.observed.len()
                    )?;
                }
            }
            match (&written, &refusal) {
                (Some(w), _) => writeln!(o, "Written    {}", super::written(out.as_ref(), w))?,
                (None, Some(_)) => writeln!(o, "Refused    nothing written (see below)")?,
                (None, None) if failed => writeln!(
                    o,
                    "Failed     nothing written: the slimmed image fails a probe"
                )?,
                (None, None) => writeln!(o, "Dry run    nothing written")?,
            }
        }
    }
    drop(o);
    match refusal {
        Some(e) => Err(e.into()),
        None if failed && !args.force => Ok(ExitCode::from(3)),
        None => Ok(ExitCode::SUCCESS),
    }
}

/// Writes `sboms` of what was written to `out` (read back: an SBOM describes
/// what is there): the image or index `digest` names at a registry (whatever
/// its tag names by now), else the output's tag; of an index, `platform`'s.
fn written_sboms(
    args: &Args,
    out: &Output,
    digest: Option<&crate::image::Digest>,
    platform: Option<&crate::image::Platform>,
    sboms: &[super::sbom_files::Spec],
) -> anyhow::Result<()> {
    let r = match (out.remote(), digest) {
        (Some(mut remote), Some(d)) => {
            remote.digest = Some(d.clone());
            remote.tag = None;
            crate::image::ImageRef::remote(&remote)
        }
        _ => crate::image::ImageRef {
            transport: Some(out.transport),
            path: out.path.clone(),
            tag: out.tag.clone(),
        },
    };
    let ropts = args.image.registry.options()?;
    let written = crate::transport::open(&r, platform, &ropts, &crate::progress::Silent)?;
    let wl = crate::image::read_layers(&written, &crate::progress::Silent)?;
    super::sbom_files::write(
        &written,
        &wl,
        sboms,
        &crate::catalog::license::Table::builtin(),
        true,
    )
}

/// `--report PATH`: the report as JSON, written under a temporary name.
fn save_report(args: &Args, report: &serde_json::Value) -> anyhow::Result<()> {
    if let Some(p) = &args.report {
        let mut bytes = serde_json::to_vec_pretty(report)?;
        bytes.push(b'\n');
        super::outputs::write(p, &bytes)?;
    }
    Ok(())
}
