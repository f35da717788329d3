//! `slim rewrite`: write the slimmed image.

use super::{human_bytes, progress::Bars, Format, ImageArgs};
use crate::image::write::{self, LayerOptions, Output};
use crate::image::{Compression, Transport};
use anyhow::Context;
use serde_json::json;
use std::io::Write;
use std::process::ExitCode;

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
#[derive(clap::Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct Args {
    #[command(flatten)]
    image: ImageArgs,
    /// Where to write the image (as for `slim copy`).
    #[arg(
        short = 'o',
        long = "output",
        value_name = "DEST",
        required_unless_present = "dry_run"
    )]
    output: Option<String>,
    /// Run as the non-root user 65532, in /home/nonroot unless the image sets a
    /// WorkingDir; the directories the program writes are given to that user.
    #[arg(long)]
    nonroot: bool,
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
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut out = args.output.as_deref().map(Output::parse).transpose()?;
    if let Some(o) = &mut out {
        o.force = args.force;
    }
    if matches!(args.compression, super::Codec::Zstd)
        && out
            .as_ref()
            .is_some_and(|o| o.transport != Transport::DockerArchive)
    {
        super::warn_zstd();
    }
    let sboms = super::sbom_files::parse_specs(&args.sbom)?;
    if sboms.iter().any(|s| s.path.is_none()) {
        anyhow::bail!("--sbom takes FORMAT=PATH (stdout carries the plan)");
    }
    let sde = super::source_date_epoch()?;
    let aopts = args.slim.analyze_options()?;
    let profile = args.slim.profile()?;
    let mut popts = args.slim.plan_options();
    if args.nonroot {
        popts.run_as = profile.nonroot.as_ref().and_then(|n| {
            let (u, g) = n.user.split_once(':').unwrap_or((&n.user, &n.user));
            Some((u.parse().ok()?, g.parse().ok()?))
        });
    }
    let dest = out.as_ref().filter(|_| !args.dry_run);
    let (image, layers) = super::load_for(&args.image, args.format == Format::Human, dest)?;
    let catalog = crate::catalog::Catalog::read(&layers);
    let trace = crate::analyze::run_trace(&image, &layers, &catalog, &aopts)?;
    let mut plan = crate::plan::plan(&layers, &catalog, &trace, &profile, &popts)?;
    // The result check: what the command needs is in what would be written.
    let env: Vec<String> = image
        .config
        .config()
        .as_ref()
        .and_then(|c| c.env().clone())
        .unwrap_or_default();
    let checks = crate::plan::check::check(&plan, &layers, &trace, &env);
    plan.diagnostics.extend(checks);
    // Problems: warnings are said; errors (an image that would not start) stop
    // the rewrite unless --force.
    use crate::diagnostic::{Code, Severity};
    let problems: Vec<&crate::diagnostic::Diagnostic> = trace
        .diagnostics
        .iter()
        .chain(&plan.diagnostics)
        // A shell the plan accepted was kept on purpose (--keep): no need to say it.
        .filter(|d| {
            d.severity != Severity::Info
                && !matches!(d.code, Code::EntrypointNeedsShell | Code::EntrypointWrapper)
        })
        .collect();
    let fatal: Vec<&&crate::diagnostic::Diagnostic> =
        problems.iter().filter(|d| d.refused()).collect();
    for d in &problems {
        if !fatal.iter().any(|f| std::ptr::eq(**f, *d)) || args.force {
            eprintln!("slim: warning: {} [{}]", d.message, d.code);
        }
    }
    if !fatal.is_empty() && !args.force {
        let msgs: Vec<String> = fatal
            .iter()
            .map(|d| format!("{} [{}]", d.message, d.code))
            .collect();
        anyhow::bail!(
            "not writing an image that would not start: {} (--force writes it anyway)",
            msgs.join("; ")
        );
    }

    let mut report = serde_json::to_value(&plan)?;
    report["source"] = json!(image.reference.to_string());
    report["profile"] = json!(profile.name);
    let written = match (&out, args.dry_run) {
        (Some(out), false) => {
            let work = write::work_dir(out)?;
            let bars = Bars::new(!args.image.quiet && args.format == Format::Human);
            let compression = match out.transport {
                Transport::DockerArchive => Compression::None,
                _ => args.compression.into(),
            };
            let content = crate::plan::PlanContent {
                plan: &plan,
                layers: &layers,
            };
            let split;
            let trees = if args.layers == 2 {
                split = plan.split(&layers, &catalog, &profile);
                vec![&split.0, &split.1]
            } else {
                vec![&plan.tree]
            };
            let mut built = Vec::new();
            for (i, tree) in trees.into_iter().enumerate() {
                built.push(write::build_layer(
                    tree,
                    &content,
                    LayerOptions {
                        compression,
                        clamp_mtime: sde,
                    },
                    work.path(),
                    &bars,
                    i,
                )?);
            }
            bars.clear();
            let exists = |p: &str| {
                plan.tree
                    .resolve(p, true)
                    .ok()
                    .and_then(|r| plan.tree.get(&r.path).map(|n| n.is_file()))
                    .unwrap_or(false)
            };
            let command =
                (aopts.entrypoint.is_some() || aopts.cmd.is_some()).then(|| aopts.command(&image));
            let config = crate::plan::config::slim_config(
                &image.config_raw,
                &profile,
                args.nonroot,
                command.as_ref(),
                &exists,
            )?;
            let kept: u64 = plan.kept.values().map(|c| c.bytes).sum();
            let files: usize = plan.kept.values().map(|c| c.files).sum();
            let what = format!(
                "slim rewrite --to {}: kept {files} of {} files ({} of {})",
                profile.name,
                plan.source_files,
                human_bytes(kept),
                human_bytes(plan.source_bytes)
            );
            let created = sde.map(crate::image::write::rfc3339);
            let diff_ids: Vec<_> = built.iter().map(|l| l.diff_id.clone()).collect();
            let config = write::derive_config(&config, &diff_ids, &what, created.as_deref())?;
            let base = image
                .manifest_digest
                .as_ref()
                .unwrap_or(&image.config_digest)
                .to_string();
            let mut ann = vec![("org.opencontainers.image.base.digest".to_string(), base)];
            ann.push((
                "org.opencontainers.image.base.name".to_string(),
                image
                    .name
                    .clone()
                    .unwrap_or_else(|| image.reference.to_string()),
            ));
            let w = write::write_image(out, &config, built, &ann, sde.unwrap_or(0))
                .with_context(|| format!("writing {}", out.path.display()))?;
            report["written"] = serde_json::to_value(&w)?;
            if !sboms.is_empty() {
                // The SBOM describes what was written: read it back.
                let r = crate::image::ImageRef {
                    transport: Some(out.transport),
                    path: out.path.clone(),
                    tag: out.tag.clone(),
                };
                let written = crate::image::open(&r, None)?;
                let wl = crate::image::read_layers(&written, &crate::progress::Silent)?;
                super::sbom_files::write(
                    &written,
                    &wl,
                    &sboms,
                    &crate::catalog::license::Table::builtin(),
                    true,
                )?;
            }
            Some(w)
        }
        _ => None,
    };
    if let Some(p) = &args.report {
        std::fs::write(p, serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("writing {}", p.display()))?;
    }
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
            match &written {
                Some(w) => writeln!(
                    o,
                    "Written    {} {} ({})",
                    w.transport.name(),
                    w.path.display(),
                    w.digests()
                )?,
                None => writeln!(o, "Dry run    nothing written")?,
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
