//! rpm images: the SQLite reader against sqlite3 itself, and a root
//! filesystem whose packages rpm installed (fixtures/make-rpm-root.sh),
//! catalogued, put in SBOMs that the validators accept, and audited.

mod common;
use common::*;
use serde_json::Value;
use slim::catalog::sqlite::{Db, Value as Sql};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

fn sqlite3(db: &Path, script: &str) -> String {
    need("sqlite3");
    // On standard input, so dot-commands and SQL can mix.
    let mut c = Command::new("sqlite3")
        .arg(db)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(
        &mut c.stdin.take().unwrap(),
        format!("{script}\n").as_bytes(),
    )
    .unwrap();
    let o = c.wait_with_output().unwrap();
    assert!(
        o.status.success(),
        "sqlite3 {script}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

/// Every row of table t as sqlite3 prints it: `id|HEX(b)|s|n`.
fn rows_by_sqlite3(db: &Path) -> Vec<String> {
    sqlite3(db, "SELECT id, hex(b), s, n FROM t ORDER BY id")
        .lines()
        .map(String::from)
        .collect()
}

/// The same rows as slim's reader sees them.
fn rows_by_slim(file: &[u8], wal: Option<&[u8]>) -> Vec<String> {
    let db = Db::open(file, wal).unwrap();
    let mut out = Vec::new();
    db.rows("t", |rowid, cols| {
        let text = |v: &Sql| match v {
            Sql::Null => String::new(),
            Sql::Int(i) => i.to_string(),
            Sql::Text(t) => String::from_utf8_lossy(t).into_owned(),
            Sql::Blob(b) => hex::encode_upper(b),
            Sql::Real(r) => r.to_string(),
        };
        // Column 0 is the INTEGER PRIMARY KEY: stored as NULL, its value is the rowid.
        out.push(format!(
            "{rowid}|{}|{}|{}",
            text(&cols[1]),
            text(&cols[2]),
            text(&cols[3])
        ));
        Ok(())
    })
    .unwrap();
    out
}

const FILL: &str = "CREATE TABLE t(id INTEGER PRIMARY KEY, b BLOB, s TEXT, n INTEGER);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1500)
INSERT INTO t SELECT x, randomblob((x * 37) % 9000), 'row ' || x, x * x * x - 100000 FROM c;
INSERT INTO t VALUES (100000, randomblob(300000), NULL, -1), (100001, zeroblob(0), 'empty', 0);
DELETE FROM t WHERE id % 7 = 0;";

#[test]
fn the_sqlite_reader_agrees_with_sqlite3_on_every_page_size() {
    let d = tempfile::tempdir().unwrap();
    for size in [512, 4096, 65536] {
        let db = d.path().join(format!("p{size}.sqlite"));
        sqlite3(&db, &format!("PRAGMA page_size={size}; {FILL}"));
        let want = rows_by_sqlite3(&db);
        assert!(want.len() > 1000);
        let got = rows_by_slim(&std::fs::read(&db).unwrap(), None);
        assert_eq!(got.len(), want.len(), "page size {size}: row count");
        assert!(got == want, "page size {size}: rows differ");
    }
}

#[test]
fn committed_wal_frames_are_read_and_torn_ones_are_not() {
    let d = tempfile::tempdir().unwrap();
    let db = d.path().join("w.sqlite");
    sqlite3(
        &db,
        &format!(".output /dev/null\nPRAGMA journal_mode=WAL; {FILL}"),
    );
    let before = rows_by_sqlite3(&db);
    // Keep the log: sqlite3 would otherwise checkpoint it into the main file on close.
    sqlite3(
        &db,
        ".dbconfig no_ckpt_on_close on\nINSERT INTO t VALUES (200000, x'0102', 'in the wal', 5);\nUPDATE t SET s = 'changed' WHERE id = 1;\nINSERT INTO t VALUES (200001, randomblob(20000), 'second commit', 6);",
    );
    let wal_path = d.path().join("w.sqlite-wal");
    let wal = std::fs::read(&wal_path).unwrap();
    assert!(wal.len() > 32, "sqlite3 left no WAL frames");
    let main = std::fs::read(&db).unwrap();
    let after = rows_by_sqlite3(&db);
    assert_eq!(rows_by_slim(&main, Some(&wal)), after);
    assert_eq!(
        rows_by_slim(&main, None),
        before,
        "without its log, the main file is the state before"
    );
    // A torn last frame (a crash mid-write): its commit does not count, the first does.
    let mut torn = wal.clone();
    let n = torn.len();
    torn[n - 100] ^= 0xff;
    let got = rows_by_slim(&main, Some(&torn));
    assert!(got
        .iter()
        .any(|r| r.starts_with("200000|0102|in the wal|5")));
    assert!(!got.iter().any(|r| r.starts_with("200001|")));
}

/// Writes a database slim made into `dir` and has sqlite3 check it.
fn checked(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let out = dir.join(format!("{name}.sqlite"));
    std::fs::write(&out, bytes).unwrap();
    assert_eq!(
        sqlite3(&out, "PRAGMA integrity_check;").trim(),
        "ok",
        "{name}"
    );
    out
}

#[test]
fn written_rpm_databases_pass_sqlite3_integrity_check_and_read_back() {
    let d = tempfile::tempdir().unwrap();
    // Blobs from a real database: many pages, overflow chains, a 300 KB blob, an empty one.
    let src = d.path().join("src.sqlite");
    sqlite3(&src, FILL);
    let file = std::fs::read(&src).unwrap();
    let mut blobs = Vec::new();
    Db::open(&file, None)
        .unwrap()
        .rows("t", |rowid, mut cols| {
            if let Sql::Blob(b) = std::mem::take(&mut cols[1]) {
                blobs.push((rowid, b));
            }
            Ok(())
        })
        .unwrap();
    assert!(blobs.len() > 1000);
    for (name, blobs) in [("full", &blobs[..]), ("one", &blobs[..1]), ("empty", &[])] {
        let bytes = slim::catalog::rpm::write_sqlite(blobs).unwrap();
        let out = checked(d.path(), name, &bytes);
        // What rpm and scanners read: hnum and blob of table Packages.
        let by_sqlite3: Vec<String> =
            sqlite3(&out, "SELECT hnum, hex(blob) FROM Packages ORDER BY hnum;")
                .lines()
                .map(String::from)
                .collect();
        let want: Vec<String> = blobs
            .iter()
            .map(|(h, b)| format!("{h}|{}", hex::encode_upper(b)))
            .collect();
        assert!(by_sqlite3 == want, "{name}: rows differ");
        let mut by_slim = Vec::new();
        Db::open(&bytes, None)
            .unwrap()
            .rows("Packages", |hnum, cols| {
                let Sql::Blob(b) = &cols[1] else {
                    panic!("{name}: row {hnum} has no blob")
                };
                by_slim.push((hnum, b.clone()));
                Ok(())
            })
            .unwrap();
        assert!(by_slim == blobs, "{name}: slim's reader disagrees");
        assert_eq!(
            bytes,
            slim::catalog::rpm::write_sqlite(blobs).unwrap(),
            "the same blobs give the same bytes"
        );
    }
}

#[test]
fn corrupt_databases_are_errors_not_panics() {
    let d = tempfile::tempdir().unwrap();
    let db = d.path().join("c.sqlite");
    sqlite3(&db, FILL);
    let good = std::fs::read(&db).unwrap();
    // Truncations, and bytes flipped across the b-tree pages: never a panic.
    for cut in [100, 4096, good.len() / 2, good.len() - 1] {
        let file = &good[..cut];
        if let Ok(db) = Db::open(file, None) {
            let _ = db.rows("t", |_, _| Ok(()));
        }
    }
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..300 {
        let mut bad = good.clone();
        for _ in 0..8 {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let at = (rng as usize) % bad.len();
            bad[at] = (rng >> 32) as u8;
        }
        if let Ok(db) = Db::open(&bad, None) {
            let _ = db.rows("t", |_, _| Ok(()));
        }
    }
    assert!(Db::open(&good, None)
        .unwrap()
        .rows("nope", |_, _| Ok(()))
        .is_err());
}

/// The rpm root (built once per run) and an OCI layout of it.
fn rpm_image() -> &'static (PathBuf, PathBuf) {
    static IMG: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    IMG.get_or_init(|| {
        need("rpmbuild");
        // Rebuilt on each run, in cargo's scratch space for tests.
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("rpm-image");
        let _ = std::fs::remove_dir_all(&dir);
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/make-rpm-root.sh");
        let o = Command::new(&script).arg(&dir).output().unwrap();
        assert!(
            o.status.success(),
            "make-rpm-root.sh: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let layer = dir.join("layer.tar");
        tar_dir(&dir.join("root"), &layer);
        let mut img = Img::new(vec![(std::fs::read(&layer).unwrap(), Comp::Gzip)]);
        img.entrypoint = vec!["/usr/bin/zstd".into(), "--version".into()];
        oci_layout(&dir.join("img"), &img, "1");
        (dir.clone(), dir.join("img"))
    })
}

/// rpm's own list: name → (version, arch, license).
fn ground_truth(dir: &Path) -> BTreeMap<String, (String, String, String)> {
    std::fs::read_to_string(dir.join("packages.tsv"))
        .unwrap()
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f[0].into(), (f[1].into(), f[2].into(), f[3].into()))
        })
        .collect()
}

