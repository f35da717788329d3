//! `slim audit` on the real nginx image: a policy denying GPL-3.0-or-later
//! fails naming the packages, exceptions and clarifications work, and the CI
//! formats (JSON, SARIF 2.1.0, JUnit) carry the same verdicts.

mod common;
use common::*;
use serde_json::Value;
use std::process::Command;

const POLICY: &str = r#"
[licenses]
allow = ["MIT", "Apache-2.0", "BSD-2-Clause", "BSD-3-Clause", "ISC", "Zlib", "LGPL-2.1-or-later", "GPL-2.0-or-later"]
deny = ["GPL-3.0-only", "GPL-3.0-or-later"]
unlisted = "warn"
unknown = "warn"
"#;

/// A package's result in a JSON audit report.
fn package<'a>(r: &'a Value, name: &str) -> &'a Value {
    r["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["package"] == name)
        .unwrap()
}

fn audit(policy: &str, extra: &[&str]) -> (Option<i32>, String, String) {
    let fx = fixtures();
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("policy.toml");
    std::fs::write(&p, policy).unwrap();
    let img = fx.join("nginx.docker.tar");
    let mut args = vec![
        "audit",
        "--quiet",
        img.to_str().unwrap(),
        "--policy",
        p.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let o = slim(&args);
    (o.status.code(), stdout(&o), stderr(&o))
}

#[test]
#[ignore = "needs the fixture images: scripts/test builds them and runs this"]
fn denying_gpl3_fails_naming_the_packages_and_exceptions_lift_it() {
    let (code, out, err) = audit(POLICY, &[]);
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(
        out.contains("FAIL  bash ") && out.contains("GPL-3.0-or-later: denied"),
        "{out}"
    );
    let with_exception = format!("{POLICY}\n[[licenses.exceptions]]\npackage = \"bash\"\nallow = [\"GPL-3.0-or-later\", \"GPL-3.0-or-later WITH Bison-exception-2.2\"]\nreason = \"removed by slim rewrite\"\n");
    let (_, out, _) = audit(&with_exception, &["--format", "json"]);
    let r: Value = serde_json::from_str(&out).unwrap();
    let bash = package(&r, "bash");
    assert_ne!(bash["verdict"], "fail", "{bash}");
    // OR passes when one branch does: perl's "GPL-1.0-or-later OR Artistic-1.0-Perl" with Artistic allowed.
    let or_policy = "[licenses]\nallow = [\"Artistic-1.0-Perl\"]\ndeny = [\"GPL-1.0-or-later\"]\nunknown = \"warn\"\nunlisted = \"warn\"\n";
    let (_, out, _) = audit(or_policy, &["--format", "json"]);
    let r: Value = serde_json::from_str(&out).unwrap();
    for p in r["packages"].as_array().unwrap() {
        if p["expression"] == "GPL-1.0-or-later OR Artistic-1.0-Perl" {
            assert_eq!(p["verdict"], "pass", "{p}");
        }
    }
}

#[test]
#[ignore = "needs the fixture images: scripts/test builds them and runs this"]
fn clarifications_are_pinned_to_the_copyright_file() {
    let fx = fixtures();
    let o = ok(slim(&[
        "sbom",
        "--quiet",
        "-o",
        "spdx-json",
        fx.join("nginx.docker.tar").to_str().unwrap(),
    ]));
    let _: Value = serde_json::from_slice(&o.stdout).unwrap();
    // The file's real sha256, from the image.
    let tree = slim_tree(fx.join("nginx.docker.tar").to_str().unwrap());
    let sha = tree["/usr/share/doc/base-files/copyright"]
        .sha256
        .clone()
        .unwrap();
    let pinned = format!("{POLICY}\n[[licenses.clarify]]\npackage = \"base-files\"\nexpression = \"MIT\"\ncopyright-sha256 = \"{sha}\"\n");
    let (_, out, _) = audit(&pinned, &["--format", "json"]);
    let r: Value = serde_json::from_str(&out).unwrap();
    let bf = package(&r, "base-files");
    assert_eq!(
        (
            bf["expression"].as_str(),
            bf["source"].as_str(),
            bf["verdict"].as_str()
        ),
        (Some("MIT"), Some("clarified"), Some("pass")),
        "{bf}"
    );
    let stale = pinned.replace(&sha, &"0".repeat(64));
    let (_, out, _) = audit(&stale, &["--format", "json"]);
    let r: Value = serde_json::from_str(&out).unwrap();
    let bf = package(&r, "base-files");
    assert_ne!(bf["source"], "clarified");
    assert!(
        bf["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x.as_str().unwrap().contains("clarification lapsed")),
        "{bf}"
    );
}

#[test]
#[ignore = "needs the fixture images: scripts/test builds them and runs this"]
fn sarif_and_junit_carry_the_verdicts() {
    let (code, out, _) = audit(POLICY, &["--format", "json"]);
    assert_eq!(code, Some(1));
    let r: Value = serde_json::from_str(&out).unwrap();
    let (failed, warned) = (r["failed"].as_u64().unwrap(), r["warned"].as_u64().unwrap());
    let (_, sarif, _) = audit(POLICY, &["--format", "sarif"]);
    validate_sarif(&sarif);
    // The check is live: a level the schema does not have is caught.
    let bad = sarif.replacen("\"error\"", "\"fatal\"", 1);
    assert!(std::panic::catch_unwind(|| validate_sarif(&bad)).is_err());
    let s: Value = serde_json::from_str(&sarif).unwrap();
    assert_eq!(s["version"], "2.1.0");
    let results = s["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len() as u64, failed + warned);
    assert_eq!(
        results.iter().filter(|x| x["level"] == "error").count() as u64,
        failed
    );
    assert!(results
        .iter()
        .all(|x| x["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].is_string()));
    let (_, junit, _) = audit(POLICY, &["--format", "junit"]);
    // A real XML parser reads it: one test case per package, failures counted.
    let code = "import sys, xml.etree.ElementTree as E\nr = E.fromstring(sys.stdin.read())\ncases = r.findall('.//testcase')\nprint(len(cases), len([c for c in cases if c.find('failure') is not None]))";
    let mut child = Command::new("python3")
        .args(["-c", code])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(junit.as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    let counts = String::from_utf8_lossy(&o.stdout).trim().to_string();
    assert_eq!(
        counts,
        format!("{} {failed}", r["packages"].as_array().unwrap().len())
    );
}

#[test]
#[ignore = "needs the fixture images: scripts/test builds them and runs this"]
fn init_writes_a_policy_that_audit_reads_and_bad_policies_are_errors() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("p.toml");
    ok(slim(&["audit", "--init", p.to_str().unwrap()]));
    let text = std::fs::read_to_string(&p).unwrap();
    assert!(text.contains("deny = [") && text.contains("[[licenses.exceptions]]"));
    let (code, _, err) = audit(&text, &[]);
    assert!(code == Some(0) || code == Some(1), "{err}");
    let (code, _, err) = audit("[licenses]\nalow = []\n", &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("policy.toml") && err.contains("alow"), "{err}");
}

#[test]
#[ignore = "needs the fixture images: scripts/test builds them and runs this"]
fn license_report_puts_fat_and_slim_side_by_side() {
    let fx = fixtures();
    let img = fx.join("nginx.docker.tar");
    let img = img.to_str().unwrap();
    let o = ok(slim(&["licenses", "--quiet", "--format", "json", img]));
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
    let pkgs = std::fs::read_to_string(fx.join("nginx.packages.tsv"))
        .unwrap()
        .lines()
        .count();
    assert_eq!(r["fat_packages"], pkgs);
    let slim_n = r["slim_packages"].as_u64().unwrap();
    assert!(slim_n > 5 && slim_n < 30, "{slim_n}");
    let gpl3 = &r["licenses"]["GPL-3.0-or-later"];
    let fat: Vec<&str> = gpl3["fat"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let slim_list: Vec<&str> = gpl3["slim"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        fat.contains(&"bash") && !slim_list.contains(&"bash"),
        "{gpl3}"
    );
    assert!(slim_list.len() < fat.len());
    assert!(r["packages"]
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["source"].is_string() && p["expression"].is_string()));
    // analyze counts packages and licenses too.
    let a = analyze_json(img, &[]);
    assert_eq!(a["licenses"]["packages"], pkgs);
    assert!(a["licenses"]["spdx_only"].as_u64().unwrap() > 0);
}

#[test]
#[ignore = "needs the fixture images: scripts/test builds them and runs this"]
fn init_policy_passes_slimmed_glibc_images_the_gcc_runtime_exception_is_read() {
    let fx = fixtures();
    let d = tempfile::tempdir().unwrap();
    let policy = d.path().join("policy.toml");
    ok(slim(&["audit", "--init", policy.to_str().unwrap()]));
    // --init never overwrites a policy.
    std::fs::write(&policy, "# mine\n").unwrap();
    fails_with(
        &slim(&["audit", "--init", policy.to_str().unwrap()]),
        &["policy.toml", "refusing to overwrite"],
    );
    std::fs::remove_file(&policy).unwrap();
    ok(slim(&["audit", "--init", policy.to_str().unwrap()]));
    for name in ["nginx", "curl"] {
        let out = d.path().join(format!("{name}-slim.tar"));
        let src = fx.join(format!("{name}.docker.tar"));
        ok(slim(&[
            "rewrite",
            "-q",
            src.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ]));
        let o = slim(&[
            "audit",
            "-q",
            out.to_str().unwrap(),
            "--policy",
            policy.to_str().unwrap(),
            "--format",
            "json",
        ]);
        let r: Value = serde_json::from_slice(&o.stdout).unwrap();
        // nginx's slim image passes whole; curl's libraries carry GPL-3.0 files
        // of their own sources (gnutls, nettle …), which a policy may well deny.
        if name == "nginx" {
            assert_eq!(
                o.status.code(),
                Some(0),
                "{name}: {}",
                serde_json::to_string_pretty(&r).unwrap()
            );
        }
        let gcc = package(&r, "libgcc-s1");
        assert_eq!(
            gcc["expression"], "GPL-3.0-or-later WITH GCC-exception-3.1",
            "{gcc}"
        );
        assert_eq!(gcc["verdict"], "pass", "{gcc}");
    }
    // The fat image still fails it (bash, GPL-3.0-or-later without exception).
    let o = slim(&[
        "audit",
        "-q",
        fx.join("nginx.docker.tar").to_str().unwrap(),
        "--policy",
        policy.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
}

#[test]
#[ignore = "needs the fixture images: scripts/test builds them and runs this"]
fn a_typo_in_a_policy_list_is_an_error_naming_the_entry() {
    for (list, entry) in [
        ("allow", "MTI"),
        ("deny", "GPL-3.0-or-latr"),
        ("allow", "GPL-3.0-or-later WITH GCC-exeption-3.1"),
    ] {
        let policy = format!("[licenses]\n{list} = [\"{entry}\"]\n");
        let (code, _, err) = audit(&policy, &[]);
        assert_eq!(code, Some(2), "{err}");
        assert!(
            err.contains(&format!("licenses.{list}"))
                && err.contains(entry.split(" WITH ").last().unwrap()),
            "{err}"
        );
    }
}
