//! What a new user tried on the real nginx image and found broken (issue 9):
//! each test is named after what it pins. The images written here must run
//! under runc, and what slim says must match what it writes.

mod common;
use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn nginx() -> String {
    fixtures().join("nginx.docker.tar").display().to_string()
}

/// Whether the image serves nginx's default page under runc.
fn serves_welcome_page(image: &Path) -> (bool, String) {
    need("runc");
    let o = Command::new(run_image_script())
        .args([
            "-q",
            "-W",
            "30",
            "-P",
            "curl -fsS http://127.0.0.1/ | grep -q 'Welcome to nginx'",
        ])
        .arg(image)
        .output()
        .unwrap();
    (o.status.success(), format!("{}{}", stdout(&o), stderr(&o)))
}

const SHELL_FORM: [&str; 4] = [
    "--entrypoint",
    r#"["/bin/sh", "-c"]"#,
    "--cmd",
    r#"["nginx -g 'daemon off;'"]"#,
];

#[test]
#[ignore = "needs the fixture images: scripts/test builds them and runs this"]
fn keep_bin_sh_for_a_shell_form_command_keeps_the_program_it_runs() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("sh.tar");
    let o_path = out.to_str().unwrap();
    // Refused, naming both ways out and what the command runs.
    let src = nginx();
    let mut args = vec!["rewrite", "-q", src.as_str()];
    args.extend(SHELL_FORM);
    let mut refused = args.clone();
    refused.extend(["-o", o_path]);
    fails_with(
        &slim(&refused),
        &[
            "--keep /bin/sh",
            "/usr/sbin/nginx",
            r#"--entrypoint '["nginx","-g","daemon off;"]'"#,
        ],
    );
    assert!(!out.exists());
    // The fix slim suggests gives an image that runs the program.
    let mut kept = args.clone();
    kept.extend(["--keep", "/bin/sh", "-o", o_path]);
    let o = ok(slim(&kept));
    assert!(!stderr(&o).contains("warning"), "{}", stderr(&o));
    let paths = image_paths(&out);
    assert!(
        paths.iter().any(|p| p == "/usr/sbin/nginx"),
        "nginx is missing"
    );
    let (served, log) = serves_welcome_page(&out);
    assert!(served, "the shell-form image did not serve: {log}");
}

#[test]
#[ignore = "needs the fixture images: scripts/test builds them and runs this"]
fn drop_of_what_the_program_needs_is_refused_unless_forced() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("d.tar");
    let src = nginx();
    let args = [
        "rewrite",
        "-q",
        &src,
        "--drop",
        "/usr/lib/x86_64-linux-gnu/libssl.so*",
        "-o",
        out.to_str().unwrap(),
    ];
    fails_with(
        &slim(&args),
        &[
            "libssl.so.3",
            "/usr/sbin/nginx",
            "drop-breaks-program",
            "--force",
        ],
    );
    assert!(!out.exists());
    let mut forced = args.to_vec();
    forced.push("--force");
    let o = ok(slim(&forced));
    assert!(
        stderr(&o).contains("warning: --drop /usr/lib/x86_64-linux-gnu/libssl.so*"),
        "{}",
        stderr(&o)
    );
    assert!(!image_paths(&out).iter().any(|p| p.contains("libssl.so")));
    // Dropping data the trace keeps is only a warning.
    let o = ok(slim(&[
        "rewrite",
        "-q",
        &src,
        "--dry-run",
        "--drop",
        "/usr/share/nginx/html/**",
    ]));
    assert!(
        stderr(&o).contains("[drop-removes-traced]"),
        "{}",
        stderr(&o)
    );
}

