//! Multi-platform indexes (fixtures/make-index.sh: one Debian curl image
//! for linux/amd64 and linux/arm64, plus a BuildKit-style attestation):
//! `rewrite` slims every platform into one index, each platform's objects
//! its own machine's, the arm64 one running under qemu-user; reproducible,
//! to every transport, a registry included.

mod common;
use common::registry::*;
use common::*;
use serde_json::Value;
use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The index fixture (and its info), or a failure saying how to build it.
fn multi() -> (PathBuf, Value) {
    let dir = fixtures();
    require_fixture(
        &dir.join("multi.info"),
        &format!("fixtures/make-index.sh {}", dir.display()),
    );
    let info = std::fs::read_to_string(dir.join("multi.info")).unwrap();
    let mut v = serde_json::Map::new();
    for l in info.lines() {
        if let Some((k, val)) = l.split_once('=') {
            v.insert(k.into(), Value::String(val.into()));
        }
    }
    (dir, Value::Object(v))
}

/// `slim rewrite -q --to distroless --format json SRC -o DEST EXTRA…`, which must succeed.
fn rewrite(src: &str, dest: &str, extra: &[&str]) -> Value {
    let mut args = vec![
        "rewrite",
        "-q",
        "--to",
        "distroless",
        "--format",
        "json",
        src,
        "-o",
        dest,
    ];
    args.extend_from_slice(extra);
    serde_json::from_slice(&ok(slim(&args)).stdout).unwrap()
}

/// `skopeo inspect --raw` of a plain-HTTP registry image: the manifest's bytes.
fn inspect_raw(url: &str) -> Vec<u8> {
    let o = Command::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false", url])
        .output()
        .unwrap();
    assert!(o.status.success(), "skopeo inspect {url}: {}", stderr(&o));
    o.stdout
}

/// `slim COMMAND -q SRC --all-platforms --format json EXTRA…`, which must
/// exit `code`: its array of per-platform reports.
fn all_json(command: &str, src: &str, extra: &[&str], code: i32) -> Vec<Value> {
    let mut args = vec![command, "-q", src, "--all-platforms", "--format", "json"];
    args.extend_from_slice(extra);
    let o = slim(&args);
    assert_eq!(o.status.code(), Some(code), "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    v.as_array().unwrap().clone()
}

fn blob(layout: &Path, digest: &str) -> Vec<u8> {
    std::fs::read(
        layout
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:")),
    )
    .unwrap()
}

fn json_blob(layout: &Path, digest: &str) -> Value {
    serde_json::from_slice(&blob(layout, digest)).unwrap()
}

/// The index an OCI layout's only entry names.
fn top_index(layout: &Path) -> (String, Value) {
    let ix: Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let entries = ix["manifests"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{ix}");
    let d = entries[0]["digest"].as_str().unwrap().to_string();
    (d.clone(), json_blob(layout, &d))
}

/// Extracts an image's layers (gzip members or plain) into `root`.
fn unpack(layout: &Path, manifest: &Value, root: &Path) {
    for l in manifest["layers"].as_array().unwrap() {
        let bytes = blob(layout, l["digest"].as_str().unwrap());
        let r: Box<dyn Read> = match bytes.starts_with(&[0x1f, 0x8b]) {
            true => Box::new(flate2::read::MultiGzDecoder::new(&bytes[..])),
            false => Box::new(&bytes[..]),
        };
        let mut a = tar::Archive::new(r);
        a.set_preserve_permissions(true);
        a.unpack(root).unwrap();
    }
}

/// The e_machine of every ELF file under `root`.
fn machines(root: &Path) -> BTreeSet<u16> {
    let mut out = BTreeSet::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let t = e.file_type().unwrap();
            if t.is_dir() {
                stack.push(e.path());
            } else if t.is_file() {
                let mut head = [0u8; 20];
                let n = std::fs::File::open(e.path())
                    .and_then(|mut f| f.read(&mut head))
                    .unwrap_or(0);
                if n == 20 && head.starts_with(b"\x7fELF") {
                    out.insert(u16::from_le_bytes([head[18], head[19]]));
                }
            }
        }
    }
    out
}

