//! Platforms (`os/arch[/variant]`) as users write them, and the one chooser
//! of an index entry by platform, for local indexes and registries alike.

use super::*;

/// `os/arch[/variant]` as users write it (`--platform linux/arm64/v8`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub arch: String,
    pub variant: Option<String>,
}

impl Platform {
    pub fn parse(s: &str) -> Result<Platform, RefError> {
        let parts: Vec<&str> = s.split('/').collect();
        match parts.as_slice() {
            [os, arch] | [os, arch, _] if !os.is_empty() && !arch.is_empty() => Ok(Platform {
                os: os.to_string(),
                arch: normalise_arch(arch).to_string(),
                variant: parts
                    .get(2)
                    .map(|v| v.to_string())
                    .filter(|v| !v.is_empty()),
            }),
            _ => Err(RefError(format!(
                "--platform '{s}': expected os/arch[/variant], e.g. linux/amd64"
            ))),
        }
    }

    /// The platform of the machine slim runs on, in GOARCH terms.
    pub fn host() -> Platform {
        Platform {
            os: "linux".into(),
            arch: normalise_arch(std::env::consts::ARCH).into(),
            variant: None,
        }
    }

    pub fn matches(&self, os: &str, arch: &str, variant: Option<&str>) -> bool {
        self.os == os
            && self.arch == normalise_arch(arch)
            && match (&self.variant, variant) {
                (None, _) => true,
                (Some(w), Some(v)) => w == v,
                // arm64 images often omit the default variant.
                (Some(w), None) => w == "v8" && self.arch == "arm64",
            }
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.arch)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// Rust/uname architecture names to Go's GOARCH, which image indexes use.
pub(super) fn normalise_arch(a: &str) -> &str {
    match a {
        "x86_64" | "x86-64" => "amd64",
        "aarch64" => "arm64",
        "x86" | "i386" | "i686" => "386",
        "powerpc64" => "ppc64",
        "powerpc64le" => "ppc64le",
        "riscv64gc" => "riscv64",
        "arm" | "armhf" | "armel" => "arm",
        a => a,
    }
}
/// An index entry's `os`, `architecture` and `variant`.
pub type EntryPlatform = (String, String, Option<String>);

/// The one platform chooser, for local indexes and registries alike: the
/// positions of the entries `want` (this machine's platform when None)
/// matches; when none does, a message naming `want` and the platforms there
/// are.
pub fn matching_platforms(
    entries: &[Option<EntryPlatform>],
    want: Option<&Platform>,
) -> Result<Vec<usize>, String> {
    let host = Platform::host();
    let want = want.unwrap_or(&host);
    let hits: Vec<usize> = entries
        .iter()
        .enumerate()
        .filter(|(_, p)| {
            p.as_ref()
                .is_some_and(|(os, arch, v)| want.matches(os, arch, v.as_deref()))
        })
        .map(|(i, _)| i)
        .collect();
    if !hits.is_empty() {
        return Ok(hits);
    }
    let avail: Vec<String> = entries.iter().flatten().map(platform_label).collect();
    Err(format!(
        "no image for platform {want}; available: {} (choose with --platform)",
        if avail.is_empty() {
            "none".to_string()
        } else {
            avail.join(", ")
        }
    ))
}

/// `os/arch[/variant]`.
fn platform_label((os, arch, v): &EntryPlatform) -> String {
    match v {
        Some(v) => format!("{os}/{arch}/{v}"),
        None => format!("{os}/{arch}"),
    }
}

/// The platforms of `entries` other than those at `chosen`, when `chosen`
/// was picked for this machine (`want` None) out of several: what a user
/// reading one platform's report should be told is there too. BuildKit's
/// attestations (`unknown/unknown`) are no platform.
pub fn other_platforms(
    entries: &[Option<EntryPlatform>],
    chosen: &[usize],
    want: Option<&Platform>,
) -> Vec<String> {
    if want.is_some() {
        return Vec::new();
    }
    entries
        .iter()
        .enumerate()
        .filter(|(i, _)| !chosen.contains(i))
        .filter_map(|(_, p)| p.as_ref())
        .filter(|(os, _, _)| os != "unknown")
        .map(platform_label)
        .collect()
}
