//! Golden snapshots (insta) of what slim prints for machines: `analyze
//! --format json` and both SBOMs of a small image built here, with the
//! values that depend on where the test runs (temporary paths, the image's
//! location in the document namespace) replaced. A change to these formats
//! shows as a diff to review (`INSTA_UPDATE=always cargo test --test golden`
//! rewrites the snapshots in tests/snapshots/).

mod common;
use common::*;
use serde_json::Value;

/// An Alpine-style image: an apk database, os-release, a musl-style program.
fn image(dir: &std::path::Path) -> String {
    let db = "P:musl\nV:1.2.4-r2\nA:x86_64\nL:MIT\no:musl\nm:Timo Teräs <timo.teras@iki.fi>\nF:lib\nR:ld-musl-x86_64.so.1\n\nP:zlib\nV:1.3-r0\nA:x86_64\nL:Zlib\nF:lib\nR:libz.so.1\n\nP:app\nV:2.0-r1\nA:x86_64\nL:Apache-2.0 OR MIT\nF:usr/bin\nR:app\n";
    let layer = tar_of(&[
        E::File(
            "etc/os-release",
            b"ID=alpine\nVERSION_ID=3.18.4\nPRETTY_NAME=\"Alpine Linux v3.18\"\n",
        ),
        E::File("lib/apk/db/installed", db.as_bytes()),
        E::File("lib/ld-musl-x86_64.so.1", b"loader"),
        E::File("lib/libz.so.1", b"zlib"),
        E::Exec("usr/bin/app", b"#!/bin/sh\necho\n"),
        E::File("app/config.yml", b"port: 80\n"),
    ]);
    let mut img = Img::new(vec![(layer, Comp::Gzip)]);
    img.entrypoint = vec!["/usr/bin/app".into()];
    img.workdir = "/app".into();
    oci_layout(dir, &img, "3.18");
    dir.display().to_string()
}

/// Replaces the test's temporary directory wherever it appears.
fn redact(v: &mut Value, tmp: &str) {
    match v {
        Value::String(s) if s.contains(tmp) => *s = s.replace(tmp, "[TMP]"),
        Value::Array(a) => a.iter_mut().for_each(|x| redact(x, tmp)),
        Value::Object(o) => o.values_mut().for_each(|x| redact(x, tmp)),
        _ => {}
    }
}

#[test]
fn analyze_json_of_a_small_image() {
    let d = tempfile::tempdir().unwrap();
    let src = image(&d.path().join("img"));
    let mut v = analyze_json(&src, &[]);
    redact(&mut v, d.path().to_str().unwrap());
    insta::assert_json_snapshot!("analyze", v);
}

#[test]
fn sboms_of_a_small_image() {
    let d = tempfile::tempdir().unwrap();
    let src = image(&d.path().join("img"));
    let (spdx, cdx) = (d.path().join("s.json"), d.path().join("c.json"));
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_slim"))
        .args(["sbom", "-q", &src, "-o"])
        .arg(format!("spdx-json={}", spdx.display()))
        .arg("-o")
        .arg(format!("cyclonedx-json={}", cdx.display()))
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    for (name, path) in [("spdx", spdx), ("cyclonedx", cdx)] {
        let mut v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        redact(&mut v, d.path().to_str().unwrap());
        insta::assert_json_snapshot!(name, v);
    }
}