#[test]
#[ignore = "needs the fixture images: scripts/test builds them and runs this"]
fn options_that_match_nothing_say_so() {
    let src = nginx();
    fails_with(
        &slim(&[
            "rewrite",
            "-q",
            &src,
            "--dry-run",
            "--keep-package",
            "ngnix",
        ]),
        &["--keep-package ngnix", "no such package", "closest: nginx"],
    );
    let o = ok(slim(&[
        "rewrite",
        "-q",
        &src,
        "--dry-run",
        "--format",
        "json",
        "--keep",
        "/nonexistent/**",
        "--drop",
        "/nope",
    ]));
    let err = stderr(&o);
    assert!(
        err.contains("warning: --keep /nonexistent/** matches nothing")
            && err.contains("warning: --drop /nope matches nothing"),
        "{err}"
    );
    let plan: Value = serde_json::from_slice(&o.stdout).unwrap();
    let found = codes(&plan);
    assert!(
        found.contains(&"keep-matched-nothing") && found.contains(&"drop-matched-nothing"),
        "{found:?}"
    );
}

#[test]
#[ignore = "needs the fixture images: scripts/test builds them and runs this"]
fn explain_answers_from_the_same_plan_rewrite_writes() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("slim.tar");
    let src = nginx();
    ok(slim(&["rewrite", "-q", &src, "-o", out.to_str().unwrap()]));
    let written = image_paths(&out);
    for p in [
        "/etc/passwd",
        "/etc/ssl/certs/ca-certificates.crt",
        "/usr/share/zoneinfo/Europe/Paris",
        "/usr/share/doc/nginx/copyright",
        "/var/lib/dpkg/status.d/nginx",
        "/usr/sbin/nginx",
        "/usr/lib/x86_64-linux-gnu/libssl.so.3",
        "/bin/bash",
        "/usr/bin/apt",
        "/usr/share/doc/nginx/changelog.Debian.gz",
    ] {
        let o = ok(slim(&[
            "analyze",
            "-q",
            &src,
            "--format",
            "json",
            "--explain",
            p,
        ]));
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        let in_image = written.iter().any(|w| w == p);
        assert_eq!(
            v["kept"].as_bool(),
            Some(in_image),
            "{p}: explain says {v}, the written image {} it",
            if in_image { "has" } else { "lacks" }
        );
        if in_image {
            assert!(!v["chain"].as_array().unwrap().is_empty(), "{p}: {v}");
        }
    }
}

#[test]
#[ignore = "needs the fixture images: scripts/test builds them and runs this"]
fn nonroot_nginx_gets_its_state_directories_and_runs() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("nr.tar");
    let o = ok(slim(&[
        "rewrite",
        "-q",
        "--format",
        "json",
        &nginx(),
        "--nonroot",
        "-o",
        out.to_str().unwrap(),
    ]));
    let plan: Value = serde_json::from_slice(&o.stdout).unwrap();
    let owned: Vec<&str> = plan["owned_by_user"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    for p in [
        "/var/lib/nginx",
        "/var/log/nginx/error.log",
        "/run/nginx.pid",
    ] {
        assert!(owned.contains(&p), "{p} not given to the user: {owned:?}");
    }
    let ls = ok(slim(&[
        "ls",
        "-q",
        "--format",
        "json",
        out.to_str().unwrap(),
    ]));
    let entries: Vec<Value> = serde_json::from_slice(&ls.stdout).unwrap();
    let owner = |p: &str| {
        let e = entries.iter().find(|e| e["path"] == p).unwrap();
        (e["uid"].as_u64().unwrap(), e["gid"].as_u64().unwrap())
    };
    assert_eq!(owner("/var/lib/nginx"), (65532, 65532));
    assert_eq!(owner("/run"), (0, 0), "a shared directory stays root's");
    let (served, log) = serves_welcome_page(&out);
    assert!(served, "nginx as 65532 did not serve: {log}");
}