/// lddtree's (pax-utils) closure of `file` in `root`: the sonames it
/// resolves, and those it cannot.
fn closure(root: &Path, file: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    need("lddtree");
    let o = Command::new("/usr/bin/python3")
        .arg("/usr/bin/lddtree")
        .arg("-R")
        .arg(root)
        .arg(file)
        .output()
        .unwrap();
    assert!(o.status.success(), "lddtree: {}", stderr(&o));
    let (mut found, mut missing) = (BTreeSet::new(), BTreeSet::new());
    for line in String::from_utf8_lossy(&o.stdout).lines().skip(1) {
        if let Some((name, path)) = line.trim().split_once(" => ") {
            match path {
                "None" => missing.insert(name.to_string()),
                _ => found.insert(name.to_string()),
            };
        }
    }
    (found, missing)
}

#[test]
#[ignore = "needs the fixture images: scripts/test builds them and runs this"]
fn every_platform_is_slimmed_into_one_index_that_runs_on_both() {
    let (dir, info) = multi();
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("slim");
    let report = rewrite(
        &dir.join("multi.oci").display().to_string(),
        &format!("oci:{}:slim", out.display()),
        &[],
    );
    assert_eq!(report["missing"], serde_json::json!([]), "{report}");
    let dropped = report["dropped"].as_array().unwrap();
    assert_eq!(dropped.len(), 1, "the attestation is dropped and said");
    assert_eq!(dropped[0]["type"], "attestation-manifest");
    assert_eq!(dropped[0]["describes"], info["manifest_amd64"]);

    let (digest, index) = top_index(&out);
    assert_eq!(report["written"]["digest"], digest.as_str());
    assert_eq!(
        index["annotations"]["org.opencontainers.image.base.digest"],
        info["index_digest"]
    );
    assert!(
        index["annotations"]["dev.slim.dropped"].is_string(),
        "{index}"
    );
    let entries = index["manifests"].as_array().unwrap();
    let platforms: Vec<&Value> = entries.iter().map(|e| &e["platform"]).collect();
    assert_eq!(
        platforms,
        [
            &serde_json::json!({"architecture": "amd64", "os": "linux"}),
            &serde_json::json!({"architecture": "arm64", "os": "linux", "variant": "v8"}),
        ],
        "the source's platform descriptors, in its order, no attestation"
    );
    for (e, (arch, machine, source)) in entries.iter().zip([
        ("amd64", 62u16, "manifest_amd64"),
        ("arm64", 183, "manifest_arm64"),
    ]) {
        let m = json_blob(&out, e["digest"].as_str().unwrap());
        assert_eq!(
            m["annotations"]["org.opencontainers.image.base.digest"],
            info[source]
        );
        let config = json_blob(&out, m["config"]["digest"].as_str().unwrap());
        assert_eq!(config["architecture"], arch);
        let root = t.path().join(arch);
        std::fs::create_dir(&root).unwrap();
        unpack(&out, &m, &root);
        assert_eq!(
            machines(&root),
            BTreeSet::from([machine]),
            "{arch}: every kept ELF object is of its own machine"
        );
        let (found, missing) = closure(&root, "/usr/bin/curl");
        assert!(
            missing.is_empty(),
            "{arch}: lddtree cannot find {missing:?}"
        );
        assert!(found.contains("libcurl.so.4"), "{arch}: {found:?}");
    }
    // lddtree-equal to the fat arm64 image's closure.
    let fat = t.path().join("fat-arm64");
    std::fs::create_dir(&fat).unwrap();
    let src = dir.join("multi.oci");
    unpack(
        &src,
        &json_blob(&src, info["manifest_arm64"].as_str().unwrap()),
        &fat,
    );
    assert_eq!(
        closure(&fat, "/usr/bin/curl"),
        closure(&t.path().join("arm64"), "/usr/bin/curl")
    );

    // Both run their entrypoint under runc: amd64 natively, arm64 through
    // binfmt_misc's qemu-user (where the kernel has no binfmt_misc, the
    // unpacked root under qemu-aarch64-static -L instead).
    let layout = format!("{}:slim", out.display());
    let binfmt = Path::new("/proc/sys/fs/binfmt_misc/qemu-aarch64").exists();
    for (arch, says) in [
        ("amd64", "(x86_64-pc-linux-gnu)"),
        ("arm64", "(aarch64-unknown-linux-gnu)"),
    ] {
        let o = match (arch, binfmt) {
            ("arm64", false) => {
                need("qemu-aarch64-static");
                let root = t.path().join("arm64");
                Command::new("qemu-aarch64-static")
                    .arg("-L")
                    .arg(&root)
                    .arg(root.join("usr/bin/curl"))
                    .arg("--version")
                    .output()
                    .unwrap()
            }
            _ => Command::new(run_image_script())
                .args(["-q", "-T", "120", "-a", arch, &layout])
                .output()
                .unwrap(),
        };
        let said = format!("{}{}", stdout(&o), stderr(&o));
        assert!(o.status.success() && said.contains(says), "{arch}: {said}");
    }
}

