//! rpm's database: `rpmdb.sqlite` (rpm ≥ 4.16; `/var/lib/rpm`, or
//! `/usr/lib/sysimage/rpm` on newer Fedora and openSUSE), whose `Packages`
//! table holds one header blob per installed package, or the BerkeleyDB hash
//! file `Packages` of rpm < 4.16 (the same blobs, keyed by header number).
//! SUSE's ndb (`Packages.db`) is named as not read.
//!
//! Header blob layout (rpm's `lib/header.c`, `headerImport`): index count
//! and data length (big-endian u32s), then that many 16-byte entries (tag,
//! type, offset, count), then the data they point into.

pub mod bdb;
pub mod sqlite;

use super::{Catalog, Database, Diagnostic, Package, SlimError, Slimmed};
use crate::fs::Rootfs;
use std::collections::BTreeSet;

/// Where rpm keeps its database, newest format first: sqlite (rpm ≥ 4.16),
/// BerkeleyDB (`Packages`, rpm < 4.16), ndb (`Packages.db`, SUSE).
pub const DATABASES: [&str; 6] = [
    "/usr/lib/sysimage/rpm/rpmdb.sqlite",
    "/var/lib/rpm/rpmdb.sqlite",
    "/usr/lib/sysimage/rpm/Packages",
    "/var/lib/rpm/Packages",
    "/usr/lib/sysimage/rpm/Packages.db",
    "/var/lib/rpm/Packages.db",
];

/// A database's format, by its file name: `rpm-sqlite`, `rpm-bdb`, `rpm-ndb`.
pub fn format(path: &str) -> &'static str {
    if path.ends_with(".sqlite") {
        "rpm-sqlite"
    } else if path.ends_with(".db") {
        "rpm-ndb"
    } else {
        "rpm-bdb"
    }
}

// Tags (rpm's `rpmtag.h`).
const NAME: u32 = 1000;
const VERSION: u32 = 1001;
const RELEASE: u32 = 1002;
const EPOCH: u32 = 1003;
const VENDOR: u32 = 1011;
const LICENSE: u32 = 1014;
const PACKAGER: u32 = 1015;
const ARCH: u32 = 1022;
const OLDFILENAMES: u32 = 1027;
const FILEFLAGS: u32 = 1037;
const SOURCERPM: u32 = 1044;
const PROVIDENAME: u32 = 1047;
const REQUIRENAME: u32 = 1049;
const DIRINDEXES: u32 = 1116;
const BASENAMES: u32 = 1117;
const DIRNAMES: u32 = 1118;

/// `%ghost` files: listed, never shipped in the payload (logs, runtime state).
const GHOST: u32 = 1 << 6;
/// `%license` files: the package's license texts.
const LICENSE_FILE: u32 = 1 << 7;

/// Entry data types.
const INT16: u32 = 3;
const INT32: u32 = 4;
const STRING: u32 = 6;
const STRING_ARRAY: u32 = 8;
const I18NSTRING: u32 = 9;

/// A parsed header: its entries and the data they point into.
pub struct Header<'a> {
    entries: Vec<[u32; 4]>,
    data: &'a [u8],
}

