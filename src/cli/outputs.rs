//! The files slim writes besides images (`rewrite --report`, `--sbom
//! FORMAT=PATH`, `sbom -o FORMAT=PATH`): every path is checked before any
//! work with the guard `-o` has, and written under a temporary name beside
//! it, then renamed, so a reader never sees half a file and a failure leaves
//! the old one.

use crate::image::{ImageRef, Transport};
use crate::transport::{canonical, is_image_archive, Output};
use std::io::Write;
use std::path::{Path, PathBuf};

/// What a file output holds: an existing file of another kind is not replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A JSON report of slim's (`rewrite --report`).
    Report,
    /// An SPDX JSON document.
    Spdx,
    /// A CycloneDX JSON document.
    CycloneDx,
}

impl Kind {
    fn what(self) -> &'static str {
        match self {
            Kind::Report => "a slim JSON report",
            Kind::Spdx => "an SPDX JSON document",
            Kind::CycloneDx => "a CycloneDX JSON document",
        }
    }

    /// Whether the existing file at `p` is one of these (so replacing it
    /// loses nothing the user did not ask slim to make). Only the top-level
    /// keys are read; the rest is skipped without being held.
    fn holds(self, p: &Path) -> bool {
        #[derive(serde::Deserialize)]
        #[allow(non_snake_case)]
        struct Top {
            spdxVersion: Option<serde::de::IgnoredAny>,
            bomFormat: Option<String>,
            source: Option<serde::de::IgnoredAny>,
            profile: Option<serde::de::IgnoredAny>,
            kept: Option<serde::de::IgnoredAny>,
        }
        let Ok(f) = std::fs::File::open(p) else {
            return false;
        };
        let Ok(top) = serde_json::from_reader::<_, Top>(std::io::BufReader::new(f)) else {
            return false;
        };
        match self {
            Kind::Report => top.source.is_some() && top.profile.is_some() && top.kept.is_some(),
            Kind::Spdx => top.spdxVersion.is_some(),
            Kind::CycloneDx => top.bomFormat.as_deref() == Some("CycloneDX"),
        }
    }
}

/// A file a command will write: the option that names it, for messages.
#[derive(Debug, Clone)]
pub(crate) struct FileOut {
    pub option: String,
    pub path: PathBuf,
    pub kind: Kind,
}

