//! SBOM files as `slim sbom -o FORMAT=PATH` and `slim rewrite --sbom` write
//! them: the specs users give, checked before the work, and the writing.

use crate::catalog::license::Table;
use anyhow::Context;
use std::io::Write;

/// A requested SBOM output.
#[derive(Debug, Clone)]
pub(crate) struct Spec {
    format: &'static str,
    pub(crate) path: Option<std::path::PathBuf>,
}

impl Spec {
    /// This spec for one platform of an index: its path with the platform
    /// before the extensions (`app.spdx.json` → `app.linux-arm64-v8.spdx.json`).
    pub(crate) fn for_platform(&self, platform: &str) -> Spec {
        let path = self.path.as_ref().map(|p| {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let tag = platform.replace('/', "-");
            let named = match name.split_once('.') {
                Some((stem, ext)) if !stem.is_empty() => format!("{stem}.{tag}.{ext}"),
                _ => format!("{name}.{tag}"),
            };
            p.with_file_name(named)
        });
        Spec {
            format: self.format,
            path,
        }
    }
}

pub(crate) fn parse_specs(v: &[String]) -> anyhow::Result<Vec<Spec>> {
    let mut out = Vec::new();
    for s in v {
        let (f, p) = match s.split_once('=') {
            Some((f, p)) => (f, Some(std::path::PathBuf::from(p))),
            None => (s.as_str(), None),
        };
        // `cyclonedx-json@1.5` picks a spec version, as syft's `-o` does.
        let (name, version) = match f.split_once('@') {
            Some((n, v)) => (n, Some(v)),
            None => (f, None),
        };
        let format = match (name, version) {
            ("spdx-json" | "spdx", None | Some("2.3")) => "spdx-json",
            ("cyclonedx-json" | "cyclonedx" | "cdx", None | Some("1.6")) => "cyclonedx-json",
            ("cyclonedx-json" | "cyclonedx" | "cdx", Some("1.5")) => "cyclonedx-json@1.5",
            (n, Some(v))
                if ["spdx-json", "spdx", "cyclonedx-json", "cyclonedx", "cdx"].contains(&n) =>
            {
                anyhow::bail!("{n} version {v} is not written: spdx-json is 2.3, cyclonedx-json 1.6 (default) or 1.5")
            }
            (other, _) => {
                anyhow::bail!("unknown SBOM format '{other}': use spdx-json or cyclonedx-json")
            }
        };
        if let Some(p) = &p {
            if p.as_os_str().is_empty() {
                anyhow::bail!("'{s}': no path after '=' (FORMAT=PATH, or FORMAT alone for stdout)");
            }
        }
        out.push(Spec { format, path: p });
    }
    if out.iter().filter(|s| s.path.is_none()).count() > 1 {
        anyhow::bail!("only one SBOM can go to stdout: give the others a path (FORMAT=PATH)");
    }
    Ok(out)
}

impl Spec {
    /// The file this writes, for [`super::outputs::check`]; None for stdout.
    pub(crate) fn file(&self, option: &str) -> Option<super::outputs::FileOut> {
        Some(super::outputs::FileOut {
            option: option.to_string(),
            path: self.path.clone()?,
            kind: if self.format == "spdx-json" {
                super::outputs::Kind::Spdx
            } else {
                super::outputs::Kind::CycloneDx
            },
        })
    }
}

fn now() -> anyhow::Result<String> {
    Ok(match super::source_date_epoch()? {
        Some(s) => crate::image::write::rfc3339(s),
        None => crate::image::write::rfc3339(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .as_secs(),
        ),
    })
}

/// Writes the SBOMs of an opened image.
pub(crate) fn write(
    image: &crate::image::Image,
    layers: &crate::image::Layers,
    specs: &[Spec],
    table: &Table,
    with_files: bool,
) -> anyhow::Result<()> {
    let catalog = crate::catalog::Catalog::read(layers);
    super::warn_unread_databases(&catalog);
    let mut sbom = crate::sbom::build(image, layers, &catalog, table, now()?);
    if with_files {
        sbom.files = crate::sbom::files(layers, &catalog).context("hashing the image's files")?;
    }
    for s in specs {
        let doc = match s.format {
            "spdx-json" => crate::sbom::spdx::encode(&sbom),
            "cyclonedx-json@1.5" => crate::sbom::cyclonedx::encode(&sbom, "1.5"),
            _ => crate::sbom::cyclonedx::encode(&sbom, "1.6"),
        };
        let mut bytes = serde_json::to_vec_pretty(&doc)?;
        bytes.push(b'\n');
        match &s.path {
            Some(p) => {
                super::outputs::write(p, &bytes)?;
            }
            None => std::io::stdout().lock().write_all(&bytes)?,
        }
    }
    Ok(())
}
