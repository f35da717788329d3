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

fn run_image() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/run-image.sh")
}

/// Whether the image serves nginx's default page under runc.
fn serves_welcome_page(image: &Path) -> (bool, String) {
    need("runc");
    let o = Command::new(run_image())
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
        &["--keep /bin/sh", "/usr/sbin/nginx", "exec-form"],
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
    let codes: Vec<&str> = plan["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["code"].as_str().unwrap())
        .collect();
    assert!(
        codes.contains(&"keep-matched-nothing") && codes.contains(&"drop-matched-nothing"),
        "{codes:?}"
    );
}

#[test]
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
