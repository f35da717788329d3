//! SBOMs of the real fixture images and of slimmed ones, checked with the
//! validators users have (pyspdxtools, the CycloneDX 1.6 and 1.5 JSON schemas) and
//! against dpkg's ground truth.

mod common;
use common::*;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

/// Writes both SBOMs of `image` into `dir` and checks both with the validators.
fn both_sboms(image: &Path, dir: &Path, name: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let spdx = dir.join(format!("{name}.spdx.json"));
    let cdx = dir.join(format!("{name}.cdx.json"));
    let (s, c) = (
        format!("spdx-json={}", spdx.display()),
        format!("cyclonedx-json={}", cdx.display()),
    );
    ok(slim(&[
        "sbom",
        "--quiet",
        image.to_str().unwrap(),
        "-o",
        &s,
        "-o",
        &c,
    ]));
    validate_spdx(&spdx);
    validate_cyclonedx(&cdx);
    (spdx, cdx)
}

#[test]
#[ignore = "needs the fixture images: scripts/test builds them and runs this"]
fn fat_images_sboms_validate_and_match_dpkg() {
    let fx = fixtures();
    let d = tempfile::tempdir().unwrap();
    for name in ["nginx", "curl", "python3"] {
        let image = fx.join(format!("{name}.docker25.tar"));
        let (spdx, cdx) = both_sboms(&image, d.path(), name);
        let want: BTreeSet<String> =
            std::fs::read_to_string(fx.join(format!("{name}.packages.tsv")))
                .unwrap()
                .lines()
                .map(|l| l.split('\t').next().unwrap().to_string())
                .collect();
        let doc: Value = serde_json::from_slice(&std::fs::read(&spdx).unwrap()).unwrap();
        let pkgs = spdx_packages(&doc);
        let got: BTreeSet<String> = pkgs
            .iter()
            .map(|p| p["name"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(got, want, "{name}: SBOM packages differ from dpkg's");
        assert_eq!(pkgs.len(), want.len(), "{name}: duplicates");
        for p in &pkgs {
            let lic = p["licenseDeclared"].as_str().unwrap();
            assert!(
                !lic.is_empty() && lic != "NOASSERTION",
                "{name}: {} has no license",
                p["name"]
            );
            assert!(
                p["licenseComments"]
                    .as_str()
                    .unwrap()
                    .starts_with("license source: "),
                "{}",
                p["licenseComments"]
            );
            // Every copyright file yields licenses (DEP-5, common-licenses, prose or
            // detected texts), never only a reference to the whole file.
            assert!(
                !p["licenseComments"]
                    .as_str()
                    .unwrap()
                    .contains("copyright-file"),
                "{name}: {} {}",
                p["name"],
                p["licenseComments"]
            );
            let purl = p["externalRefs"][0]["referenceLocator"].as_str().unwrap();
            let enc = p["name"].as_str().unwrap().replace('+', "%2B");
            assert!(
                purl.starts_with(&format!("pkg:deb/debian/{enc}@"))
                    && purl.contains("distro=debian-12"),
                "{purl}"
            );
        }
        // The bar: >= 90 % of packages declare a license of SPDX List ids only; the
        // rest carry LicenseRef-… (declared in hasExtractedLicensingInfos), never nothing.
        let pure = spdx_only(&pkgs, "licenseDeclared");
        assert!(
            pure * 10 >= pkgs.len() * 9,
            "{name}: only {pure} of {} packages declare SPDX ids only",
            pkgs.len()
        );
        // Concluded holds every license of the package's files: never less than declared.
        for p in &pkgs {
            let (d, c) = (
                p["licenseDeclared"].as_str().unwrap(),
                p["licenseConcluded"].as_str().unwrap(),
            );
            for id in d
                .split(|ch: char| ch.is_whitespace() || ch == '(' || ch == ')')
                .filter(|w| !w.is_empty() && !matches!(*w, "AND" | "OR" | "WITH"))
            {
                assert!(
                    c.contains(id),
                    "{}: declared {d} but concluded {c}",
                    p["name"]
                );
            }
        }
        let cdx: Value = serde_json::from_slice(&std::fs::read(&cdx).unwrap()).unwrap();
        assert_eq!(cdx["components"].as_array().unwrap().len(), want.len());
        let libc = pkgs.iter().find(|p| p["name"] == "libc6").unwrap();
        assert!(
            libc["externalRefs"][0]["referenceLocator"]
                .as_str()
                .unwrap()
                .contains("%2Bdeb12u"),
            "{}",
            libc["externalRefs"]
        );
    }
}

#[test]
#[ignore = "needs the fixture images: scripts/test builds them and runs this"]
fn sboms_are_deterministic_with_source_date_epoch() {
    let fx = fixtures();
    let image = fx.join("nginx.oci.tar");
    let run = || {
        let o = Command::new(env!("CARGO_BIN_EXE_slim"))
            .args([
                "sbom",
                "--quiet",
                "-o",
                "cyclonedx-json",
                image.to_str().unwrap(),
            ])
            .env("SOURCE_DATE_EPOCH", "1700000000")
            .output()
            .unwrap();
        assert!(o.status.success());
        o.stdout
    };
    let a = run();
    assert_eq!(a, run());
    let v: Value = serde_json::from_slice(&a).unwrap();
    assert_eq!(v["metadata"]["timestamp"], "2023-11-14T22:13:20Z");
}

#[test]
#[ignore = "needs the fixture images: scripts/test builds them and runs this"]
fn the_slimmed_image_sbom_lists_what_remains() {
    let fx = fixtures();
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("slim.tar");
    let spdx = d.path().join("slim.spdx.json");
    let cdx = d.path().join("slim.cdx.json");
    ok(slim(&[
        "rewrite",
        "--quiet",
        fx.join("nginx.docker.tar").to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--sbom",
        &format!("spdx-json={}", spdx.display()),
        "--sbom",
        &format!("cyclonedx-json={}", cdx.display()),
    ]));
    validate_spdx(&spdx);
    validate_cyclonedx(&cdx);
    let doc: Value = serde_json::from_slice(&std::fs::read(&spdx).unwrap()).unwrap();
    let names: BTreeSet<String> = spdx_packages(&doc)
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect();
    for want in ["nginx", "nginx-common", "libc6", "libssl3"] {
        assert!(names.contains(want), "{want} missing: {names:?}");
    }
    for gone in ["bash", "apt", "dpkg", "coreutils", "perl-base"] {
        assert!(!names.contains(gone), "{gone} listed in the slimmed SBOM");
    }
    // The same set the image's status.d holds.
    let tree = slim_tree(out.to_str().unwrap());
    let status_d: BTreeSet<String> = tree
        .keys()
        .filter_map(|p| p.strip_prefix("/var/lib/dpkg/status.d/"))
        .filter(|p| !p.ends_with(".md5sums"))
        .map(String::from)
        .collect();
    assert_eq!(names, status_d);
    // Files of the slimmed image, with checksums, each contained by its package.
    let files = doc["files"]
        .as_array()
        .expect("the slimmed SBOM lists files");
    let regular = tree.values().filter(|s| s.kind == "file").count();
    assert_eq!(files.len(), regular);
    let nginx = files
        .iter()
        .find(|f| f["fileName"] == "./usr/sbin/nginx")
        .unwrap();
    let sha = nginx["checksums"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["algorithm"] == "SHA256")
        .unwrap();
    assert_eq!(
        sha["checksumValue"].as_str(),
        tree["/usr/sbin/nginx"].sha256.as_deref()
    );
    let rel = doc["relationships"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["relatedSpdxElement"] == nginx["SPDXID"])
        .unwrap();
    let owner = rel["spdxElementId"].as_str().unwrap();
    assert!(
        owner.starts_with("SPDXRef-Package-deb-nginx-1.22") && owner.ends_with("-amd64"),
        "{owner}"
    );
}

#[test]
fn an_alpine_image_is_catalogued_from_its_apk_database() {
    let db = "C:Q1abc=\nP:musl\nV:1.2.4-r2\nA:x86_64\nL:MIT\no:musl\nm:Timo Teräs <timo.teras@iki.fi>\nF:lib\nR:ld-musl-x86_64.so.1\n\nP:busybox\nV:1.36.1-r2\nA:x86_64\nL:GPL-2.0-only\no:busybox\nF:bin\nR:busybox\n\nP:zlib\nV:1.3-r0\nA:x86_64\nL:Zlib AND custom-notice\nF:lib\nR:libz.so.1\n";
    let layer = tar_of(&[
        E::Dir("etc"),
        E::File(
            "etc/os-release",
            b"ID=alpine\nVERSION_ID=3.18.4\nPRETTY_NAME=\"Alpine Linux v3.18\"\n",
        ),
        E::Dir("lib"),
        E::Dir("lib/apk"),
        E::Dir("lib/apk/db"),
        E::File("lib/apk/db/installed", db.as_bytes()),
        E::File("lib/ld-musl-x86_64.so.1", b"x"),
        E::File("lib/libz.so.1", b"z"),
        E::Dir("bin"),
        E::Exec("bin/busybox", b"bb"),
    ]);
    let d = tempfile::tempdir().unwrap();
    oci_layout(
        &d.path().join("img"),
        &Img::new(vec![(layer, Comp::Gzip)]),
        "3.18",
    );
    let img = d.path().join("img");
    let (spdx, _) = both_sboms(&img, d.path(), "a");
    let doc: Value = serde_json::from_slice(&std::fs::read(&spdx).unwrap()).unwrap();
    let pkgs = spdx_packages(&doc);
    assert_eq!(pkgs.len(), 3);
    let musl = pkgs.iter().find(|p| p["name"] == "musl").unwrap();
    assert_eq!(
        musl["externalRefs"][0]["referenceLocator"],
        "pkg:apk/alpine/musl@1.2.4-r2?arch=x86_64&distro=alpine-3.18.4"
    );
    assert_eq!(musl["licenseDeclared"], "MIT");
    let zlib = pkgs.iter().find(|p| p["name"] == "zlib").unwrap();
    assert_eq!(zlib["licenseDeclared"], "Zlib AND LicenseRef-custom-notice");
    let a = analyze_json(img.to_str().unwrap(), &[]);
    assert_eq!(a["package_databases"][0]["kind"], "apk");
    assert_eq!(a["package_databases"][0]["packages"], 3);
    assert!(a["shells"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s == "/bin/busybox"));
}

#[test]
#[ignore = "needs the fixture images: scripts/test builds them and runs this"]
fn cyclonedx_is_1_6_by_default_and_1_5_on_request() {
    let image = fixtures().join("nginx.docker25.tar");
    let d = tempfile::tempdir().unwrap();
    let (new, old) = (d.path().join("16.json"), d.path().join("15.json"));
    ok(slim(&[
        "sbom",
        "--quiet",
        image.to_str().unwrap(),
        "-o",
        &format!("cyclonedx-json={}", new.display()),
        "-o",
        &format!("cyclonedx-json@1.5={}", old.display()),
    ]));
    for (p, v) in [(&new, "1.6"), (&old, "1.5")] {
        validate_cyclonedx(p);
        let doc: Value = serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap();
        assert_eq!(doc["specVersion"], v);
    }
    let o = slim(&["sbom", image.to_str().unwrap(), "-o", "cyclonedx-json@1.2"]);
    fails_with(&o, &["cyclonedx-json version 1.2", "1.6", "1.5"]);
}

/// Regression (issue 11): a catalog holding two versions of one package gave
/// both the same SPDXID (`SPDXRef-Package-apk-zlib-x86_64`).
#[test]
fn two_versions_of_one_package_get_distinct_spdx_ids() {
    let db = "P:zlib\nV:1.2.13-r0\nA:x86_64\nL:Zlib\nF:lib\nR:libz.so.1.2.13\n\nP:zlib\nV:1.3-r0\nA:x86_64\nL:Zlib\nF:lib\nR:libz.so.1.3\n";
    let layer = tar_of(&[
        E::File("etc/os-release", b"ID=alpine\nVERSION_ID=3.18.4\n"),
        E::File("lib/apk/db/installed", db.as_bytes()),
        E::File("lib/libz.so.1.2.13", b"a"),
        E::File("lib/libz.so.1.3", b"b"),
    ]);
    let d = tempfile::tempdir().unwrap();
    oci_layout(
        &d.path().join("img"),
        &Img::new(vec![(layer, Comp::Gzip)]),
        "v1",
    );
    let (spdx, _) = both_sboms(&d.path().join("img"), d.path(), "z");
    let doc: Value = serde_json::from_slice(&std::fs::read(&spdx).unwrap()).unwrap();
    let ids: Vec<&str> = spdx_packages(&doc)
        .iter()
        .map(|p| p["SPDXID"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert_ne!(ids[0], ids[1]);
}
