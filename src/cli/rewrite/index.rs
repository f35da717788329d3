//! `slim rewrite` of a multi-platform index: every platform (or those
//! --platform lists) slimmed, one index of them written.

use super::super::{human_bytes, progress::Bars, Format};
use super::Args;
use crate::image::Platform;
use crate::rewrite::index::{rewrite_platforms, Build};
use crate::transport::{Index, IndexImage, Opened, Output};
use serde_json::json;
use std::io::Write;
use std::process::ExitCode;

/// Opens what the command names for `platforms` (none: every one): an index
/// of several, or one image (then checked not to be the output).
pub(super) fn open(
    args: &Args,
    platforms: &[Platform],
    dest: Option<&Output>,
) -> anyhow::Result<Opened> {
    let r = crate::image::ImageRef::parse(&args.image.image)?;
    if let Some(o) = dest {
        o.check()?;
    }
    let bars = Bars::new(args.format == Format::Human && !args.image.quiet);
    let ropts = args.image.registry.options()?;
    let opened = crate::transport::open_platforms(&r, platforms, &ropts, &bars);
    bars.clear();
    let opened =
        opened.map_err(
            |e| match e.to_string().contains(&r.path.display().to_string()) {
                true => anyhow::Error::new(e),
                false => anyhow::Error::new(e).context(format!("opening {r}")),
            },
        )?;
    let (reference, transport, name) = match &opened {
        Opened::Image(i) => (&i.reference, i.transport, i.name.as_deref()),
        Opened::Index(ix) => ix.source(),
    };
    if let Some(o) = dest {
        super::super::check_replaces(o, reference, transport, name)?;
    }
    if let (Opened::Image(i), true) = (&opened, platforms.len() > 1) {
        anyhow::bail!(
            "{r}: --platform lists {} platforms, but this is one image ({}), not an index",
            platforms.len(),
            i.platform()
        );
    }
    Ok(opened)
}

