//! Probes under runc (issue 20): images whose needs no static trace can see
//! (a library loaded through ctypes by a name built at run time, a Node
//! plugin required from a path in the Env) break when slimmed statically;
//! `--verify` refuses them (exit 3) naming the missing files, `--probe` keeps
//! what the original opened, and `--probe --verify` passes. `--verify`
//! raises no false alarm on the fixtures that slim statically, and a probe
//! that times out or is interrupted leaves no bundle, mount or container.

mod common;
use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn app(name: &str) -> String {
    let p = fixtures().join(format!("app-{name}.oci"));
    require_fixture(
        &p,
        &format!("fixtures/make-app.sh {} {name}", fixtures().display()),
    );
    p.display().to_string()
}

fn base(name: &str) -> String {
    let p = fixtures().join(format!("{name}.oci"));
    require_fixture(
        &p,
        &format!("fixtures/make-fixtures.sh {} {name}", fixtures().display()),
    );
    p.display().to_string()
}

/// slim with its bundles in `tmp` (TMPDIR), so a test can see what is left.
fn slim_in(tmp: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_slim"))
        .args(args)
        .env("TMPDIR", tmp)
        .env_remove("SOURCE_DATE_EPOCH")
        .output()
        .unwrap()
}

/// `rewrite SRC -o DIR/slim.tar --format json EXTRA…` with bundles in a
/// private TMPDIR that must be empty afterwards; returns the output, the
/// written path and the report.
fn rewrite(src: &str, extra: &[&str]) -> (Output, tempfile::TempDir, PathBuf, Value) {
    need("runc");
    let d = tempfile::tempdir().unwrap();
    let tmp = d.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let out = d.path().join("slim.tar");
    let report = d.path().join("report.json");
    let mut args = vec![
        "rewrite",
        "-q",
        src,
        "-o",
        out.to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let o = slim_in(&tmp, &args);
    nothing_left(&tmp);
    let v = std::fs::read(&report)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null);
    (o, d, out, v)
}

/// No bundle directory in `tmp`, no mount under it, no container of slim's.
fn nothing_left(tmp: &Path) {
    let left: Vec<_> = std::fs::read_dir(tmp).unwrap().flatten().collect();
    assert!(left.is_empty(), "left in TMPDIR: {left:?}");
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap();
    let t = tmp.display().to_string();
    assert!(!mounts.contains(&t), "a mount left under {t}");
}

/// The outcome of `probe` in a report's `probes.<which>`.
fn outcome<'a>(report: &'a Value, which: &str, probe: &str) -> &'a Value {
    report["probes"][which]["outcomes"]
        .as_array()
        .unwrap_or_else(|| panic!("no probes.{which} in {report}"))
        .iter()
        .find(|o| o["probe"] == probe)
        .unwrap_or_else(|| panic!("no {probe} in probes.{which}: {report}"))
}

/// Runs the written image under runc and fetches `url` from inside its
/// network namespace: whether it answered `expect`.
fn serves(image: &Path, url: &str, expect: &str) -> bool {
    serves_within(image, url, expect, 20).0
}

