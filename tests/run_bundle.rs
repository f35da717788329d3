//! The rootfs of a runtime bundle unpacked from an image's merged tree
//! (src/run): content, modes, owners, hardlinks and links as the image has
//! them, and nothing written outside the root whatever the image holds.

mod common;
use common::*;
use slim::image::{ImageRef, Layers};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

fn layers_of(dir: &Path, img: &Img) -> Layers {
    oci_layout(dir, img, "v1");
    let image =
        slim::transport::local::open(&ImageRef::parse(&dir.display().to_string()).unwrap(), None)
            .unwrap();
    slim::image::read_layers(&image, &slim::progress::Silent).unwrap()
}

#[test]
fn the_merged_tree_is_written_as_the_image_has_it() {
    let d = tempfile::tempdir().unwrap();
    let img = Img::new(vec![
        (
            tar_of(&[
                E::Dir("etc"),
                E::File("etc/old.conf", b"gone"),
                E::Exec("bin/app", b"#!/bin/app\n"),
                E::File("usr/share/data.txt", b"payload"),
                E::Hardlink("usr/share/same.txt", "usr/share/data.txt"),
                E::Symlink("usr/share/link", "data.txt"),
            ]),
            Comp::Gzip,
        ),
        (
            // A later layer deletes a file (whiteout) and adds another.
            tar_of(&[
                E::File("etc/.wh.old.conf", b""),
                E::File("etc/new.conf", b"x=1"),
            ]),
            Comp::Gzip,
        ),
    ]);
    let layers = layers_of(&d.path().join("img"), &img);
    let root = d.path().join("rootfs");
    std::fs::create_dir(&root).unwrap();
    let u = slim::run::unpack(&layers.tree, &layers, &root, false).unwrap();
    assert_eq!((u.hardlinks, u.symlinks), (1, 1), "{u:?}");
    assert_eq!(
        std::fs::read(root.join("usr/share/data.txt")).unwrap(),
        b"payload"
    );
    assert_eq!(std::fs::read(root.join("etc/new.conf")).unwrap(), b"x=1");
    assert!(!root.join("etc/old.conf").exists(), "whited out");
    let m = std::fs::metadata(root.join("bin/app")).unwrap();
    assert_eq!(m.permissions().mode() & 0o777, 0o755);
    let ino = |p: &str| std::fs::metadata(root.join(p)).unwrap().ino();
    assert_eq!(
        ino("usr/share/same.txt"),
        ino("usr/share/data.txt"),
        "a hardlink stays one inode"
    );
    assert_eq!(
        std::fs::read_link(root.join("usr/share/link")).unwrap(),
        Path::new("data.txt")
    );
    // The tree's walk (the same as `slim ls`) and the disk agree.
    assert_same_tree(
        "rootfs",
        &walk_rootfs(&root),
        &slim_tree(d.path().join("img").to_str().unwrap()),
    );
}

#[test]
fn a_link_planted_to_escape_the_root_is_never_written_through() {
    let d = tempfile::tempdir().unwrap();
    let outside = d.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    let target = outside.display().to_string();
    // `etc` is a symlink out of the root in one layer; a later layer adds etc/passwd.
    let img = Img::new(vec![
        (tar_of(&[E::Symlink("etc", &target)]), Comp::Gzip),
        (tar_of(&[E::File("etc/passwd", b"pwned")]), Comp::Gzip),
    ]);
    let layers = layers_of(&d.path().join("img"), &img);
    let root = d.path().join("rootfs");
    std::fs::create_dir(&root).unwrap();
    let _ = slim::run::unpack(&layers.tree, &layers, &root, false);
    assert!(
        std::fs::read_dir(&outside).unwrap().next().is_none(),
        "nothing written outside the root"
    );
}

fn nginx_layers() -> Layers {
    let p = fixtures().join("nginx.oci");
    require_fixture(
        &p,
        &format!("fixtures/make-fixtures.sh {} nginx", fixtures().display()),
    );
    let image =
        slim::transport::local::open(&ImageRef::parse(&p.display().to_string()).unwrap(), None)
            .unwrap();
    slim::image::read_layers(&image, &slim::progress::Silent).unwrap()
}

fn process(args: &[&str]) -> slim::run::container::Process {
    slim::run::container::Process {
        args: args.iter().map(|s| s.to_string()).collect(),
        env: vec!["PATH=/usr/sbin:/usr/bin:/sbin:/bin".into()],
        cwd: "/".into(),
        uid: 0,
        gid: 0,
        additional_gids: Vec::new(),
    }
}

