//! `slim analyze`: print what an image is made of.

use super::{human_bytes, Format, ImageArgs};
use crate::analyze::Report;
use std::io::Write;
use std::process::ExitCode;

/// Report what an image is made of and what its entrypoint really needs.
///
/// The report shows the config, layers, OS, package databases, shells and
/// package managers present, largest directories, bytes hidden by later layers
/// (wasted, as `dive` shows), the entrypoint's ELF dependency tree as the
/// dynamic loader resolves it, run-time loads found by the rules, named by
/// rule with the paths each keeps (NSS modules, libgcc_s, gconv, OpenSSL
/// modules, the JVM, Python, Node), the entrypoint package's data, what no
/// package owns (the app, wheels, a runtime in /usr/local), and the projected
/// size of the slimmed image.
///
/// Examples:
///   slim analyze nginx.tar
///   slim analyze oci:./layout:1.2 --platform linux/arm64 --format json | jq .projected
///   slim analyze nginx.tar --explain /usr/lib/x86_64-linux-gnu/libssl.so.3
///   slim analyze app.tar --exec /usr/bin/healthcheck --rules my-rules.toml
///   slim analyze app.tar --probe-http 8080/ --probe --format json | jq .probes.observed_only
#[derive(clap::Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct Args {
    #[command(flatten)]
    image: ImageArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
    /// Why PATH would be kept (the chain of reasons back to the entrypoint), or why it would be dropped.
    #[arg(long, value_name = "PATH")]
    explain: Option<String>,
    #[command(flatten)]
    slim: super::options::SlimArgs,
    #[command(flatten)]
    probes: super::options::ProbeArgs,
    #[command(flatten)]
    all: super::AllPlatforms,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.all.all_platforms {
        return all_platforms(&args);
    }
    let mut opts = args.slim.analyze_options()?;
    let profile = args.slim.profile()?;
    let probe_settings = super::probes::settings(&args.probes, false)?;
    let (image, layers) = super::load(&args.image, args.format == Format::Human)?;
    let catalog = crate::catalog::Catalog::read(&layers);
    super::warn_unread_databases(&catalog);
    let quiet = args.image.quiet || args.format != Format::Human;
    let probed = match &probe_settings {
        Some(s) => {
            let probes = args.probes.probes(opts.healthcheck(&image), false)?;
            let r = super::probes::run_said("original", &probes, quiet, || {
                Ok(crate::analyze::probe(&image, &layers, &opts, &probes, s)?)
            })?;
            opts.observed = r.observed.clone();
            Some(r)
        }
        None => None,
    };
    let trace = crate::analyze::run_trace(&image, &layers, &catalog, &opts)?;
    super::options::exec_found(&trace)?;
    let mut out = std::io::stdout().lock();
    if let Some(path) = &args.explain {
        let popts = args.slim.plan_options(&profile);
        return super::explain::explain(
            &mut out,
            &layers,
            &catalog,
            &trace,
            &profile,
            &popts,
            path,
            args.format,
        );
    }
    let mut report = report(&args, &profile, &image, &layers, &catalog, &trace)?;
    report.probes = probed.map(|r| crate::analyze::Probes::new(r, &trace));
    match args.format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut out, &report)?;
            writeln!(out)?;
        }
        Format::Human => print_human(&mut out, &report)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// The report on one image, traced: what it holds, its licenses, and with
/// --nonroot what that gives its user.
fn report(
    args: &Args,
    profile: &crate::plan::Profile,
    image: &crate::image::Image,
    layers: &crate::image::Layers,
    catalog: &crate::catalog::Catalog,
    trace: &crate::trace::Trace,
) -> anyhow::Result<Report> {
    let mut report = crate::analyze::analyze(image, layers, catalog, trace)?;
    let sbom = crate::sbom::build(
        image,
        layers,
        catalog,
        &crate::catalog::license::Table::builtin(),
        String::new(),
    );
    report.licenses = Some(crate::sbom::summary(&sbom));
    if args.slim.nonroot {
        // What --nonroot gives the user, from the plan rewrite would write.
        let popts = args.slim.plan_options(profile);
        let plan = crate::plan::plan(layers, catalog, trace, profile, &popts)?;
        report.owned_by_user = Some(plan.owned_by_user);
        report.diagnostics.extend(
            plan.diagnostics
                .into_iter()
                .filter(|d| d.code == crate::diagnostic::Code::NonrootPrecreated),
        );
        report
            .diagnostics
            .extend(crate::plan::config::privileged_ports(&image.config_raw));
    }
    Ok(report)
}