impl<'a> Header<'a> {
    /// Parses a header blob as rpmdb stores it (no lead magic).
    pub fn parse(blob: &'a [u8]) -> Result<Header<'a>, String> {
        let word = |at: usize| -> Option<u32> {
            Some(u32::from_be_bytes(blob.get(at..at + 4)?.try_into().ok()?))
        };
        let (il, dl) = (
            word(0).ok_or("header shorter than 8 bytes")? as usize,
            word(4).ok_or("header shorter than 8 bytes")? as usize,
        );
        // rpm's own limits (HEADER_TAGS_MAX, HEADER_DATA_MAX).
        if il == 0 || il > 0xffff || dl > 0x0fff_ffff {
            return Err(format!("header claims {il} entries and {dl} bytes"));
        }
        let start = 8 + 16 * il;
        let data = blob
            .get(start..start + dl)
            .ok_or_else(|| format!("header of {} bytes is shorter than it claims", blob.len()))?;
        let entries = (0..il)
            .map(|i| {
                let at = 8 + 16 * i;
                [
                    word(at).unwrap_or(0),
                    word(at + 4).unwrap_or(0),
                    word(at + 8).unwrap_or(0),
                    word(at + 12).unwrap_or(0),
                ]
            })
            .collect();
        Ok(Header { entries, data })
    }

    fn entry(&self, tag: u32) -> Option<[u32; 4]> {
        self.entries.iter().find(|e| e[0] == tag).copied()
    }

    /// The strings of a STRING, I18NSTRING (first is the default locale) or STRING_ARRAY entry.
    pub fn strings(&self, tag: u32) -> Vec<String> {
        let Some([_, ty, off, count]) = self.entry(tag) else {
            return Vec::new();
        };
        if !matches!(ty, STRING | STRING_ARRAY | I18NSTRING) {
            return Vec::new();
        }
        let count = if ty == STRING { 1 } else { count as usize };
        let mut out = Vec::new();
        let mut rest = self.data.get(off as usize..).unwrap_or_default();
        for _ in 0..count {
            let Some(end) = rest.iter().position(|b| *b == 0) else {
                break;
            };
            out.push(String::from_utf8_lossy(&rest[..end]).into_owned());
            rest = &rest[end + 1..];
        }
        out
    }

    /// The first string of an entry.
    pub fn string(&self, tag: u32) -> Option<String> {
        self.strings(tag)
            .into_iter()
            .next()
            .filter(|s| !s.is_empty())
    }

    /// The numbers of an INT32 or INT16 entry.
    pub fn numbers(&self, tag: u32) -> Vec<u32> {
        let Some([_, ty, off, count]) = self.entry(tag) else {
            return Vec::new();
        };
        let width = match ty {
            INT32 => 4,
            INT16 => 2,
            _ => return Vec::new(),
        };
        let Some(b) = self
            .data
            .get(off as usize..)
            .and_then(|d| d.get(..(count as usize).checked_mul(width)?))
        else {
            return Vec::new();
        };
        b.chunks_exact(width)
            .map(|c| match c {
                [a, b, c, d] => u32::from_be_bytes([*a, *b, *c, *d]),
                [a, b] => u32::from(u16::from_be_bytes([*a, *b])),
                _ => 0,
            })
            .collect()
    }
}

/// `bash-5.2.15-3.fc38.src.rpm` → (`bash`, `5.2.15-3.fc38`).
fn source_nvr(srpm: &str) -> Option<(String, String)> {
    let nvr = srpm
        .strip_suffix(".rpm")?
        .trim_end_matches(".src")
        .trim_end_matches(".nosrc");
    let (nv, release) = nvr.rsplit_once('-')?;
    let (name, version) = nv.rsplit_once('-')?;
    Some((name.to_string(), format!("{version}-{release}")))
}

/// The package a header describes; None for rpm's `gpg-pubkey` pseudo-packages
/// (imported signing keys, not software).
pub fn package(h: &Header, db: &str) -> Option<Package> {
    let name = h.string(NAME)?;
    if name == "gpg-pubkey" {
        return None;
    }
    let vr = format!(
        "{}-{}",
        h.string(VERSION).unwrap_or_default(),
        h.string(RELEASE).unwrap_or_default()
    );
    // Epoch goes first, as rpm -q --qf '%{EPOCHNUM}:…' and scanners write it.
    let version = match h.numbers(EPOCH).first() {
        Some(e) => format!("{e}:{vr}"),
        None => vr,
    };
    let (source, source_version) = match h.string(SOURCERPM).as_deref().and_then(source_nvr) {
        Some((n, v)) => (Some(n), Some(v)),
        None => (None, None),
    };
    let flags = h.numbers(FILEFLAGS);
    let mut files = Vec::new();
    let mut license_files = Vec::new();
    let (base, dirs, idx) = (
        h.strings(BASENAMES),
        h.strings(DIRNAMES),
        h.numbers(DIRINDEXES),
    );
    if !base.is_empty() {
        for (i, b) in base.iter().enumerate() {
            if flags.get(i).is_some_and(|f| f & GHOST != 0) {
                continue;
            }
            if let Some(d) = idx.get(i).and_then(|&d| dirs.get(d as usize)) {
                if flags.get(i).is_some_and(|f| f & LICENSE_FILE != 0) {
                    license_files.push(format!("{d}{b}"));
                }
                files.push(format!("{d}{b}"));
            }
        }
    } else {
        for (i, f) in h.strings(OLDFILENAMES).into_iter().enumerate() {
            if !flags.get(i).is_some_and(|f| f & GHOST != 0) {
                files.push(f);
            }
        }
    }
    let depends = h
        .strings(REQUIRENAME)
        .into_iter()
        .filter(|r| !r.starts_with("rpmlib(") && !r.starts_with('/'))
        .map(|r| vec![r])
        .collect();
    Some(Package {
        kind: super::Kind::Rpm,
        name,
        version,
        arch: h.string(ARCH).unwrap_or_default(),
        source,
        source_version,
        depends,
        provides: h.strings(PROVIDENAME),
        files,
        md5sums: None,
        record: String::new(),
        db: db.to_string(),
        license: h.string(LICENSE),
        supplier: h.string(VENDOR).or_else(|| h.string(PACKAGER)),
        license_files,
    })
}

/// rpm's `Packages` table, as rpm ≥ 4.16 creates it.
const PACKAGES_SQL: &str =
    "CREATE TABLE IF NOT EXISTS 'Packages' (hnum INTEGER PRIMARY KEY AUTOINCREMENT,blob BLOB NOT NULL)";

/// A package with its header number and header blob, verbatim.
pub type Entry = (i64, Package, Vec<u8>);

/// Decodes header blobs (by header number) into packages. A broken blob is
/// skipped; the database is an error only when no blob decodes.
fn decode(
    blobs: impl IntoIterator<Item = (i64, Option<Vec<u8>>)>,
    db: &str,
) -> Result<Vec<Entry>, String> {
    let (mut out, mut bad) = (Vec::new(), Vec::new());
    for (hnum, blob) in blobs {
        let Some(b) = blob else {
            bad.push(format!("package {hnum}: no header blob"));
            continue;
        };
        match Header::parse(&b) {
            Ok(h) => out.extend(package(&h, db).map(|p| (hnum, p, b))),
            Err(e) => bad.push(format!("package {hnum}: {e}")),
        }
    }
    if !bad.is_empty() && out.is_empty() {
        return Err(bad.join("; "));
    }
    out.sort_by_key(|e| e.0);
    Ok(out)
}

/// Every package of an rpmdb.sqlite database (main file and optional `-wal`).
pub fn headers(file: &[u8], wal: Option<&[u8]>, db: &str) -> Result<Vec<Entry>, String> {
    let d = sqlite::Db::open(file, wal).map_err(|e| e.to_string())?;
    let mut blobs = Vec::new();
    d.rows("Packages", |hnum, mut cols| {
        let blob = match cols.get_mut(1).map(std::mem::take) {
            Some(sqlite::Value::Blob(b)) => Some(b),
            _ => None,
        };
        blobs.push((hnum, blob));
        Ok(())
    })
    .map_err(|e| e.to_string())?;
    decode(blobs, db)
}

/// The packages of an rpmdb.sqlite database (main file and optional `-wal`).
pub fn parse_sqlite(file: &[u8], wal: Option<&[u8]>, db: &str) -> Result<Vec<Package>, String> {
    Ok(headers(file, wal, db)?
        .into_iter()
        .map(|(_, p, _)| p)
        .collect())
}

/// Every package of a BerkeleyDB `Packages` file; its keys are header
/// numbers in the file's byte order.
pub fn bdb_headers(file: &[u8], db: &str) -> Result<Vec<Entry>, String> {
    let pairs = bdb::pairs(file).map_err(|e| e.to_string())?;
    let little = file.get(12..16) == Some(&0x0006_1561u32.to_le_bytes()[..]);
    let blobs = pairs.into_iter().filter_map(|(key, value)| {
        let k = <[u8; 4]>::try_from(key.as_slice()).ok()?;
        let hnum = if little {
            u32::from_le_bytes(k)
        } else {
            u32::from_be_bytes(k)
        };
        // Key 0 is rpm's header-instance counter, not a header.
        (hnum != 0).then(|| (i64::from(hnum), Some(value)))
    });
    decode(blobs, db)
}

/// Every package of the image's rpm database at `path`, with its number and
/// header blob; an error says why the database cannot be read.
pub fn headers_at(layers: &Rootfs, path: &str) -> Result<Vec<Entry>, String> {
    let file = layers
        .read(path, 1 << 30)
        .ok_or_else(|| "cannot be read".to_string())?;
    match format(path) {
        "rpm-sqlite" => {
            let wal = layers.read(&format!("{path}-wal"), 1 << 30);
            headers(&file, wal.as_deref(), path)
        }
        "rpm-bdb" => bdb_headers(&file, path),
        _ => Err("an ndb database, which slim does not read (rpm ≥ 4.16 converts it with `rpmdb --rebuilddb --define '_db_backend sqlite'`)".into()),
    }
}

/// The rpm databases an image has, by the paths rpm uses, each real file once
/// (`/var/lib/rpm` is often a symlink to `/usr/lib/sysimage/rpm`).
pub fn databases(layers: &Rootfs) -> Vec<&'static str> {
    let mut seen = std::collections::HashSet::new();
    DATABASES
        .into_iter()
        .filter(|path| {
            layers.tree.resolve(path, true).is_ok_and(|r| {
                layers.tree.get(&r.path).is_some_and(|n| n.is_file()) && seen.insert(r.path)
            })
        })
        .collect()
}