#[test]
#[ignore = "needs the fixture images: scripts/test builds them and runs this"]
fn a_real_image_runs_under_runc_bounded_and_leaves_nothing() {
    need("runc");
    let layers = nginx_layers();
    let parent = tempfile::tempdir().unwrap();
    let limits = slim::run::container::Limits::default();
    let runtime = slim::run::container::find_runtime(None).unwrap();
    // nginx -v, as the image would run it; its network is loopback only.
    let b = slim::run::Bundle::new(
        &layers.tree,
        &layers,
        parent.path(),
        &process(&[
            "/bin/sh",
            "-c",
            "nginx -v; cat /sys/class/net/*/address | sort -u; cat /etc/hostname",
        ]),
        &limits,
    )
    .unwrap();
    let f =
        slim::run::container::run(&runtime, b.path(), "slim-test-nginx", limits.timeout).unwrap();
    let (out, err) = (
        String::from_utf8_lossy(&f.stdout),
        String::from_utf8_lossy(&f.stderr),
    );
    assert_eq!(f.code, Some(0), "{out}{err}");
    assert!(err.contains("nginx version"), "{err}");
    assert!(out.contains("slim-probe"), "hostname: {out}");
    // Only the loopback interface: its address is all zeros.
    assert_eq!(out.lines().next(), Some("00:00:00:00:00:00"), "{out}");
    drop(b);
    // A command that outlives its deadline is killed and deleted.
    let short = std::time::Duration::from_secs(1);
    let b = slim::run::Bundle::new(
        &layers.tree,
        &layers,
        parent.path(),
        &process(&["sleep", "30"]),
        &limits,
    )
    .unwrap();
    let f = slim::run::container::run(&runtime, b.path(), "slim-test-sleep", short).unwrap();
    assert!(f.timed_out && f.code.is_none(), "{f:?}");
    assert!(
        f.elapsed < std::time::Duration::from_secs(10),
        "{:?}",
        f.elapsed
    );
    let list = std::process::Command::new(&runtime)
        .args(["list", "-q"])
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&list.stdout).contains("slim-test-"),
        "a container was left behind"
    );
    let kept = b.path().to_path_buf();
    drop(b);
    assert!(!kept.exists(), "the bundle is removed");
    assert!(std::fs::read_dir(parent.path()).unwrap().next().is_none());
}

#[test]
#[ignore = "needs the fixture images: scripts/test builds them and runs this"]
fn an_http_probe_answers_from_the_containers_own_network_and_opens_are_observed() {
    need("runc");
    let p = fixtures().join("nginx.oci");
    let layers = nginx_layers();
    let image =
        slim::transport::local::open(&ImageRef::parse(&p.display().to_string()).unwrap(), None)
            .unwrap();
    let config: serde_json::Value = serde_json::from_slice(&image.config_raw).unwrap();
    let parent = tempfile::tempdir().unwrap();
    let settings = slim::run::probe::Settings {
        runtime: slim::run::container::find_runtime(None).unwrap(),
        timeout: std::time::Duration::from_secs(20),
        limits: slim::run::container::Limits::default(),
        observe: true,
        parent: parent.path().to_path_buf(),
    };
    let subject = slim::run::probe::Subject {
        tree: &layers.tree,
        content: &layers,
        config: &config,
        command: vec!["nginx".into(), "-g".into(), "daemon off;".into()],
    };
    let probes = [
        slim::run::probe::parse_http("80/").unwrap(),
        slim::run::probe::parse_exec(r#"["/bin/cat","/etc/nginx/mime.types"]"#).unwrap(),
    ];
    let r = slim::run::probe::run(&subject, &probes, &settings).unwrap();
    assert!(r.passed(), "{r:#?}");
    assert_eq!(r.outcomes[0].status, "HTTP 200", "{r:#?}");
    let seen: Vec<&String> = r.observed.keys().collect();
    eprintln!("{seen:#?}");
    assert!(r.observed.contains_key("/usr/sbin/nginx"), "{seen:?}");
    assert!(r.observed.contains_key("/etc/nginx/nginx.conf"), "{seen:?}");
    assert!(
        r.observed.contains_key("/usr/share/nginx/html/index.html")
            || r.observed
                .contains_key("/var/www/html/index.nginx-debian.html"),
        "{seen:?}"
    );
    assert!(
        std::fs::read_dir(parent.path()).unwrap().next().is_none(),
        "bundle left"
    );
}

#[test]
fn extended_attributes_are_unpacked_as_the_image_has_them() {
    // A layer whose file carries a user xattr and file capabilities (PAX
    // SCHILY.xattr records, as `setcap` and BuildKit leave them).
    let mut b = tar::Builder::new(Vec::new());
    let cap: &[u8] = &[0, 0, 0, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]; // cap_net_bind_service=ep, VFS_CAP_REVISION_2
    b.append_pax_extensions([
        ("SCHILY.xattr.user.slim", b"kept".as_slice()),
        ("SCHILY.xattr.security.capability", cap),
    ])
    .unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_size(3);
    h.set_mode(0o755);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_entry_type(tar::EntryType::Regular);
    b.append_data(&mut h, "bin/server", &b"abc"[..]).unwrap();
    let d = tempfile::tempdir().unwrap();
    let img = Img::new(vec![(b.into_inner().unwrap(), Comp::Gzip)]);
    let layers = layers_of(&d.path().join("img"), &img);
    let root = d.path().join("rootfs");
    std::fs::create_dir(&root).unwrap();
    let u = slim::run::unpack(&layers.tree, &layers, &root, slim::run::is_root()).unwrap();
    let get = |name: &str| {
        let o = std::process::Command::new("python3")
            .args([
                "-c",
                "import os,sys; sys.stdout.buffer.write(os.getxattr(sys.argv[1], sys.argv[2]))",
            ])
            .arg(root.join("bin/server"))
            .arg(name)
            .output()
            .unwrap();
        o.status.success().then_some(o.stdout)
    };
    assert_eq!(get("user.slim").as_deref(), Some(&b"kept"[..]), "{u:?}");
    if slim::run::is_root() {
        assert_eq!(get("security.capability").as_deref(), Some(cap), "{u:?}");
        assert_eq!((u.xattrs, u.xattrs_skipped), (2, 0));
    }
}
