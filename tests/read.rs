//! Reading images: every format, compression, whiteouts, platforms, and
//! every kind of bad input (exit 2, one clear message, no panic).

mod common;
use common::*;
use serde_json::{json, Value};
use std::path::Path;

const APP: &[u8] = b"\x7fELF pretend";

fn base_layer() -> Vec<u8> {
    tar_of(&[
        E::Dir("usr"),
        E::Dir("usr/bin"),
        E::Symlink("bin", "usr/bin"),
        E::Exec("usr/bin/app", APP),
        E::Hardlink("usr/bin/app2", "usr/bin/app"),
        E::Dir("etc"),
        E::File(
            "etc/os-release",
            b"ID=debian\nVERSION_ID=\"12\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n",
        ),
        E::Dir("etc/conf.d"),
        E::File("etc/conf.d/a", b"a"),
        E::File("etc/conf.d/b", b"b"),
        E::Dir("var"),
        E::File("var/big", &[7u8; 5000]),
        E::Exec("usr/bin/bash", b"sh"),
        E::Exec("usr/bin/apt-get", b"apt"),
    ])
}

fn upper_layer() -> Vec<u8> {
    tar_of(&[
        E::File("var/.wh.big", b""),
        E::Dir("etc/conf.d"),
        E::File("etc/conf.d/.wh..wh..opq", b""),
        E::File("etc/conf.d/c", b"c"),
        E::File("etc/new", b"new"),
    ])
}

fn paths(tree: &std::collections::BTreeMap<String, Sig>) -> Vec<&str> {
    tree.keys().map(String::as_str).collect()
}

fn expected_paths() -> Vec<&'static str> {
    vec![
        "/bin",
        "/etc",
        "/etc/conf.d",
        "/etc/conf.d/c",
        "/etc/new",
        "/etc/os-release",
        "/usr",
        "/usr/bin",
        "/usr/bin/app",
        "/usr/bin/app2",
        "/usr/bin/apt-get",
        "/usr/bin/bash",
        "/var",
    ]
}

#[test]
fn oci_layout_with_gzip_zstd_and_plain_layers_applies_whiteouts_and_opaque_dirs() {
    for (c1, c2) in [
        (Comp::Gzip, Comp::Zstd),
        (Comp::None, Comp::Gzip),
        (Comp::Zstd, Comp::None),
    ] {
        let d = tempfile::tempdir().unwrap();
        let img = Img::new(vec![(base_layer(), c1), (upper_layer(), c2)]);
        oci_layout(&d.path().join("img"), &img, "v1");
        let tree = slim_tree(d.path().join("img").to_str().unwrap());
        assert_eq!(paths(&tree), expected_paths(), "{c1:?}+{c2:?}");
        assert_eq!(tree["/usr/bin/app2"].sha256, tree["/usr/bin/app"].sha256);
        assert_eq!(
            tree["/etc/conf.d/c"].sha256.as_deref(),
            Some(sha256_hex(b"c").as_str())
        );
        assert_eq!(tree["/bin"].target.as_deref(), Some("usr/bin"));
    }
}

#[test]
fn every_transport_reads_the_same_tree() {
    let d = tempfile::tempdir().unwrap();
    let img = Img::new(vec![
        (base_layer(), Comp::Gzip),
        (upper_layer(), Comp::Gzip),
    ]);
    let layout = d.path().join("img.oci");
    oci_layout(&layout, &img, "v1");
    let archive = d.path().join("img.oci.tar");
    tar_dir(&layout, &archive);
    let docker = d.path().join("img.docker.tar");
    docker_archive(&docker, &[(&img, "example/img:v1")]);
    let want = slim_tree(&format!("oci:{}:v1", layout.display()));
    for r in [
        format!("oci-archive:{}:v1", archive.display()),
        archive.display().to_string(),
        format!("docker-archive:{}", docker.display()),
        format!("{}:example/img:v1", docker.display()),
    ] {
        assert_eq!(slim_tree(&r), want, "{r}");
    }
}

