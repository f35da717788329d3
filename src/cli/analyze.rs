//! `slim analyze`: print what an image is made of.

use super::{human_bytes, Format, ImageArgs};
use crate::analyze::Report;
use std::io::Write;
use std::process::ExitCode;

/// Report what an image is made of: config, layers, OS, package databases,
/// shells and package managers present, largest directories, and bytes hidden
/// by later layers (wasted, as `dive` shows).
///
/// Examples:
///   slim analyze nginx.tar
///   slim analyze oci:./layout:1.2 --platform linux/arm64 --format json | jq .totals
#[derive(clap::Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct Args {
    #[command(flatten)]
    image: ImageArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (image, layers) = super::load(&args.image, args.format == Format::Human)?;
    let report = crate::analyze::analyze(&image, &layers)?;
    let mut out = std::io::stdout().lock();
    match args.format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut out, &report)?;
            writeln!(out)?;
        }
        Format::Human => print_human(&mut out, &report)?,
    }
    Ok(ExitCode::SUCCESS)
}

fn words(v: &[String]) -> String {
    if v.is_empty() {
        "-".into()
    } else {
        serde_json::to_string(v).unwrap_or_default()
    }
}

/// An lddtree-like tree: each object's needs once, repeats not expanded.
fn print_tree(
    o: &mut impl Write,
    c: &crate::trace::Closure,
    from: &str,
    depth: usize,
    shown: &mut std::collections::BTreeSet<String>,
) -> std::io::Result<()> {
    if depth == 1 {
        writeln!(o, "  {from}")?;
    }
    if !shown.insert(from.to_string()) {
        return Ok(());
    }
    for e in c.edges.iter().filter(|e| e.from == from) {
        let pad = "  ".repeat(depth + 1);
        match &e.to {
            Some(to) if e.kind == crate::trace::EdgeKind::Interpreter => {
                writeln!(o, "{pad}interpreter {to}")?
            }
            Some(to) => {
                writeln!(o, "{pad}{} => {to}", e.name)?;
                print_tree(o, c, to, depth + 1, shown)?;
            }
            None => writeln!(o, "{pad}{} => NOT FOUND", e.name)?,
        }
    }
    Ok(())
}

fn print_human(o: &mut impl Write, r: &Report) -> std::io::Result<()> {
    let name = r
        .name
        .as_deref()
        .map(|n| format!(" ({n})"))
        .unwrap_or_default();
    writeln!(o, "Image        {}{name}", r.reference)?;
    writeln!(
        o,
        "Digest       {}",
        r.manifest_digest.as_ref().unwrap_or(&r.config_digest)
    )?;
    let os =
        r.os.as_ref()
            .and_then(|o| o.pretty_name.clone())
            .unwrap_or_else(|| "unknown (no os-release)".into());
    writeln!(o, "Platform     {}    OS {os}", r.platform)?;
    let c = &r.config;
    writeln!(
        o,
        "Entrypoint   {}    Cmd {}",
        words(&c.entrypoint),
        words(&c.cmd)
    )?;
    if let Some(p) = &r.entrypoint {
        let state = match (&p.resolved, &p.problem) {
            (Some(path), _) => path.clone(),
            (None, Some(problem)) => format!("NOT FOUND: {problem}"),
            (None, None) => "-".into(),
        };
        writeln!(o, "Runs         {state}")?;
    }
    let user = if c.user.is_empty() {
        "root (unset)"
    } else {
        &c.user
    };
    let wd = if c.workdir.is_empty() {
        "/ (unset)"
    } else {
        &c.workdir
    };
    writeln!(o, "User         {user}    WorkingDir {wd}")?;
    for e in &c.env {
        writeln!(o, "Env          {e}")?;
    }
    if !c.exposed_ports.is_empty() {
        writeln!(o, "Ports        {}", c.exposed_ports.join(" "))?;
    }
    let t = &r.totals;
    writeln!(
        o,
        "Layers       {} layer{}, {} compressed, {} uncompressed",
        t.layers,
        if t.layers == 1 { "" } else { "s" },
        human_bytes(t.compressed_size),
        human_bytes(t.uncompressed_size)
    )?;
    for l in &r.layers {
        let s = &l.stats;
        let by = l.created_by.as_deref().unwrap_or("");
        let by: String = if by.chars().count() > 60 {
            by.chars().take(57).chain("...".chars()).collect()
        } else {
            by.to_string()
        };
        writeln!(
            o,
            "  #{:<2} {} {:>4} {:>10} -> {:>10} {:>6} entries  {by}",
            s.index,
            s.digest.short(),
            s.compression.name(),
            human_bytes(s.compressed_size),
            human_bytes(s.uncompressed_size),
            s.entries
        )?;
    }
    writeln!(
        o,
        "Files        {} files ({}), {} dirs, {} symlinks, {} hardlinks, {} other",
        t.files,
        human_bytes(t.file_bytes),
        t.directories,
        t.symlinks,
        t.hardlinks,
        t.other
    )?;
    if r.package_databases.is_empty() {
        writeln!(o, "Packages     no package database found")?;
    }
    for db in &r.package_databases {
        let n = db
            .packages
            .map_or("not counted".to_string(), |n| format!("{n} installed"));
        writeln!(o, "Packages     {} {}: {n}", db.kind, db.path)?;
    }
    let list = |v: &[String]| {
        if v.is_empty() {
            "none".to_string()
        } else {
            v.join(" ")
        }
    };
    writeln!(o, "Shells       {}", list(&r.shells))?;
    writeln!(o, "Pkg managers {}", list(&r.package_managers))?;
    writeln!(o, "Largest directories")?;
    for d in &r.largest_directories {
        writeln!(
            o,
            "  {:>10} {:>6} files  {}",
            human_bytes(d.bytes),
            d.files,
            d.path
        )?;
    }
    if let Some(c) = &r.dependencies {
        let missing = c.missing().count();
        writeln!(
            o,
            "Dependencies {} ELF objects, {} unresolved",
            c.objects.len(),
            missing
        )?;
        if let Some(root) = c
            .edges
            .first()
            .map(|e| e.from.clone())
            .or_else(|| c.objects.keys().next().cloned())
        {
            let mut shown = std::collections::BTreeSet::new();
            print_tree(o, c, &root, 1, &mut shown)?;
        }
    }
    for d in &r.diagnostics {
        writeln!(o, "{:<12} {} [{}]", d.severity, d.message, d.code)?;
    }
    if r.hidden.files == 0 {
        writeln!(
            o,
            "Hidden       nothing: no file is deleted or replaced by a later layer"
        )?;
    } else {
        writeln!(
            o,
            "Hidden       {} files, {} wasted (deleted or replaced by a later layer)",
            r.hidden.files,
            human_bytes(r.hidden.bytes)
        )?;
        for h in &r.hidden.largest {
            writeln!(
                o,
                "  {:>10} {}  (layer {} -> hidden by {})",
                human_bytes(h.size),
                h.path,
                h.layer,
                h.hidden_by
            )?;
        }
    }
    Ok(())
}
