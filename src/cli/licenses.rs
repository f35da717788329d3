//! `slim licenses`: packages by license, in the image and in what `slim rewrite` would keep.

use super::{Format, ImageArgs};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::process::ExitCode;

/// List the image's packages by license, side by side with the slimmed image's.
///
/// Each license id (from the packages' expressions) with the packages that
/// carry it, in the image as it is ("fat") and in what `slim rewrite --to
/// distroless` would keep ("slim"), and where each package's answer came from
/// (dep5, common-licenses, text-match, copyright-file).
///
/// Examples:
///   slim licenses nginx.tar
///   slim licenses nginx.tar --format json | jq '.licenses["GPL-3.0-or-later"]'
#[derive(clap::Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct Args {
    #[command(flatten)]
    image: ImageArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
    #[command(flatten)]
    slim: super::options::SlimArgs,
    /// Extra Debian-name → SPDX id mappings (the format of rules/licenses.toml).
    #[arg(long, value_name = "FILE")]
    licenses: Option<std::path::PathBuf>,
    #[command(flatten)]
    all: super::AllPlatforms,
}

#[derive(Serialize, Default)]
struct Row {
    fat: Vec<String>,
    slim: Vec<String>,
}

#[derive(Serialize)]
struct PackageRow {
    package: String,
    expression: String,
    source: &'static str,
    in_slim: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let table = crate::catalog::license::Table::load(args.licenses.as_deref())?;
    let profile = args.slim.profile()?;
    let aopts = args.slim.analyze_options()?;
    let all = args.all.all_platforms;
    let mut found = Vec::new();
    super::each_image(
        &args.image,
        all,
        args.format == Format::Human,
        |label, image, layers| {
            found.push((
                label,
                licenses(&args, &table, &profile, &aopts, image, layers)?,
            ));
            Ok(())
        },
    )?;
    let mut o = std::io::stdout().lock();
    match args.format {
        Format::Json => {
            let v = match all {
                false => found.remove(0).1.json(),
                true => super::platform_array(&found, |l| Ok(l.json()))?,
            };
            serde_json::to_writer_pretty(&mut o, &v)?;
            writeln!(o)?;
        }
        Format::Human => {
            for (i, (label, l)) in found.iter().enumerate() {
                super::platform_heading(&mut o, i, label.as_deref())?;
                l.human(&mut o)?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One image's packages by license, in it and in its slim form.
struct Licenses {
    image: String,
    fat_packages: usize,
    kept: BTreeSet<String>,
    by_license: BTreeMap<String, Row>,
    packages: Vec<PackageRow>,
}

fn licenses(
    args: &Args,
    table: &crate::catalog::license::Table,
    profile: &crate::plan::Profile,
    aopts: &crate::trace::command::Options,
    image: &crate::image::Image,
    layers: &crate::image::Layers,
) -> anyhow::Result<Licenses> {
    let catalog = crate::catalog::Catalog::read(layers);
    super::warn_unread_databases(&catalog);
    let sbom = crate::sbom::build(image, layers, &catalog, table, String::new());
    let trace = crate::analyze::run_trace(image, layers, &catalog, aopts)?;
    super::options::exec_found(&trace)?;
    let kept: BTreeSet<String> = match crate::plan::plan(
        layers,
        &catalog,
        &trace,
        profile,
        &args.slim.plan_options(profile),
    ) {
        // An image that needs a shell has no slim form: its slim column is empty.
        Ok(p)
            if !p
                .diagnostics
                .iter()
                .any(|d| d.code == crate::diagnostic::Code::ShellNotKept) =>
        {
            p.packages.into_iter().collect()
        }
        _ => BTreeSet::new(),
    };
    let mut by_license: BTreeMap<String, Row> = BTreeMap::new();
    let mut packages = Vec::new();
    for c in &sbom.components {
        let expression = c
            .licenses
            .expression
            .clone()
            .unwrap_or_else(|| "NOASSERTION".into());
        let mut set = BTreeSet::new();
        match crate::catalog::expression::parse(&expression) {
            // The whole requirement (`GPL-3.0-or-later WITH GCC-exception-3.1`),
            // as sbom and audit carry it.
            Ok(e) => set.extend(e.requirements().map(|r| r.req.to_string())),
            Err(_) => {
                set.insert(expression.clone());
            }
        }
        let in_slim = kept.contains(&c.name);
        for id in set {
            let row = by_license.entry(id).or_default();
            row.fat.push(c.name.clone());
            if in_slim {
                row.slim.push(c.name.clone());
            }
        }
        packages.push(PackageRow {
            package: c.name.clone(),
            expression,
            source: c.licenses.source,
            in_slim,
        });
    }
    Ok(Licenses {
        image: sbom.image.clone(),
        fat_packages: sbom.components.len(),
        kept,
        by_license,
        packages,
    })
}

impl Licenses {
    fn json(&self) -> serde_json::Value {
        serde_json::json!({"image": self.image, "fat_packages": self.fat_packages, "slim_packages": self.kept.len(), "licenses": self.by_license, "packages": self.packages})
    }

    fn human(&self, o: &mut impl Write) -> std::io::Result<()> {
        let (by_license, packages, kept) = (&self.by_license, &self.packages, &self.kept);
        writeln!(
            o,
            "{:<44} {:>5} {:>5}  packages in the slim image",
            "license", "fat", "slim"
        )?;
        let mut rows: Vec<(&String, &Row)> = by_license.iter().collect();
        rows.sort_by(|a, b| b.1.fat.len().cmp(&a.1.fat.len()).then_with(|| a.0.cmp(b.0)));
        for (id, r) in rows {
            let names = if r.slim.len() > 6 {
                format!("{} …", r.slim[..6].join(" "))
            } else {
                r.slim.join(" ")
            };
            writeln!(
                o,
                "{id:<44} {:>5} {:>5}  {names}",
                r.fat.len(),
                r.slim.len()
            )?;
        }
        let mut sources: BTreeMap<&str, usize> = BTreeMap::new();
        for p in packages {
            *sources.entry(p.source).or_default() += 1;
        }
        let s: Vec<String> = sources.iter().map(|(k, v)| format!("{v} {k}")).collect();
        writeln!(
            o,
            "{} packages ({} kept by slim); license sources: {}",
            packages.len(),
            kept.len(),
            s.join(", ")
        )?;
        Ok(())
    }
}