#[test]
fn gzip_compressed_docker_save_is_read() {
    let d = tempfile::tempdir().unwrap();
    let img = Img::new(vec![(base_layer(), Comp::None)]);
    let docker = d.path().join("img.tar");
    docker_archive(&docker, &[(&img, "x:1")]);
    let gz = d.path().join("img.tar.gz");
    std::fs::write(&gz, compress(&std::fs::read(&docker).unwrap(), Comp::Gzip)).unwrap();
    assert_eq!(
        slim_tree(gz.to_str().unwrap()),
        slim_tree(docker.to_str().unwrap())
    );
}

#[test]
fn analyze_json_reports_what_the_image_holds() {
    let d = tempfile::tempdir().unwrap();
    let img = Img::new(vec![
        (base_layer(), Comp::Gzip),
        (upper_layer(), Comp::Zstd),
    ]);
    oci_layout(&d.path().join("img"), &img, "v1");
    let r = analyze_json(d.path().join("img").to_str().unwrap(), &[]);
    assert_eq!(r["platform"], "linux/amd64");
    assert_eq!(r["os"]["id"], "debian");
    assert_eq!(r["os"]["version_id"], "12");
    assert_eq!(r["entrypoint"]["resolved"], "/usr/bin/app");
    assert_eq!(r["layers"].as_array().unwrap().len(), 2);
    assert_eq!(r["layers"][0]["compression"], "gzip");
    assert_eq!(r["layers"][1]["compression"], "zstd");
    assert_eq!(r["layers"][1]["created_by"], "layer 1");
    assert_eq!(r["layers"][0]["uncompressed_size"], base_layer().len());
    assert_eq!(r["layers"][0]["entries"], 14);
    assert_eq!(r["shells"], json!(["/usr/bin/bash"]));
    assert_eq!(r["package_managers"], json!(["/usr/bin/apt-get"]));
    // var/big (5000 B) deleted by a whiteout, conf.d/a and b hidden by the opaque dir.
    assert_eq!(r["hidden"]["files"], 3);
    assert_eq!(r["hidden"]["bytes"], 5002);
    assert_eq!(r["hidden"]["largest"][0]["path"], "/var/big");
    assert_eq!(r["totals"]["hardlinks"], 1);
    assert_eq!(r["totals"]["files"], 6);
    // The human report names the same things.
    let h = stdout(&ok(slim(&[
        "analyze",
        d.path().join("img").to_str().unwrap(),
    ])));
    for needle in [
        "Debian GNU/Linux 12",
        "/usr/bin/bash",
        "/usr/bin/apt-get",
        "3 files, 4.9 KiB wasted",
    ] {
        assert!(h.contains(needle), "human report lacks '{needle}':\n{h}");
    }
}

fn multi_arch(dir: &Path, nested: bool) {
    let mut descs = Vec::new();
    for (arch, variant) in [("amd64", None), ("arm64", Some("v8"))] {
        let mut img = Img::new(vec![(
            tar_of(&[E::File(&format!("{arch}.txt"), b"x")]),
            Comp::Gzip,
        )]);
        img.arch = arch.into();
        let mut d = put_image(dir, &img);
        d["platform"] = json!({"os": "linux", "architecture": arch});
        if let Some(v) = variant {
            d["platform"]["variant"] = json!(v);
        }
        descs.push(d);
    }
    // An attestation manifest, as BuildKit adds: never chosen.
    let att = put_blob(
        dir,
        "application/vnd.oci.image.manifest.v1+json",
        br#"{"schemaVersion":2}"#,
    );
    let mut att = att;
    att["platform"] = json!({"os": "unknown", "architecture": "unknown"});
    att["annotations"] = json!({"vnd.docker.reference.type": "attestation-manifest"});
    descs.push(att);
    if nested {
        let idx = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": descs});
        let mut d = put_blob(
            dir,
            "application/vnd.oci.image.index.v1+json",
            &serde_json::to_vec(&idx).unwrap(),
        );
        d["annotations"] = json!({"org.opencontainers.image.ref.name": "multi"});
        write_index(dir, vec![d]);
    } else {
        write_index(dir, descs);
    }
}

