//! `slim rewrite --to distroless` on the real fixture images: the slimmed
//! image does what the fat one did (run with runc), holds no shell or package
//! manager, keeps scanner metadata, has every DT_NEEDED resolved inside it,
//! is accepted by umoci and skopeo, and is reproducible.

mod common;
use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Rewrites fixture `name` into a fresh directory; returns (dir, image path, plan JSON).
fn rewrite(name: &str, extra: &[&str]) -> (PathBuf, PathBuf, Value) {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("rewrite-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (out, plan) = rewrite_to(name, &dir.join(format!("{name}-slim.tar")), extra);
    (dir, out, plan)
}

/// Rewrites fixture `name` into `out`; returns it and the plan JSON.
fn rewrite_to(name: &str, out: &Path, extra: &[&str]) -> (PathBuf, Value) {
    let src = fixtures().join(format!("{name}.docker.tar"));
    let mut args = vec!["--to", "distroless"];
    args.extend_from_slice(extra);
    let plan = rewrite_json(src.to_str().unwrap(), out, &args);
    (out.to_path_buf(), plan)
}

fn sh(cmd: &mut Command) -> (bool, String) {
    let o = cmd.output().unwrap();
    (
        o.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

/// Checks common to every slimmed image.
fn check_slim_image(dir: &Path, image: &Path, plan: &Value, max_bytes: u64, host_loaded: &[&str]) {
    need("umoci");
    need("skopeo");
    let img = image.to_str().unwrap();
    // skopeo reads it; umoci unpacks it.
    let (ok_inspect, out) =
        sh(Command::new("skopeo").args(["inspect", &format!("oci-archive:{img}")]));
    assert!(ok_inspect, "skopeo inspect: {out}");
    let layer_count = serde_json::from_str::<Value>(&out).unwrap()["Layers"]
        .as_array()
        .unwrap()
        .len();
    let layout = dir.join("layout");
    let _ = std::fs::remove_dir_all(&layout);
    let (ok_copy, out) = sh(Command::new("skopeo")
        .args([
            "--insecure-policy",
            "copy",
            "-q",
            &format!("oci-archive:{img}"),
        ])
        .arg(format!("oci:{}:t", layout.display())));
    assert!(ok_copy, "skopeo copy: {out}");
    let bundle = dir.join("bundle");
    let _ = std::fs::remove_dir_all(&bundle);
    let (ok_unpack, out) = sh(Command::new("umoci")
        .args(["unpack", "--image"])
        .arg(format!("{}:t", layout.display()))
        .arg(&bundle));
    assert!(ok_unpack, "umoci unpack: {out}");
    let root = bundle.join("rootfs");
    // podman loads it (flags from shared/fixtures/README: vfs storage, cgroupfs, file events).
    need("podman");
    // podman refuses a runroot path over 50 characters: keep it short.
    let pm_dir = tempfile::Builder::new()
        .prefix("pm")
        .tempdir_in("/tmp")
        .unwrap();
    let pm = pm_dir.path().to_path_buf();
    let podman = |args: &[&str]| {
        sh(Command::new("podman")
            .arg("--root")
            .arg(pm.join("root"))
            .arg("--runroot")
            .arg(pm.join("run"))
            .args([
                "--storage-driver",
                "vfs",
                "--cgroup-manager",
                "cgroupfs",
                "--events-backend",
                "file",
            ])
            .args(args))
    };
    let (loaded, out) = podman(&["load", "-i", img]);
    assert!(loaded && out.contains("Loaded image"), "podman load: {out}");
    let id = out
        .lines()
        .find_map(|l| l.strip_prefix("Loaded image: "))
        .unwrap()
        .trim()
        .to_string();
    let (inspected, out) = podman(&[
        "image",
        "inspect",
        "--format",
        "{{len .RootFS.Layers}}",
        &id,
    ]);
    assert!(
        inspected && out.trim() == layer_count.to_string(),
        "podman image inspect: {out}"
    );
    drop(pm_dir);

    // No shell, no package manager, no dpkg database; scanner metadata instead.
    for gone in [
        "bin/sh",
        "usr/bin/sh",
        "usr/bin/bash",
        "usr/bin/dash",
        "usr/bin/apt",
        "usr/bin/apt-get",
        "usr/bin/dpkg",
        "var/lib/dpkg/status",
    ] {
        assert!(
            std::fs::symlink_metadata(root.join(gone)).is_err(),
            "/{gone} is in the slimmed image"
        );
    }
    for present in [
        "var/lib/dpkg/status.d/libc6",
        "var/lib/dpkg/status.d/libc6.md5sums",
        "usr/share/doc/libc6/copyright",
        "etc/ssl/certs/ca-certificates.crt",
        "etc/nsswitch.conf",
        "etc/os-release",
        "usr/share/zoneinfo/Europe/Paris",
        "home/nonroot",
    ] {
        assert!(root.join(present).exists(), "/{present} is missing");
    }
    let passwd = std::fs::read_to_string(root.join("etc/passwd")).unwrap();
    assert!(passwd.contains("nonroot:x:65532:65532:"), "{passwd}");
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        std::fs::metadata(root.join("tmp")).unwrap().mode() & 0o7777,
        0o1777
    );
    let status = std::fs::read_to_string(root.join("var/lib/dpkg/status.d/libc6")).unwrap();
    assert!(
        status.starts_with("Package: libc6\n") && status.contains("Version: "),
        "{status}"
    );

    // Every ELF has its DT_NEEDED resolved inside the image: lddtree, and the
    // real loader where lddtree is known to be wrong ($ORIGIN under a root).
    let mut elfs = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let m = std::fs::symlink_metadata(&p).unwrap();
            if m.is_dir() {
                stack.push(p);
            } else if m.is_file() && m.len() >= 64 {
                let mut head = [0u8; 4];
                use std::io::Read;
                if std::fs::File::open(&p)
                    .unwrap()
                    .read_exact(&mut head)
                    .is_ok()
                    && &head == b"\x7fELF"
                {
                    elfs.push(format!("/{}", p.strip_prefix(&root).unwrap().display()));
                }
            }
        }
    }
    assert!(!elfs.is_empty());
    let mut unresolved = Vec::new();
    for chunk in elfs.chunks(200) {
        let o = Command::new("/usr/bin/python3")
            .arg("/usr/bin/lddtree")
            .arg("-R")
            .arg(&root)
            .args(chunk)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&o.stdout).into_owned();
        let mut cur = String::new();
        for line in text.lines() {
            if !line.starts_with(' ') {
                cur = line
                    .split(" (")
                    .next()
                    .unwrap()
                    .trim_start_matches(root.to_str().unwrap())
                    .to_string();
            } else if line.contains("=> None") && !unresolved.contains(&cur) {
                unresolved.push(cur.clone());
            }
        }
    }
    let mut really = Vec::new();
    for f in &unresolved {
        let (fine, out) = sh(Command::new("/usr/sbin/chroot").arg(&root).args([
            "/lib64/ld-linux-x86-64.so.2",
            "--list",
            f,
        ]));
        // A plugin may need a library its host process loads first (JVM
        // lib/*.so and libjvm.so): fine when that library is in the image.
        let by_host = host_loaded.iter().any(|h| {
            out.contains(&format!("{h}: cannot open shared object file"))
                && elfs.iter().any(|e| e.ends_with(&format!("/{h}")))
        });
        if !fine && !by_host {
            really.push(format!("{f}: {}", out.trim()));
        }
    }
    assert!(
        really.is_empty(),
        "{} of {} ELF files have unresolved DT_NEEDED:\n{}",
        really.len(),
        elfs.len(),
        really.join("\n")
    );

    let kept: u64 = plan["kept"]
        .as_object()
        .unwrap()
        .values()
        .map(|c| c["bytes"].as_u64().unwrap())
        .sum();
    assert!(kept < max_bytes, "kept {kept} bytes, more than {max_bytes}");
}

