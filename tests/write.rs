//! Writing images: nothing is left behind on failure, and nothing is
//! overwritten that is not an image.

mod common;
use common::*;

fn leftovers(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

fn image(dir: &std::path::Path) -> String {
    let img = Img::new(vec![(
        tar_of(&[E::Dir("bin"), E::Exec("bin/app", b"app")]),
        Comp::Gzip,
    )]);
    oci_layout(dir, &img, "v1");
    dir.to_str().unwrap().to_string()
}

/// Flips a byte near the end of every gzip blob: reading fails mid-layer.
fn corrupt_gzip_layers(layout: &std::path::Path) {
    for e in std::fs::read_dir(layout.join("blobs/sha256")).unwrap() {
        let p = e.unwrap().path();
        let mut b = std::fs::read(&p).unwrap();
        if b.starts_with(&[0x1f, 0x8b]) {
            let n = b.len();
            b[n - 12] ^= 0xff;
            std::fs::write(&p, b).unwrap();
        }
    }
}

#[test]
fn failed_copy_of_a_corrupt_image_leaves_nothing_behind() {
    let src = tempfile::tempdir().unwrap();
    let s = image(src.path());
    // Corrupt the layer so reading fails after the copy has started.
    corrupt_gzip_layers(src.path());
    let out = tempfile::tempdir().unwrap();
    for dest in ["img.tar", "img.oci", "docker-archive:d.tar"] {
        let dest = if let Some(rest) = dest.strip_prefix("docker-archive:") {
            format!("docker-archive:{}", out.path().join(rest).display())
        } else {
            out.path().join(dest).display().to_string()
        };
        let o = slim(&["copy", "--flatten", &s, &dest]);
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        assert_eq!(leftovers(out.path()), Vec::<String>::new(), "{dest}");
    }
}

#[test]
fn an_existing_directory_that_is_not_an_image_is_never_replaced() {
    let src = tempfile::tempdir().unwrap();
    let s = image(src.path());
    let out = tempfile::tempdir().unwrap();
    let precious = out.path().join("home");
    std::fs::create_dir(&precious).unwrap();
    std::fs::write(precious.join("thesis.txt"), b"years of work").unwrap();
    let o = slim(&["copy", &s, &format!("oci:{}", precious.display())]);
    fails_with(&o, &["home", "not an OCI layout"]);
    assert_eq!(
        std::fs::read(precious.join("thesis.txt")).unwrap(),
        b"years of work"
    );
    assert_eq!(leftovers(out.path()), vec!["home".to_string()]);
}

fn blob_count(layout: &std::path::Path) -> usize {
    std::fs::read_dir(layout.join("blobs/sha256"))
        .unwrap()
        .count()
}

#[test]
fn writing_a_tag_into_an_oci_layout_keeps_the_other_tags_and_the_source() {
    let d = tempfile::tempdir().unwrap();
    let lay = d.path().join("lay");
    image(&lay);
    let src = format!("oci:{}:v1", lay.display());
    let before = slim_tree(&src);
    // A flattened copy under another tag, into the layout it is read from.
    ok(slim(&[
        "copy",
        "--flatten",
        &src,
        &format!("oci:{}:flat", lay.display()),
    ]));
    ok(slim(&["copy", &src, &format!("oci:{}:b", lay.display())]));
    assert_eq!(layout_tags(&lay), vec!["v1", "flat", "b"]);
    for t in ["v1", "flat", "b"] {
        assert_eq!(
            slim_tree(&format!("oci:{}:{t}", lay.display())),
            before,
            "{t}"
        );
    }
    // Writing a tag again replaces that entry only; the blobs only it used go,
    // the ones others share stay.
    let n = blob_count(&lay);
    ok(slim(&[
        "copy",
        "--flatten",
        "--compression",
        "zstd",
        &src,
        &format!("oci:{}:flat", lay.display()),
    ]));
    assert_eq!(layout_tags(&lay), vec!["v1", "b", "flat"]);
    assert_eq!(
        blob_count(&lay),
        n,
        "old flat blobs are replaced by new ones"
    );
    for t in ["v1", "flat", "b"] {
        assert_eq!(
            slim_tree(&format!("oci:{}:{t}", lay.display())),
            before,
            "{t}"
        );
    }
    need("skopeo");
    for t in ["v1", "flat", "b"] {
        let o = std::process::Command::new("skopeo")
            .args(["inspect", &format!("oci:{}:{t}", lay.display())])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    // A stranger's file in the layout is none of slim's business.
    std::fs::write(lay.join("notes.txt"), b"mine").unwrap();
    ok(slim(&["copy", &src, lay.to_str().unwrap()]));
    assert_eq!(std::fs::read(lay.join("notes.txt")).unwrap(), b"mine");
    assert_eq!(layout_tags(&lay), vec!["v1", "b", "flat", ""]);
    assert_eq!(leftovers(d.path()), vec!["lay".to_string()]);
}

#[test]
fn an_output_over_a_file_that_is_not_an_image_is_refused_unless_forced() {
    let src = tempfile::tempdir().unwrap();
    let s = image(src.path());
    let out = tempfile::tempdir().unwrap();
    // An ordinary tar (not an image) and a text file, as -o of every archive kind.
    let plain = out.path().join("plain.tar");
    let inner = out.path().join("inner");
    std::fs::create_dir(&inner).unwrap();
    std::fs::write(inner.join("thesis.txt"), b"years of work").unwrap();
    tar_dir(&inner, &plain);
    let original = std::fs::read(&plain).unwrap();
    for dest in [
        plain.display().to_string(),
        format!("oci-archive:{}", plain.display()),
        format!("docker-archive:{}", plain.display()),
    ] {
        let o = slim(&["copy", &s, &dest]);
        fails_with(&o, &["plain.tar", "not an image", "--force"]);
        assert_eq!(std::fs::read(&plain).unwrap(), original, "{dest}");
    }
    let o = slim(&["copy", &s, &format!("oci:{}", plain.display())]);
    fails_with(&o, &["plain.tar", "--force"]);
    // An image archive is replaced without asking; with --force, anything.
    let img = out.path().join("img.tar");
    ok(slim(&["copy", &s, img.to_str().unwrap()]));
    ok(slim(&["copy", "--flatten", &s, img.to_str().unwrap()]));
    ok(slim(&["copy", "--force", &s, plain.to_str().unwrap()]));
    assert_eq!(slim_tree(plain.to_str().unwrap()), slim_tree(&s));
    // A directory is never deleted to put a file there, even with --force.
    let o = slim(&["copy", "--force", &s, inner.to_str().unwrap()]);
    // (a bare directory path is an OCI layout: written into, keeping its files)
    ok(o);
    assert_eq!(
        std::fs::read(inner.join("thesis.txt")).unwrap(),
        b"years of work"
    );
    let o = slim(&[
        "copy",
        "--force",
        &s,
        &format!("oci-archive:{}", inner.display()),
    ]);
    fails_with(&o, &["inner", "is a directory"]);
}

#[test]
fn writing_over_the_input_itself_is_refused_unless_forced() {
    let d = tempfile::tempdir().unwrap();
    let lay = d.path().join("lay");
    image(&lay);
    let arch = d.path().join("x.tar");
    ok(slim(&[
        "copy",
        lay.to_str().unwrap(),
        arch.to_str().unwrap(),
    ]));
    let bytes = std::fs::read(&arch).unwrap();
    let a = arch.to_str().unwrap();
    for args in [
        vec!["copy", "--flatten", a, a],
        vec!["copy", a, &format!("docker-archive:{a}")],
    ] {
        let o = slim(&args);
        fails_with(&o, &["x.tar", "the image being read", "--force"]);
        assert_eq!(std::fs::read(&arch).unwrap(), bytes);
    }
    // Through another spelling of the same path, and the same tag of a layout.
    let other = format!(
        "{}/../{}/x.tar",
        d.path().display(),
        d.path().file_name().unwrap().to_str().unwrap()
    );
    fails_with(&slim(&["copy", a, &other]), &["the image being read"]);
    let t = format!("oci:{}:v1", lay.display());
    fails_with(
        &slim(&["copy", "--flatten", &t, &t]),
        &["the image being read"],
    );
    let untagged = lay.to_str().unwrap();
    fails_with(
        &slim(&["copy", "--flatten", untagged, &t]),
        &["the image being read"],
    );
    // --force does it, and the result is the flattened image.
    ok(slim(&["copy", "--force", "--flatten", a, a]));
    assert_ne!(std::fs::read(&arch).unwrap(), bytes);
    assert_eq!(slim_tree(a), slim_tree(untagged));
}

#[test]
fn a_bad_destination_is_found_before_the_image_is_read() {
    // A corrupt image fails only when its layers are read: a destination error
    // that names the destination proves it was checked first.
    let src = tempfile::tempdir().unwrap();
    let s = image(src.path());
    corrupt_gzip_layers(src.path());
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("home");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("a"), b"a").unwrap();
    fails_with(
        &slim(&["copy", &s, "/nonexistent/dir/out.tar"]),
        &["/nonexistent/dir", "does not exist"],
    );
    fails_with(
        &slim(&["rewrite", "--quiet", &s, "-o", dir.to_str().unwrap()]),
        &["home", "not an OCI layout"],
    );
    fails_with(
        &slim(&[
            "rewrite",
            "--quiet",
            &s,
            "-o",
            "x.tar",
            "--sbom",
            "spdx-json=/nonexistent/s.json",
        ]),
        &["/nonexistent", "does not exist"],
    );
    fails_with(
        &slim(&["sbom", &s, "-o", "spdx-json="]),
        &["spdx-json=", "no path"],
    );
}

#[test]
fn output_files_honour_the_umask() {
    let src = tempfile::tempdir().unwrap();
    let s = image(src.path());
    let out = tempfile::tempdir().unwrap();
    let o = out.path();
    let bin = env!("CARGO_BIN_EXE_slim");
    let script = format!(
        "umask 022 && {bin} copy -q {s} {a} && {bin} copy -q --flatten {s} {l} && \
         {bin} copy -q {s} docker-archive:{d} && {bin} sbom -q {s} -o spdx-json={j}",
        a = o.join("a.tar").display(),
        l = o.join("lay").display(),
        d = o.join("d.tar").display(),
        j = o.join("s.json").display(),
    );
    let r = std::process::Command::new("sh")
        .args(["-c", &script])
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: std::path::PathBuf| std::fs::metadata(&p).unwrap().permissions().mode() & 0o7777;
    for f in [
        "a.tar",
        "d.tar",
        "s.json",
        "lay/index.json",
        "lay/oci-layout",
    ] {
        assert_eq!(mode(o.join(f)), 0o644, "{f}");
    }
    for e in std::fs::read_dir(o.join("lay/blobs/sha256")).unwrap() {
        let p = e.unwrap().path();
        assert_eq!(mode(p.clone()), 0o644, "{}", p.display());
    }
    for dir in ["lay", "lay/blobs", "lay/blobs/sha256"] {
        assert_eq!(mode(o.join(dir)), 0o755, "{dir}");
    }
}

#[test]
fn an_interrupted_copy_leaves_nothing_behind_and_stale_leftovers_are_swept() {
    // A layer big enough that re-encoding it takes seconds: incompressible bytes.
    let mut big = vec![0u8; 160 << 20];
    let mut x: u64 = 0x9e3779b97f4a7c15;
    for chunk in big.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
    let src = tempfile::tempdir().unwrap();
    let img = Img::new(vec![(tar_of(&[E::File("big", &big)]), Comp::None)]);
    oci_layout(src.path(), &img, "v1");
    drop(big);
    let out = tempfile::tempdir().unwrap();
    // What a process killed with SIGKILL left: swept by the next run (pid 2^22+1 never lives).
    std::fs::create_dir(out.path().join(".slim-work-4194305-abcdef")).unwrap();
    std::fs::write(out.path().join(".slim-tmp-4194305-ghijkl"), b"stale").unwrap();
    for (sig, code) in [("INT", 130), ("TERM", 143), ("HUP", 129)] {
        let dest = out.path().join("out.tar");
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_slim"))
            .args([
                "copy",
                "-q",
                "--compression",
                "gzip",
                src.path().to_str().unwrap(),
                dest.to_str().unwrap(),
            ])
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Wait until it has started writing beside the destination.
        let t0 = std::time::Instant::now();
        while !leftovers(out.path())
            .iter()
            .any(|n| n.starts_with(".slim-work-") && !n.contains("4194305"))
        {
            assert!(t0.elapsed().as_secs() < 60, "slim never started writing");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        std::thread::sleep(std::time::Duration::from_millis(300));
        let k = std::process::Command::new("kill")
            .args([&format!("-{sig}"), &child.id().to_string()])
            .status()
            .unwrap();
        assert!(k.success());
        let status = child.wait().unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert!(
            status.signal().is_some() || status.code() == Some(code),
            "SIG{sig}: {status:?}"
        );
        assert_eq!(
            leftovers(out.path()),
            Vec::<String>::new(),
            "after SIG{sig}"
        );
    }
}

#[test]
fn missing_destination_directory_is_a_clear_error() {
    let src = tempfile::tempdir().unwrap();
    let s = image(src.path());
    fails_with(
        &slim(&["copy", &s, "/nonexistent/dir/out.tar"]),
        &["/nonexistent/dir", "does not exist"],
    );
}

#[test]
fn copy_keeps_zstd_and_plain_layers_or_reencodes_on_request() {
    let d = tempfile::tempdir().unwrap();
    let img = Img::new(vec![
        (tar_of(&[E::File("a", b"a")]), Comp::Zstd),
        (tar_of(&[E::File("b", b"b")]), Comp::None),
    ]);
    oci_layout(&d.path().join("src"), &img, "v1");
    let src = d.path().join("src");
    let same = d.path().join("same");
    ok(slim(&[
        "copy",
        src.to_str().unwrap(),
        same.to_str().unwrap(),
    ]));
    // Blobs copied verbatim: the same manifest layers.
    let layers = |p: &std::path::Path| -> Vec<String> {
        let o = ok(slim(&["analyze", "--format", "json", p.to_str().unwrap()]));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        v["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| format!("{} {}", l["digest"], l["compression"]))
            .collect()
    };
    assert_eq!(layers(&same), layers(&src));
    let gz = d.path().join("gz");
    ok(slim(&[
        "copy",
        "--compression",
        "gzip",
        src.to_str().unwrap(),
        gz.to_str().unwrap(),
    ]));
    assert!(
        layers(&gz).iter().all(|l| l.ends_with("\"gzip\"")),
        "{:?}",
        layers(&gz)
    );
    assert_eq!(
        slim_tree(gz.to_str().unwrap()),
        slim_tree(src.to_str().unwrap())
    );
}

#[test]
fn rewrite_refuses_a_shell_form_entrypoint_and_says_how_out() {
    let d = tempfile::tempdir().unwrap();
    let sh = std::fs::read("/bin/true").unwrap();
    let mut img = Img::new(vec![(
        tar_of(&[
            E::Dir("bin"),
            E::Exec("bin/sh", &sh),
            E::Exec("bin/app", &sh),
        ]),
        Comp::Gzip,
    )]);
    img.entrypoint = vec!["/bin/sh".into(), "-c".into(), "exec /bin/app".into()];
    oci_layout(&d.path().join("img"), &img, "v1");
    let out = d.path().join("out.tar");
    let o = slim(&[
        "rewrite",
        "--quiet",
        d.path().join("img").to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    let last = err.trim_end().lines().last().unwrap();
    assert!(
        last.starts_with(
            "slim: error: not writing an image that would not start: shell-form command"
        ),
        "{err}"
    );
    // `exec /bin/app` is one plain command: its exec form is the way out.
    for n in ["--keep /bin/sh", r#"--entrypoint '["/bin/app"]'"#] {
        assert_eq!(last.matches(n).count(), 1, "{n} once in {last}");
    }
    assert!(!out.exists());
    // The same ways out, as arguments, in the JSON plan of the refusal.
    let o = slim(&[
        "rewrite",
        "--quiet",
        "--format",
        "json",
        d.path().join("img").to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let plan: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let refusal = diagnostic(&plan, "shell-not-kept");
    assert_eq!(
        fix_args(&refusal),
        [
            vec!["--entrypoint", r#"["/bin/app"]"#],
            vec!["--keep", "/bin/sh"]
        ]
    );
    assert!(!refusal.message.contains("--"), "{}", refusal.message);
    assert!(!out.exists());
}

#[test]
fn an_image_without_entrypoint_or_cmd_is_refused_naming_the_options() {
    let d = tempfile::tempdir().unwrap();
    let app = std::fs::read("/bin/true").unwrap();
    let mut img = Img::new(vec![(
        tar_of(&[E::Dir("bin"), E::Exec("bin/app", &app)]),
        Comp::Gzip,
    )]);
    img.entrypoint = vec![];
    let src = d.path().join("img");
    oci_layout(&src, &img, "v1");
    let s = src.to_str().unwrap();
    let o = ok(slim(&["analyze", "-q", "--format", "json", s]));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let none = diagnostic(&v, "no-entrypoint");
    assert_eq!(
        fix_args(&none),
        [vec!["--entrypoint", "PROGRAM"], vec!["--exec", "PATH"]]
    );
    let out = d.path().join("out.tar");
    let o = slim(&["rewrite", "-q", s, "-o", out.to_str().unwrap()]);
    fails_with(
        &o,
        &[
            "no Entrypoint and no Cmd",
            "--entrypoint",
            "--exec",
            "no-entrypoint",
        ],
    );
    assert!(!out.exists());
    // Naming the program writes it into the image.
    let lay = d.path().join("lay");
    ok(slim(&[
        "rewrite",
        "-q",
        s,
        "--entrypoint",
        "/bin/app",
        "--cmd",
        r#"["--version"]"#,
        "-o",
        lay.to_str().unwrap(),
    ]));
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(lay.join("index.json")).unwrap()).unwrap();
    let blob = |d: &serde_json::Value| -> serde_json::Value {
        let hex = d["digest"].as_str().unwrap().trim_start_matches("sha256:");
        serde_json::from_slice(&std::fs::read(lay.join("blobs/sha256").join(hex)).unwrap()).unwrap()
    };
    let manifest = blob(&index["manifests"][0]);
    let config = blob(&manifest["config"]);
    assert_eq!(
        config["config"]["Entrypoint"],
        serde_json::json!(["/bin/app"])
    );
    assert_eq!(config["config"]["Cmd"], serde_json::json!(["--version"]));
}

#[test]
fn docker_archive_output_prints_the_image_id_docker_uses() {
    let src = tempfile::tempdir().unwrap();
    let s = image(src.path());
    let out = tempfile::tempdir().unwrap();
    let d = out.path().join("d.tar");
    let o = ok(slim(&[
        "copy",
        "-q",
        "--json",
        &s,
        &format!("docker-archive:{}:ex/app:1", d.display()),
    ]));
    let w: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        w["manifest_digest"].is_null(),
        "a docker archive stores no manifest: {w}"
    );
    // Docker's image id is the config's digest, the name of its file in the archive.
    let id = w["config_digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:")
        .to_string();
    let names: Vec<String> = tar::Archive::new(std::fs::File::open(&d).unwrap())
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    assert!(names.contains(&format!("{id}.json")), "{names:?}");
    let o = ok(slim(&[
        "copy",
        "-q",
        &s,
        &format!("docker-archive:{}", out.path().join("e.tar").display()),
    ]));
    let said = stderr(&o);
    assert!(
        said.contains(&format!("image id sha256:{id}")) && !said.contains("manifest"),
        "{said}"
    );
    // For OCI outputs, the manifest digest is the one skopeo reports.
    let a = out.path().join("a.tar");
    let o = ok(slim(&["copy", "-q", "--json", &s, a.to_str().unwrap()]));
    let w: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    need("skopeo");
    let i = std::process::Command::new("skopeo")
        .args([
            "inspect",
            "--format",
            "{{.Digest}}",
            &format!("oci-archive:{}", a.display()),
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&i.stdout).trim(),
        w["manifest_digest"].as_str().unwrap()
    );
}

#[test]
fn zstd_compression_says_which_tools_cannot_read_it() {
    let src = tempfile::tempdir().unwrap();
    let s = image(src.path());
    let out = tempfile::tempdir().unwrap();
    let o = ok(slim(&[
        "copy",
        "-q",
        "--compression",
        "zstd",
        &s,
        out.path().join("z.tar").to_str().unwrap(),
    ]));
    assert!(stderr(&o).contains("umoci 0.4.7"), "{}", stderr(&o));
    for cmd in ["copy", "rewrite"] {
        let help = stdout(&ok(slim(&[cmd, "--help"])));
        assert!(help.contains("umoci 0.4.7"), "{cmd} --help: {help}");
    }
    let o = ok(slim(&[
        "copy",
        "-q",
        &s,
        out.path().join("g.tar").to_str().unwrap(),
    ]));
    assert!(!stderr(&o).contains("zstd"), "{}", stderr(&o));
}

#[test]
fn usage_errors_are_one_line_and_json_output_survives_a_closed_pipe() {
    let o = slim(&["analyze", "--bogus"]);
    fails_with(&o, &["--bogus", "slim --help"]);
    let o = slim(&["rewrite", "x.tar", "-o", "containers-storage:a:1"]);
    fails_with(
        &o,
        &[
            "containers-storage:a:1",
            "skopeo copy oci-archive:image.tar containers-storage:a:1",
        ],
    );
    let o = slim(&["analyze", "nginx:latest"]);
    fails_with(
        &o,
        &[
            "nginx:latest",
            "registry reference",
            "docker://nginx:latest",
        ],
    );
    let d = tempfile::tempdir().unwrap();
    let gz = d.path().join("x.tar.gz");
    let mut e = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).unwrap(),
        flate2::Compression::default(),
    );
    std::io::Write::write_all(&mut e, &std::fs::read("/bin/true").unwrap()).unwrap();
    e.finish().unwrap();
    let o = slim(&["analyze", gz.to_str().unwrap()]);
    fails_with(&o, &["x.tar.gz", "gzip data it holds is not a tar archive"]);
    assert!(
        !stderr(&o).contains(".slim-tmp-") && !stderr(&o).contains("ELF"),
        "{}",
        stderr(&o)
    );
    // `| head -c 10`: the reader goes away; slim exits quietly.
    let src = tempfile::tempdir().unwrap();
    let s = image(src.path());
    let r = std::process::Command::new("sh")
        .args([
            "-c",
            &format!(
                "{} analyze -q --format json {s} | head -c 10 >/dev/null; echo ${{PIPESTATUS:-}}",
                env!("CARGO_BIN_EXE_slim")
            ),
        ])
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&r.stderr).is_empty(),
        "{}",
        String::from_utf8_lossy(&r.stderr)
    );
}

/// A layout whose manifest is stored pretty-printed (bytes slim would never
/// write itself), and that manifest's digest.
fn pretty_layout(dir: &std::path::Path, img: &Img) -> String {
    let desc = put_image(dir, img);
    let hex = desc["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:");
    let path = dir.join("blobs/sha256").join(hex);
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    std::fs::remove_file(&path).unwrap();
    let mut desc = put_blob(
        dir,
        "application/vnd.oci.image.manifest.v1+json",
        &serde_json::to_vec_pretty(&v).unwrap(),
    );
    desc["annotations"] = serde_json::json!({"org.opencontainers.image.ref.name": "v1"});
    let digest = desc["digest"].as_str().unwrap().to_string();
    write_index(dir, vec![desc]);
    digest
}

fn raw_digest(image: &str) -> String {
    let o = std::process::Command::new("skopeo")
        .args(["inspect", "--raw", image])
        .output()
        .unwrap();
    assert!(o.status.success(), "skopeo inspect {image}: {}", stderr(&o));
    format!("sha256:{}", sha256_hex(&o.stdout))
}

#[test]
fn a_copy_that_changes_no_blob_keeps_the_manifest_bytes() {
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("src");
    let img = Img::new(vec![
        (
            tar_of(&[E::Dir("bin"), E::Exec("bin/app", b"app")]),
            Comp::Gzip,
        ),
        (tar_of(&[E::File("b", b"b")]), Comp::Zstd),
    ]);
    let want = pretty_layout(&src, &img);
    let s = format!("oci:{}:v1", src.display());
    for dest in [
        format!("oci:{}:x", d.path().join("layout").display()),
        format!("oci-archive:{}:x", d.path().join("a.tar").display()),
    ] {
        let o = ok(slim(&["copy", "--json", &s, &dest]));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v["manifest_digest"], want.as_str(), "{dest}");
        assert_eq!(v["layers"].as_array().unwrap().len(), 2, "{dest}");
        assert_eq!(
            raw_digest(&dest),
            want,
            "{dest}: skopeo reads the same manifest"
        );
    }
    // The same compression asked for is no conversion either; another is.
    let o = ok(slim(&[
        "copy",
        "--json",
        "--compression",
        "zstd",
        &s,
        &format!("oci:{}:z", d.path().join("layout").display()),
    ]));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_ne!(v["manifest_digest"], want.as_str());
    assert_eq!(
        slim_tree(&format!("oci:{}:z", d.path().join("layout").display())),
        slim_tree(&s)
    );
}

#[test]
fn a_verbatim_copy_checks_every_digest_and_verify_layers_the_diff_ids() {
    let d = tempfile::tempdir().unwrap();
    // A layer whose bytes are not what the manifest's digest says.
    let bad = d.path().join("bad");
    let s = image(&bad);
    corrupt_gzip_layers(&bad);
    let out = tempfile::tempdir().unwrap();
    for dest in ["img.tar", "img.oci"] {
        let dest = out.path().join(dest).display().to_string();
        let o = slim(&["copy", &s, &dest]);
        fails_with(&o, &["holds other bytes"]);
        assert_eq!(o.status.code(), Some(2));
        assert_eq!(leftovers(out.path()), Vec::<String>::new(), "{dest}");
    }
    // A config whose diff_id is wrong: copied as it is (as skopeo does),
    // refused with --verify-layers.
    let wrong = d.path().join("wrong");
    let mut img = Img::new(vec![(tar_of(&[E::File("a", b"a")]), Comp::Gzip)]);
    let config = {
        let mut c = img.config();
        c["rootfs"]["diff_ids"][0] = format!("sha256:{}", "0".repeat(64)).into();
        c
    };
    let cdesc = put_blob(
        &wrong,
        "application/vnd.oci.image.config.v1+json",
        &serde_json::to_vec(&config).unwrap(),
    );
    let (tar, _) = img.layers.remove(0);
    let ldesc = put_blob(
        &wrong,
        "application/vnd.oci.image.layer.v1.tar+gzip",
        &compress(&tar, Comp::Gzip),
    );
    let manifest = serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": cdesc, "layers": [ldesc],
    });
    let mdesc = put_blob(
        &wrong,
        "application/vnd.oci.image.manifest.v1+json",
        &serde_json::to_vec(&manifest).unwrap(),
    );
    write_index(&wrong, vec![mdesc]);
    let w = wrong.display().to_string();
    ok(slim(&[
        "copy",
        &w,
        &out.path().join("plain").display().to_string(),
    ]));
    let o = slim(&[
        "copy",
        "--verify-layers",
        &w,
        &out.path().join("checked").display().to_string(),
    ]);
    fails_with(&o, &["diff_id"]);
    assert!(!out.path().join("checked").exists());
}

#[test]
fn a_docker_archive_destination_is_written_even_from_uncompressed_layers() {
    // Layers already in a docker-archive's compression (none) change no blob,
    // but a docker-archive stores no manifest: the copy converts anyway.
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("src");
    let img = Img::new(vec![
        (
            tar_of(&[E::Dir("bin"), E::Exec("bin/app", b"app")]),
            Comp::None,
        ),
        (tar_of(&[E::File("b", b"b")]), Comp::None),
    ]);
    oci_layout(&src, &img, "v1");
    let s = format!("oci:{}:v1", src.display());
    let out = d.path().join("d.tar");
    let dest = format!("docker-archive:{}:a/b:1", out.display());
    ok(slim(&["copy", "-q", &s, &dest]));
    assert_eq!(slim_tree(&dest), slim_tree(&s));
}