#[test]
fn an_rpm_image_is_catalogued_from_rpmdb_sqlite_and_its_sboms_validate() {
    let (dir, img) = rpm_image();
    let d = tempfile::tempdir().unwrap();
    let (spdx, cdx) = (d.path().join("s.json"), d.path().join("c.json"));
    let o = ok(slim(&[
        "sbom",
        "--quiet",
        "--files",
        img.to_str().unwrap(),
        "-o",
        &format!("spdx-json={}", spdx.display()),
        "-o",
        &format!("cyclonedx-json={}", cdx.display()),
    ]));
    assert!(
        !stderr(&o).contains("warning"),
        "a readable database gives no warning: {}",
        stderr(&o)
    );
    validate_spdx(&spdx);
    validate_cyclonedx(&cdx);
    let want = ground_truth(dir);
    let doc: Value = serde_json::from_slice(&std::fs::read(&spdx).unwrap()).unwrap();
    let pkgs = spdx_packages(&doc);
    let got: BTreeMap<String, (String, String)> = pkgs
        .iter()
        .map(|p| {
            let purl = p["externalRefs"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["referenceType"] == "purl")
                .unwrap()["referenceLocator"]
                .as_str()
                .unwrap()
                .to_string();
            (
                p["name"].as_str().unwrap().to_string(),
                (p["versionInfo"].as_str().unwrap().to_string(), purl),
            )
        })
        .collect();
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "SBOM packages differ from rpm -qa"
    );
    assert_eq!(pkgs.len(), want.len(), "duplicates");
    for (name, (version, arch, _)) in &want {
        let (v, purl) = &got[name];
        assert_eq!(v, version, "{name}");
        assert!(
            purl.starts_with(&format!("pkg:rpm/fedora/{name}@"))
                && purl.contains(&format!("arch={arch}")),
            "{purl}"
        );
        assert!(purl.contains("distro=fedora-40"), "{purl}");
    }
    assert_eq!(
        got["withepoch"].1,
        "pkg:rpm/fedora/withepoch@2.5.1-3.fc40?arch=x86_64&distro=fedora-40&epoch=7"
    );

    // License fields normalised to SPDX, grouping kept; unknown names kept as LicenseRef.
    let lic = |n: &str| -> String {
        pkgs.iter().find(|p| p["name"] == n).unwrap()["licenseConcluded"]
            .as_str()
            .unwrap()
            .to_string()
    };
    for (field, spdx_expr) in [
        ("GPLv2+", "GPL-2.0-or-later"),
        ("ASL 2.0", "Apache-2.0"),
        ("LGPLv2+ and MIT", "LGPL-2.0-or-later AND MIT"),
        (
            "(MIT OR Apache-2.0) AND BSD-3-Clause",
            "(MIT OR Apache-2.0) AND BSD-3-Clause",
        ),
        (
            "GPL-2.0-only WITH Classpath-exception-2.0",
            "GPL-2.0-only WITH Classpath-exception-2.0",
        ),
        ("zlib", "Zlib"),
        ("GPLv3+", "GPL-3.0-or-later"),
    ] {
        let (name, _) = want.iter().find(|(_, v)| v.2 == field).unwrap();
        assert_eq!(lic(name), spdx_expr, "{name}: License: {field}");
    }
    let (pd, _) = want.iter().find(|(_, v)| v.2 == "Public Domain").unwrap();
    assert!(lic(pd).starts_with("LicenseRef-"), "{}", lic(pd));
    let spdx_only = spdx_only(&pkgs, "licenseConcluded");
    assert!(
        spdx_only * 100 >= pkgs.len() * 80,
        "{spdx_only} of {} SPDX-only",
        pkgs.len()
    );

    // Files: each package CONTAINS the files rpm lists for it (less %ghost ones, never shipped).
    let file_ids: BTreeMap<&str, &str> = doc["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["SPDXID"].as_str().unwrap(),
                f["fileName"].as_str().unwrap(),
            )
        })
        .collect();
    let pkg_id = pkgs.iter().find(|p| p["name"] == "configpkg").unwrap()["SPDXID"]
        .as_str()
        .unwrap();
    let mut contained: Vec<String> = doc["relationships"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["spdxElementId"] == pkg_id && r["relationshipType"] == "CONTAINS")
        .filter_map(|r| file_ids.get(r["relatedSpdxElement"].as_str().unwrap()))
        .map(|f| f.trim_start_matches('.').to_string())
        .collect();
    contained.sort();
    assert_eq!(
        contained,
        [
            "/etc/configpkg.conf",
            "/usr/bin/configpkg",
            "/usr/share/configpkg/data.txt"
        ]
    );
    let listed = std::fs::read_to_string(dir.join("files-configpkg.txt")).unwrap();
    assert!(
        listed.contains("/var/log/configpkg.log"),
        "rpm lists the ghost"
    );
}

