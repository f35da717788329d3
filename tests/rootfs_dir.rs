//! The stages after reading (catalog, trace) over a plain directory: a
//! `Rootfs` built from a temp dir, no image and no tar.

use slim::catalog::Catalog;
use slim::fs::Rootfs;
use slim::rules::Rules;
use slim::trace::{trace, TraceOptions};
use std::path::Path;

fn put(root: &Path, path: &str, bytes: &[u8]) {
    let p = root.join(path.trim_start_matches('/'));
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, bytes).unwrap();
}

/// A root with the host's /bin/true, its loader and libc at the paths it
/// names, listed by a dpkg database.
fn root() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    for (host, at) in [
        ("/bin/true", "/usr/bin/true"),
        ("/lib64/ld-linux-x86-64.so.2", "/lib64/ld-linux-x86-64.so.2"),
        (
            "/lib/x86_64-linux-gnu/libc.so.6",
            "/lib/x86_64-linux-gnu/libc.so.6",
        ),
    ] {
        put(r, at, &std::fs::read(host).unwrap());
    }
    std::fs::set_permissions(
        r.join("usr/bin/true"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    put(r, "/bin/unused", b"#!/bin/sh\n");
    put(r, "/etc/os-release", b"ID=debian\nVERSION_ID=\"12\"\n");
    put(
        r,
        "/var/lib/dpkg/status",
        b"Package: coreutils\nStatus: install ok installed\nArchitecture: amd64\nVersion: 9.1-1\n\n",
    );
    put(
        r,
        "/var/lib/dpkg/info/coreutils.list",
        b"/usr\n/usr/bin\n/usr/bin/true\n",
    );
    d
}

#[test]
fn the_catalog_reads_a_plain_directory() {
    let d = root();
    let fs = Rootfs::from_dir(d.path()).unwrap();
    let c = Catalog::read(&fs);
    let names: Vec<&str> = c.packages.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["coreutils"]);
    let owners: Vec<&str> = c.owners("/usr/bin/true").map(|p| p.name.as_str()).collect();
    assert_eq!(owners, ["coreutils"]);
}

#[test]
fn the_trace_follows_the_loader_over_a_plain_directory() {
    let d = root();
    let fs = Rootfs::from_dir(d.path()).unwrap();
    let c = Catalog::read(&fs);
    let opts = TraceOptions {
        argv: vec!["/usr/bin/true".into()],
        env: vec!["PATH=/usr/bin:/bin".into()],
        workdir: "/".into(),
        ..Default::default()
    };
    let t = trace(&fs, &c, &Rules::builtin(), &opts).unwrap();
    assert_eq!(t.entrypoint.as_deref(), Some("/usr/bin/true"));
    for p in [
        "/usr/bin/true",
        "/lib64/ld-linux-x86-64.so.2",
        "/lib/x86_64-linux-gnu/libc.so.6",
    ] {
        assert!(t.kept.contains_key(p), "{p} not kept: {:?}", t.kept.keys());
    }
    assert!(!t.kept.contains_key("/bin/unused"));
    assert!(
        t.closure.missing().next().is_none(),
        "unresolved: {:?}",
        t.diagnostics
    );
}
