//! Alpine's package database, `/lib/apk/db/installed`: paragraphs of
//! `X:value` lines (P name, V version, A arch, L license, o origin,
//! m maintainer, D depends, p provides, F directory, R file in it).

use super::Package;
use crate::image::Layers;

/// Where apk keeps its database.
pub const DB: &str = "/lib/apk/db/installed";

/// The apk reader.
pub struct Apk;

impl super::Reader for Apk {
    fn kind(&self) -> super::Kind {
        super::Kind::Apk
    }

    fn read(&self, layers: &Layers, _: &mut Vec<super::Diagnostic>) -> Vec<Package> {
        read(layers)
    }
}

/// Every package in the image's apk database.
pub fn read(layers: &Layers) -> Vec<Package> {
    let Some(bytes) = layers.read(DB, 256 << 20) else {
        return Vec::new();
    };
    parse(&String::from_utf8_lossy(&bytes))
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
