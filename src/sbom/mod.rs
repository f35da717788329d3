//! SBOMs of what an image holds: one model built from the catalog, and one
//! encoder per format (SPDX 2.3 JSON, CycloneDX 1.6/1.5 JSON).

pub mod cyclonedx;
pub mod spdx;

use crate::catalog::license::{self, Licenses};
use crate::catalog::{purl, Catalog};
use crate::fs::Rootfs;
use crate::image::Image;
use serde::Serialize;

/// A package as an SBOM lists it.
#[derive(Debug, Clone, Serialize)]
pub struct Component {
    pub kind: &'static str,
    pub name: String,
    pub version: String,
    pub arch: String,
    pub source: Option<String>,
    pub purl: String,
    /// The package's maintainer, as the database says.
    pub supplier: Option<String>,
    pub licenses: Licenses,
    /// Regular files of the package present in the image, of those its database lists.
    pub files_present: usize,
    pub files_listed: usize,
}

impl Component {
    /// True when some of the files the database lists are gone (a slimmed package).
    pub fn partial(&self) -> bool {
        self.files_present < self.files_listed
    }
}

/// A regular file of the image, for SBOMs that list files.
#[derive(Debug, Clone, Serialize)]
pub struct FileEntry {
    /// Absolute path in the image.
    pub path: String,
    pub size: u64,
    pub sha1: String,
    pub sha256: String,
    /// The package that owns it, if any.
    pub package: Option<String>,
}

/// What an SBOM describes.
#[derive(Debug, Clone, Serialize)]
pub struct Sbom {
    pub image: String,
    /// The manifest digest, or the config digest for docker archives.
    pub digest: String,
    /// RFC 3339 creation time (SOURCE_DATE_EPOCH when set).
    pub created: String,
    pub components: Vec<Component>,
    /// Every regular file with its checksums, when asked for.
    pub files: Vec<FileEntry>,
}

/// Lists the image's regular files with SHA1 and SHA256, each with its owner.
pub fn files(layers: &Rootfs, catalog: &Catalog) -> std::io::Result<Vec<FileEntry>> {
    use sha1::Digest as _;
    use std::io::Read;
    let mut out = Vec::new();
    let mut buf = vec![0u8; 1 << 16];
    for (p, n) in layers.tree.iter() {
        if !n.is_file() {
            continue;
        }
        let Some(mut r) = layers.open(n) else {
            continue;
        };
        let (mut h1, mut h2) = (sha1::Sha1::new(), sha2::Sha256::new());
        loop {
            let k = r.read(&mut buf)?;
            if k == 0 {
                break;
            }
            h1.update(&buf[..k]);
            h2.update(&buf[..k]);
        }
        out.push(FileEntry {
            path: format!("/{p}"),
            size: n.meta.size,
            sha1: hex::encode(h1.finalize()),
            sha256: hex::encode(h2.finalize()),
            package: catalog.owners(p).next().map(|o| o.name.clone()),
        });
    }
    Ok(out)
}

/// Builds the SBOM model of an image.
pub fn build(
    image: &Image,
    layers: &Rootfs,
    catalog: &Catalog,
    table: &license::Table,
    created: String,
) -> Sbom {
    let os = crate::catalog::os::os_release(layers);
    let os_id = os.as_ref().and_then(|o| o.id.clone());
    let distro = os
        .as_ref()
        .and_then(|o| Some(format!("{}-{}", o.id.as_deref()?, o.version_id.as_deref()?)));
    let tree = &layers.tree;
    let mut components = Vec::new();
    for p in &catalog.packages {
        let supplier = p.supplier.clone();
        let copyright = format!("/usr/share/doc/{}/copyright", p.name);
        let licenses = match &p.license {
            Some(field) => license::Licenses {
                path: Some(p.db.clone()),
                ..license::from_field(field, table)
            },
            None => match layers.read(&copyright, 4 << 20) {
                Some(b) => license::from_copyright(
                    &String::from_utf8_lossy(&b),
                    &copyright,
                    &p.name,
                    table,
                ),
                None => Licenses::none(),
            },
        };
        let (mut present, mut listed) = (0, 0);
        for f in &p.files {
            let Ok(r) = tree.resolve(f, false) else {
                listed += usize::from(!f.ends_with('/'));
                continue;
            };
            match tree.get(&r.path) {
                Some(n) if n.is_file() => {
                    listed += 1;
                    present += 1;
                }
                Some(_) => {}
                None => listed += 1,
            }
        }
        components.push(Component {
            kind: p.kind.as_str(),
            name: p.name.clone(),
            version: p.version.clone(),
            arch: p.arch.clone(),
            source: p.source.clone(),
            purl: purl::purl(p, os_id.as_deref(), distro.as_deref()),
            supplier,
            licenses,
            files_present: present,
            files_listed: listed,
        });
    }
    Sbom {
        image: image
            .name
            .clone()
            .unwrap_or_else(|| image.reference.to_string()),
        digest: image
            .manifest_digest
            .as_ref()
            .unwrap_or(&image.config_digest)
            .to_string(),
        created,
        components,
        files: Vec::new(),
    }
}

/// A stable identifier from text: letters, digits, `.` and `-` only.
pub(crate) fn id_part(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// Package and license counts, for `slim analyze`.
#[derive(Debug, Clone, Serialize)]
pub struct LicenseSummary {
    pub packages: usize,
    /// Packages whose declared license uses SPDX License List ids only (no LicenseRef, not NOASSERTION).
    pub spdx_only: usize,
    /// The same for the concluded expression (every license of the package's files).
    pub spdx_only_concluded: usize,
    /// Packages per source of the answer (dep5, common-licenses, …).
    pub sources: std::collections::BTreeMap<String, usize>,
    /// Packages per license id, the 10 most common.
    pub top: Vec<(String, usize)>,
}

/// Counts of an SBOM's packages and licenses.
pub fn summary(s: &Sbom) -> LicenseSummary {
    let mut sources = std::collections::BTreeMap::new();
    let mut ids: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    let mut spdx_only = 0;
    let mut spdx_only_concluded = 0;
    let pure = |e: &str| e != "NOASSERTION" && !e.contains("LicenseRef-");
    for c in &s.components {
        let concluded = c.licenses.expression.as_deref().unwrap_or("NOASSERTION");
        spdx_only += usize::from(pure(c.licenses.declared.as_deref().unwrap_or(concluded)));
        spdx_only_concluded += usize::from(pure(concluded));
        *sources.entry(c.licenses.source.to_string()).or_insert(0) += 1;
        let e = c.licenses.expression.as_deref().unwrap_or("NOASSERTION");
        let words: std::collections::BTreeSet<&str> = e
            .split(|ch: char| ch.is_whitespace() || ch == '(' || ch == ')')
            .filter(|w| !w.is_empty() && !matches!(*w, "AND" | "OR" | "WITH"))
            .collect();
        for w in words {
            *ids.entry(w.to_string()).or_insert(0) += 1;
        }
    }
    let mut top: Vec<(String, usize)> = ids.into_iter().collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    top.truncate(10);
    LicenseSummary {
        packages: s.components.len(),
        spdx_only,
        spdx_only_concluded,
        sources,
        top,
    }
}