/// `--all-platforms`: each platform's report, one section each, or a JSON array.
fn all_platforms(args: &Args) -> anyhow::Result<ExitCode> {
    if args.explain.is_some() || super::probes::settings(&args.probes, false)?.is_some() {
        anyhow::bail!("--explain and the probes read one image: pick its platform with --platform");
    }
    let opts = args.slim.analyze_options()?;
    let profile = args.slim.profile()?;
    let human = args.format == Format::Human;
    let mut reports = Vec::new();
    super::each_image(&args.image, true, human, |label, image, layers| {
        let catalog = crate::catalog::Catalog::read(layers);
        super::warn_unread_databases(&catalog);
        let trace = crate::analyze::run_trace(image, layers, &catalog, &opts)?;
        super::options::exec_found(&trace)?;
        let r = report(args, &profile, image, layers, &catalog, &trace)?;
        reports.push((label, r));
        Ok(())
    })?;
    let mut out = std::io::stdout().lock();
    match args.format {
        Format::Json => {
            let all = super::platform_array(&reports, |r| Ok(serde_json::to_value(r)?))?;
            serde_json::to_writer_pretty(&mut out, &all)?;
            writeln!(out)?;
        }
        Format::Human => {
            for (i, (label, r)) in reports.iter().enumerate() {
                super::platform_heading(&mut out, i, label.as_deref())?;
                print_human(&mut out, r)?;
            }
        }
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
    // A registry image's name is its reference already (docker://NAME).
    let name = r
        .name
        .as_deref()
        .filter(|n| !r.reference.ends_with(&format!("//{n}")))
        .map(|n| format!(" ({n})"))
        .unwrap_or_default();
    writeln!(o, "Image        {}{name}", r.reference)?;
    // Labelled: the manifest digest is what skopeo and registries show, the
    // config digest is Docker's image id; a docker-archive has no manifest.
    match &r.manifest_digest {
        Some(m) => writeln!(o, "Digest       manifest {m}, image id {}", r.config_digest)?,
        None => writeln!(o, "Digest       image id {}", r.config_digest)?,
    }
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
    if let Some(h) = &c.healthcheck {
        let runs = match (&c.healthcheck_runs, h.test.first().map(String::as_str)) {
            (_, Some("NONE")) => "disabled".to_string(),
            (Some(p), _) => format!("runs {p}"),
            (None, _) => "its program is NOT FOUND in the image".to_string(),
        };
        writeln!(
            o,
            "Healthcheck  {}  ({runs})",
            serde_json::to_string(&h.test).unwrap_or_default()
        )?;
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
    if let Some(l) = &r.licenses {
        if l.packages > 0 {
            let top: Vec<String> = l
                .top
                .iter()
                .take(5)
                .map(|(id, n)| format!("{id} ({n})"))
                .collect();
            writeln!(
                o,
                "Licenses     {} packages, {} declaring SPDX ids only; most common: {}",
                l.packages,
                l.spdx_only,
                top.join(", ")
            )?;
        }
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
    let p = &r.projected;
    let reasons: Vec<String> = p
        .by_reason
        .iter()
        .map(|(k, v)| format!("{v} {k}"))
        .collect();
    writeln!(
        o,
        "Projected    {} files, {} (of {}) kept (paths by reason: {}; before the profile's skeleton)",
        p.files,
        human_bytes(p.bytes),
        human_bytes(t.file_bytes),
        reasons.join(", ")
    )?;
    if !p.by_rule.is_empty() {
        let loads: Vec<String> = p
            .by_rule
            .iter()
            .map(|(k, v)| format!("{k} ({v})"))
            .collect();
        writeln!(o, "Run-time     loads the rules keep: {}", loads.join(", "))?;
    }
    if !p.packages.is_empty() {
        writeln!(o, "Data of      {}", p.packages.join(" "))?;
    }
    for d in &r.diagnostics {
        writeln!(o, "{:<12} {} [{}]", d.severity.as_str(), d.text(), d.code)?;
    }
    if r.unowned.is_empty() {
        writeln!(o, "Unowned      nothing: a package owns every file")?;
    } else {
        let (files, bytes): (usize, u64) = r
            .unowned
            .iter()
            .fold((0, 0), |(f, b), u| (f + u.files, b + u.bytes));
        writeln!(
            o,
            "Unowned      {files} files, {} that no package owns (the image's own additions); kept by the trace:",
            human_bytes(bytes)
        )?;
        for u in r.unowned.iter().take(12) {
            writeln!(
                o,
                "  {:>10} {:>6} files  kept {:>5} files {:>10}  {}",
                human_bytes(u.bytes),
                u.files,
                u.kept_files,
                human_bytes(u.kept_bytes),
                u.path
            )?;
        }
        if r.unowned.len() > 12 {
            writeln!(
                o,
                "  … {} more directories (--format json lists all)",
                r.unowned.len() - 12
            )?;
        }
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
    if let Some(p) = &r.probes {
        super::probes::human(o, &p.run, None)?;
        if p.observed > 0 {
            writeln!(
                o,
                "Observed     {} files opened under the probes; {} of them the static trace missed{}",
                p.observed,
                p.observed_only.len(),
                if p.observed_only.is_empty() { "" } else { ":" }
            )?;
            for x in p.observed_only.iter().take(20) {
                writeln!(o, "  {}  ({})", x.path, x.probe)?;
            }
            if p.observed_only.len() > 20 {
                writeln!(
                    o,
                    "  … {} more (--format json lists all: .probes.observed_only)",
                    p.observed_only.len() - 20
                )?;
            }
        }
    }
    Ok(())
}