#[test]
fn multi_arch_index_is_chosen_by_platform_nested_or_not() {
    for nested in [false, true] {
        let d = tempfile::tempdir().unwrap();
        multi_arch(d.path(), nested);
        let p = d.path().to_str().unwrap();
        let arm = slim_tree_with(p, &["--platform", "linux/arm64"]);
        assert_eq!(arm, vec!["/arm64.txt"]);
        let amd = slim_tree_with(p, &["--platform", "linux/amd64"]);
        assert_eq!(amd, vec!["/amd64.txt"]);
        let o = slim(&["ls", "--platform", "linux/s390x", p]);
        fails_with(
            &o,
            &[
                "no image for platform linux/s390x",
                "linux/amd64",
                "linux/arm64/v8",
                "--platform",
            ],
        );
    }
}

fn slim_tree_with(image: &str, extra: &[&str]) -> Vec<String> {
    let mut args = vec!["ls", "--format", "json", "--quiet"];
    args.extend_from_slice(extra);
    args.push(image);
    let v: Vec<Value> = serde_json::from_slice(&ok(slim(&args)).stdout).unwrap();
    v.iter()
        .map(|e| e["path"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn archive_with_several_images_needs_a_ref_and_says_which_exist() {
    let d = tempfile::tempdir().unwrap();
    let a = Img::new(vec![(tar_of(&[E::File("a", b"a")]), Comp::None)]);
    let b = Img::new(vec![(tar_of(&[E::File("b", b"b")]), Comp::None)]);
    let t = d.path().join("two.tar");
    docker_archive(&t, &[(&a, "repo/a:1"), (&b, "repo/b:2")]);
    let p = t.to_str().unwrap();
    fails_with(
        &slim(&["ls", p]),
        &["holds 2 images", "repo/a:1", "repo/b:2"],
    );
    assert_eq!(
        slim_tree_with(&format!("docker-archive:{p}:repo/b:2"), &[]),
        vec!["/b"]
    );
    assert_eq!(
        slim_tree_with(&format!("docker-archive:{p}:@0"), &[]),
        vec!["/a"]
    );
    fails_with(
        &slim(&["ls", &format!("docker-archive:{p}:repo/c:3")]),
        &["no image tagged 'repo/c:3'", "repo/a:1"],
    );

    // The same for an OCI layout with two tags.
    let l = d.path().join("layout");
    let mut da = put_image(&l, &a);
    da["annotations"] = json!({"org.opencontainers.image.ref.name": "one"});
    let mut db = put_image(&l, &b);
    db["annotations"] = json!({"org.opencontainers.image.ref.name": "two"});
    write_index(&l, vec![da, db]);
    let lp = l.to_str().unwrap();
    fails_with(&slim(&["ls", lp]), &["holds 2 images", "one", "two", "TAG"]);
    assert_eq!(slim_tree_with(&format!("oci:{lp}:two"), &[]), vec!["/b"]);
}

// ---------------------------------------------------------------- bad input

/// Writes `config` and a manifest naming `layers` (descriptors) into the layout at `dir`, with an index.
fn manifest_with(dir: &Path, config: &Value, layers: Vec<Value>) {
    let cfg = put_blob(
        dir,
        "application/vnd.oci.image.config.v1+json",
        &serde_json::to_vec(config).unwrap(),
    );
    let m = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "config": cfg, "layers": layers});
    let md = put_blob(
        dir,
        "application/vnd.oci.image.manifest.v1+json",
        &serde_json::to_vec(&m).unwrap(),
    );
    write_index(dir, vec![md]);
}

fn good_layout(dir: &Path, c: Comp) -> Img {
    let img = Img::new(vec![(base_layer(), c)]);
    oci_layout(dir, &img, "v1");
    img
}

fn layer_blob(dir: &Path, img: &Img) -> std::path::PathBuf {
    let (t, c) = &img.layers[0];
    dir.join("blobs/sha256").join(sha256_hex(&compress(t, *c)))
}

#[test]
fn truncated_archive_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let img = Img::new(vec![(base_layer(), Comp::None)]);
    let t = d.path().join("img.tar");
    docker_archive(&t, &[(&img, "x:1")]);
    let bytes = std::fs::read(&t).unwrap();
    std::fs::write(&t, &bytes[..bytes.len() * 2 / 3]).unwrap();
    fails_with(&slim(&["analyze", t.to_str().unwrap()]), &["img.tar"]);
}

