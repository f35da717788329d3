//! End to end on real Debian images built by fixtures/make-fixtures.sh:
//! slim's merged view equals what umoci unpacks, in every input format, and
//! images slim writes are accepted by umoci and skopeo and read back identical.

mod common;
use common::*;
use serde_json::Value;
use std::path::Path;
use std::process::Command;

fn run(cmd: &mut Command) -> String {
    let o = cmd.output().unwrap();
    assert!(
        o.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `umoci unpack` of an OCI layout, walked.
fn umoci_tree(layout: &str) -> std::collections::BTreeMap<String, Sig> {
    need("umoci");
    let d = tempfile::tempdir().unwrap();
    let bundle = d.path().join("bundle");
    run(Command::new("umoci")
        .args(["unpack", "--image", layout])
        .arg(&bundle));
    walk_rootfs(&bundle.join("rootfs"))
}

fn info(fx: &Path, name: &str, key: &str) -> String {
    let text = std::fs::read_to_string(fx.join(format!("{name}.info"))).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or_default()
        .to_string()
}

#[test]
#[ignore = "needs the fixture images: scripts/test builds them and runs this"]
fn merged_view_equals_umoci_unpack_in_every_input_format() {
    let fx = fixtures();
    for name in ["nginx", "curl"] {
        let tag = info(&fx, name, "tag");
        let want = umoci_tree(&format!(
            "{}:{tag}",
            fx.join(format!("{name}.oci")).display()
        ));
        assert!(
            want.len() > 5000,
            "{name}: umoci unpacked only {} entries",
            want.len()
        );
        for f in ["oci", "oci.tar", "docker.tar", "docker25.tar"] {
            let got = slim_tree(fx.join(format!("{name}.{f}")).to_str().unwrap());
            assert_same_tree(&format!("{name}.{f}"), &got, &want);
        }
    }
}

#[test]
#[ignore = "needs the fixture images: scripts/test builds them and runs this"]
fn analyze_matches_the_fixture_ground_truth() {
    let fx = fixtures();
    for name in ["nginx", "curl", "python3"] {
        let image = fx.join(format!("{name}.docker25.tar"));
        let r = analyze_json(image.to_str().unwrap(), &[]);
        let pkgs = std::fs::read_to_string(fx.join(format!("{name}.packages.tsv")))
            .unwrap()
            .lines()
            .count();
        assert_eq!(r["package_databases"][0]["kind"], "dpkg", "{name}");
        assert_eq!(r["package_databases"][0]["packages"], pkgs, "{name}");
        assert_eq!(r["os"]["id"], "debian");
        assert_eq!(r["os"]["version_id"], "12");
        assert_eq!(r["platform"], "linux/amd64");
        assert_eq!(
            r["layers"].as_array().unwrap().len().to_string(),
            info(&fx, name, "layers"),
            "{name}"
        );
        let shells: Vec<&str> = r["shells"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap())
            .collect();
        assert!(
            shells.contains(&"/usr/bin/bash") && shells.contains(&"/usr/bin/dash"),
            "{name}: {shells:?}"
        );
        let pms: Vec<&str> = r["package_managers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap())
            .collect();
        assert!(
            pms.contains(&"/usr/bin/apt") && pms.contains(&"/usr/bin/dpkg"),
            "{name}: {pms:?}"
        );
        let want_ep = match name {
            "nginx" => "/usr/sbin/nginx",
            "curl" => "/usr/bin/curl",
            _ => "/usr/bin/python3.11",
        };
        assert_eq!(r["entrypoint"]["resolved"], want_ep, "{name}");
        // The entrypoint's ELF closure: every DT_NEEDED resolved, libc and the loader in it.
        let deps = &r["dependencies"];
        let objects: Vec<&str> = deps["objects"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert!(
            objects.contains(&"/usr/lib/x86_64-linux-gnu/libc.so.6"),
            "{name}: {objects:?}"
        );
        assert!(
            objects.contains(&"/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"),
            "{name}: {objects:?}"
        );
        assert!(
            deps["edges"]
                .as_array()
                .unwrap()
                .iter()
                .all(|e| !e["to"].is_null()),
            "{name}: {deps}"
        );
        if name == "nginx" {
            assert!(
                objects.contains(&"/usr/lib/x86_64-linux-gnu/libssl.so.3"),
                "{objects:?}"
            );
            let links: Vec<&str> = deps["symlinks"]
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            assert!(
                links.contains(&"/lib64"),
                "the merged-/usr hop is kept: {links:?}"
            );
        }
        let found = codes(&r);
        assert!(
            !found.contains(&"elf-unresolved-needed"),
            "{name}: {found:?}"
        );
        let rootfs: u64 = info(&fx, name, "rootfs_tar_bytes").parse().unwrap();
        let total = r["totals"]["uncompressed_size"].as_u64().unwrap();
        if name != "curl" {
            // One layer: the layer tar is the rootfs tar.
            assert_eq!(total, rootfs, "{name}");
        }
    }
    // The two-layer image: the upper layer's whiteouts hide lower files.
    let r = analyze_json(fx.join("curl.oci").to_str().unwrap(), &[]);
    assert!(
        r["hidden"]["files"].as_u64().unwrap() > 10,
        "{}",
        r["hidden"]
    );
}

fn skopeo_layers(reference: &str) -> usize {
    need("skopeo");
    let out = run(Command::new("skopeo").args(["inspect", "--raw", reference]));
    let v: Value = serde_json::from_str(&out).unwrap();
    v["layers"].as_array().map(Vec::len).unwrap_or(0)
}

#[test]
#[ignore = "needs the fixture images: scripts/test builds them and runs this"]
fn written_images_are_accepted_by_umoci_and_skopeo_and_read_back_identical() {
    let fx = fixtures();
    let d = tempfile::tempdir().unwrap();
    for (src, layers) in [("curl.oci.tar", 2), ("nginx.docker.tar", 1)] {
        let src_path = fx.join(src);
        let src_ref = src_path.to_str().unwrap();
        let want = slim_tree(src_ref);
        for (dest, flatten) in [
            (format!("oci:{}/a.oci:t1", d.path().display()), false),
            (
                format!("oci-archive:{}/b.tar:t2", d.path().display()),
                false,
            ),
            (
                format!("docker-archive:{}/c.tar:slim-test/c:t3", d.path().display()),
                false,
            ),
            (format!("oci:{}/flat.oci:t4", d.path().display()), true),
        ] {
            let mut args = vec!["copy", "--quiet", src_ref, dest.as_str()];
            if flatten {
                args.insert(1, "--flatten");
            }
            ok(slim(&args));
            let n = skopeo_layers(&dest);
            assert_eq!(n, if flatten { 1 } else { layers }, "{src} -> {dest}");
            // skopeo copies it on (reads every blob), umoci unpacks it.
            let relay = d.path().join("relay.oci");
            let _ = std::fs::remove_dir_all(&relay);
            run(Command::new("skopeo")
                .args(["--insecure-policy", "copy", "-q", &dest])
                .arg(format!("oci:{}:r", relay.display())));
            let unpacked = umoci_tree(&format!("{}:r", relay.display()));
            assert_same_tree(&format!("{src} -> {dest}, umoci"), &unpacked, &want);
            assert_same_tree(&format!("{src} -> {dest}, slim"), &slim_tree(&dest), &want);
        }
    }
}

#[test]
#[ignore = "needs the fixture images: scripts/test builds them and runs this"]
fn flatten_is_reproducible_and_honours_source_date_epoch() {
    let fx = fixtures();
    let d = tempfile::tempdir().unwrap();
    let src = fx.join("curl.oci.tar");
    let mut digests = Vec::new();
    for (i, out) in ["x.tar", "y.tar"].iter().enumerate() {
        let o = Command::new(env!("CARGO_BIN_EXE_slim"))
            .args([
                "copy",
                "--flatten",
                "--json",
                "--quiet",
                src.to_str().unwrap(),
            ])
            .arg(d.path().join(out))
            .env("SOURCE_DATE_EPOCH", "1600000000")
            .output()
            .unwrap();
        let o = ok(o);
        let w: Value = serde_json::from_slice(&o.stdout).unwrap();
        digests.push(w["manifest_digest"].as_str().unwrap().to_string());
        if i == 0 {
            let cfg = run(Command::new("skopeo")
                .args(["inspect", "--config"])
                .arg(format!("oci-archive:{}", d.path().join(out).display())));
            let cfg: Value = serde_json::from_str(&cfg).unwrap();
            assert_eq!(cfg["created"], "2020-09-13T12:26:40Z");
        }
    }
    assert_eq!(digests[0], digests[1], "two runs, two digests");
    assert_eq!(
        std::fs::read(d.path().join("x.tar")).unwrap(),
        std::fs::read(d.path().join("y.tar")).unwrap()
    );
    // mtimes are clamped to SOURCE_DATE_EPOCH.
    let listing = run(Command::new("tar").arg("-tvf").arg(d.path().join("x.tar")));
    assert!(!listing.is_empty());
    let relay = d.path().join("relay");
    run(Command::new("skopeo")
        .args(["--insecure-policy", "copy", "-q"])
        .arg(format!("oci-archive:{}", d.path().join("x.tar").display()))
        .arg(format!("oci:{}:r", relay.display())));
    let bundle = d.path().join("bundle");
    run(Command::new("umoci")
        .args(["unpack", "--image"])
        .arg(format!("{}:r", relay.display()))
        .arg(&bundle));
    let newest = run(Command::new("find").arg(bundle.join("rootfs")).args([
        "-newermt",
        "@1600000001",
        "-not",
        "-type",
        "l",
    ]));
    assert_eq!(newest.trim(), "", "files newer than SOURCE_DATE_EPOCH");
}