/// An rpmdb.sqlite holding these header blobs (by header number) in rpm's
/// `Packages` table, the table scanners (syft, trivy) read, written by SQLite
/// itself. rpm's own index tables are not written: rpm is not in a distroless
/// image to query them, as dpkg is not there to read distroless' `status.d`.
/// The same blobs give the same bytes.
pub fn write_sqlite(blobs: &[(i64, Vec<u8>)]) -> Result<Vec<u8>, rusqlite::Error> {
    let db = rusqlite::Connection::open_in_memory()?;
    db.execute_batch("PRAGMA page_size = 4096;")?;
    db.execute(PACKAGES_SQL, [])?;
    let tx = db.unchecked_transaction()?;
    {
        let mut insert = tx.prepare("INSERT INTO Packages (hnum, blob) VALUES (?1, ?2)")?;
        for (hnum, blob) in blobs {
            insert.execute(rusqlite::params![hnum, blob])?;
        }
    }
    tx.commit()?;
    Ok(db.serialize(rusqlite::MAIN_DB)?.to_vec())
}

/// rpm: read from rpmdb.sqlite or BerkeleyDB `Packages`, written as rpmdb.sqlite.
pub struct Rpm;

impl super::Ecosystem for Rpm {
    fn kind(&self) -> super::Kind {
        super::Kind::Rpm
    }