#[test]
fn corrupt_gzip_layer_is_refused_naming_the_blob() {
    let d = tempfile::tempdir().unwrap();
    let img = good_layout(d.path(), Comp::Gzip);
    let blob = layer_blob(d.path(), &img);
    let mut bytes = std::fs::read(&blob).unwrap();
    let mid = bytes.len() / 2;
    for b in &mut bytes[mid..mid + 64] {
        *b ^= 0x5a;
    }
    std::fs::write(&blob, &bytes).unwrap();
    let hex = blob.file_name().unwrap().to_str().unwrap();
    // Either the inflater or the digest check catches it; both name the blob.
    fails_with(
        &slim(&["analyze", d.path().to_str().unwrap()]),
        &[&hex[..12]],
    );
}

#[test]
fn truncated_zstd_layer_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let img = good_layout(d.path(), Comp::Zstd);
    let blob = layer_blob(d.path(), &img);
    let bytes = std::fs::read(&blob).unwrap();
    std::fs::write(&blob, &bytes[..bytes.len() / 2]).unwrap();
    fails_with(
        &slim(&["analyze", d.path().to_str().unwrap()]),
        &["size mismatch", "blobs/sha256/"],
    );
}

#[test]
fn corrupt_zstd_stream_with_right_size_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let img = good_layout(d.path(), Comp::Zstd);
    let blob = layer_blob(d.path(), &img);
    let mut bytes = std::fs::read(&blob).unwrap();
    let n = bytes.len();
    for b in &mut bytes[8..n - 8] {
        *b = 0xff;
    }
    std::fs::write(&blob, &bytes).unwrap();
    fails_with(
        &slim(&["analyze", d.path().to_str().unwrap()]),
        &["layer 0", "zstd"],
    );
}

#[test]
fn blob_digest_mismatch_is_an_error_not_a_warning() {
    let d = tempfile::tempdir().unwrap();
    let img = good_layout(d.path(), Comp::None);
    let blob = layer_blob(d.path(), &img);
    // Same size, one byte changed inside a file's data: the tar still parses.
    let mut bytes = std::fs::read(&blob).unwrap();
    let pos = bytes.windows(APP.len()).position(|w| w == APP).unwrap();
    bytes[pos + 1] ^= 1;
    std::fs::write(&blob, &bytes).unwrap();
    fails_with(
        &slim(&["analyze", d.path().to_str().unwrap()]),
        &["digest mismatch", "expected sha256:"],
    );
}

#[test]
fn diff_id_mismatch_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let mut img = Img::new(vec![(base_layer(), Comp::Gzip)]);
    // The config claims another uncompressed layer: write it by hand.
    let real = img.layers[0].0.clone();
    img.layers[0].0 = tar_of(&[E::File("other", b"x")]);
    let mut config = img.config();
    img.layers[0].0 = real;
    let layer = put_blob(
        d.path(),
        layer_media_type(Comp::Gzip),
        &compress(&img.layers[0].0, Comp::Gzip),
    );
    config["history"] = json!([]);
    manifest_with(d.path(), &config, vec![layer]);
    fails_with(
        &slim(&["analyze", d.path().to_str().unwrap()]),
        &["diff_id", "digest mismatch"],
    );
}

#[test]
fn missing_blob_is_named() {
    let d = tempfile::tempdir().unwrap();
    let img = good_layout(d.path(), Comp::Gzip);
    let blob = layer_blob(d.path(), &img);
    std::fs::remove_file(&blob).unwrap();
    let hex = blob.file_name().unwrap().to_str().unwrap().to_string();
    fails_with(
        &slim(&["analyze", d.path().to_str().unwrap()]),
        &["missing", &hex],
    );
}

