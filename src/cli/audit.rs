//! `slim audit`: check an image's licenses against a policy, for CI.

use crate::audit::{self, Verdict};
use anyhow::Context;
use clap::ValueEnum;
use std::io::Write;
use std::process::ExitCode;

/// Check the licenses of an image's packages against a policy; exit 1 when one is denied.
///
/// The policy (TOML, see `slim audit --init`) has allow and deny lists of SPDX
/// ids, per-package exceptions with a reason, clarifications for packages whose
/// copyright file is wrong (pinned to that file's sha256), and what to do with
/// licenses in neither list and unknown ones (warn or deny). `A OR B` passes
/// when either passes; `A AND B` needs both.
///
/// Exit codes: 0 every package passes (warnings allowed), 1 a package is
/// denied, 2 an error (bad image, bad policy).
///
/// Examples:
///   slim audit --init > slim-policy.toml
///   slim audit app.tar --policy slim-policy.toml
///   slim audit app.tar --policy slim-policy.toml --format sarif > licenses.sarif
#[derive(clap::Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// The image (as for the other commands).
    #[arg(value_name = "IMAGE", required_unless_present = "init")]
    image: Option<String>,
    /// The policy file.
    #[arg(long, value_name = "FILE", required_unless_present = "init")]
    policy: Option<std::path::PathBuf>,
    /// Write a commented example policy (to PATH, or stdout) and exit; audits
    /// nothing, so it takes no IMAGE or --policy (a stray --init must not turn a
    /// CI gate green).
    #[arg(long, value_name = "PATH", num_args = 0..=1, default_missing_value = "-",
          conflicts_with_all = ["image", "policy"])]
    init: Option<String>,
    /// Report format.
    #[arg(long, value_enum, default_value_t = AuditFormat::Human)]
    format: AuditFormat,
    /// Extra Debian-name → SPDX id mappings (the format of rules/licenses.toml).
    #[arg(long, value_name = "FILE")]
    licenses: Option<std::path::PathBuf>,
    /// Which image of a multi-platform index: os/arch[/variant] (with
    /// --all-platforms, several: repeated or a comma list).
    #[arg(long, value_name = "OS/ARCH[/VARIANT]", value_delimiter = ',')]
    platform: Vec<String>,
    #[command(flatten)]
    all: super::AllPlatforms,
    /// No progress bars.
    #[arg(long, short)]
    quiet: bool,
    #[command(flatten)]
    registry: super::RegistryArgs,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum AuditFormat {
    Human,
    Json,
    Sarif,
    Junit,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if let Some(dest) = &args.init {
        if dest == "-" {
            std::io::stdout()
                .lock()
                .write_all(audit::EXAMPLE.as_bytes())?;
        } else {
            // Never over someone's policy.
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(dest)
                .map_err(|e| match e.kind() {
                    std::io::ErrorKind::AlreadyExists => anyhow::anyhow!(
                        "{dest}: exists; refusing to overwrite a policy (remove it, or give another path)"
                    ),
                    _ => anyhow::anyhow!("writing {dest}: {e}"),
                })?;
            f.write_all(audit::EXAMPLE.as_bytes())
                .with_context(|| format!("writing {dest}"))?;
            eprintln!("slim: wrote an example policy to {dest}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let policy_path = args.policy.as_ref().context("--policy FILE is required")?;
    let text = std::fs::read_to_string(policy_path)
        .with_context(|| format!("reading {}", policy_path.display()))?;
    let policy = audit::Policy::parse(&text, &policy_path.display().to_string())?;
    let table = crate::catalog::license::Table::load(args.licenses.as_deref())?;
    let image_args = super::ImageArgs {
        image: args.image.clone().context("IMAGE is required")?,
        platform: args.platform.clone(),
        quiet: args.quiet,
        registry: args.registry.clone(),
    };
    let all = args.all.all_platforms;
    let created = crate::image::write::rfc3339(super::source_date_epoch()?.unwrap_or(0));
    let mut reports = Vec::new();
    let show = args.format == AuditFormat::Human;
    super::each_image(&image_args, all, show, |label, image, layers| {
        let catalog = crate::catalog::Catalog::read(layers);
        super::warn_unread_databases(&catalog);
        let sbom = crate::sbom::build(image, layers, &catalog, &table, created.clone());
        let mut report = audit::audit(&sbom, &policy);
        if let Some(l) = &label {
            // SARIF and JUnit name the image: say which platform.
            report.image = format!("{} [{l}]", report.image);
        }
        reports.push((label, report));
        Ok(())
    })?;
    let mut o = std::io::stdout().lock();
    match args.format {
        AuditFormat::Json if all => {
            let v = super::platform_array(&reports, |r| Ok(serde_json::to_value(r)?))?;
            serde_json::to_writer_pretty(&mut o, &v)?;
            writeln!(o)?;
        }
        AuditFormat::Json => {
            serde_json::to_writer_pretty(&mut o, &reports[0].1)?;
            writeln!(o)?;
        }
        AuditFormat::Sarif => {
            // One SARIF log, one run per platform.
            let mut log = audit::sarif(&reports[0].1);
            let runs: Vec<serde_json::Value> = reports
                .iter()
                .flat_map(|(_, r)| {
                    audit::sarif(r)["runs"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default()
                })
                .collect();
            log["runs"] = serde_json::Value::Array(runs);
            serde_json::to_writer_pretty(&mut o, &log)?;
            writeln!(o)?;
        }
        AuditFormat::Junit => {
            let rs: Vec<audit::Report> = reports.into_iter().map(|(_, r)| r).collect();
            o.write_all(audit::junit_all(&rs).as_bytes())?;
            return Ok(exit(rs.iter().map(|r| r.failed).sum()));
        }
        AuditFormat::Human => {
            for (i, (label, report)) in reports.iter().enumerate() {
                super::platform_heading(&mut o, i, label.as_deref())?;
                print_human(&mut o, report, policy_path)?;
            }
        }
    }
    Ok(exit(reports.iter().map(|(_, r)| r.failed).sum()))
}

/// 1 when any package fails the policy (on any platform).
fn exit(failed: usize) -> ExitCode {
    match failed {
        0 => ExitCode::SUCCESS,
        _ => ExitCode::from(1),
    }
}

fn print_human(
    o: &mut impl Write,
    report: &audit::Report,
    policy_path: &std::path::Path,
) -> std::io::Result<()> {
    writeln!(
        o,
        "{} packages: {} pass, {} warn, {} fail ({})",
        report.packages.len(),
        report.passed,
        report.warned,
        report.failed,
        policy_path.display()
    )?;
    for level in [Verdict::Fail, Verdict::Warn] {
        for p in report.packages.iter().filter(|p| p.verdict == level) {
            let tag = if level == Verdict::Fail {
                "FAIL"
            } else {
                "warn"
            };
            writeln!(
                o,
                "{tag}  {} {}  {}  [{}]",
                p.package, p.version, p.expression, p.source
            )?;
            for r in &p.reasons {
                writeln!(o, "        {r}")?;
            }
        }
    }
    Ok(())
}
