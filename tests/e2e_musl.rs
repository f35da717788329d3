//! An Alpine-style image (musl's loader, an apk database), made in the test
//! with musl-gcc: traced with musl's search rules, slimmed, run under runc,
//! and its apk metadata kept for what remains.

mod common;
use common::*;
use serde_json::Value;

const INSTALLED: &str = "C:Q1bXVzbA==\nP:musl\nV:1.2.4-r2\nA:x86_64\nL:MIT\no:musl\nm:Alpine Maintainers <a@example.org>\nF:lib\nR:ld-musl-x86_64.so.1\nZ:Q1AAAA=\nF:usr/share/musl\nR:README\nZ:Q1BBBB=\n\nP:libfoo\nV:1.0-r0\nA:x86_64\nL:Apache-2.0\no:foo\nm:Foo <f@example.org>\np:so:libfoo.so=1\nF:usr/local/lib\nR:libfoo.so\nZ:Q1CCCC=\n\nP:app\nV:2.0-r1\nA:x86_64\nL:GPL-2.0-or-later\no:app\nm:App <a@example.org>\nD:so:libfoo.so\nF:usr/bin\nR:app\nZ:Q1DDDD=\n\nP:unused\nV:9-r0\nA:x86_64\nL:BSD-3-Clause\no:unused\nm:U <u@example.org>\nF:usr/share/unused\nR:data.txt\nZ:Q1EEEE=\n\n";

#[test]
fn an_alpine_style_image_slims_runs_and_keeps_its_apk_metadata() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    for d in [
        "lib",
        "lib/apk/db",
        "usr/bin",
        "usr/local/lib",
        "usr/share/musl",
        "usr/share/unused",
        "etc",
        "bin",
    ] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::copy(
        "/lib/x86_64-linux-musl/libc.so",
        root.join("lib/ld-musl-x86_64.so.1"),
    )
    .unwrap();
    musl_gcc(
        &root.join("usr/local/lib/libfoo.so"),
        "#include <stdio.h>\nvoid hello(void) { puts(\"hello from musl\"); }\n",
        Some("libfoo.so"),
        &[],
    );
    musl_gcc(
        &root.join("usr/bin/app"),
        "void hello(void); int main(void) { hello(); return 0; }\n",
        None,
        &[
            format!("-L{}", root.join("usr/local/lib").display()),
            "-l:libfoo.so".into(),
        ],
    );
    std::fs::write(root.join("usr/share/musl/README"), "musl\n").unwrap();
    std::fs::write(root.join("usr/share/unused/data.txt"), "unused\n").unwrap();
    std::fs::write(root.join("lib/apk/db/installed"), INSTALLED).unwrap();
    std::fs::write(
        root.join("etc/os-release"),
        "NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.19.1\nPRETTY_NAME=\"Alpine Linux v3.19\"\n",
    )
    .unwrap();
    // A shell, as Alpine has (busybox): the slimmed image must not.
    std::fs::copy(root.join("usr/bin/app"), root.join("bin/busybox")).unwrap();
    std::os::unix::fs::symlink("busybox", root.join("bin/sh")).unwrap();
    let layer = tmp.path().join("layer.tar");
    tar_dir(&root, &layer);
    let mut img = Img::new(vec![(std::fs::read(&layer).unwrap(), Comp::Gzip)]);
    img.entrypoint = vec!["/usr/bin/app".into()];
    let fat = tmp.path().join("fat");
    oci_layout(&fat, &img, "1");

    let out = tmp.path().join("slim.tar");
    let o = ok(slim(&[
        "rewrite",
        "--quiet",
        fat.to_str().unwrap(),
        "--to",
        "distroless",
        "-o",
        out.to_str().unwrap(),
    ]));
    assert!(
        stdout(&o).contains("/lib/apk/db/installed"),
        "{}",
        stdout(&o)
    );
    let (ran, said) = run_image(&out);
    assert!(
        ran && said.contains("hello from musl"),
        "the slimmed image does not run: {said}"
    );

    // The slimmed image's apk database: the packages still there, with only
    // the files that remain; its SBOM says the same.
    let o = ok(slim(&["ls", "--quiet", out.to_str().unwrap()]));
    let listing = stdout(&o);
    assert!(
        !listing.contains("bin/sh") && !listing.contains("busybox"),
        "{listing}"
    );
    let r = slim::image::ImageRef::parse(out.to_str().unwrap()).unwrap();
    let image = slim::transport::local::open(&r, None).unwrap();
    let layers = slim::image::read_layers(&image, &slim::progress::Silent).unwrap();
    let db = String::from_utf8(layers.read("/lib/apk/db/installed", 1 << 20).unwrap()).unwrap();
    let paragraphs: Vec<&str> = db.trim_end().split("\n\n").collect();
    assert_eq!(paragraphs.len(), 3, "{db}");
    assert!(db.contains("P:musl\n") && db.contains("R:ld-musl-x86_64.so.1\nZ:Q1AAAA="));
    assert!(!db.contains("R:README") && !db.contains("Q1BBBB"), "{db}");
    assert!(!db.contains("P:unused"), "{db}");
    let o = ok(slim(&["sbom", "--quiet", out.to_str().unwrap()]));
    let doc: Value = serde_json::from_slice(&o.stdout).unwrap();
    let names: Vec<&str> = spdx_packages(&doc)
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["app", "libfoo", "musl"]);
    let musl = spdx_packages(&doc)
        .into_iter()
        .find(|p| p["name"] == "musl")
        .unwrap()
        .clone();
    let purl = musl["externalRefs"][0]["referenceLocator"]
        .as_str()
        .unwrap();
    assert_eq!(
        purl,
        "pkg:apk/alpine/musl@1.2.4-r2?arch=x86_64&distro=alpine-3.19.1"
    );
    let a = analyze_json(out.to_str().unwrap(), &[]);
    assert_eq!(a["package_databases"][0]["kind"], "apk");
    assert_eq!(a["package_databases"][0]["packages"], 3);
}