fn run_in(image: &Path, args: &[&str]) -> (bool, String) {
    need("runc");
    sh(Command::new(run_image_script())
        .args(["-T", "60"])
        .arg(image)
        .args(args))
}

#[test]
#[ignore = "needs the fixture images: scripts/test builds them and runs this"]
fn nginx_serves_its_page_with_no_shell_left() {
    let (dir, image, plan) = rewrite("nginx", &[]);
    check_slim_image(&dir, &image, &plan, 15 << 20, &[]);
    let (served, out) = sh(Command::new(run_image_script())
        .args([
            "-W",
            "30",
            "-P",
            "curl -fsS http://127.0.0.1/ | grep -q 'Welcome to nginx'",
        ])
        .arg(&image));
    assert!(served, "nginx did not serve its page: {out}");
    let (ran, out) = sh(Command::new(run_image_script())
        .args(["-x", "/bin/sh"])
        .arg(&image)
        .args(["-c", "true"]));
    assert!(!ran, "a shell ran: {out}");
    // Scanners' view: the packages that remain, each with metadata.
    let pkgs: Vec<&str> = plan["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    for p in [
        "nginx",
        "nginx-common",
        "libc6",
        "libssl3",
        "tzdata",
        "ca-certificates",
    ] {
        assert!(pkgs.contains(&p), "{p} not in {pkgs:?}");
    }
    assert!(
        !pkgs.contains(&"bash") && !pkgs.contains(&"apt") && !pkgs.contains(&"dpkg"),
        "{pkgs:?}"
    );
}

