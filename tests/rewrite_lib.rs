//! The rewrite as library calls (`slim::rewrite`): prepare, refuse, write, on
//! small synthetic images holding the host's dynamic loader and libc.

mod common;
use common::*;
use slim::image::{ImageRef, Layers};
use slim::rewrite::{self, Options};
use slim::transport::Output;
use std::path::Path;

/// An image whose entrypoint `/usr/bin/app` is the host's `true`, with its
/// loader and libc, a shell and a file nothing needs.
fn image(dir: &Path, entrypoint: &str) -> (slim::image::Image, Layers) {
    let lib = |f: &str| std::fs::read(Path::new("/lib/x86_64-linux-gnu").join(f)).unwrap();
    let (ld, libc, prog) = (
        lib("ld-linux-x86-64.so.2"),
        lib("libc.so.6"),
        std::fs::read("/bin/true").unwrap(),
    );
    let mut img = Img::new(vec![(
        tar_of(&[
            E::Symlink("lib64", "usr/lib64"),
            E::Symlink("lib", "usr/lib"),
            E::Symlink("bin", "usr/bin"),
            E::Exec("usr/lib64/ld-linux-x86-64.so.2", &ld),
            E::Exec("usr/lib/x86_64-linux-gnu/libc.so.6", &libc),
            E::Exec("usr/bin/app", &prog),
            E::Exec("usr/bin/sh", &prog),
            E::File("usr/share/unused/big.dat", &[7u8; 50_000]),
            E::File("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n"),
        ]),
        Comp::Gzip,
    )]);
    img.entrypoint = vec![entrypoint.to_string()];
    let at = dir.join("in");
    oci_layout(&at, &img, "v1");
    let image =
        slim::transport::local::open(&ImageRef::parse(&at.display().to_string()).unwrap(), None)
            .unwrap();
    let layers = slim::image::read_layers(&image, &slim::progress::Silent).unwrap();
    (image, layers)
}

fn options() -> Options {
    let mut o = Options::new(slim::plan::Profile::load("distroless").unwrap());
    o.source_date_epoch = Some(1_700_000_000);
    o
}

fn reread(out: &Path) -> (slim::image::Image, Layers) {
    let r = ImageRef::parse(&format!("oci:{}:slim", out.display())).unwrap();
    let image = slim::transport::local::open(&r, None).unwrap();
    let layers = slim::image::read_layers(&image, &slim::progress::Silent).unwrap();
    (image, layers)
}

#[test]
fn prepare_and_write_give_the_planned_tree_reproducibly() {
    let d = tempfile::tempdir().unwrap();
    let (image, layers) = image(d.path(), "/usr/bin/app");
    let opts = options();
    let rw = rewrite::prepare(&image, &layers, &opts).unwrap();
    assert!(rw.refusal(false).is_ok());
    assert!(rw.plan.tree.get("usr/bin/app").is_some());
    assert!(rw.plan.tree.get("usr/bin/sh").is_none(), "the shell goes");
    let mut written = Vec::new();
    for name in ["a", "b"] {
        let out = d.path().join(name);
        let o = Output::parse(&format!("oci:{}:slim", out.display())).unwrap();
        let w = rw
            .write(&image, &layers, &o, &opts, &slim::progress::Silent)
            .unwrap();
        let (back, back_layers) = reread(&out);
        // What was written is what was planned: same paths, the program's bytes intact.
        let paths: Vec<&str> = back_layers.tree.iter().map(|(p, _)| p).collect();
        let planned: Vec<&str> = rw.plan.tree.iter().map(|(p, _)| p).collect();
        assert_eq!(paths, planned);
        assert_eq!(
            back_layers.read("/usr/bin/app", 1 << 30).unwrap(),
            std::fs::read("/bin/true").unwrap()
        );
        assert!(back_layers
            .read("/usr/share/unused/big.dat", 1 << 20)
            .is_none());
        assert_eq!(back.layers.len(), 1);
        let cfg = back.config.config().as_ref().unwrap();
        assert_eq!(
            cfg.entrypoint().as_deref(),
            Some(&["/usr/bin/app".to_string()][..])
        );
        written.push(w.manifest_digest.unwrap());
    }
    assert_eq!(written[0], written[1], "the same plan gives the same image");
}

#[test]
fn a_missing_entrypoint_is_refused_and_nothing_is_written_unless_forced() {
    let d = tempfile::tempdir().unwrap();
    let (image, layers) = image(d.path(), "/usr/bin/gone");
    let mut opts = options();
    let rw = rewrite::prepare(&image, &layers, &opts).unwrap();
    let err = rw.refusal(false).unwrap_err();
    assert!(matches!(err, rewrite::Error::Refused(ref v) if !v.is_empty()));
    assert!(err.to_string().contains("/usr/bin/gone"), "{err}");
    let out = d.path().join("out");
    let o = Output::parse(&format!("oci:{}:slim", out.display())).unwrap();
    let e = rw
        .write(&image, &layers, &o, &opts, &slim::progress::Silent)
        .unwrap_err();
    assert!(matches!(e, rewrite::Error::Refused(_)));
    assert!(!out.exists(), "a refused rewrite writes nothing");
    opts.force = true;
    rw.write(&image, &layers, &o, &opts, &slim::progress::Silent)
        .unwrap();
    assert!(reread(&out).1.tree.get("usr/bin/app").is_none());
}

#[test]
fn split_layers_put_the_system_under_the_app() {
    let d = tempfile::tempdir().unwrap();
    let (image, layers) = image(d.path(), "/usr/bin/app");
    let mut opts = options();
    opts.split_layers = true;
    let rw = rewrite::prepare(&image, &layers, &opts).unwrap();
    let out = d.path().join("out");
    let o = Output::parse(&format!("oci:{}:slim", out.display())).unwrap();
    rw.write(&image, &layers, &o, &opts, &slim::progress::Silent)
        .unwrap();
    let (back, back_layers) = reread(&out);
    assert_eq!(back.layers.len(), 2);
    assert!(back_layers.tree.get("usr/bin/app").is_some());
    assert!(back_layers.tree.get("etc/passwd").is_some());
}