#[test]
#[ignore = "needs the fixture images: scripts/test builds them and runs this"]
fn rewrite_into_the_layout_it_reads_keeps_the_fat_image() {
    let d = tempfile::tempdir().unwrap();
    let lay = d.path().join("lay");
    let cp = Command::new("cp")
        .args([
            "-r",
            fixtures().join("nginx.oci").to_str().unwrap(),
            lay.to_str().unwrap(),
        ])
        .status()
        .unwrap();
    assert!(cp.success());
    let fat = format!("oci:{}:bookworm", lay.display());
    let before = ok(slim(&["ls", "-q", "--digests", "--format", "json", &fat])).stdout;
    ok(slim(&[
        "rewrite",
        "-q",
        &fat,
        "-o",
        &format!("oci:{}:slim", lay.display()),
    ]));
    // Both tags, the fat one byte for byte as it was.
    let index: Value =
        serde_json::from_slice(&std::fs::read(lay.join("index.json")).unwrap()).unwrap();
    let tags: Vec<&str> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            m["annotations"]["org.opencontainers.image.ref.name"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(tags, ["bookworm", "slim"]);
    assert_eq!(
        ok(slim(&["ls", "-q", "--digests", "--format", "json", &fat])).stdout,
        before
    );
    let slimmed = ok(slim(&[
        "analyze",
        "-q",
        "--format",
        "json",
        &format!("oci:{}:slim", lay.display()),
    ]));
    let v: Value = serde_json::from_slice(&slimmed.stdout).unwrap();
    assert!(
        v["shells"].as_array().unwrap().is_empty(),
        "{}",
        v["shells"]
    );
    // Rewriting the slim tag over the fat one is refused: it is the input.
    fails_with(
        &slim(&["rewrite", "-q", &fat, "-o", &fat]),
        &["the image being read", "--force"],
    );
}

// ---- Issue 18: every file slim writes is guarded, every option does what it says.

/// A private copy of the nginx archive, so a test may try to overwrite it.
fn nginx_copy(dir: &Path) -> PathBuf {
    let p = dir.join("nginx.tar");
    std::fs::copy(nginx(), &p).unwrap();
    p
}

/// `skopeo inspect` of an image reference: its JSON, or a panic with skopeo's stderr.
fn skopeo_inspect(reference: &str) -> Value {
    need("skopeo");
    let o = Command::new("skopeo")
        .args(["inspect", reference])
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "skopeo inspect {reference}: {}",
        stderr(&o)
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

/// `umoci stat` of a layout's tag (umoci 0.4.7 panicked on history entries
/// without `created`); returns its output.
fn umoci_stat(layout: &Path, tag: &str) -> String {
    need("umoci");
    let o = Command::new("umoci")
        .args(["stat", "--image", &format!("{}:{tag}", layout.display())])
        .output()
        .unwrap();
    let all = format!("{}{}", stdout(&o), stderr(&o));
    assert!(
        o.status.success() && !all.contains("panic"),
        "umoci stat: {all}"
    );
    all
}

#[test]
#[ignore = "needs the fixture images: scripts/test builds them and runs this"]
fn report_and_sbom_paths_never_replace_the_input_or_other_files() {
    let d = tempfile::tempdir().unwrap();
    let src = nginx_copy(d.path());
    let s = src.to_str().unwrap();
    let before = std::fs::read(&src).unwrap();
    let out = d.path().join("out.tar");
    let o = out.to_str().unwrap();
    let policy = d.path().join("policy.toml");
    std::fs::write(&policy, "[licenses]\ndeny = [\"GPL-3.0-only\"]\n").unwrap();
    let lay = d.path().join("lay");
    ok(slim(&[
        "copy",
        "-q",
        s,
        &format!("oci:{}:fat", lay.display()),
    ]));
    let index = std::fs::read(lay.join("index.json")).unwrap();
    let cases: Vec<(Vec<String>, Vec<&str>)> = vec![
        (
            vec!["--report".into(), s.into()],
            vec!["--report", "is the image being read"],
        ),
        (
            vec!["--report".into(), o.into()],
            vec!["--report", "is where the image is written"],
        ),
        (
            vec![
                "--report".into(),
                lay.join("index.json").display().to_string(),
            ],
            vec!["inside the OCI layout"],
        ),
        (
            vec!["--report".into(), policy.display().to_string()],
            vec!["is not a slim JSON report", "--force"],
        ),
        (
            vec!["--sbom".into(), format!("spdx-json={s}")],
            vec!["--sbom", "is the image being read"],
        ),
        (
            vec![
                "--report".into(),
                d.path().join("r.json").display().to_string(),
                "--sbom".into(),
                format!("spdx-json={}", d.path().join("r.json").display()),
            ],
            vec!["--report and --sbom both name"],
        ),
        (
            vec![
                "--report".into(),
                d.path().join("nodir/r.json").display().to_string(),
            ],
            vec!["nodir", "does not exist"],
        ),
    ];
    for (extra, needles) in cases {
        let mut args = vec!["rewrite", "-q", s, "-o", o];
        args.extend(extra.iter().map(String::as_str));
        fails_with(&slim(&args), &needles);
        // Checked before any work: no image was written.
        assert!(!out.exists(), "{extra:?} left {o} behind");
    }
    fails_with(
        &slim(&["sbom", "-q", s, "-o", &format!("spdx-json={s}")]),
        &["-o", "is the image being read"],
    );
    fails_with(
        &slim(&[
            "sbom",
            "-q",
            s,
            "-o",
            &format!("cyclonedx-json={}", policy.display()),
        ]),
        &["is not a CycloneDX JSON document"],
    );
    assert_eq!(std::fs::read(&src).unwrap(), before, "the input changed");
    assert_eq!(std::fs::read(lay.join("index.json")).unwrap(), index);
    assert!(std::fs::read_to_string(&policy).unwrap().contains("deny"));
    // A report over an earlier report is fine; so is --force over the policy.
    let r = d.path().join("r.json");
    for _ in 0..2 {
        ok(slim(&[
            "rewrite",
            "-q",
            s,
            "--dry-run",
            "--report",
            r.to_str().unwrap(),
        ]));
    }
    let report: Value = serde_json::from_slice(&std::fs::read(&r).unwrap()).unwrap();
    assert_eq!(report["profile"], "distroless");
    ok(slim(&[
        "rewrite",
        "-q",
        s,
        "--dry-run",
        "--report",
        policy.to_str().unwrap(),
        "--force",
    ]));
    let replaced: Value = serde_json::from_slice(&std::fs::read(&policy).unwrap()).unwrap();
    assert!(replaced["kept"].is_object());
}

#[test]
#[ignore = "needs the fixture images: scripts/test builds them and runs this"]
fn oci_archive_output_keeps_its_other_tags() {
    let d = tempfile::tempdir().unwrap();
    let src = nginx();
    let all = d.path().join("all.tar");
    let at = |tag: &str| format!("oci-archive:{}:{tag}", all.display());
    ok(slim(&["copy", "-q", &src, &at("fat")]));
    let fat = skopeo_inspect(&at("fat"))["Digest"].clone();
    let o = ok(slim(&["rewrite", "-q", &src, "-o", &at("slim")]));
    assert!(
        stdout(&o).contains("its other tags kept: fat"),
        "{}",
        stdout(&o)
    );
    // Reading one tag of the archive and writing another is no overwrite of the input.
    let o = ok(slim(&[
        "rewrite",
        "-q",
        "--format",
        "json",
        &at("fat"),
        "-o",
        &at("slim2"),
    ]));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let others: Vec<&str> = v["written"]["other_tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert_eq!(others, ["fat", "slim"]);
    assert_eq!(
        skopeo_inspect(&at("fat"))["Digest"],
        fat,
        "the fat tag changed"
    );
    let slim_digest = skopeo_inspect(&at("slim"))["Digest"].clone();
    // Replacing one tag keeps the rest, and the archive holds no orphan blobs.
    ok(slim(&[
        "rewrite",
        "-q",
        &src,
        "-o",
        &at("slim2"),
        "--nonroot",
    ]));
    assert_eq!(skopeo_inspect(&at("fat"))["Digest"], fat);
    assert_eq!(skopeo_inspect(&at("slim"))["Digest"], slim_digest);
    let lay = d.path().join("lay");
    std::fs::create_dir(&lay).unwrap();
    run_ok(Command::new("tar").arg("-xf").arg(&all).arg("-C").arg(&lay));
    let blobs = std::fs::read_dir(lay.join("blobs/sha256")).unwrap().count();
    // nginx's layer + config + manifest, and each slim image's layer/config/manifest
    // (slim and slim2 share the layer only when identical: the nonroot one is not).
    assert!(blobs <= 3 + 3 + 3, "{blobs} blobs: orphans left behind");
    let (served, log) = serves_welcome_page(Path::new(&at("slim")));
    assert!(served, "the slim tag of the archive does not serve: {log}");
}

#[test]
#[ignore = "needs the fixture images: scripts/test builds them and runs this"]
fn keep_package_keeps_what_its_programs_load() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("kp.tar");
    let o = ok(slim(&[
        "rewrite",
        "-q",
        &nginx(),
        "--keep-package",
        "coreutils",
        "-o",
        out.to_str().unwrap(),
    ]));
    assert!(!stderr(&o).contains("warning"), "{}", stderr(&o));
    let paths = image_paths(&out);
    for p in ["/usr/bin/ls", "/usr/lib/x86_64-linux-gnu/libselinux.so.1"] {
        assert!(paths.iter().any(|x| x == p), "{p} missing");
    }
    let (ran, log) = run_image_with_entrypoint(&out, "/usr/bin/ls", &["/etc/nginx"]);
    assert!(
        ran && log.contains("nginx.conf"),
        "ls of coreutils did not run: {log}"
    );
    let o = ok(slim(&[
        "analyze",
        "-q",
        &nginx(),
        "--format",
        "json",
        "--keep-package",
        "coreutils",
        "--explain",
        "/usr/lib/x86_64-linux-gnu/libselinux.so.1",
    ]));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["kept"], true, "{v}");
    assert!(
        v["chain"].to_string().contains("--keep-package coreutils"),
        "{v}"
    );
    let v = explain(&nginx(), "/usr/lib/x86_64-linux-gnu/libselinux.so.1");
    assert_eq!(v["kept"], false, "not without --keep-package: {v}");
}

/// Runs `image` with its Entrypoint replaced by `entrypoint` (like `docker run --entrypoint`).
fn run_image_with_entrypoint(image: &Path, entrypoint: &str, args: &[&str]) -> (bool, String) {
    need("runc");
    let o = Command::new(run_image_script())
        .args(["-q", "-T", "60", "-x", entrypoint])
        .arg(image)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    (o.status.success(), format!("{}{}", stdout(&o), stderr(&o)))
}

#[test]
#[ignore = "needs the fixture images: scripts/test builds them and runs this"]
fn keep_and_drop_of_a_directory_mean_everything_below_it() {
    let d = tempfile::tempdir().unwrap();
    let src = nginx();
    let out = d.path().join("dir.tar");
    ok(slim(&[
        "rewrite",
        "-q",
        &src,
        "--keep",
        "/usr/lib/apt/methods",
        "--keep",
        "/etc/apt/*",
        "--drop",
        "/usr/share/zoneinfo",
        "-o",
        out.to_str().unwrap(),
    ]));
    let paths = image_paths(&out);
    assert!(
        !paths.iter().any(|p| p.starts_with("/usr/share/zoneinfo/")),
        "--drop DIR left zones behind"
    );
    for p in [
        "/usr/lib/apt/methods/file",
        "/usr/lib/apt/methods/http",
        "/etc/apt/apt.conf.d/70debconf",
        "/etc/apt/sources.list.d/0000debian.sources",
    ] {
        assert!(
            paths.iter().any(|x| x == p),
            "{p} missing: --keep DIR kept the directory only"
        );
    }
    // The kept program's libraries came with it (traced like any --keep'd ELF file).
    let (ran, log) = run_image_with_entrypoint(&out, "/usr/lib/apt/methods/file", &[]);
    assert!(
        ran && log.contains("100 Capabilities"),
        "apt's file method did not run: {log}"
    );
    let (served, log) = serves_welcome_page(&out);
    assert!(served, "nginx without zoneinfo did not serve: {log}");
    let o = ok(slim(&[
        "analyze",
        "-q",
        &src,
        "--format",
        "json",
        "--drop",
        "/usr/share/zoneinfo",
        "--explain",
        "/usr/share/zoneinfo/Europe/Paris",
    ]));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["kept"], false);
    assert!(
        v["dropped"]
            .as_str()
            .unwrap()
            .contains("--drop /usr/share/zoneinfo"),
        "{v}"
    );
    let o = ok(slim(&[
        "analyze",
        "-q",
        &src,
        "--format",
        "json",
        "--drop",
        "/etc/nginx",
        "--keep",
        "/etc/nginx/mime.types",
        "--explain",
        "/etc/nginx/mime.types",
    ]));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        (v["kept"].as_bool(), v["despite_drop"].as_str()),
        (Some(true), Some("/etc/nginx"))
    );
}