#[test]
fn analyze_counts_rpm_packages_and_audit_names_the_denied_ones() {
    let (dir, img) = rpm_image();
    let a = analyze_json(img.to_str().unwrap(), &[]);
    let dbs = a["package_databases"].as_array().unwrap();
    assert_eq!(
        dbs.len(),
        1,
        "/var/lib/rpm is a symlink to the same database: {dbs:?}"
    );
    assert_eq!(dbs[0]["kind"], "rpm-sqlite");
    assert_eq!(dbs[0]["path"], "/usr/lib/sysimage/rpm/rpmdb.sqlite");
    let want = ground_truth(dir);
    assert_eq!(dbs[0]["packages"], want.len());

    let d = tempfile::tempdir().unwrap();
    let policy = d.path().join("p.toml");
    std::fs::write(
        &policy,
        "[licenses]\ndeny = [\"GPL-3.0-or-later\"]\nunknown = \"warn\"\n",
    )
    .unwrap();
    let o = slim(&[
        "audit",
        "--quiet",
        img.to_str().unwrap(),
        "--policy",
        policy.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
    let text = r.to_string();
    for (name, (_, _, lic)) in &want {
        if lic == "GPLv3+" || lic == "GPL-3.0-or-later" {
            assert!(text.contains(&format!("\"{name}\"")), "{name} not named");
        }
    }
    // SARIF points code scanning at the database the license came from.
    let o = slim(&[
        "audit",
        "--quiet",
        img.to_str().unwrap(),
        "--policy",
        policy.to_str().unwrap(),
        "--format",
        "sarif",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let sarif = stdout(&o);
    validate_sarif(&sarif);
    let s: Value = serde_json::from_str(&sarif).unwrap();
    let uri =
        &s["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"];
    assert_eq!(uri, "usr/lib/sysimage/rpm/rpmdb.sqlite");
}

#[test]
fn ndb_and_broken_rpm_databases_are_named_not_silently_skipped() {
    let d = tempfile::tempdir().unwrap();
    // A BerkeleyDB magic with nothing behind it.
    let mut bdb = vec![0u8; 4096];
    bdb[12..16].copy_from_slice(&0x0006_1561u32.to_le_bytes());
    bdb[20..24].copy_from_slice(&4096u32.to_le_bytes());
    bdb[25] = 8;
    bdb[32..36].copy_from_slice(&9u32.to_le_bytes());
    for (name, path, bytes, code) in [
        (
            "ndb",
            "var/lib/rpm/Packages.db",
            b"NDB!".to_vec(),
            "catalog-unsupported",
        ),
        ("bdb", "var/lib/rpm/Packages", bdb, "catalog-unreadable"),
        (
            "broken",
            "var/lib/rpm/rpmdb.sqlite",
            b"SQLite format 3\0 but nothing after".to_vec(),
            "catalog-unreadable",
        ),
    ] {
        let layer = tar_of(&[
            E::Dir("var"),
            E::Dir("var/lib"),
            E::Dir("var/lib/rpm"),
            E::File(path, &bytes),
        ]);
        let img = d.path().join(name);
        oci_layout(&img, &Img::new(vec![(layer, Comp::Gzip)]), "1");
        let o = ok(slim(&["sbom", "--quiet", img.to_str().unwrap()]));
        let err = stderr(&o);
        assert!(
            err.contains(&format!("/{path}")) && err.contains(code) && err.contains("missing"),
            "{name}: {err}"
        );
        let doc: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(
            doc["packages"].as_array().unwrap().len(),
            1,
            "{name}: the image only"
        );
    }
}

#[test]
fn a_slimmed_rpm_image_runs_and_its_rpm_database_lists_what_remains() {
    let (dir, img) = rpm_image();
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("slim.tar");
    let spdx = d.path().join("slim.spdx.json");
    ok(slim(&[
        "rewrite",
        "--quiet",
        img.to_str().unwrap(),
        "--to",
        "distroless",
        "-o",
        out.to_str().unwrap(),
        "--sbom",
        &format!("spdx-json={}", spdx.display()),
    ]));
    let (ran, said) = run_image(&out);
    assert!(
        ran && said.contains("Zstandard CLI"),
        "the slimmed image does not run zstd: {said}"
    );

    // The database in the slimmed image: readable by sqlite3, holding the headers
    // (verbatim) of the packages whose files remain, and no others.
    need("skopeo");
    need("umoci");
    let layout = d.path().join("layout");
    let o = Command::new("skopeo")
        .args(["--insecure-policy", "copy", "-q"])
        .arg(format!("oci-archive:{}", out.display()))
        .arg(format!("oci:{}:t", layout.display()))
        .output()
        .unwrap();
    assert!(o.status.success(), "skopeo copy: {}", stderr(&o));
    let bundle = d.path().join("bundle");
    let o = Command::new("umoci")
        .args(["unpack", "--image"])
        .arg(format!("{}:t", layout.display()))
        .arg(&bundle)
        .output()
        .unwrap();
    assert!(o.status.success(), "umoci unpack: {}", stderr(&o));
    // Fedora's CA bundle is kept through its symlinks, and SSL_CERT_FILE names it
    // (Debian's path, absent here, would point OpenSSL at nothing).
    let root = bundle.join("rootfs");
    assert_eq!(
        std::fs::read(root.join("etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem")).unwrap(),
        std::fs::read("/etc/ssl/certs/ca-certificates.crt").unwrap()
    );
    for link in [
        "etc/pki/tls/certs/ca-bundle.crt",
        "etc/pki/tls/cert.pem",
        "etc/ssl/certs",
    ] {
        assert!(
            root.join(link)
                .symlink_metadata()
                .is_ok_and(|m| m.file_type().is_symlink()),
            "{link}"
        );
    }
    // Each kept package's %license texts ship with it.
    assert_eq!(
        std::fs::read(root.join("usr/share/licenses/zstd/copyright")).unwrap(),
        std::fs::read("/usr/share/doc/zstd/copyright").unwrap()
    );
    let config: Value =
        serde_json::from_slice(&std::fs::read(bundle.join("config.json")).unwrap()).unwrap();
    let env: Vec<&str> = config["process"]["env"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e.as_str())
        .collect();
    assert!(
        env.contains(&"SSL_CERT_FILE=/etc/pki/tls/certs/ca-bundle.crt"),
        "{env:?}"
    );
    assert!(
        !env.iter().any(|e| e.contains("ca-certificates.crt")),
        "{env:?}"
    );
    let db = bundle.join("rootfs/usr/lib/sysimage/rpm/rpmdb.sqlite");
    assert_eq!(sqlite3(&db, "PRAGMA integrity_check;").trim(), "ok");
    let orig = dir.join("root/usr/lib/sysimage/rpm/rpmdb.sqlite");
    let kept = sqlite3(
        &db,
        &format!(
            "ATTACH '{}' AS o; SELECT count(*) FROM Packages p JOIN o.Packages q ON p.hnum = q.hnum AND p.blob = q.blob; SELECT count(*) FROM Packages;",
            orig.display()
        ),
    );
    let counts: Vec<&str> = kept.lines().collect();
    assert_eq!(
        counts[0], counts[1],
        "every kept header is the original's, verbatim"
    );
    let slim_pkgs: std::collections::BTreeSet<String> =
        slim::catalog::rpm::parse_sqlite(&std::fs::read(&db).unwrap(), None, "db")
            .unwrap()
            .into_iter()
            .map(|p| p.name)
            .collect();
    for p in [
        "zstd",
        "libc6",
        "zlib1g",
        "liblzma5",
        "liblz4-1",
        "ca-certificates",
    ] {
        assert!(slim_pkgs.contains(p), "{p} missing from {slim_pkgs:?}");
    }
    assert!(
        !slim_pkgs
            .iter()
            .any(|p| p.starts_with("pkg") || p == "manyfiles"),
        "packages whose files are gone are still listed: {slim_pkgs:?}"
    );

    // The slimmed image's SBOM says the same.
    validate_spdx(&spdx);
    let doc: Value = serde_json::from_slice(&std::fs::read(&spdx).unwrap()).unwrap();
    let names: std::collections::BTreeSet<String> = spdx_packages(&doc)
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, slim_pkgs);
}

#[test]
fn a_berkeley_db_rpm_database_is_read_and_slimmed_into_sqlite() {
    let (dir, img) = rpm_image();
    let bdb = std::fs::read(dir.join("bdb/Packages"))
        .expect("make-rpm-root.sh writes bdb/Packages when db5.3_load is installed");
    // The rpm image with its sqlite database replaced by the BerkeleyDB copy, in a
    // second layer, as an image of RHEL 8 or Amazon Linux 2 keeps it.
    let root_layer = std::fs::read(dir.join("layer.tar")).unwrap();
    let top = tar_of(&[
        E::Dir("usr/lib/sysimage/rpm"),
        E::File("usr/lib/sysimage/rpm/.wh.rpmdb.sqlite", b""),
        E::File("usr/lib/sysimage/rpm/.wh.rpmdb.sqlite-wal", b""),
        E::File("usr/lib/sysimage/rpm/.wh.rpmdb.sqlite-shm", b""),
        E::File("usr/lib/sysimage/rpm/Packages", &bdb),
    ]);
    let mut image = Img::new(vec![(root_layer, Comp::Gzip), (top, Comp::Zstd)]);
    image.entrypoint = vec!["/usr/bin/zstd".into(), "--version".into()];
    let d = tempfile::tempdir().unwrap();
    let layout = d.path().join("bdb-img");
    oci_layout(&layout, &image, "1");
    let _ = img;

    let a = analyze_json(layout.to_str().unwrap(), &[]);
    let dbs = a["package_databases"].as_array().unwrap();
    let want = ground_truth(dir);
    assert_eq!(dbs.len(), 1, "{dbs:?}");
    assert_eq!(dbs[0]["kind"], "rpm-bdb");
    assert_eq!(dbs[0]["packages"], want.len());

    let o = ok(slim(&["sbom", "--quiet", layout.to_str().unwrap()]));
    assert!(!stderr(&o).contains("warning"), "{}", stderr(&o));
    let doc: Value = serde_json::from_slice(&o.stdout).unwrap();
    let got: BTreeMap<String, String> = spdx_packages(&doc)
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_string(),
                p["versionInfo"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want_versions: BTreeMap<String, String> =
        want.iter().map(|(n, v)| (n.clone(), v.0.clone())).collect();
    assert_eq!(got, want_versions, "SBOM packages differ from rpm -qa");

    // Slimmed: the kept headers go to an rpmdb.sqlite beside the old Packages.
    let out = d.path().join("slim.tar");
    let o = ok(slim(&[
        "rewrite",
        "--quiet",
        layout.to_str().unwrap(),
        "--to",
        "distroless",
        "-o",
        out.to_str().unwrap(),
    ]));
    assert!(
        stdout(&o).contains("/usr/lib/sysimage/rpm/rpmdb.sqlite"),
        "{}",
        stdout(&o)
    );
    let o = ok(slim(&["sbom", "--quiet", out.to_str().unwrap()]));
    let doc: Value = serde_json::from_slice(&o.stdout).unwrap();
    let names: std::collections::BTreeSet<String> = spdx_packages(&doc)
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect();
    assert!(
        names.contains("zstd") && names.contains("libc6"),
        "{names:?}"
    );
    assert!(!names.iter().any(|n| n.starts_with("pkg")), "{names:?}");
}