#[test]
#[ignore = "needs the fixture images: scripts/test builds them and runs this"]
fn the_same_index_gives_the_same_digest_from_every_transport() {
    let (dir, _) = multi();
    let t = tempfile::tempdir().unwrap();
    let a = t.path().join("a");
    let b = t.path().join("b.tar");
    let ra = rewrite(
        &dir.join("multi.oci").display().to_string(),
        &format!("oci:{}:x", a.display()),
        &[],
    );
    let rb = rewrite(
        &format!("oci-archive:{}", dir.join("multi.oci.tar").display()),
        &format!("oci-archive:{}:x", b.display()),
        &[],
    );
    assert_eq!(ra["written"]["digest"], rb["written"]["digest"]);
    // podman loads this machine's platform of the archive's index (its own
    // storage, flags as tests/e2e_rewrite.rs runs it).
    need("podman");
    let pm = tempfile::Builder::new()
        .prefix("pm")
        .tempdir_in("/tmp")
        .unwrap();
    let o = Command::new("podman")
        .arg("--root")
        .arg(pm.path().join("root"))
        .arg("--runroot")
        .arg(pm.path().join("run"))
        .args(["--storage-driver", "vfs", "--cgroup-manager", "cgroupfs"])
        .args(["--events-backend", "file", "load", "-i"])
        .arg(&b)
        .output()
        .unwrap();
    let amd64 = rb["written"]["images"][0]["config_digest"]
        .as_str()
        .unwrap();
    let said = format!("{}{}", stdout(&o), stderr(&o));
    assert!(
        o.status.success() && said.contains("Loaded image") && said.contains(amd64),
        "podman load: {said}"
    );
    // A layout whose index.json is the platform index itself (no nested index).
    let flat = t.path().join("flat");
    run_ok(
        Command::new("cp")
            .arg("-a")
            .arg(dir.join("multi.oci"))
            .arg(&flat),
    );
    let (top, _) = top_index(&flat);
    std::fs::copy(
        flat.join("blobs/sha256")
            .join(top.trim_start_matches("sha256:")),
        flat.join("index.json"),
    )
    .unwrap();
    let fo = t.path().join("fo");
    let rf = rewrite(
        &flat.display().to_string(),
        &format!("oci:{}:x", fo.display()),
        &[],
    );
    assert_eq!(rf["written"]["images"].as_array().unwrap().len(), 2, "{rf}");
    assert_eq!(ra["written"]["digest"], rf["written"]["digest"]);
    // skopeo reads the archive's index and copies every platform.
    let c = t.path().join("c");
    run_ok(
        Command::new("skopeo")
            .args(["--insecure-policy", "copy", "-q", "--all"])
            .arg(format!("oci-archive:{}:x", b.display()))
            .arg(format!("oci:{}:x", c.display())),
    );
    let (d, _) = top_index(&c);
    assert_eq!(ra["written"]["digest"], d.as_str());
}

#[test]
#[ignore = "needs the fixture images: scripts/test builds them and runs this"]
fn platform_picks_one_image_or_a_list_and_names_what_is_there() {
    let (dir, _) = multi();
    let src = dir.join("multi.oci").display().to_string();
    let t = tempfile::tempdir().unwrap();
    // One platform: one image, as before.
    let one = t.path().join("one");
    let r = rewrite(
        &src,
        &format!("oci:{}:x", one.display()),
        &["--platform", "linux/arm64"],
    );
    assert!(r["written"]["manifest_digest"].is_string(), "{r}");
    let ix: Value =
        serde_json::from_slice(&std::fs::read(one.join("index.json")).unwrap()).unwrap();
    let m = json_blob(&one, ix["manifests"][0]["digest"].as_str().unwrap());
    assert_eq!(m["mediaType"], "application/vnd.oci.image.manifest.v1+json");
    assert_eq!(
        json_blob(&one, m["config"]["digest"].as_str().unwrap())["architecture"],
        "arm64"
    );
    // A list: an index of those.
    let two = t.path().join("two");
    let r = rewrite(
        &src,
        &format!("oci:{}:x", two.display()),
        &["--platform", "linux/arm64,linux/amd64"],
    );
    assert_eq!(r["written"]["images"].as_array().unwrap().len(), 2, "{r}");
    // One the index does not hold: named, with what it holds.
    let o = slim(&[
        "rewrite",
        "-q",
        "--to",
        "distroless",
        &src,
        "--platform",
        "linux/amd64,linux/s390x",
        "-o",
        &format!("oci:{}:y", two.display()),
    ]);
    fails_with(&o, &["linux/s390x", "linux/arm64"]);
    // The index's own tag is the input: not replaced.
    let o = slim(&[
        "rewrite",
        "-q",
        "--to",
        "distroless",
        &src,
        "-o",
        &format!("oci:{src}:bookworm"),
    ]);
    fails_with(&o, &["replace the input"]);
    // A docker-archive holds one image: said before any work.
    let o = slim(&[
        "rewrite",
        "-q",
        "--to",
        "distroless",
        &src,
        "-o",
        &format!("docker-archive:{}", t.path().join("d.tar").display()),
    ]);
    fails_with(&o, &["docker-archive", "--platform"]);
    assert!(!t.path().join("d.tar").exists());
}