/// Rewrites each platform of `index` (those `platforms` names, else all)
/// and writes the index of them to `out`.
pub(super) fn run(
    args: &Args,
    index: Index,
    out: Option<&Output>,
    opts: &crate::rewrite::Options,
    platforms: &[Platform],
    probing: bool,
    sboms: &[super::super::sbom_files::Spec],
) -> anyhow::Result<ExitCode> {
    if probing {
        anyhow::bail!(
            "{}: probes run one platform's image: pick it with --platform (the index holds {})",
            index.location,
            labels(index.images())
        );
    }
    let chosen = index.select(platforms)?;
    // One SBOM per platform and --sbom, the platform in its name; checked
    // before any work, as the other outputs were.
    let per_sbom: Vec<Vec<super::super::sbom_files::Spec>> = chosen
        .iter()
        .map(|e| sboms.iter().map(|s| s.for_platform(&e.label())).collect())
        .collect();
    let files: Vec<_> = per_sbom
        .iter()
        .flatten()
        .filter_map(|s| s.file("--sbom"))
        .collect();
    super::super::outputs::check(&files, Some(&args.image.image), out, args.force)?;
    if let Some(o) = out.filter(|o| o.transport == crate::image::Transport::DockerArchive) {
        anyhow::bail!(
            "{}: a docker-archive holds one platform's image, and {} holds {}: write the \
             index to oci:, oci-archive: or docker://, or pick one with --platform",
            o.location(),
            index.location,
            labels(chosen.iter().copied())
        );
    }
    let dropped: Vec<_> = index
        .entries
        .iter()
        .filter(|e| e.reference_type.is_some())
        .collect();
    let dest = out.filter(|_| !args.dry_run);
    let work = dest.map(|o| o.destination().work_dir()).transpose()?;
    let compression = dest
        .and_then(|o| o.destination().compression(Some(opts.compression)))
        .unwrap_or(opts.compression);
    let build = work.as_ref().map(|w| Build {
        compression,
        work: w.path(),
    });
    let bars = Bars::new(!args.image.quiet && args.format == Format::Human);
    let done = rewrite_platforms(&index, &chosen, opts, build.as_ref(), &bars);
    bars.clear();

    let total = done.len();
    // Each platform that is not written: its label and why.
    let failed: Vec<(String, String)> = done
        .iter()
        .filter(|p| !p.ok())
        .map(|p| (p.entry.label(), p.problem().unwrap_or_default()))
        .collect();
    for p in &done {
        if let Ok(d) = &p.result {
            if d.refusal.is_none() {
                for diag in d.rewrite.problems() {
                    if !diag.refused() || args.force {
                        eprintln!("slim: warning: {}: {diag}", p.entry.label());
                    }
                }
            }
        }
    }
    let mut report = json!({
        "source": index.location,
        "profile": opts.profile.name,
        "index": {"digest": index.digest, "platforms": index.images().count()},
        "dropped": dropped.iter().map(|e| json!({
            "digest": e.digest,
            "type": e.reference_type,
            "describes": e.descriptor.pointer("/annotations/vnd.docker.reference.digest"),
        })).collect::<Vec<_>>(),
        "missing": Vec::<String>::new(),
        "written": null,
    });
    let mut per = Vec::new();
    for p in &done {
        let mut v = match &p.result {
            Ok(d) => {
                let mut v = serde_json::to_value(&d.rewrite.plan)?;
                v["diagnostics"] = serde_json::to_value(
                    d.rewrite
                        .trace
                        .diagnostics
                        .iter()
                        .chain(&d.rewrite.plan.diagnostics)
                        .collect::<Vec<_>>(),
                )?;
                v["refused"] = json!(d.refusal.as_ref().map(ToString::to_string));
                v
            }
            Err(e) => json!({"error": e.to_string()}),
        };
        v["platform"] = json!(p.entry.label());
        v["source_manifest"] = json!(p.entry.digest);
        per.push(v);
    }
    // Nothing is written when a platform failed (unless --force), or none is left.
    let refusal = match (failed.is_empty(), args.force, failed.len() == total) {
        (true, _, _) | (false, true, false) => None,
        _ => Some(
            failed
                .iter()
                .map(|(l, why)| format!("{l}: {why}"))
                .collect::<Vec<_>>()
                .join("; "),
        ),
    };
    let missing: Vec<String> = failed.iter().map(|(l, _)| l.clone()).collect();
    report["missing"] = json!(missing);
    report["refused"] = json!(refusal);
    let mut written = None;
    if let (Some(o), Some(w), None) = (dest, &work, &refusal) {
        let mut images = Vec::new();
        for p in done {
            let Ok(d) = p.result else { continue };
            let Some(b) = d.built else { continue };
            images.push(IndexImage {
                entry: p.entry,
                config: b.config,
                layers: b.layers,
                annotations: b.annotations,
            });
        }
        let mut annotations = vec![
            (
                "org.opencontainers.image.base.digest".to_string(),
                index.digest.to_string(),
            ),
            (
                "dev.slim.profile".to_string(),
                opts.profile.name.to_string(),
            ),
        ];
        if let Some(n) = index.base_name() {
            annotations.push(("org.opencontainers.image.base.name".to_string(), n));
        }
        if !dropped.is_empty() {
            let d: Vec<String> = dropped.iter().map(|e| e.digest.to_string()).collect();
            annotations.push(("dev.slim.dropped".to_string(), d.join(",")));
        }
        if !missing.is_empty() {
            annotations.push(("dev.slim.missing".to_string(), missing.join(",")));
        }
        annotations.sort();
        let bars = Bars::new(!args.image.quiet && args.format == Format::Human);
        let r = crate::transport::write_index(
            o,
            images,
            &annotations,
            w.path(),
            opts.source_date_epoch.unwrap_or(0),
            &bars,
        );
        bars.clear();
        let r =
            r.map_err(|e| anyhow::Error::new(e).context(format!("writing {}", o.location())))?;
        report["written"] = serde_json::to_value(&r)?;
        if !sboms.is_empty() {
            for e in &r.images {
                let i = chosen.iter().position(|c| c.label() == e.platform);
                let (Some(i), Ok(p)) = (i, Platform::parse(&e.platform)) else {
                    continue;
                };
                super::written_sboms(args, o, Some(&r.digest), Some(&p), &per_sbom[i])?;
            }
        }
        written = Some(r);
    }
    report["platforms"] = json!(per);
    super::save_report(args, &report)?;
    let mut o = std::io::stdout().lock();
    match args.format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut o, &report)?;
            writeln!(o)?;
        }
        Format::Human => {
            writeln!(
                o,
                "Index      {} ({} platforms; {} slimmed)",
                index.location,
                index.images().count(),
                chosen.len()
            )?;
            for v in &per {
                let label = v["platform"].as_str().unwrap_or_default();
                match v.get("error").and_then(|e| e.as_str()) {
                    Some(e) => writeln!(o, "  {label:<16} failed: {e}")?,
                    None => {
                        let sum = |k: &str, f: &str| -> u64 {
                            v[k].as_object()
                                .into_iter()
                                .flat_map(|m| m.values())
                                .filter_map(|c| c[f].as_u64())
                                .sum()
                        };
                        writeln!(
                            o,
                            "  {label:<16} kept {} files, {} (of {} files, {}){}",
                            sum("kept", "files"),
                            human_bytes(sum("kept", "bytes")),
                            v["source_files"].as_u64().unwrap_or(0),
                            human_bytes(v["source_bytes"].as_u64().unwrap_or(0)),
                            match v["refused"].as_str() {
                                Some(_) => "; left out: it would not start",
                                None => "",
                            }
                        )?;
                    }
                }
            }
            if !dropped.is_empty() {
                writeln!(
                    o,
                    "Dropped    {} attestation manifest(s): they describe the original images, not these",
                    dropped.len()
                )?;
            }
            match (&written, &refusal) {
                (Some(w), _) => {
                    let place = match out.and_then(|o| o.remote()) {
                        Some(r) => r.to_string(),
                        None => w.location.clone(),
                    };
                    writeln!(
                        o,
                        "Written    {place} (index {}, {} images{}{})",
                        w.digest,
                        w.images.len(),
                        match missing.is_empty() {
                            true => String::new(),
                            false => format!("; missing: {}", missing.join(", ")),
                        },
                        super::super::pushed(w.pushed.as_ref())
                    )?;
                }
                (None, Some(_)) => writeln!(o, "Refused    nothing written (see below)")?,
                (None, None) => writeln!(o, "Dry run    nothing written")?,
            }
        }
    }
    drop(o);
    match refusal {
        Some(r) => anyhow::bail!(
            "{}: not writing the index: {r}{}",
            index.location,
            match args.force || failed.len() == total {
                true => "",
                false => " (--force writes an index of the platforms that succeeded)",
            }
        ),
        None => Ok(ExitCode::SUCCESS),
    }
}

/// `linux/amd64, linux/arm64/v8`.
fn labels<'a>(entries: impl Iterator<Item = &'a crate::transport::Entry>) -> String {
    entries.map(|e| e.label()).collect::<Vec<_>>().join(", ")
}
