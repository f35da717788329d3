//! Alpine's package database, `/lib/apk/db/installed`: paragraphs of
//! `X:value` lines (P name, V version, A arch, L license, o origin,
//! m maintainer, D depends, p provides, F directory, R file in it).

use super::{Catalog, Database, Package, SlimError, Slimmed};
use crate::fs::Rootfs;

/// Where apk keeps its database.
pub const DB: &str = "/lib/apk/db/installed";

/// apk: read from and written to its one `installed` file.
pub struct Apk;

impl super::Ecosystem for Apk {
    fn kind(&self) -> super::Kind {
        super::Kind::Apk
    }

    fn read(&self, layers: &Rootfs, into: &mut Catalog) {
        let Some(bytes) = layers.read(DB, 256 << 20) else {
            return;
        };
        let packages = parse(&String::from_utf8_lossy(&bytes));
        into.databases.push(Database {
            kind: "apk",
            path: DB.into(),
            packages: Some(packages.len()),
        });
        into.packages.extend(packages);
    }

    /// The `installed` paragraphs of the packages still here, their file lists
    /// cut to what remains (as distroless' `.md5sums` are).
    fn slim(
        &self,
        _: &Rootfs,
        present: &[&Package],
        remains: &dyn Fn(&str) -> bool,
    ) -> Result<Slimmed, SlimError> {
        let by_name = super::one_per_name(present);
        let mut out = Slimmed::default();
        if by_name.is_empty() {
            return Ok(out);
        }
        let records: Vec<String> = by_name
            .values()
            .map(|p| record(&p.record, remains))
            .collect();
        out.made.push((
            DB.to_string(),
            format!("{}\n\n", records.join("\n\n")).into_bytes(),
        ));
        out.packages = by_name.keys().map(|n| n.to_string()).collect();
        out.databases.push(DB.to_string());
        Ok(out)
    }
}

/// An `installed` paragraph with the files `keep` rejects (and their
/// checksum and ACL lines) left out.
fn record(record: &str, keep: impl Fn(&str) -> bool) -> String {
    let mut out = Vec::new();
    let (mut dir, mut dropping) = ("", false);
    for line in record.lines() {
        if let Some(d) = line.strip_prefix("F:") {
            dir = d;
        } else if let Some(f) = line.strip_prefix("R:") {
            dropping = !keep(&format!("/{dir}/{f}").replace("//", "/"));
            if dropping {
                continue;
            }
        } else if dropping && (line.starts_with("Z:") || line.starts_with("a:")) {
            continue;
        } else {
            dropping = false;
        }
        out.push(line);
    }
    out.join("\n")
}

/// Parses the text of an apk `installed` database.
pub fn parse(text: &str) -> Vec<Package> {
    let mut out = Vec::new();
    for para in text.split("\n\n") {
        let mut p = Package {
            kind: super::Kind::Apk,
            name: String::new(),
            version: String::new(),
            arch: String::new(),
            source: None,
            source_version: None,
            depends: Vec::new(),
            provides: Vec::new(),
            files: Vec::new(),
            md5sums: None,
            record: para.trim().to_string(),
            db: DB.to_string(),
            license: None,
            supplier: None,
            license_files: Vec::new(),
        };
        let mut dir = String::new();
        for line in para.lines() {
            let Some((k, v)) = line.split_once(':') else {
                continue;
            };
            match k {
                "P" => p.name = v.to_string(),
                "V" => p.version = v.to_string(),
                "A" => p.arch = v.to_string(),
                "o" => p.source = Some(v.to_string()),
                "L" if !v.trim().is_empty() => p.license = Some(v.trim().to_string()),
                "m" => p.supplier = Some(v.to_string()),
                "D" => {
                    p.depends = v
                        .split_whitespace()
                        .filter(|d| !d.starts_with('!'))
                        .map(|d| vec![dep_name(d)])
                        .collect()
                }
                "p" => p.provides = v.split_whitespace().map(dep_name).collect(),
                "F" => dir = v.to_string(),
                "R" => p.files.push(if dir.is_empty() {
                    format!("/{v}")
                } else {
                    format!("/{dir}/{v}")
                }),
                _ => {}
            }
        }
        if !p.name.is_empty() {
            out.push(p);
        }
    }
    out
}

/// `so:libc.musl-x86_64.so.1`, `busybox>=1.36` → the name alone.
fn dep_name(d: &str) -> String {
    d.split(['=', '<', '>', '~'])
        .next()
        .unwrap_or(d)
        .to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn records_keep_only_the_files_that_remain() {
        let rec = "P:busybox\nV:1.36.1-r2\nF:bin\nR:busybox\nZ:Q1aaa=\nR:sh\na:0:0:777\nZ:Q1bbb=\nF:etc\nR:securetty\nZ:Q1ccc=";
        assert_eq!(
            super::record(rec, |f| f != "/bin/sh"),
            "P:busybox\nV:1.36.1-r2\nF:bin\nR:busybox\nZ:Q1aaa=\nF:etc\nR:securetty\nZ:Q1ccc="
        );
    }

    #[test]
    fn packages_files_and_fields() {
        let db = "C:Q1abc=\nP:musl\nV:1.2.4-r2\nA:x86_64\nL:MIT\no:musl\nm:Someone <a@b>\nF:lib\nR:ld-musl-x86_64.so.1\nR:libc.musl-x86_64.so.1\np:so:libc.musl-x86_64.so.1=1\n\nP:busybox\nV:1.36.1-r2\nA:x86_64\nL:GPL-2.0-only\nD:so:libc.musl-x86_64.so.1\nF:bin\nR:busybox\n";
        let p = super::parse(db);
        assert_eq!(p.len(), 2);
        assert_eq!(
            (p[0].name.as_str(), p[0].version.as_str()),
            ("musl", "1.2.4-r2")
        );
        assert_eq!(
            p[0].files,
            vec!["/lib/ld-musl-x86_64.so.1", "/lib/libc.musl-x86_64.so.1"]
        );
        assert_eq!(p[0].provides, vec!["so:libc.musl-x86_64.so.1"]);
        assert_eq!(
            p[1].depends,
            vec![vec!["so:libc.musl-x86_64.so.1".to_string()]]
        );
        assert_eq!(p[1].license.as_deref(), Some("GPL-2.0-only"));
    }
}
