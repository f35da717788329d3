//! `slim sbom`: what an image holds, as SPDX 2.3 and CycloneDX 1.6 (or 1.5) JSON.

use super::ImageArgs;
use crate::catalog::license::Table;
use std::process::ExitCode;

/// Write an SBOM of the packages in an image: SPDX 2.3 JSON and/or CycloneDX 1.6 JSON.
///
/// Packages come from the image's package database (dpkg status, or the
/// distroless status.d that `slim rewrite` writes); each has its purl,
/// version, supplier and a license expression read from its copyright file
/// (DEP-5 fields mapped to SPDX ids, common-licenses references, or a
/// LicenseRef that is kept), with where the answer came from. Packages a
/// slimmed image holds only in part are marked so.
///
/// Examples:
///   slim sbom nginx.tar > nginx.spdx.json
///   slim sbom nginx.tar -o spdx-json=nginx.spdx.json -o cyclonedx-json=nginx.cdx.json
#[derive(clap::Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct Args {
    #[command(flatten)]
    image: ImageArgs,
    /// FORMAT[=PATH]: spdx-json (2.3) or cyclonedx-json (1.6; cyclonedx-json@1.5 for
    /// older consumers); stdout without `=PATH`. Repeatable.
    #[arg(
        short = 'o',
        long = "output",
        value_name = "FORMAT[=PATH]",
        default_value = "spdx-json"
    )]
    outputs: Vec<String>,
    /// Extra Debian-name → SPDX id mappings (the format of rules/licenses.toml).
    #[arg(long, value_name = "FILE")]
    licenses: Option<std::path::PathBuf>,
    /// Also list every regular file with its SHA1 and SHA256 (SPDX), owned by its package.
    #[arg(long)]
    files: bool,
    /// Replace an existing file that is not an SBOM of that format (or is an
    /// image, or inside an OCI layout).
    #[arg(long)]
    force: bool,
    /// Write an SBOM of each platform of a multi-platform index (those
    /// --platform lists, else every one): each PATH gets the platform before its
    /// extensions (app.spdx.json → app.linux-arm64-v8.spdx.json).
    #[arg(long)]
    all_platforms: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let specs = super::sbom_files::parse_specs(&args.outputs)?;
    if args.all_platforms && specs.iter().any(|s| s.path.is_none()) {
        anyhow::bail!(
            "--all-platforms writes one SBOM per platform: give each -o a path (FORMAT=PATH)"
        );
    }
    // With --all-platforms the paths written are the platforms' (checked
    // before each is written): the ones given are only their pattern.
    if !args.all_platforms {
        let files: Vec<_> = specs.iter().filter_map(|s| s.file("-o")).collect();
        super::outputs::check(&files, Some(&args.image.image), None, args.force)?;
    }
    let table = Table::load(args.licenses.as_deref())?;
    super::each_image(
        &args.image,
        args.all_platforms,
        true,
        |label, image, layers| {
            let specs: Vec<_> = match &label {
                Some(l) => specs.iter().map(|s| s.for_platform(l)).collect(),
                None => specs.clone(),
            };
            if label.is_some() {
                let files: Vec<_> = specs.iter().filter_map(|s| s.file("-o")).collect();
                super::outputs::check(&files, Some(&args.image.image), None, args.force)?;
            }
            super::sbom_files::write(image, layers, &specs, &table, args.files)
        },
    )?;
    Ok(ExitCode::SUCCESS)
}
