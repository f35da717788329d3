//! Package databases: which packages an image holds and which files each owns.
//! One [`Ecosystem`] per format (dpkg, apk, rpm), listed in [`ECOSYSTEMS`]:
//! it reads its database and writes the slimmed metadata of what remains.

pub mod apk;
pub mod deb822;
pub mod dpkg;
pub mod expression;
pub mod license;
pub mod os;
pub mod purl;
pub mod rpm;
pub use rpm::{bdb, sqlite};

/// One kind of package database: read from an image, and written again,
/// slimmed, for the packages that remain in a rewritten one.
pub trait Ecosystem: Sync {
    /// The package type (`deb`, `apk`, `rpm`), as purls name it.
    fn kind(&self) -> Kind;
    /// Adds every installed package of this kind to `into.packages` and each
    /// database of this kind the image has to `into.databases`. A database that
    /// is there but cannot be read is a diagnostic.
    fn read(&self, layers: &Rootfs, into: &mut Catalog);
    /// The metadata a slimmed image carries for `present` (packages of this
    /// kind with a file that remains), as the ecosystem's scanners read it:
    /// records whose file lists name only the paths for which `remains` holds
    /// (absolute source paths), and the packages' license files.
    fn slim(
        &self,
        layers: &Rootfs,
        present: &[&Package],
        remains: &dyn Fn(&str) -> bool,
    ) -> Result<Slimmed, SlimError>;
}

/// Slimmed metadata that could not be made: the database and why.
#[derive(Debug, thiserror::Error)]
#[error("writing {database}: {cause}")]
pub struct SlimError {
    pub database: String,
    pub cause: String,
}

/// The ecosystems, in the order their packages are listed.
pub const ECOSYSTEMS: &[&dyn Ecosystem] = &[&dpkg::Dpkg, &apk::Apk, &rpm::Rpm];

/// The first package of each name in `present`, by name: the record a
/// one-file-per-name database (`status.d/<pkg>`, apk's paragraphs) keeps.
pub fn one_per_name<'a>(
    present: &[&'a Package],
) -> std::collections::BTreeMap<&'a str, &'a Package> {
    present
        .iter()
        .rev()
        .map(|p| (p.name.as_str(), *p))
        .collect()
}

/// Slimmed package metadata: what to write into the new image.
#[derive(Debug, Default)]
pub struct Slimmed {
    /// Files made by slim: absolute path and contents.
    pub made: Vec<(String, Vec<u8>)>,
    /// Source files kept as they are (copyright files, license texts).
    pub kept: Vec<String>,
    /// The packages described.
    pub packages: Vec<String>,
    /// Where their database is in the new image.
    pub databases: Vec<String>,
}

/// A package database an image holds.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Database {
    /// dpkg, dpkg-distroless (status.d), apk, rpm-sqlite, rpm-bdb, rpm-ndb
    pub kind: &'static str,
    pub path: String,
    /// Installed packages read from it; none for one slim could not read (a
    /// diagnostic says why) or did not need (an older rpm database beside a newer one).
    pub packages: Option<usize>,
}

pub use crate::diagnostic::Diagnostic;

use crate::fs::Rootfs;
use std::collections::HashMap;

/// The package ecosystem a package belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Deb,
    Apk,
    Rpm,
}

impl Kind {
    /// As purls and SPDX ids spell it: `deb`, `apk`, `rpm`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Deb => "deb",
            Kind::Apk => "apk",
            Kind::Rpm => "rpm",
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An installed package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    pub kind: Kind,
    pub name: String,
    pub version: String,
    pub arch: String,
    /// Source package name and version, when they differ from the binary's.
    pub source: Option<String>,
    pub source_version: Option<String>,
    /// Dependencies (Pre-Depends and Depends): groups of alternatives.
    pub depends: Vec<Vec<String>>,
    /// Virtual package names this package provides.
    pub provides: Vec<String>,
    /// Owned paths as the database lists them (absolute, not resolved).
    pub files: Vec<String>,
    /// Where the package's file checksums are (`info/<pkg>.md5sums`, `status.d/<pkg>.md5sums`).
    pub md5sums: Option<String>,
    /// The package's database record, verbatim (a dpkg status paragraph, an
    /// apk `installed` paragraph; empty for rpm, whose headers are binary).
    pub record: String,
    /// Where the record came from (`/var/lib/dpkg/status`, `/var/lib/dpkg/status.d/x`).
    pub db: String,
    /// The database's license field (apk `L:`, rpm `License`), as written; dpkg
    /// has none (its licenses are in `/usr/share/doc/<pkg>/copyright`).
    pub license: Option<String>,
    /// Who ships it: dpkg `Maintainer`, apk `m:`, rpm `Vendor` (else `Packager`).
    pub supplier: Option<String>,
    /// The package's license texts, as its database marks them (rpm `%license`
    /// files); dpkg's are its copyright file, found by name.
    pub license_files: Vec<String>,
}