/// What stderr says of the platforms `analyze SRC EXTRA` did not read.
fn platform_note(src: &str, extra: &[String]) -> Option<String> {
    let cache = tempfile::tempdir().unwrap();
    let mut args = strs(&["analyze", "--format", "json", src]);
    args.extend_from_slice(extra);
    let o = ok(slim_in(cache.path(), &args));
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(report["manifest_digest"].is_string(), "{report}");
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    err.lines()
        .find(|l| l.contains("several platforms"))
        .map(String::from)
}

#[test]
#[ignore = "needs the fixture images: scripts/test builds them and runs this"]
fn reading_one_platform_of_an_index_by_default_says_what_else_is_there() {
    let (dir, _) = multi();
    let src = dir.join("multi.oci").display().to_string();
    let host = if cfg!(target_arch = "aarch64") {
        ("linux/arm64", "linux/amd64")
    } else {
        ("linux/amd64", "linux/arm64/v8")
    };
    let note = platform_note(&src, &[]).expect("a note naming the other platform");
    assert!(note.contains(&format!("reading {}", host.0)), "{note}");
    assert!(
        note.contains(host.1) && note.contains("--all-platforms"),
        "{note}"
    );
    // The attestation is no platform.
    assert!(!note.contains("unknown"), "{note}");
    // Asked for, or quiet: nothing to say.
    assert_eq!(
        platform_note(&src, &strs(&["--platform", "linux/arm64"])),
        None
    );
    assert_eq!(platform_note(&src, &strs(&["-q"])), None);
    // One image of one platform: nothing either.
    let single = dir.join("multi-arm64.oci").display().to_string();
    assert_eq!(platform_note(&single, &[]), None);
    // From a registry, which pulls only this machine's image: the same note.
    let reg = Registry::start(Kind::Plain);
    reg.push(&format!("oci:{src}:bookworm"), "t/note:1", true);
    let note = platform_note(&reg.url("t/note:1"), &reg.slim_opts())
        .expect("a note from the registry too");
    assert!(note.contains(host.1) && !note.contains("unknown"), "{note}");
}

/// A copy of the fixture layout whose arm64 image runs a program it does
/// not have: that platform's trace fails.
fn broken_arm64(dir: &Path, info: &Value, to: &Path) {
    let src = dir.join("multi.oci");
    run_ok(Command::new("cp").arg("-a").arg(&src).arg(to));
    let put = |v: &Value| -> (String, usize) {
        let bytes = serde_json::to_vec(v).unwrap();
        let d = sha256_hex(&bytes);
        std::fs::write(to.join("blobs/sha256").join(&d), &bytes).unwrap();
        (format!("sha256:{d}"), bytes.len())
    };
    let arm = info["manifest_arm64"].as_str().unwrap();
    let mut m = json_blob(&src, arm);
    let mut config = json_blob(&src, m["config"]["digest"].as_str().unwrap());
    config["config"]["Entrypoint"] = serde_json::json!(["/usr/bin/not-here"]);
    let (cd, cs) = put(&config);
    m["config"]["digest"] = cd.into();
    m["config"]["size"] = cs.into();
    let (md, ms) = put(&m);
    let (ixd, _) = top_index(&src);
    let mut ix = json_blob(&src, &ixd);
    for e in ix["manifests"].as_array_mut().unwrap() {
        if e["digest"] == arm {
            e["digest"] = md.clone().into();
            e["size"] = ms.into();
        }
    }
    let (nd, ns) = put(&ix);
    let mut top: Value =
        serde_json::from_slice(&std::fs::read(src.join("index.json")).unwrap()).unwrap();
    top["manifests"][0]["digest"] = nd.into();
    top["manifests"][0]["size"] = ns.into();
    std::fs::write(to.join("index.json"), serde_json::to_vec(&top).unwrap()).unwrap();
}