#[test]
#[ignore = "needs the fixture images: scripts/test builds them and runs this"]
fn exec_naming_nothing_is_an_error_with_the_closest_programs() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("x.tar");
    let src = nginx();
    let o = out.to_str().unwrap();
    fails_with(
        &slim(&["rewrite", "-q", &src, "--exec", "/usr/sbin/ngnix", "-o", o]),
        &[
            "--exec /usr/sbin/ngnix",
            "exec-not-found",
            "closest: /usr/sbin/nginx",
            "--force",
        ],
    );
    assert!(!out.exists());
    fails_with(
        &slim(&["analyze", "-q", &src, "--exec", "lss"]),
        &["--exec lss", "not found in PATH", "/usr/bin/ls"],
    );
    let forced = ok(slim(&[
        "rewrite", "-q", &src, "--exec", "lss", "-o", o, "--force",
    ]));
    assert!(
        stderr(&forced).contains("warning: --exec lss"),
        "{}",
        stderr(&forced)
    );
}

#[test]
#[ignore = "needs the fixture images: scripts/test builds them and runs this"]
fn audit_init_with_an_image_or_a_policy_is_a_usage_error() {
    let d = tempfile::tempdir().unwrap();
    let policy = d.path().join("p.toml");
    let init = ok(slim(&["audit", "--init"]));
    std::fs::write(&policy, &init.stdout).unwrap();
    let src = nginx();
    let p = policy.to_str().unwrap();
    fails_with(
        &slim(&["audit", &src, "--policy", p, "--init"]),
        &["--init", "cannot be used with"],
    );
    fails_with(
        &slim(&["audit", "--policy", p, "--init"]),
        &["--init", "--policy"],
    );
    // Without the stray --init, the gate audits (the example policy warns on GPL, passes).
    let o = slim(&["audit", "-q", &src, "--policy", p]);
    assert!(stdout(&o).contains("packages:"), "{}", stdout(&o));
}