#[test]
fn malformed_json_is_refused_naming_the_file() {
    let d = tempfile::tempdir().unwrap();
    good_layout(d.path(), Comp::Gzip);
    std::fs::write(
        d.path().join("index.json"),
        b"{\"schemaVersion\": 2, \"manifests\": [",
    )
    .unwrap();
    fails_with(
        &slim(&["analyze", d.path().to_str().unwrap()]),
        &["index.json", "malformed"],
    );

    let t = tempfile::tempdir().unwrap();
    let img = Img::new(vec![(base_layer(), Comp::None)]);
    docker_archive(&t.path().join("x.tar"), &[(&img, "x:1")]);
    let x = tempfile::tempdir().unwrap();
    std::process::Command::new("tar")
        .arg("-xf")
        .arg(t.path().join("x.tar"))
        .arg("-C")
        .arg(x.path())
        .status()
        .unwrap();
    std::fs::write(x.path().join("manifest.json"), b"[{\"Config\": 3}]").unwrap();
    tar_dir(x.path(), &t.path().join("bad.tar"));
    fails_with(
        &slim(&["analyze", t.path().join("bad.tar").to_str().unwrap()]),
        &["manifest.json", "malformed"],
    );
}

#[test]
fn unknown_layer_media_type_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let img = Img::new(vec![(base_layer(), Comp::Gzip)]);
    let layer = put_blob(
        d.path(),
        "application/vnd.example.weird+gzip",
        &compress(&img.layers[0].0, Comp::Gzip),
    );
    manifest_with(d.path(), &img.config(), vec![layer]);
    fails_with(
        &slim(&["analyze", d.path().to_str().unwrap()]),
        &["unknown media type", "application/vnd.example.weird+gzip"],
    );
}

#[test]
fn tar_entry_with_dotdot_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let img = Img::new(vec![(
        tar_of(&[E::RawName("usr/../../etc/evil", b"x")]),
        Comp::Gzip,
    )]);
    oci_layout(d.path(), &img, "v1");
    fails_with(
        &slim(&["analyze", d.path().to_str().unwrap()]),
        &["usr/../../etc/evil", "'..'", "layer 0"],
    );
}

#[test]
fn tar_entry_with_absolute_path_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let img = Img::new(vec![(tar_of(&[E::RawName("/etc/evil", b"x")]), Comp::None)]);
    oci_layout(d.path(), &img, "v1");
    fails_with(
        &slim(&["analyze", d.path().to_str().unwrap()]),
        &["/etc/evil", "absolute path"],
    );
}

#[test]
fn symlink_loop_on_the_entrypoint_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let img = Img::new(vec![(
        tar_of(&[
            E::Dir("bin"),
            E::Symlink("bin/app", "loop"),
            E::Symlink("bin/loop", "/bin/app"),
        ]),
        Comp::Gzip,
    )]);
    oci_layout(d.path(), &img, "v1");
    fails_with(
        &slim(&["analyze", d.path().to_str().unwrap()]),
        &["symlink loop", "/bin/app"],
    );
}

#[test]
fn hardlink_to_missing_target_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let img = Img::new(vec![(
        tar_of(&[E::Dir("bin"), E::Hardlink("bin/app", "bin/gone")]),
        Comp::Gzip,
    )]);
    oci_layout(d.path(), &img, "v1");
    fails_with(
        &slim(&["analyze", d.path().to_str().unwrap()]),
        &["hardlink 'bin/app'", "bin/gone"],
    );
}

#[test]
fn not_an_image_and_missing_paths_are_clear() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("notes.tar");
    let mut b = tar::Builder::new(std::fs::File::create(&f).unwrap());
    let mut h = tar::Header::new_gnu();
    h.set_size(2);
    h.set_mode(0o644);
    b.append_data(&mut h, "hello.txt", &b"hi"[..]).unwrap();
    b.into_inner().unwrap();
    fails_with(
        &slim(&["analyze", f.to_str().unwrap()]),
        &["notes.tar", "not an image"],
    );
    fails_with(
        &slim(&["analyze", d.path().join("nope.tar").to_str().unwrap()]),
        &["nope.tar", "No such file"],
    );
    std::fs::write(d.path().join("junk.bin"), [0u8, 1, 2, 3, 4, 5]).unwrap();
    fails_with(
        &slim(&["analyze", d.path().join("junk.bin").to_str().unwrap()]),
        &["junk.bin"],
    );
    fails_with(
        &slim(&["analyze", "containers-storage:x"]),
        &["not supported", "skopeo copy"],
    );
}