#[test]
#[ignore = "needs the fixture images: scripts/test builds them and runs this"]
fn curl_prints_its_version_and_fetches_a_file_url() {
    let (dir, image, plan) = rewrite("curl", &[]);
    check_slim_image(&dir, &image, &plan, 40 << 20, &[]);
    let (ok_v, out) = run_in(&image, &["--version"]);
    assert!(ok_v && out.contains("curl 7.88"), "{out}");
    let (ok_f, out) = run_in(&image, &["-fsS", "file:///etc/os-release"]);
    assert!(ok_f && out.contains("Debian GNU/Linux 12"), "{out}");
}

#[test]
#[ignore = "needs the fixture images: scripts/test builds them and runs this"]
fn python_imports_its_stdlib_as_the_images_user() {
    let (dir, image, plan) = rewrite("python3", &[]);
    check_slim_image(&dir, &image, &plan, 60 << 20, &[]);
    let code = "import ssl, json, sqlite3, hashlib, decimal, zoneinfo, os; \
                ctx = ssl.create_default_context(); assert ctx.cert_store_stats()['x509_ca'] > 100, ctx.cert_store_stats(); \
                sqlite3.connect(':memory:').execute('select 1'); hashlib.sha256(b'x').hexdigest(); \
                print('OK', zoneinfo.ZoneInfo('Europe/Paris').key, os.getuid())";
    let (ran, out) = run_in(&image, &["-c", code]);
    assert!(ran && out.contains("OK Europe/Paris 65534"), "{out}");
}

#[test]
#[ignore = "needs the fixture images: scripts/test builds them and runs this"]
fn the_jre_starts_its_jvm() {
    let (dir, image, plan) = rewrite("jre", &[]);
    check_slim_image(&dir, &image, &plan, 260 << 20, &["libjvm.so"]);
    let (ran, out) = run_in(&image, &["-XshowSettings:properties", "-version"]);
    assert!(
        ran && out.contains("openjdk version \"17")
            && out.contains("java.home = /usr/lib/jvm/java-17-openjdk-amd64"),
        "{out}"
    );
}

