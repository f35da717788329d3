//! Parallel CI jobs on one runner: eight processes writing eight tags into one
//! OCI layout at once (twice, the second round replacing every tag so each
//! writer also removes garbage while the others add), and four pulling the
//! same image into one blob cache. Nothing may be lost, nothing left dangling.

mod common;
use common::registry::*;
use common::*;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// An oci-archive with one layer all the images share and one of its own.
fn archive(dir: &Path, seed: u64) -> PathBuf {
    let shared = tar_of(&[E::Dir("data"), E::File("data/shared", &noise(256 << 10, 7))]);
    let own = tar_of(&[E::Dir("own"), E::File("own/x", &noise(256 << 10, seed))]);
    let img = Img::new(vec![(shared, Comp::Gzip), (own, Comp::Gzip)]);
    let layout = dir.join(format!("layout-{seed}"));
    oci_layout(&layout, &img, "1");
    let out = dir.join(format!("image-{seed}.oci.tar"));
    tar_dir(&layout, &out);
    out
}

fn spawn(cache: &Path, args: &[String]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_slim"))
        .args(args)
        .env("XDG_CACHE_HOME", cache)
        .env("HOME", cache)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn blob(layout: &Path, digest: &str) -> Vec<u8> {
    let hex = digest.strip_prefix("sha256:").expect("sha256 digest");
    std::fs::read(layout.join("blobs/sha256").join(hex))
        .unwrap_or_else(|e| panic!("{}: blob {digest} missing: {e}", layout.display()))
}

/// Every blob the layout's index reaches (each checked against its digest).
fn reachable(layout: &Path) -> BTreeSet<String> {
    let index: Value = serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap())
        .expect("index.json");
    let mut out = BTreeSet::new();
    let mut todo: Vec<Value> = index["manifests"].as_array().unwrap().clone();
    while let Some(d) = todo.pop() {
        let digest = d["digest"].as_str().unwrap().to_string();
        let bytes = blob(layout, &digest);
        assert_eq!(
            format!("sha256:{}", sha256_hex(&bytes)),
            digest,
            "blob content"
        );
        out.insert(digest.trim_start_matches("sha256:").to_string());
        let mt = d["mediaType"].as_str().unwrap_or_default();
        if mt.contains("manifest") || mt.contains("index") {
            let v: Value = serde_json::from_slice(&bytes).unwrap();
            if let Some(c) = v.get("config") {
                todo.push(c.clone());
            }
            for key in ["layers", "manifests"] {
                todo.extend(v[key].as_array().cloned().unwrap_or_default());
            }
        }
    }
    out
}

fn tags(layout: &Path) -> Vec<String> {
    let mut t = layout_tags(layout);
    t.sort();
    t
}

#[test]
fn eight_writers_into_one_layout_lose_no_tag() {
    let d = tempfile::tempdir().unwrap();
    let cache = d.path().join("cache");
    let layout = d.path().join("out");
    let want: Vec<String> = (0..8).map(|i| format!("t{i}")).collect();
    for round in 0..2u64 {
        let archives: Vec<PathBuf> = (0..8)
            .map(|i| archive(d.path(), round * 100 + i + 1))
            .collect();
        let children: Vec<Child> = archives
            .iter()
            .enumerate()
            .map(|(i, a)| {
                spawn(
                    &cache,
                    &strs(&[
                        "copy",
                        "-q",
                        &format!("oci-archive:{}", a.display()),
                        &format!("oci:{}:t{i}", layout.display()),
                    ]),
                )
            })
            .collect();
        for c in children {
            ok(c.wait_with_output().unwrap());
        }
        assert_eq!(tags(&layout), want, "round {round}: every tag is there");
        // Every blob named is present and whole; nothing else is left: the
        // first round's own layers went when their tags were replaced, the
        // shared one stayed.
        let live = reachable(&layout);
        let files: BTreeSet<String> = std::fs::read_dir(layout.join("blobs/sha256"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            files, live,
            "round {round}: blobs on disk = blobs reachable"
        );
        // 8 configs + 8 manifests + 8 own layers + 1 shared layer.
        assert_eq!(live.len(), 25, "round {round}");
        let leftovers: Vec<_> = std::fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".slim"))
            .collect();
        assert!(
            leftovers.is_empty(),
            "temporary entries left: {leftovers:?}"
        );
    }
    // The real tools read every tag.
    for t in ["t0", "t7"] {
        let o = Command::new("skopeo")
            .args(["inspect", &format!("oci:{}:{t}", layout.display())])
            .output()
            .unwrap();
        assert!(o.status.success(), "skopeo inspect {t}: {}", stderr(&o));
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v["Layers"].as_array().unwrap().len(), 2);
    }
}

#[test]
fn four_pulls_into_one_cache() {
    let d = tempfile::tempdir().unwrap();
    let reg = Registry::serving(Kind::Plain, &archive(d.path(), 1), "t/img:1");
    let cache = d.path().join("cache");
    let children: Vec<Child> = (0..4)
        .map(|_| {
            spawn(
                &cache,
                &strs(&[
                    "analyze",
                    "--format",
                    "json",
                    &reg.url("t/img:1"),
                    "--tls-verify=false",
                ]),
            )
        })
        .collect();
    let mut reports = BTreeSet::new();
    for c in children {
        let o = ok(c.wait_with_output().unwrap());
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        reports.insert(v["manifest_digest"].to_string());
    }
    assert_eq!(reports.len(), 1, "the four saw one image: {reports:?}");
    let dir = cache.join("slim/blobs/sha256");
    let mut names = Vec::new();
    for e in std::fs::read_dir(&dir).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        let bytes = std::fs::read(e.path()).unwrap();
        assert_eq!(sha256_hex(&bytes), name, "cached blob is whole");
        names.push(name);
    }
    // The config and two layers (and the manifest where the cache keeps it);
    // no temporary file survives.
    assert!(
        (3..=4).contains(&names.len()),
        "cache holds {names:?} (temporary files left?)"
    );
    let all: Vec<_> = walk(&cache.join("slim"));
    assert!(
        all.iter()
            .all(|p| !p.rsplit('/').next().unwrap_or_default().starts_with('.')),
        "{all:?}"
    );
}

fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        out.push(p.display().to_string());
        if p.is_dir() {
            out.extend(walk(&p));
        }
    }
    out
}