/// The packages of an image, with file ownership.
#[derive(Debug, Default)]
pub struct Catalog {
    pub packages: Vec<Package>,
    /// The package databases the image has, with the packages read from each.
    pub databases: Vec<Database>,
    /// Databases that are there but were not (fully) read.
    pub diagnostics: Vec<Diagnostic>,
    /// Real path (symlinks in parents resolved, no leading `/`) → package indexes.
    owners: HashMap<String, Vec<usize>>,
    by_name: HashMap<String, Vec<usize>>,
}

impl Catalog {
    /// Reads every package database the image has.
    pub fn read(layers: &Rootfs) -> Catalog {
        let mut c = Catalog::default();
        for e in ECOSYSTEMS {
            e.read(layers, &mut c);
        }
        // A package in both dpkg's status and status.d is listed once; rpm may
        // hold two versions of one name (kernels), which both stay.
        c.packages.sort_by(|a, b| {
            (&a.name, &a.arch, a.kind, &a.version).cmp(&(&b.name, &b.arch, b.kind, &b.version))
        });
        c.packages.dedup_by(|a, b| {
            a.name == b.name && a.arch == b.arch && a.kind == b.kind && a.version == b.version
        });
        for (i, p) in c.packages.iter().enumerate() {
            c.by_name.entry(p.name.clone()).or_default().push(i);
            for v in &p.provides {
                c.by_name.entry(v.clone()).or_default().push(i);
            }
            for f in &p.files {
                // dpkg records paths as unpacked (/lib/x.so); merged-/usr moves them (/usr/lib/x.so).
                let key = match layers.tree.resolve(f, false) {
                    Ok(r) => r.path,
                    Err(_) => f.trim_start_matches('/').to_string(),
                };
                c.owners.entry(key).or_default().push(i);
            }
        }
        c
    }

    /// Packages owning the real path `path`.
    pub fn owners(&self, path: &str) -> impl Iterator<Item = &Package> {
        self.owners
            .get(path.trim_start_matches('/'))
            .into_iter()
            .flatten()
            .map(|&i| &self.packages[i])
    }

    /// Packages named `name` (or providing it).
    pub fn named(&self, name: &str) -> impl Iterator<Item = &Package> {
        self.by_name
            .get(name)
            .into_iter()
            .flatten()
            .map(|&i| &self.packages[i])
    }

    /// `name` and every package it depends on, transitively (the first
    /// alternative present wins), each with the package that pulled it in.
    pub fn with_dependencies(
        &self,
        name: &str,
        skip: &[String],
    ) -> Vec<(&Package, Option<String>)> {
        let mut out = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut todo: std::collections::VecDeque<(String, Option<String>)> =
            [(name.to_string(), None)].into();
        while let Some((n, parent)) = todo.pop_front() {
            let Some(p) = self.named(&n).next() else {
                continue;
            };
            if skip.contains(&p.name) || !seen.insert((p.name.clone(), p.arch.clone())) {
                continue;
            }
            for group in &p.depends {
                if let Some(alt) = group.iter().find(|a| self.named(a).next().is_some()) {
                    todo.push_back((alt.clone(), Some(p.name.clone())));
                }
            }
            out.push((p, parent));
        }
        out
    }

    /// Installed packages built from source `source`.
    pub fn from_source<'a>(&'a self, source: &'a str) -> impl Iterator<Item = &'a Package> + 'a {
        self.packages
            .iter()
            .filter(move |p| p.source.as_deref().unwrap_or(&p.name) == source)
    }

    /// Every path some package owns (real paths, no leading `/`).
    pub fn is_owned(&self, path: &str) -> bool {
        self.owners.contains_key(path.trim_start_matches('/'))
    }
}