#[test]
#[ignore = "needs the fixture images: scripts/test builds them and runs this"]
fn a_refused_rewrite_still_reports_its_plan_and_the_refusal() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("sh.tar");
    let report = d.path().join("plan.json");
    let src = nginx();
    let mut args = vec!["rewrite", "-q", src.as_str(), "--format", "json"];
    args.extend(SHELL_FORM);
    args.extend([
        "-o",
        out.to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
    ]);
    let o = slim(&args);
    fails_with(&o, &["--keep /bin/sh", "shell-not-kept"]);
    assert!(!out.exists());
    let printed: Value = serde_json::from_slice(&o.stdout).expect("JSON on stdout");
    let saved: Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(printed, saved);
    assert!(printed["written"].is_null());
    assert!(printed["refused"]
        .as_str()
        .unwrap()
        .contains("--keep /bin/sh"));
    let found = codes(&printed);
    assert!(found.contains(&"shell-not-kept"), "{found:?}");
    assert!(printed["kept"]["entrypoint"]["files"].as_u64().unwrap() > 0);
    // The refusal says each way out once.
    let err = stderr(&o);
    assert_eq!(err.matches("--keep /bin/sh").count(), 1, "{err}");
    // --dry-run shows the plan of the refused rewrite, with the refusal.
    let mut dry = vec!["rewrite", "-q", src.as_str(), "--dry-run"];
    dry.extend(SHELL_FORM);
    let o = slim(&dry);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stdout(&o).contains("Kept") && stdout(&o).contains("Refused"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn usage_errors_name_the_argument_and_the_allowed_values() {
    fails_with(
        &slim(&["rewrite", "x.tar"]),
        &["required arguments were not provided", "--output <DEST>"],
    );
    fails_with(
        &slim(&["rewrite", "x.tar", "-o", "y", "--compression", "xz"]),
        &["'xz'", "possible values: gzip, zstd, none"],
    );
}

#[test]
#[ignore = "needs the fixture images: scripts/test builds them and runs this"]
fn every_output_has_dated_history_and_the_base_annotations_the_spec_defines() {
    let d = tempfile::tempdir().unwrap();
    let src = nginx();
    let oci_src = format!("oci:{}:bookworm", fixtures().join("nginx.oci").display());
    let oci_digest = skopeo_inspect(&oci_src)["Digest"].clone();
    let lay = d.path().join("lay");
    let at = |tag: &str| format!("oci:{}:{tag}", lay.display());
    ok(slim(&["rewrite", "-q", &src, "-o", &at("from-docker")]));
    ok(slim(&["rewrite", "-q", &oci_src, "-o", &at("from-oci")]));
    ok(slim(&["copy", "-q", "--flatten", &src, &at("flat")]));
    let archive = d.path().join("slim.tar");
    ok(slim(&[
        "rewrite",
        "-q",
        &src,
        "-o",
        archive.to_str().unwrap(),
    ]));
    let docker = d.path().join("slim.docker.tar");
    ok(slim(&[
        "rewrite",
        "-q",
        &src,
        "-o",
        &format!("docker-archive:{}", docker.display()),
    ]));
    for tag in ["from-docker", "from-oci", "flat"] {
        let stat = umoci_stat(&lay, tag);
        assert!(stat.contains("slim"), "{tag}: {stat}");
        skopeo_inspect(&at(tag));
    }
    // The archives: skopeo reads both; umoci reads the oci-archive unpacked.
    skopeo_inspect(&format!("oci-archive:{}", archive.display()));
    skopeo_inspect(&format!("docker-archive:{}", docker.display()));
    let unpacked = d.path().join("unpacked");
    std::fs::create_dir(&unpacked).unwrap();
    run_ok(
        Command::new("tar")
            .arg("-xf")
            .arg(&archive)
            .arg("-C")
            .arg(&unpacked),
    );
    let index: Value =
        serde_json::from_slice(&std::fs::read(unpacked.join("index.json")).unwrap()).unwrap();
    assert!(
        index["manifests"][0]["annotations"].is_null(),
        "untagged: {index}"
    );
    // Every history entry has a time.
    for tag in ["from-docker", "flat"] {
        let cfg = skopeo_config(&at(tag));
        for h in cfg["history"].as_array().unwrap() {
            assert!(h["created"].is_string(), "{tag}: {h}");
        }
    }
    let ann = |tag: &str| -> Value {
        need("skopeo");
        let o = Command::new("skopeo")
            .args(["inspect", "--raw", &at(tag)])
            .output()
            .unwrap();
        serde_json::from_slice::<Value>(&o.stdout).unwrap()["annotations"].clone()
    };
    // From a docker-archive: its repo:tag; no manifest, so no base.digest.
    let a = ann("from-docker");
    assert_eq!(
        a["org.opencontainers.image.base.name"],
        "docker.io/slim-test/nginx:bookworm"
    );
    assert!(a["org.opencontainers.image.base.digest"].is_null(), "{a}");
    // From an OCI layout: its manifest digest; a bare tag is no reference.
    let a = ann("from-oci");
    assert_eq!(a["org.opencontainers.image.base.digest"], oci_digest);
    assert!(a["org.opencontainers.image.base.name"].is_null(), "{a}");
}

/// `skopeo inspect --config` of an image reference.
fn skopeo_config(reference: &str) -> Value {
    let o = Command::new("skopeo")
        .args(["inspect", "--config", reference])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
#[ignore = "needs the fixture images: scripts/test builds them and runs this"]
fn docker_archive_output_is_named_and_a_bare_path_says_its_format() {
    let d = tempfile::tempdir().unwrap();
    let src = nginx();
    let docker = d.path().join("d.tar");
    let o = ok(slim(&[
        "rewrite",
        "-q",
        &src,
        "-o",
        &format!("docker-archive:{}", docker.display()),
    ]));
    assert!(
        stderr(&o).contains("named docker.io/slim-test/nginx:bookworm"),
        "{}",
        stderr(&o)
    );
    let o = Command::new("tar")
        .arg("-xOf")
        .arg(&docker)
        .arg("manifest.json")
        .output()
        .unwrap();
    let m: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(m[0]["RepoTags"][0], "docker.io/slim-test/nginx:bookworm");
    // A source with no reference (a layout's bare tag): said, not guessed.
    let oci_src = format!("oci:{}:bookworm", fixtures().join("nginx.oci").display());
    let untagged = d.path().join("u.tar");
    let o = ok(slim(&[
        "rewrite",
        "-q",
        &oci_src,
        "-o",
        &format!("docker-archive:{}", untagged.display()),
    ]));
    assert!(stderr(&o).contains("untagged image"), "{}", stderr(&o));
    // Bare paths: which format each chose.
    let gz = d.path().join("out.tar.gz");
    let o = ok(slim(&["rewrite", "-q", &src, "-o", gz.to_str().unwrap()]));
    assert!(
        stderr(&o).contains("written as an OCI layout directory"),
        "{}",
        stderr(&o)
    );
    assert!(gz.join("oci-layout").is_file());
    let dt = d.path().join("x.docker.tar");
    let o = ok(slim(&["rewrite", "-q", &src, "-o", dt.to_str().unwrap()]));
    assert!(
        stderr(&o).contains("written as an oci-archive"),
        "{}",
        stderr(&o)
    );
}

#[test]
#[ignore = "needs the fixture images: scripts/test builds them and runs this"]
fn nonroot_warns_of_a_port_below_1024() {
    let src = nginx();
    let o = ok(slim(&[
        "rewrite",
        "-q",
        &src,
        "--dry-run",
        "--nonroot",
        "--format",
        "json",
    ]));
    let err = stderr(&o);
    assert!(
        err.contains("port 80/tcp")
            && err.contains("net.ipv4.ip_unprivileged_port_start")
            && err.contains("CAP_NET_BIND_SERVICE")
            && err.contains("[nonroot-privileged-port]"),
        "{err}"
    );
    let o = ok(slim(&["rewrite", "-q", &src, "--dry-run"]));
    assert!(!stderr(&o).contains("nonroot-privileged-port"));
}

#[test]
#[ignore = "needs the fixture images: scripts/test builds them and runs this"]
fn licenses_carry_the_expression_sbom_and_audit_carry_and_analyze_takes_nonroot() {
    let src = nginx();
    let o = ok(slim(&["licenses", "-q", &src, "--format", "json"]));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let row = &v["licenses"]["GPL-3.0-or-later WITH GCC-exception-3.1"];
    assert!(
        row["fat"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p == "libgcc-s1"),
        "{}",
        v["licenses"]
    );
    let sbom = ok(slim(&["sbom", "-q", &src]));
    let doc: Value = serde_json::from_slice(&sbom.stdout).unwrap();
    let gcc = spdx_packages(&doc)
        .into_iter()
        .find(|p| p["name"] == "libgcc-s1")
        .unwrap()
        .clone();
    assert!(
        gcc["licenseDeclared"]
            .as_str()
            .unwrap()
            .contains("GPL-3.0-or-later WITH GCC-exception-3.1"),
        "{gcc}"
    );
    let a = analyze_json(&src, &["--nonroot"]);
    let owned: Vec<&str> = a["owned_by_user"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert!(owned.contains(&"/var/lib/nginx"), "{owned:?}");
    assert!(analyze_json(&src, &[]).get("owned_by_user").is_none());
}