#[test]
fn docker29_archive_with_gzip_layers_and_nested_index_is_read() {
    // Docker 29 with the containerd store: an OCI layout whose index nests a
    // multi-platform index, gzip layers, plus manifest.json naming one image.
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("save");
    multi_arch(&root, true);
    let mut img = Img::new(vec![(tar_of(&[E::File("amd64.txt", b"x")]), Comp::Gzip)]);
    img.arch = "amd64".into();
    let cfg = serde_json::to_vec(&img.config()).unwrap();
    let layer = compress(&img.layers[0].0, Comp::Gzip);
    let manifest = json!([{
        "Config": format!("blobs/sha256/{}", sha256_hex(&cfg)),
        "RepoTags": ["example/multi:1"],
        "Layers": [format!("blobs/sha256/{}", sha256_hex(&layer))],
        "LayerSources": {format!("sha256:{}", sha256_hex(&layer)): {
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "size": layer.len(),
            "digest": format!("sha256:{}", sha256_hex(&layer))}},
    }]);
    std::fs::write(
        root.join("manifest.json"),
        serde_json::to_vec(&manifest).unwrap(),
    )
    .unwrap();
    let t = d.path().join("save.tar");
    tar_dir(&root, &t);
    assert_eq!(slim_tree_with(t.to_str().unwrap(), &[]), vec!["/amd64.txt"]);
    // The same archive read as an OCI archive goes through the nested index.
    assert_eq!(
        slim_tree_with(
            &format!("oci-archive:{}", t.display()),
            &["--platform", "linux/arm64"]
        ),
        vec!["/arm64.txt"]
    );
    let r = analyze_json(t.to_str().unwrap(), &[]);
    assert_eq!(r["layers"][0]["compression"], "gzip");
    assert_eq!(
        r["layers"][0]["media_type"],
        "application/vnd.oci.image.layer.v1.tar+gzip"
    );
    assert_eq!(r["name"], "example/multi:1");
}

#[test]
fn corrupting_any_byte_of_an_archive_never_panics() {
    // A byte flipped anywhere (headers, JSON, compressed data, padding) gives
    // a clean result or a clean error from the library, never a panic.
    let d = tempfile::tempdir().unwrap();
    let img = Img::new(vec![
        (base_layer(), Comp::Gzip),
        (upper_layer(), Comp::Zstd),
    ]);
    let layout = d.path().join("l");
    oci_layout(&layout, &img, "v1");
    let t = d.path().join("img.tar");
    tar_dir(&layout, &t);
    let good = std::fs::read(&t).unwrap();
    let bad = d.path().join("bad.tar");
    let (mut errors, mut fine) = (0, 0);
    let step = (good.len() / 400).max(1);
    for pos in (0..good.len()).step_by(step) {
        let mut b = good.clone();
        b[pos] ^= 0xa5;
        std::fs::write(&bad, &b).unwrap();
        let r = slim::image::ImageRef::parse(bad.to_str().unwrap()).unwrap();
        let result = std::panic::catch_unwind(|| {
            let image = slim::transport::local::open(&r, None).map_err(|e| e.to_string())?;
            slim::image::read_layers(&image, &slim::progress::Silent)
                .map(|_| ())
                .map_err(|e| e.to_string())
        });
        match result {
            Ok(Ok(())) => fine += 1,
            Ok(Err(msg)) => {
                assert!(!msg.is_empty());
                errors += 1;
            }
            Err(_) => panic!("panic with byte {pos} flipped"),
        }
    }
    // Flips in tar padding are harmless; most others must be caught by digests.
    assert!(
        errors > fine,
        "only {errors} of {} corruptions detected",
        errors + fine
    );
}