fn dir_of(p: &Path) -> &Path {
    p.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// The OCI layout directory `p` is inside of, if any (its own directory or an ancestor).
fn inside_layout(p: &Path) -> Option<PathBuf> {
    let mut d = p.parent();
    while let Some(dir) = d {
        if dir.join("oci-layout").is_file() {
            return Some(dir.to_path_buf());
        }
        d = dir.parent();
    }
    None
}

/// Checks, before any work, every file output against the image read
/// (`input`, as the user named it), the image written (`image_out`) and each
/// other: the directory must exist and the path must not be a directory;
/// two outputs naming one path, or a file output at or inside the `-o`
/// destination, are refused always; the input, a path inside an OCI layout,
/// an image archive, and an existing non-empty file that is not of the kind
/// being written are refused unless `force`.
pub(crate) fn check(
    files: &[FileOut],
    input: Option<&str>,
    image_out: Option<&Output>,
    force: bool,
) -> anyhow::Result<()> {
    let input = input
        .and_then(|s| ImageRef::parse(s).ok())
        .filter(|r| r.transport != Some(Transport::Docker))
        .and_then(|r| canonical(&r.path));
    let out = image_out
        .filter(|o| o.transport != Transport::Docker)
        .and_then(|o| canonical(&o.path));
    let mut seen: Vec<(PathBuf, &str)> = Vec::new();
    for f in files {
        let p = &f.path;
        let show = p.display();
        let opt = &f.option;
        if p.as_os_str().is_empty() {
            anyhow::bail!("{opt}: no path given");
        }
        let dir = dir_of(p);
        if !dir.is_dir() {
            anyhow::bail!(
                "{opt} {show}: the directory {} does not exist (create it first)",
                dir.display()
            );
        }
        if p.is_dir() {
            anyhow::bail!("{opt} {show}: is a directory; name the file to write");
        }
        let Some(c) = canonical(p) else {
            anyhow::bail!("{opt} {show}: cannot resolve the path");
        };
        if let Some((_, other)) = seen.iter().find(|(s, _)| *s == c) {
            anyhow::bail!("{other} and {opt} both name {show}: give each output its own path");
        }
        seen.push((c.clone(), opt));
        if let Some(o) = &out {
            if c == *o || c.starts_with(o) {
                anyhow::bail!(
                    "{opt} {show}: is where the image is written (-o {}); give the {} another path",
                    o.display(),
                    f.kind
                        .what()
                        .trim_start_matches("a ")
                        .trim_start_matches("an ")
                );
            }
        }
        let refuse = |why: String| -> anyhow::Result<()> {
            if force {
                return Ok(());
            }
            anyhow::bail!(
                "{opt} {show}: {why}; refusing to replace it (choose another path, or --force)"
            )
        };
        if let Some(i) = &input {
            if c == *i || c.starts_with(i) {
                refuse("is the image being read".into())?;
                continue;
            }
        }
        if let Some(layout) = inside_layout(&c) {
            refuse(format!(
                "is inside the OCI layout {}, which it could corrupt",
                layout.display()
            ))?;
            continue;
        }
        let Ok(meta) = std::fs::metadata(p) else {
            continue;
        };
        if meta.len() == 0 {
            continue;
        }
        if is_image_archive(p) {
            refuse("exists and is an image archive".into())?;
        } else if !f.kind.holds(p) {
            refuse(format!("exists and is not {}", f.kind.what()))?;
        }
    }
    Ok(())
}

/// Writes `bytes` to `p` through a temporary file beside it, renamed into place.
pub(crate) fn write(p: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let go = || -> std::io::Result<()> {
        let mut tmp = crate::tmp::file_in(dir_of(p))?;
        tmp.write_all(bytes)?;
        tmp.as_file().sync_all()?;
        tmp.persist(p).map_err(|e| e.error)?;
        Ok(())
    };
    go().map_err(|e| anyhow::anyhow!("writing {}: {e}", p.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(opt: &str, p: &Path, kind: Kind) -> FileOut {
        FileOut {
            option: opt.into(),
            path: p.to_path_buf(),
            kind,
        }
    }

    #[test]
    fn existing_files_of_another_kind_are_refused_unless_forced() {
        let d = tempfile::tempdir().unwrap();
        let policy = d.path().join("policy.toml");
        std::fs::write(&policy, "[licenses]\nallow = []\n").unwrap();
        let f = [out("--report", &policy, Kind::Report)];
        let e = check(&f, None, None, false).unwrap_err().to_string();
        assert!(e.contains("is not a slim JSON report"), "{e}");
        assert!(check(&f, None, None, true).is_ok());
        // An SPDX document may replace an SPDX document, not a CycloneDX one.
        let sbom = d.path().join("x.json");
        std::fs::write(&sbom, r#"{"spdxVersion":"SPDX-2.3","packages":[]}"#).unwrap();
        assert!(check(&[out("-o", &sbom, Kind::Spdx)], None, None, false).is_ok());
        assert!(check(&[out("-o", &sbom, Kind::CycloneDx)], None, None, false).is_err());
        // An empty file (mktemp's) is fine.
        let empty = d.path().join("empty");
        std::fs::write(&empty, "").unwrap();
        assert!(check(&[out("--report", &empty, Kind::Report)], None, None, false).is_ok());
    }

    #[test]
    fn two_outputs_naming_one_path_are_refused_even_forced() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("r.json");
        let f = [
            out("--report", &p, Kind::Report),
            out("--sbom", &d.path().join("./r.json"), Kind::Spdx),
        ];
        let e = check(&f, None, None, true).unwrap_err().to_string();
        assert!(e.contains("--report and --sbom both name"), "{e}");
    }

    #[test]
    fn a_file_inside_an_oci_layout_or_the_input_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let lay = d.path().join("lay");
        std::fs::create_dir_all(lay.join("blobs")).unwrap();
        std::fs::write(lay.join("oci-layout"), "{}").unwrap();
        let idx = lay.join("index.json");
        let e = check(&[out("--report", &idx, Kind::Report)], None, None, false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("inside the OCI layout"), "{e}");
        let input = d.path().join("in.tar");
        std::fs::write(&input, "x").unwrap();
        let e = check(
            &[out("--report", &input, Kind::Report)],
            Some(input.to_str().unwrap()),
            None,
            false,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("is the image being read"), "{e}");
        let missing = d.path().join("nodir/r.json");
        let e = check(&[out("--report", &missing, Kind::Report)], None, None, true)
            .unwrap_err()
            .to_string();
        assert!(e.contains("does not exist"), "{e}");
    }
}