#[test]
#[ignore = "needs the fixture images: scripts/test builds them and runs this"]
fn a_platform_that_fails_fails_the_rewrite_unless_forced() {
    let (dir, info) = multi();
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("broken");
    broken_arm64(&dir, &info, &src);
    let out = t.path().join("out");
    let o = slim(&[
        "rewrite",
        "-q",
        "--to",
        "distroless",
        &src.display().to_string(),
        "-o",
        &format!("oci:{}:x", out.display()),
    ]);
    fails_with(&o, &["linux/arm64/v8", "/usr/bin/not-here", "--force"]);
    assert!(!out.exists(), "nothing is written");
    let r = rewrite(
        &src.display().to_string(),
        &format!("oci:{}:x", out.display()),
        &["--force"],
    );
    assert_eq!(r["missing"], serde_json::json!(["linux/arm64/v8"]), "{r}");
    let (_, index) = top_index(&out);
    assert_eq!(index["manifests"].as_array().unwrap().len(), 1);
    assert_eq!(index["manifests"][0]["platform"]["architecture"], "amd64");
    assert_eq!(index["annotations"]["dev.slim.missing"], "linux/arm64/v8");
}

#[test]
#[ignore = "needs the fixture images: scripts/test builds them and runs this"]
fn an_index_pushed_to_a_registry_is_rewritten_to_an_index_skopeo_copies_whole() {
    let (dir, _) = multi();
    let reg = Registry::start(Kind::Plain);
    reg.push(
        &format!("oci:{}:bookworm", dir.join("multi.oci").display()),
        "t/multi:1",
        true,
    );
    let cache = tempfile::tempdir().unwrap();
    let mut args = strs(&["rewrite", "-q", "--to", "distroless", "--format", "json"]);
    args.push(reg.url("t/multi:1"));
    args.extend(["-o".into(), reg.url("t/multi:1-slim")]);
    let sbom = cache.path().join("slim.spdx.json");
    args.extend(["--sbom".into(), format!("spdx-json={}", sbom.display())]);
    args.extend(reg.slim_opts());
    let out = ok(slim_in(cache.path(), &args));
    // One SBOM per platform, read back from what was pushed.
    for (tag, arch) in [("linux-amd64", "amd64"), ("linux-arm64-v8", "arm64")] {
        let p = cache.path().join(format!("slim.{tag}.spdx.json"));
        validate_spdx(&p);
        let doc: Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        let pkgs = spdx_packages(&doc);
        let curl = pkgs.iter().find(|p| p["name"] == "curl").unwrap();
        let purl = curl["externalRefs"][0]["referenceLocator"]
            .as_str()
            .unwrap();
        assert!(purl.contains(&format!("arch={arch}")), "{tag}: {purl}");
        assert!(
            pkgs.len() < 60,
            "{tag}: the slimmed image's packages: {}",
            pkgs.len()
        );
    }
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    let bytes = inspect_raw(&reg.url("t/multi:1-slim"));
    let raw: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(raw["mediaType"], "application/vnd.oci.image.index.v1+json");
    assert_eq!(raw["manifests"].as_array().unwrap().len(), 2, "{raw}");
    assert_eq!(
        common::sha256_hex(&bytes),
        plan["written"]["digest"]
            .as_str()
            .unwrap()
            .trim_start_matches("sha256:")
    );
    let back = cache.path().join("back");
    run_ok(
        Command::new("skopeo")
            .args([
                "--insecure-policy",
                "copy",
                "-q",
                "--all",
                "--src-tls-verify=false",
            ])
            .arg(reg.url("t/multi:1-slim"))
            .arg(format!("oci:{}:x", back.display())),
    );
    // --platform still gives one image.
    let mut args = strs(&["rewrite", "-q", "--to", "distroless", "--format", "json"]);
    args.extend([
        reg.url("t/multi:1"),
        "--platform".into(),
        "linux/arm64".into(),
    ]);
    args.extend(["-o".into(), reg.url("t/multi:1-arm64")]);
    args.extend(reg.slim_opts());
    ok(slim_in(cache.path(), &args));
    let raw: Value = serde_json::from_slice(&inspect_raw(&reg.url("t/multi:1-arm64"))).unwrap();
    assert_eq!(
        raw["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
}

#[test]
#[ignore = "needs the fixture images: scripts/test builds them and runs this"]
fn the_reporting_commands_report_each_platform() {
    let (dir, info) = multi();
    let src = dir.join("multi.oci").display().to_string();
    // analyze: a JSON array, each platform its own manifest and loader.
    let all = all_json("analyze", &src, &[], 0);
    assert_eq!(all.len(), 2);
    for (r, (platform, source, ld)) in all.iter().zip([
        (
            "linux/amd64",
            "manifest_amd64",
            "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
        ),
        (
            "linux/arm64/v8",
            "manifest_arm64",
            "/usr/lib/aarch64-linux-gnu/ld-linux-aarch64.so.1",
        ),
    ]) {
        assert_eq!(r["platform"], platform);
        assert_eq!(r["manifest_digest"], info[source]);
        assert!(
            r["dependencies"]["objects"].get(ld).is_some(),
            "{platform}: {ld}"
        );
    }
    let o = ok(slim(&["analyze", "-q", &src, "--all-platforms"]));
    let text = stdout(&o);
    let sections: Vec<&str> = text.lines().filter(|l| l.starts_with("== ")).collect();
    assert_eq!(
        sections,
        ["== linux/amd64 ==", "== linux/arm64/v8 =="],
        "{text}"
    );
    // --platform still picks one.
    let o = ok(slim(&[
        "analyze",
        "-q",
        &src,
        "--platform",
        "linux/arm64",
        "--format",
        "json",
    ]));
    let one: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(one["manifest_digest"], info["manifest_arm64"]);

    // sbom: one document per platform and format, each valid, each its arch.
    let t = tempfile::tempdir().unwrap();
    let spdx = t.path().join("m.spdx.json");
    let cdx = t.path().join("m.cdx.json");
    ok(slim(&[
        "sbom",
        "-q",
        &src,
        "--all-platforms",
        "-o",
        &format!("spdx-json={}", spdx.display()),
        "-o",
        &format!("cyclonedx-json={}", cdx.display()),
    ]));
    for (tag, arch) in [("linux-amd64", "amd64"), ("linux-arm64-v8", "arm64")] {
        let p = t.path().join(format!("m.{tag}.spdx.json"));
        validate_spdx(&p);
        validate_cyclonedx(&t.path().join(format!("m.{tag}.cdx.json")));
        let doc: Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        let curl = spdx_packages(&doc)
            .into_iter()
            .find(|p| p["name"] == "curl")
            .unwrap()
            .clone();
        let purl = curl["externalRefs"][0]["referenceLocator"]
            .as_str()
            .unwrap();
        assert!(purl.contains(&format!("arch={arch}")), "{tag}: {purl}");
    }
    assert!(!spdx.exists(), "no document without a platform");
    let o = slim(&["sbom", "-q", &src, "--all-platforms"]);
    fails_with(&o, &["FORMAT=PATH"]);

    // licenses: an array, each platform's packages.
    let l = all_json("licenses", &src, &[], 0);
    assert_eq!(l.len(), 2);
    assert_eq!(l[1]["platform"], "linux/arm64/v8");
    assert!(l[1]["slim_packages"].as_u64().unwrap() > 10, "{}", l[1]);

    // audit: each platform; fails when one does; SARIF one run each.
    let policy = t.path().join("policy.toml");
    std::fs::write(&policy, "[licenses]\ndeny = [\"GPL-3.0-or-later\"]\n").unwrap();
    let pol = policy.display().to_string();
    let a = all_json("audit", &src, &["--policy", &pol], 1);
    assert_eq!(a.len(), 2);
    assert!(a.iter().all(|r| r["failed"].as_u64().unwrap() > 0));
    let o = slim(&[
        "audit",
        "-q",
        &src,
        "--policy",
        &pol,
        "--all-platforms",
        "--format",
        "sarif",
    ]);
    assert_eq!(o.status.code(), Some(1));
    validate_sarif(&stdout(&o));
    let s: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(s["runs"].as_array().unwrap().len(), 2);
    let open = t.path().join("open.toml");
    std::fs::write(&open, "[licenses]\ndeny = []\n").unwrap();
    let o = slim(&[
        "audit",
        "-q",
        &src,
        "--policy",
        &open.display().to_string(),
        "--all-platforms",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}