#[test]
#[ignore = "needs the fixture images: scripts/test builds them and runs this"]
fn rewriting_is_reproducible_and_idempotent() {
    let fx = fixtures();
    let d = tempfile::tempdir().unwrap();
    let src = fx.join("nginx.oci.tar");
    let mut digests = Vec::new();
    for out in ["a.tar", "b.tar"] {
        let o = ok(slim(&[
            "rewrite",
            "--quiet",
            "--format",
            "json",
            src.to_str().unwrap(),
            "-o",
            d.path().join(out).to_str().unwrap(),
        ]));
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        digests.push(
            v["written"]["manifest_digest"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    assert_eq!(digests[0], digests[1]);
    // Slimming the slimmed image again keeps the same files.
    let again = d.path().join("again.tar");
    ok(slim(&[
        "rewrite",
        "--quiet",
        d.path().join("a.tar").to_str().unwrap(),
        "-o",
        again.to_str().unwrap(),
    ]));
    let first = slim_tree(d.path().join("a.tar").to_str().unwrap());
    let second = slim_tree(again.to_str().unwrap());
    let only_first: Vec<&String> = first.keys().filter(|p| !second.contains_key(*p)).collect();
    let only_second: Vec<&String> = second.keys().filter(|p| !first.contains_key(*p)).collect();
    // What a status.d database cannot describe: directories that are empty
    // and that nothing names. Nothing else may change.
    let empty_dir = |p: &str| {
        first[p].kind == "dir"
            && !first
                .keys()
                .any(|q| q.len() > p.len() && q.starts_with(p) && q.as_bytes()[p.len()] == b'/')
    };
    let important: Vec<&&String> = only_first.iter().filter(|p| !empty_dir(p)).collect();
    assert!(
        important.is_empty() && only_second.is_empty(),
        "a second rewrite changed the file list: lost {important:?}, gained {only_second:?}"
    );
    // The config keeps what the image runs and says what slim did.
    let (ok_cfg, cfg) = sh(Command::new("skopeo")
        .args(["inspect", "--config"])
        .arg(format!("oci-archive:{}", d.path().join("a.tar").display())));
    assert!(ok_cfg, "{cfg}");
    let cfg: Value = serde_json::from_str(&cfg).unwrap();
    assert_eq!(cfg["config"]["Entrypoint"][0], "/usr/sbin/nginx");
    assert!(cfg["config"]["ExposedPorts"]["80/tcp"].is_object());
    assert!(cfg["config"]["Env"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e == "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"));
    let last = cfg["history"].as_array().unwrap().last().unwrap();
    assert!(
        last["created_by"]
            .as_str()
            .unwrap()
            .starts_with("slim rewrite --to distroless"),
        "{last}"
    );
    let (_, raw) = sh(Command::new("skopeo")
        .args(["inspect", "--raw"])
        .arg(format!("oci-archive:{}", d.path().join("a.tar").display())));
    let m: Value = serde_json::from_str(&raw).unwrap();
    assert!(m["annotations"]["org.opencontainers.image.base.digest"]
        .as_str()
        .unwrap()
        .starts_with("sha256:"));
}

#[test]
#[ignore = "needs the fixture images: scripts/test builds them and runs this"]
fn dry_run_writes_nothing_and_nonroot_sets_the_user() {
    let fx = fixtures();
    let d = tempfile::tempdir().unwrap();
    let src = fx.join("nginx.docker.tar");
    let report = d.path().join("plan.json");
    let o = ok(slim(&[
        "rewrite",
        "--quiet",
        "--dry-run",
        src.to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
    ]));
    let human = stdout(&o);
    assert!(
        human.contains("Dropped") && human.contains("shells") && human.contains("Dry run"),
        "{human}"
    );
    let plan: Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert!(
        plan["dropped"]["package-managers"]["files"]
            .as_u64()
            .unwrap()
            > 10,
        "{}",
        plan["dropped"]
    );
    assert_eq!(
        std::fs::read_dir(d.path()).unwrap().count(),
        1,
        "only the report was written"
    );
    let out = d.path().join("nr.tar");
    ok(slim(&[
        "rewrite",
        "--quiet",
        "--nonroot",
        src.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]));
    let (_, cfg) = sh(Command::new("skopeo")
        .args(["inspect", "--config"])
        .arg(format!("oci-archive:{}", out.display())));
    let cfg: Value = serde_json::from_str(&cfg).unwrap();
    assert_eq!(cfg["config"]["User"], "65532:65532");
    assert_eq!(cfg["config"]["WorkingDir"], "/home/nonroot");
}

#[test]
#[ignore = "needs the fixture images: scripts/test builds them and runs this"]
fn two_layers_put_the_system_under_the_app_and_make_the_same_image() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("rewrite-curl-2");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, extra: &[&str]| rewrite_to("curl", &dir.join(name), extra);
    let (one, _) = write("one.tar", &[]);
    let (two, plan) = write("two.tar", &["--layers", "2"]);
    // umoci, skopeo and podman take it (podman counts 2 layers), and it runs.
    check_slim_image(&dir, &two, &plan, 40 << 20, &[]);
    let (ran, out) = run_in(&two, &["--version"]);
    assert!(ran && out.contains("curl 7.88"), "{out}");
    // The same files as the one-layer image, split: libc, the skeleton and their
    // metadata below; curl, its own libraries and its metadata above.
    assert_same_tree(
        "two layers vs one",
        &slim_tree(two.to_str().unwrap()),
        &slim_tree(one.to_str().unwrap()),
    );
    let o = ok(slim(&["ls", "--quiet", two.to_str().unwrap()]));
    let layer_of = |path: &str| -> String {
        stdout(&o)
            .lines()
            .find(|l| l.ends_with(&format!(" {path}")) || l.contains(&format!(" {path} -> ")))
            .and_then(|l| {
                l.split_whitespace()
                    .find(|w| w.starts_with('L'))
                    .map(String::from)
            })
            .unwrap_or_else(|| panic!("{path} is not in the image"))
    };
    for p in [
        "/usr/lib/x86_64-linux-gnu/libc.so.6",
        "/etc/passwd",
        "/usr/share/zoneinfo/Europe/Paris",
        "/etc/ssl/certs/ca-certificates.crt",
        "/var/lib/dpkg/status.d/libc6",
        "/lib",
    ] {
        assert_eq!(layer_of(p), "L0", "{p}");
    }
    for p in [
        "/usr/bin/curl",
        "/usr/lib/x86_64-linux-gnu/libcurl.so.4.8.0",
        "/var/lib/dpkg/status.d/curl",
    ] {
        assert_eq!(layer_of(p), "L1", "{p}");
    }
    // Reproducible, as one layer is.
    let (again, _) = write("again.tar", &["--layers", "2"]);
    assert_eq!(std::fs::read(&again).unwrap(), std::fs::read(&two).unwrap());
    let src = fixtures().join("curl.docker.tar");
    let o = slim(&[
        "rewrite",
        src.to_str().unwrap(),
        "--dry-run",
        "--layers",
        "3",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("--layers") && stderr(&o).contains("1..=2"),
        "{}",
        stderr(&o)
    );
}