    fn read(&self, layers: &Rootfs, into: &mut Catalog) {
        let mut read = false;
        for path in databases(layers) {
            // A converted image may keep its old database: the newest one read wins.
            let mut packages = None;
            if !read {
                match headers_at(layers, path) {
                    Ok(h) => {
                        read = true;
                        packages = Some(h.len());
                        into.packages.extend(h.into_iter().map(|(_, p, _)| p));
                    }
                    Err(e) => into.diagnostics.push(Diagnostic::new(
                        if format(path) == "rpm-ndb" {
                            crate::diagnostic::Code::CatalogUnsupported
                        } else {
                            crate::diagnostic::Code::CatalogUnreadable
                        },
                        Some(path),
                        format!("{path}: {e}: its packages are missing from this report"),
                    )),
                }
            }
            into.databases.push(Database {
                kind: format(path),
                path: path.into(),
                packages,
            });
        }
    }

    /// The headers of the packages still here, verbatim, in an rpmdb.sqlite
    /// where the image had its database (whatever its format: scanners read
    /// sqlite, and the BerkeleyDB `Packages` is not carried over), and the
    /// packages' `%license` files, as a Debian package's copyright file is kept.
    fn slim(
        &self,
        layers: &Rootfs,
        present: &[&Package],
        _: &dyn Fn(&str) -> bool,
    ) -> Result<Slimmed, SlimError> {
        let here: BTreeSet<(&str, &str, &str)> = present
            .iter()
            .map(|p| (p.name.as_str(), p.version.as_str(), p.arch.as_str()))
            .collect();
        let dbs: BTreeSet<&str> = present.iter().map(|p| p.db.as_str()).collect();
        let mut out = Slimmed::default();
        for db in dbs {
            let Ok(headers) = headers_at(layers, db) else {
                continue;
            };
            let written = match db.rsplit_once('/') {
                Some((dir, name)) if name != "rpmdb.sqlite" => format!("{dir}/rpmdb.sqlite"),
                _ => db.to_string(),
            };
            let mut kept = Vec::new();
            for (hnum, p, blob) in headers {
                if here.contains(&(p.name.as_str(), p.version.as_str(), p.arch.as_str())) {
                    out.kept.extend(p.license_files);
                    out.packages.push(p.name);
                    kept.push((hnum, blob));
                }
            }
            if !kept.is_empty() {
                let bytes = write_sqlite(&kept).map_err(|e| SlimError {
                    database: written.clone(),
                    cause: e.to_string(),
                })?;
                out.made.push((written.clone(), bytes));
                out.databases.push(written);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A header with the given (tag, type, count, data) entries.
    fn header(entries: &[(u32, u32, u32, &[u8])]) -> Vec<u8> {
        let mut index = Vec::new();
        let mut data = Vec::new();
        for (tag, ty, count, d) in entries {
            while *ty == INT32 && data.len() % 4 != 0 {
                data.push(0);
            }
            for w in [*tag, *ty, data.len() as u32, *count] {
                index.extend(w.to_be_bytes());
            }
            data.extend_from_slice(d);
        }
        let mut out = (entries.len() as u32).to_be_bytes().to_vec();
        out.extend((data.len() as u32).to_be_bytes());
        out.extend(index);
        out.extend(data);
        out
    }

    #[test]
    fn a_header_becomes_a_package_with_files_epoch_and_source() {
        let blob = header(&[
            (NAME, STRING, 1, b"curl\0"),
            (VERSION, STRING, 1, b"8.2.1\0"),
            (RELEASE, STRING, 1, b"1.fc39\0"),
            (EPOCH, INT32, 1, &1u32.to_be_bytes()),
            (ARCH, STRING, 1, b"x86_64\0"),
            (LICENSE, STRING, 1, b"curl\0"),
            (VENDOR, STRING, 1, b"Fedora Project\0"),
            (SOURCERPM, STRING, 1, b"curl-8.2.1-1.fc39.src.rpm\0"),
            (
                DIRNAMES,
                STRING_ARRAY,
                3,
                b"/usr/bin/\0/var/log/\0/usr/share/licenses/curl/\0",
            ),
            (BASENAMES, STRING_ARRAY, 3, b"curl\0curl.log\0COPYING\0"),
            (DIRINDEXES, INT32, 3, &[0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2]),
            (
                FILEFLAGS,
                INT32,
                3,
                &[0, 0, 0, 0, 0, 0, 0, 64, 0, 0, 0, 128],
            ),
            (
                REQUIRENAME,
                STRING_ARRAY,
                3,
                b"libc.so.6()(64bit)\0rpmlib(X)\0/bin/sh\0",
            ),
        ]);
        let h = Header::parse(&blob).unwrap();
        let p = package(&h, "/var/lib/rpm/rpmdb.sqlite").unwrap();
        assert_eq!(p.name, "curl");
        assert_eq!(p.version, "1:8.2.1-1.fc39");
        assert_eq!(p.arch, "x86_64");
        assert_eq!(p.source.as_deref(), Some("curl"));
        assert_eq!(p.source_version.as_deref(), Some("8.2.1-1.fc39"));
        assert_eq!(
            p.files,
            vec!["/usr/bin/curl", "/usr/share/licenses/curl/COPYING"],
            "the %ghost log is not shipped"
        );
        assert_eq!(p.license_files, vec!["/usr/share/licenses/curl/COPYING"]);
        assert_eq!(p.depends, vec![vec!["libc.so.6()(64bit)".to_string()]]);
        assert_eq!(p.license.as_deref(), Some("curl"));
        assert_eq!(p.supplier.as_deref(), Some("Fedora Project"));
    }

    #[test]
    fn bad_headers_are_errors_not_panics() {
        assert!(Header::parse(b"").is_err());
        assert!(Header::parse(&[0, 0, 0, 1, 0, 0, 0, 9]).is_err());
        assert!(Header::parse(&[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]).is_err());
        // An entry pointing past its data yields nothing.
        let mut blob = header(&[(NAME, STRING, 1, b"x\0")]);
        blob[8 + 8..8 + 12].copy_from_slice(&1000u32.to_be_bytes());
        let h = Header::parse(&blob).unwrap();
        assert_eq!(h.string(NAME), None);
        assert!(package(&h, "db").is_none());
        let blob = header(&[(NAME, STRING, 1, b"gpg-pubkey\0")]);
        assert!(package(&Header::parse(&blob).unwrap(), "db").is_none());
    }

    #[test]
    fn source_rpm_names() {
        assert_eq!(
            source_nvr("python3.11-3.11.4-1.fc38.src.rpm"),
            Some(("python3.11".into(), "3.11.4-1.fc38".into()))
        );
        assert_eq!(source_nvr("nonsense"), None);
    }
}
