//! What the trace keeps on the real fixture images, and why.

mod common;
use common::*;
use serde_json::Value;
use std::collections::BTreeMap;

fn kept(name: &str) -> (Value, BTreeMap<String, Value>) {
    let fx = fixtures();
    let o = ok(slim(&[
        "analyze",
        "--format",
        "json",
        "--quiet",
        fx.join(format!("{name}.oci.tar")).to_str().unwrap(),
    ]));
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
    let kept = r["projected"]["kept"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| (k["path"].as_str().unwrap().to_string(), k["reason"].clone()))
        .collect();
    (r, kept)
}

fn assert_kept(kept: &BTreeMap<String, Value>, path: &str, kind: &str) {
    let r = kept
        .get(path)
        .unwrap_or_else(|| panic!("{path} is not kept"));
    assert_eq!(r["kind"], kind, "{path}: {r}");
}

fn assert_dropped(kept: &BTreeMap<String, Value>, path: &str) {
    assert!(!kept.contains_key(path), "{path} is kept: {}", kept[path]);
}

#[test]
#[ignore = "needs the fixture images: scripts/test builds them and runs this"]
fn nginx_keeps_its_program_libraries_config_content_and_nss() {
    let (r, k) = kept("nginx");
    assert_kept(&k, "/usr/sbin/nginx", "entrypoint");
    assert_kept(&k, "/usr/lib/x86_64-linux-gnu/libssl.so.3", "elf-needed");
    assert_kept(
        &k,
        "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
        "interpreter",
    );
    assert_kept(&k, "/lib64", "symlink-hop");
    assert_kept(&k, "/etc/nginx/nginx.conf", "package");
    assert_kept(&k, "/etc/nginx/mime.types", "package");
    assert_kept(&k, "/usr/share/nginx/html/index.html", "package");
    assert_kept(&k, "/var/lib/nginx", "package");
    assert_kept(&k, "/var/log/nginx", "package");
    // Made by nginx-common's postinst, named by the default site.
    assert_kept(
        &k,
        "/var/www/html/index.nginx-debian.html",
        "config-reference",
    );
    assert_kept(&k, "/usr/lib/x86_64-linux-gnu/libnss_files.so.2", "rule");
    assert_kept(&k, "/usr/lib/x86_64-linux-gnu/libgcc_s.so.1", "rule");
    assert_kept(&k, "/etc/ssl/openssl.cnf", "rule");
    assert_kept(&k, "/etc/nsswitch.conf", "rule");
    for gone in [
        "/usr/bin/bash",
        "/usr/bin/dash",
        "/usr/bin/apt",
        "/usr/bin/dpkg",
        "/usr/share/doc/nginx/copyright",
        "/usr/share/man/man8/nginx.8.gz",
        "/etc/init.d/nginx",
        "/usr/bin/perl",
    ] {
        assert_dropped(&k, gone);
    }
    let bytes = r["projected"]["bytes"].as_u64().unwrap();
    assert!(bytes < 15 << 20, "nginx keeps {bytes} bytes");
    assert!(
        diagnostics(&r)
            .iter()
            .all(|d| d.severity != Severity::Error),
        "{}",
        r["diagnostics"]
    );
}

#[test]
#[ignore = "needs the fixture images: scripts/test builds them and runs this"]
fn python_keeps_its_stdlib_and_extension_modules_with_their_libraries() {
    let (r, k) = kept("python3");
    assert_kept(&k, "/usr/bin/python3.11", "entrypoint");
    assert_kept(&k, "/usr/lib/python3.11/ssl.py", "rule");
    assert_kept(&k, "/usr/lib/python3.11/json/__init__.py", "rule");
    assert_kept(&k, "/usr/lib/python3.11/zoneinfo/_zoneinfo.py", "rule");
    let ssl_ext = k
        .keys()
        .find(|p| p.starts_with("/usr/lib/python3.11/lib-dynload/_ssl."))
        .expect("_ssl extension kept");
    assert_eq!(k[ssl_ext]["kind"], "rule");
    // The extension module's own DT_NEEDED closure.
    let r_libssl = &k["/usr/lib/x86_64-linux-gnu/libssl.so.3"];
    assert_eq!(r_libssl["kind"], "elf-needed");
    assert!(
        r_libssl["by"]
            .as_str()
            .unwrap()
            .contains("lib-dynload/_ssl."),
        "{r_libssl}"
    );
    assert!(k.keys().any(|p| p.contains("lib-dynload/_sqlite3.")));
    assert!(k.contains_key("/usr/lib/x86_64-linux-gnu/libsqlite3.so.0.8.6"));
    assert_kept(&k, "/etc/mime.types", "package");
    for gone in [
        "/usr/bin/bash",
        "/usr/bin/apt",
        "/usr/bin/dpkg",
        "/usr/share/doc/python3.11/copyright",
        "/etc/dpkg/dpkg.cfg",
    ] {
        assert_dropped(&k, gone);
    }
    let bytes = r["projected"]["bytes"].as_u64().unwrap();
    assert!(bytes < 60 << 20, "python keeps {bytes} bytes");
}

