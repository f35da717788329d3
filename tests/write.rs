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

#[test]
fn failed_copy_of_a_corrupt_image_leaves_nothing_behind() {
    let src = tempfile::tempdir().unwrap();
    let s = image(src.path());
    // Corrupt the layer so reading fails after the copy has started.
    for e in std::fs::read_dir(src.path().join("blobs/sha256")).unwrap() {
        let p = e.unwrap().path();
        let mut b = std::fs::read(&p).unwrap();
        if b.starts_with(&[0x1f, 0x8b]) {
            let n = b.len();
            b[n - 12] ^= 0xff;
            std::fs::write(&p, b).unwrap();
        }
    }
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

#[test]
fn an_earlier_layout_is_replaced_whole() {
    let src = tempfile::tempdir().unwrap();
    let s = image(src.path());
    let out = tempfile::tempdir().unwrap();
    let dest = out.path().join("img.oci");
    ok(slim(&["copy", &s, dest.to_str().unwrap()]));
    std::fs::write(dest.join("stale"), b"x").unwrap();
    ok(slim(&["copy", "--flatten", &s, dest.to_str().unwrap()]));
    assert!(!dest.join("stale").exists());
    assert_eq!(leftovers(out.path()), vec!["img.oci".to_string()]);
    assert_eq!(slim_tree(dest.to_str().unwrap()), slim_tree(&s));
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
    assert!(last.starts_with("slim: error: shell-form command"), "{err}");
    for n in ["--keep /bin/sh", "exec form"] {
        assert!(last.contains(n), "{last}");
    }
    assert!(!out.exists());
}