/// The whole story on one image whose needs are invisible statically.
fn static_limit_then_probe(src: &str, port: u16, expect: &str, missing: &str) {
    let http = format!("{port}/");
    let url = format!("http://127.0.0.1:{port}/");
    // Plain rewrite: a broken image (the static limit, documented).
    let (o, _d, out, _) = rewrite(src, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        !serves(&out, &url, expect),
        "{src}: the static trace alone was expected to miss {missing}"
    );
    // --verify: refused, exit 3, naming the probe, the output and the file.
    let (o, _d, out, v) = rewrite(src, &["--probe-http", &http, "--verify"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(!out.exists(), "nothing written when --verify fails");
    assert!(err.contains(&format!("--probe-http {http}")), "{err}");
    assert!(err.contains(&format!("--keep {missing}")), "{err}");
    assert_eq!(
        outcome(&v, "original", &format!("--probe-http {http}"))["passed"],
        true
    );
    assert_eq!(
        outcome(&v, "slimmed", &format!("--probe-http {http}"))["passed"],
        false
    );
    assert!(
        v["probes"]["verdict"]["missing"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["path"] == missing),
        "{}",
        v["probes"]["verdict"]
    );
    // --probe: the observed file is kept, and the image serves.
    let (o, _d, out, v) = rewrite(src, &["--probe-http", &http, "--probe"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        v["probes"]["observed_only"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["path"] == missing),
        "{}",
        v["probes"]["observed_only"]
    );
    assert!(serves(&out, &url, expect), "{src} --probe does not serve");
    // --probe --verify: passes, both runs reported.
    let (o, _d, out, v) = rewrite(src, &["--probe-http", &http, "--probe", "--verify"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(out.exists());
    assert_eq!(
        outcome(&v, "slimmed", &format!("--probe-http {http}"))["status"],
        "HTTP 200"
    );
    assert_eq!(v["probes"]["verdict"]["broken"], serde_json::json!([]));
}

#[test]
#[ignore = "needs the fixture images: scripts/test builds them and runs this"]
fn a_library_loaded_through_ctypes_by_a_runtime_name_is_observed_and_kept() {
    static_limit_then_probe(
        &app("ctypes"),
        8090,
        "security backend selinux",
        "/usr/lib/x86_64-linux-gnu/libselinux.so.1",
    );
}

#[test]
#[ignore = "needs the fixture images: scripts/test builds them and runs this"]
fn a_node_plugin_required_from_an_env_path_is_observed_and_kept() {
    static_limit_then_probe(
        &app("nodeplugin"),
        3001,
        "the greeter plugin is loaded",
        "/opt/plugins/greeter/index.js",
    );
}

#[test]
#[ignore = "needs the fixture images: scripts/test builds them and runs this"]
fn verify_raises_no_false_alarm_on_images_slim_traces_statically() {
    let cases: Vec<(String, Vec<&str>)> = vec![
        (base("nginx"), vec!["--probe-http", "80/"]),
        (base("jre"), vec!["--probe-run"]),
        (
            app("svc"),
            vec!["--entrypoint", "", "--probe-http", "8080/"],
        ),
        (
            app("flask"),
            vec![
                "--probe-http",
                "8000/",
                "--probe-exec",
                r#"["python3","-c","import flask, shop"]"#,
            ],
        ),
        (
            app("node"),
            vec!["--entrypoint", "", "--probe-http", "3000/"],
        ),
        (app("java"), vec!["--probe-http", "8081/"]),
        (app("go"), vec!["--probe-http", "8082/"]),
        (app("venv"), vec!["--probe-http", "8000/"]),
        (app("javafont"), vec!["--probe-run"]),
        (
            app("npm"),
            vec![
                "--entrypoint",
                r#"["node","server.js"]"#,
                "--probe-http",
                "3000/",
            ],
        ),
        (
            app("health"),
            vec!["--healthcheck", "none", "--probe-http", "8082/"],
        ),
    ];
    for (src, extra) in cases {
        let mut args = extra.clone();
        args.push("--verify");
        let (o, _d, out, v) = rewrite(&src, &args);
        assert!(o.status.success(), "{src} {extra:?}: {}", stderr(&o));
        assert!(out.exists(), "{src}");
        let broken = &v["probes"]["verdict"]["broken"];
        assert_eq!(broken, &serde_json::json!([]), "{src}");
        let slimmed = v["probes"]["slimmed"]["outcomes"].as_array().unwrap();
        assert!(
            !slimmed.is_empty() && slimmed.iter().all(|o| o["passed"] == true),
            "{src}: {slimmed:?}"
        );
    }
}

#[test]
#[ignore = "needs the fixture images: scripts/test builds them and runs this"]
fn the_images_own_healthcheck_runs_as_a_probe_on_both_images() {
    let (o, _d, _out, v) = rewrite(
        &app("health"),
        &[
            "--healthcheck",
            r#"["CMD","/usr/bin/curl","-fsS","http://localhost:8082/"]"#,
            "--probe-http",
            "8082/",
            "--verify",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let hc = r#"healthcheck ["/usr/bin/curl","-fsS","http://localhost:8082/"]"#;
    assert_eq!(outcome(&v, "original", hc)["status"], "exit 0", "{v}");
    assert_eq!(outcome(&v, "slimmed", hc)["status"], "exit 0", "{v}");
    // --verify alone, with no other probe: the healthcheck is the probe.
    let (o, _d, _out, v) = rewrite(
        &app("health"),
        &[
            "--healthcheck",
            r#"["CMD","/usr/bin/curl","-fsS","http://localhost:8082/"]"#,
            "--verify",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(outcome(&v, "slimmed", hc)["passed"], true, "{v}");
}

#[test]
#[ignore = "needs the fixture images: scripts/test builds them and runs this"]
fn a_probe_that_never_answers_times_out_and_leaves_nothing() {
    need("runc");
    let d = tempfile::tempdir().unwrap();
    let start = std::time::Instant::now();
    let child = Command::new(env!("CARGO_BIN_EXE_slim"))
        .env("TMPDIR", d.path())
        .env_remove("SOURCE_DATE_EPOCH")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .args([
            "analyze",
            "-q",
            "--format",
            "json",
            &base("nginx"),
            "--probe-http",
            "9999/",
            "--probe-timeout",
            "2s",
            "--probe",
            "--probe-exec",
            r#"["/no/such/program"]"#,
        ])
        .spawn()
        .unwrap();
    let pid = child.id();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(start.elapsed().as_secs() < 60, "{:?}", start.elapsed());
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let p = &v["probes"]["outcomes"][0];
    assert_eq!(p["passed"], false, "{p}");
    assert!(
        p["status"]
            .as_str()
            .unwrap()
            .starts_with("timed out after 2 s"),
        "{p}"
    );
    // An exec the runtime cannot start fails at once, with the runtime's words.
    let e = &v["probes"]["outcomes"][1];
    assert_eq!(e["status"], "it cannot run in the container", "{e}");
    assert!(e["seconds"].as_f64().unwrap() < 2.0, "{e}");
    assert!(
        e["output"].as_str().unwrap().contains("/no/such/program"),
        "{e}"
    );
    // What it saw while it waited is still reported.
    assert!(
        v["probes"]["observed"].as_u64().unwrap() > 0,
        "{}",
        v["probes"]
    );
    nothing_left(d.path());
    no_container_of(pid);
}

/// `runc list` holds no container the slim process `pid` made (its ids are
/// `slim-PID-N`; the other tests of this file run theirs at the same time).
fn no_container_of(pid: u32) {
    let list = Command::new("runc").args(["list", "-q"]).output().unwrap();
    let ids = stdout(&list);
    let mine = format!("slim-{pid}-");
    assert!(
        !ids.lines().any(|l| l.starts_with(&mine)),
        "containers of slim {pid} left: {ids}"
    );
}

#[test]
#[ignore = "needs the fixture images: scripts/test builds them and runs this"]
fn sigterm_during_a_probe_leaves_no_bundle_mount_or_container() {
    need("runc");
    let d = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_slim"))
        .args([
            "analyze",
            "-q",
            &base("nginx"),
            "--probe-http",
            "9999/",
            "--probe",
        ])
        .env("TMPDIR", d.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until its container runs.
    let id = format!("slim-{}-", child.id());
    let until = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let list = Command::new("runc").args(["list", "-q"]).output().unwrap();
        if stdout(&list).lines().any(|l| l.starts_with(&id)) {
            break;
        }
        assert!(std::time::Instant::now() < until, "no container started");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success(), "{status:?}");
    nothing_left(d.path());
    let list = Command::new("runc").args(["list", "-q"]).output().unwrap();
    assert!(
        !stdout(&list).lines().any(|l| l.starts_with(&id)),
        "{}",
        stdout(&list)
    );
}

#[test]
#[ignore = "needs the fixture images: scripts/test builds them and runs this"]
fn without_a_runtime_probes_say_what_is_missing() {
    let d = tempfile::tempdir().unwrap();
    let src = base("nginx");
    let o = slim_in(
        d.path(),
        &[
            "analyze",
            &src,
            "--probe-http",
            "80/",
            "--runtime",
            "/nonexistent/runc",
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("--runtime /nonexistent/runc"),
        "{}",
        stderr(&o)
    );
    let o = Command::new(env!("CARGO_BIN_EXE_slim"))
        .args(["analyze", &src, "--probe-http", "80/"])
        .env("PATH", d.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(
        e.contains("no OCI runtime found") && e.contains("runc"),
        "{e}"
    );
    // A mistyped probe is a usage error before any work.
    let o = slim(&["analyze", &src, "--probe-exec", "python3 -c 1"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("not a JSON array"), "{}", stderr(&o));
    // --verify with no probe and no CMD healthcheck.
    let o = slim(&["rewrite", &src, "--verify", "--dry-run"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("--verify needs a probe"),
        "{}",
        stderr(&o)
    );
}

/// `slim ARGS…` as the user nobody (setpriv), with TMPDIR and
/// XDG_RUNTIME_DIR in `dir`; None (and why) when this machine cannot run a
/// rootless container (not root to switch user, no setpriv, no user namespaces).
fn as_nobody(dir: &Path, args: &[&str]) -> Result<Output, String> {
    if !slim::run::is_root() {
        return Err("the tests do not run as root: no other user to switch to".into());
    }
    let probe = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .args(["unshare", "--user", "--map-root-user", "--net", "true"])
        .output();
    match probe {
        Ok(o) if o.status.success() => {}
        Ok(o) => return Err(format!("no user namespaces for nobody: {}", stderr(&o))),
        Err(e) => return Err(format!("setpriv: {e}")),
    }
    let (tmp, run) = (dir.join("tmp"), dir.join("run"));
    for d in [&tmp, &run] {
        std::fs::create_dir_all(d).unwrap();
        std::os::unix::fs::chown(d, Some(65534), Some(65534)).unwrap();
    }
    Ok(Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_slim"))
        .args(args)
        .env("TMPDIR", &tmp)
        .env("XDG_RUNTIME_DIR", &run)
        .env("HOME", dir)
        .current_dir(dir)
        .output()
        .unwrap())
}

/// A copy of fixture `src` that another user can read (umoci writes 0600 blobs).
fn readable_copy(src: &str, dir: &Path) -> String {
    let to = dir.join(Path::new(src).file_name().unwrap());
    let o = Command::new("cp")
        .arg("-r")
        .arg(src)
        .arg(&to)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let o = Command::new("chmod")
        .arg("-R")
        .arg("a+rX")
        .arg(&to)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    to.display().to_string()
}

#[test]
#[ignore = "needs the fixture images: scripts/test builds them and runs this"]
fn rootless_probes_and_verify_run_in_a_user_namespace() {
    need("runc");
    let d = tempfile::tempdir().unwrap();
    std::fs::set_permissions(
        d.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    let go = readable_copy(&app("go"), d.path());
    let out = d.path().join("go-slim.tar");
    let o = match as_nobody(
        d.path(),
        &[
            "rewrite",
            "-q",
            &go,
            "--probe-http",
            "8082/",
            "--verify",
            "-o",
            out.to_str().unwrap(),
        ],
    ) {
        Ok(o) => o,
        Err(why) => {
            eprintln!("skipped: {why}");
            return;
        }
    };
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(out.exists());
    assert!(stdout(&o).contains("slimmed: HTTP 200"), "{}", stdout(&o));
    // The static limit is caught rootless too (no names: no fanotify without root).
    let ctypes = readable_copy(&app("ctypes"), d.path());
    let bad = d.path().join("ctypes-slim.tar");
    let o = as_nobody(
        d.path(),
        &[
            "rewrite",
            "-q",
            &ctypes,
            "--probe-http",
            "8090/",
            "--verify",
            "-o",
            bad.to_str().unwrap(),
        ],
    )
    .unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("libselinux.so.1"), "{}", stderr(&o));
    assert!(!bad.exists());
    // --probe needs root, and says so before any work.
    let o = as_nobody(
        d.path(),
        &["analyze", &go, "--probe-http", "8082/", "--probe"],
    )
    .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("needs root"), "{}", stderr(&o));
    nothing_left(&d.path().join("tmp"));
    // The rootless runtime's own state: no container left.
    let state = d.path().join("run/slim-runc");
    let left: Vec<_> = std::fs::read_dir(&state)
        .map(|r| r.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(
        left.is_empty(),
        "containers left in {}: {left:?}",
        state.display()
    );
}