#[test]
#[ignore = "needs the fixture images: scripts/test builds them and runs this"]
fn jre_keeps_the_jvm_its_modules_and_libstdcxx() {
    let (r, k) = kept("jre");
    let jvm = "/usr/lib/jvm/java-17-openjdk-amd64";
    assert_kept(&k, &format!("{jvm}/bin/java"), "entrypoint");
    assert_kept(&k, "/etc/alternatives/java", "symlink-hop");
    assert_kept(&k, &format!("{jvm}/lib/libjli.so"), "elf-needed");
    assert_kept(&k, &format!("{jvm}/lib/server/libjvm.so"), "rule");
    assert_kept(&k, &format!("{jvm}/lib/modules"), "rule");
    assert!(
        k.contains_key("/usr/lib/x86_64-linux-gnu/libstdc++.so.6.0.30"),
        "libjvm's own closure"
    );
    assert!(
        r["dependencies"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| !e["to"].is_null()),
        "unresolved: {}",
        r["diagnostics"]
    );
}

#[test]
#[ignore = "needs the fixture images: scripts/test builds them and runs this"]
fn explain_walks_back_to_the_entrypoint_and_says_why_not() {
    let fx = fixtures();
    let img = fx.join("nginx.docker.tar");
    let img = img.to_str().unwrap();
    let out = stdout(&ok(slim(&[
        "analyze",
        "--quiet",
        img,
        "--explain",
        "/usr/lib/x86_64-linux-gnu/libnss_files.so.2",
    ])));
    assert!(out.contains("rule nss (/etc/nsswitch.conf line"), "{out}");
    assert!(
        out.contains("elf-needed by /usr/sbin/nginx (libc.so.6)"),
        "{out}"
    );
    assert!(out.trim_end().ends_with("<- entrypoint"), "{out}");
    let out = stdout(&ok(slim(&[
        "analyze",
        "--quiet",
        img,
        "--explain",
        "/usr/bin/bash",
    ])));
    assert!(
        out.contains("would be dropped") && out.contains("belongs to bash"),
        "{out}"
    );
    let out = stdout(&ok(slim(&[
        "analyze",
        "--quiet",
        img,
        "--explain",
        "/nope",
    ])));
    assert!(out.contains("not in the image"), "{out}");
    // --exec adds a program's needs; --rules replaces a built-in rule by name.
    let d = tempfile::tempdir().unwrap();
    let rules = d.path().join("r.toml");
    std::fs::write(&rules, "[[rule]]\nname = \"libgcc_s\"\nwhy = \"off\"\n").unwrap();
    let o = ok(slim(&[
        "analyze",
        "--quiet",
        "--format",
        "json",
        "--exec",
        "/usr/bin/ls",
        "--rules",
        rules.to_str().unwrap(),
        img,
    ]));
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
    let paths: Vec<&str> = r["projected"]["kept"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["path"].as_str().unwrap())
        .collect();
    assert!(
        paths.contains(&"/usr/bin/ls")
            && paths.contains(&"/usr/lib/x86_64-linux-gnu/libselinux.so.1")
    );
    assert!(
        !paths.contains(&"/usr/lib/x86_64-linux-gnu/libgcc_s.so.1"),
        "the replaced rule still fired"
    );
    fails_with(
        &slim(&["analyze", "--rules", "/nonexistent.toml", img]),
        &["/nonexistent.toml"],
    );
    std::fs::write(&rules, "[[rule]]\nname = 1\n").unwrap();
    fails_with(
        &slim(&["analyze", "--rules", rules.to_str().unwrap(), img]),
        &["r.toml"],
    );
}

#[test]
#[ignore = "needs the fixture images: scripts/test builds them and runs this"]
fn an_arm64_image_is_traced_with_its_own_loader_and_directories() {
    let fx = fixtures();
    assert!(
        fx.join("openssl-arm64.info").is_file(),
        "fixture openssl-arm64 missing: run scripts/test"
    );
    let img = fx.join("openssl-arm64.oci.tar");
    let img = img.to_str().unwrap();
    let o = ok(slim(&[
        "analyze",
        "--quiet",
        "--format",
        "json",
        "--platform",
        "linux/arm64",
        img,
    ]));
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["platform"], "linux/arm64");
    let edges = r["dependencies"]["edges"].as_array().unwrap();
    let to = |name: &str| {
        edges
            .iter()
            .find(|e| e["name"] == name)
            .and_then(|e| e["to"].as_str())
            .map(String::from)
    };
    assert_eq!(
        to("/lib/ld-linux-aarch64.so.1").as_deref(),
        Some("/lib/aarch64-linux-gnu/ld-linux-aarch64.so.1")
    );
    assert_eq!(
        to("libssl.so.3").as_deref(),
        Some("/usr/lib/aarch64-linux-gnu/libssl.so.3")
    );
    assert_eq!(
        to("libc.so.6").as_deref(),
        Some("/lib/aarch64-linux-gnu/libc.so.6")
    );
    assert!(
        edges.iter().all(|e| !e["to"].is_null()),
        "{}",
        r["diagnostics"]
    );
    fails_with(
        &slim(&["analyze", "--platform", "linux/amd64", img]),
        &["linux/arm64", "not linux/amd64"],
    );
}
