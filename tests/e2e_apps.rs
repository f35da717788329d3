//! Application images built as Dockerfiles build them (`fixtures/make-app.sh`:
//! a fixture base plus a layer added with umoci): slimmed, each does its job
//! under runc with no shell and no package manager left, keeps the app's own
//! tree, and what could not work is refused, not written.

mod common;
use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn app(name: &str) -> String {
    let p = fixtures().join(format!("app-{name}.oci"));
    require_fixture(
        &p,
        &format!("fixtures/make-app.sh {} {name}", fixtures().display()),
    );
    p.display().to_string()
}

/// Rewrites `src` with `extra` options into a fresh oci-archive.
fn rewrite(src: &str, extra: &[&str]) -> (tempfile::TempDir, PathBuf, Value) {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("slim.tar");
    let plan = rewrite_json(src, &out, extra);
    (d, out, plan)
}

/// The reason an `analyze --format json` report keeps `path` for (null when not kept).
fn kept_reason(report: &Value, path: &str) -> Value {
    report["projected"]["kept"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["path"] == path)
        .map(|k| k["reason"].clone())
        .unwrap_or(Value::Null)
}

/// Runs the image under runc and fetches `url` from inside its network namespace.
fn serves(image: &Path, url: &str, expect: &str) {
    let (ok, said) = serves_within(image, url, expect, 30);
    assert!(
        ok,
        "{} did not serve '{expect}' at {url}: {said}",
        image.display()
    );
}

/// No shell, no package manager, every DT_NEEDED resolved inside the image.
fn distroless(image: &Path) {
    let v = analyze_json(image.to_str().unwrap(), &[]);
    assert_eq!(v["shells"], serde_json::json!([]), "{}", v["shells"]);
    assert_eq!(
        v["package_managers"],
        serde_json::json!([]),
        "{}",
        v["package_managers"]
    );
    let unresolved: Vec<&Value> = v["dependencies"]["edges"]
        .as_array()
        .map(|e| e.iter().filter(|e| e["to"].is_null()).collect())
        .unwrap_or_default();
    assert!(unresolved.is_empty(), "unresolved: {unresolved:?}");
}

#[test]
#[ignore = "needs the fixture images: scripts/test builds them and runs this"]
fn a_native_service_behind_a_wrapper_is_refused_then_runs_without_it_or_with_a_shell() {
    let src = app("svc");
    // analyze says what the wrapper runs.
    let v = analyze_json(&src, &[]);
    let wrapper = diagnostic(&v, "entrypoint-wrapper");
    assert!(
        wrapper.message.contains(r#"["svc","--port","8080"]"#),
        "{wrapper}"
    );
    // rewrite refuses, naming the ways out.
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("x.tar");
    fails_with(
        &slim(&["rewrite", "-q", &src, "-o", out.to_str().unwrap()]),
        &["docker-entrypoint.sh", "--entrypoint ''", "--keep /bin/sh"],
    );
    assert!(!out.exists());
    // Without the wrapper: svc runs directly, with its compiled-in config and
    // the plugin it dlopens by path (and the library that plugin needs).
    let (_d, image, plan) = rewrite(&src, &["--entrypoint", ""]);
    let kept = image_paths(&image);
    for p in [
        "/usr/local/bin/svc",
        "/usr/local/etc/svc/svc.conf",
        "/usr/local/lib/svc/plugins/greet.so",
        "/usr/local/lib/svc/libsvchelper.so",
    ] {
        assert!(
            kept.iter().any(|k| k == p),
            "{p} not kept: {}",
            plan["kept"]
        );
    }
    assert!(!kept.iter().any(|k| k.ends_with("docker-entrypoint.sh")));
    distroless(&image);
    serves(
        &image,
        "http://127.0.0.1:8080/",
        "greetings from the plugin",
    );
    // With the wrapper and a shell: what the wrapper runs (mkdir, svc) is kept.
    let (_d2, image, _) = rewrite(&src, &["--keep", "/bin/sh"]);
    let kept = image_paths(&image);
    assert!(
        kept.iter().any(|k| k == "/usr/bin/mkdir"),
        "mkdir, run by the wrapper, is missing"
    );
    serves(&image, "http://127.0.0.1:8080/", "svc is up");
}

#[test]
#[ignore = "needs the fixture images: scripts/test builds them and runs this"]
fn a_flask_app_from_pip_wheels_keeps_its_tree_and_drops_pip() {
    let src = app("flask");
    // analyze shows what the image's own layer added, and what the trace keeps of it.
    let v = analyze_json(&src, &[]);
    let unowned = |p: &str| {
        v["unowned"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["path"] == p)
            .unwrap_or_else(|| panic!("{p} not in unowned: {}", v["unowned"]))
            .clone()
    };
    let site = unowned("/usr/local/lib/python3.11");
    assert!(site["files"].as_u64().unwrap() > 500, "{site}");
    let app = unowned("/app");
    assert_eq!(
        (app["files"].as_u64(), app["kept_files"].as_u64()),
        (Some(5), Some(4)),
        "{app}"
    );
    let (_d, image, plan) = rewrite(&src, &[]);
    let kept = image_paths(&image);
    for p in [
        "/app/main.py",
        "/app/shop/prices.py",
        "/app/templates/index.html",
        "/usr/local/lib/python3.11/dist-packages/flask/app.py",
    ] {
        assert!(kept.iter().any(|k| k == p), "{p} not kept");
    }
    // Pillow's C extension and the libraries its wheel vendors, via RPATH $ORIGIN.
    assert!(
        kept.iter()
            .any(|k| k.contains("/dist-packages/PIL/_imaging.cpython-311-x86_64-linux-gnu.so")),
        "PIL's extension module missing"
    );
    assert!(
        kept.iter()
            .any(|k| k.contains("/dist-packages/pillow.libs/libjpeg")),
        "pillow.libs missing"
    );
    for gone in [
        "/usr/local/bin/pip",
        "/usr/local/lib/python3.11/dist-packages/pip/__init__.py",
    ] {
        assert!(!kept.iter().any(|k| k == gone), "{gone} kept");
    }
    assert!(
        !kept.iter().any(|k| k.starts_with("/app/.git")),
        ".git kept"
    );
    assert!(
        plan["dropped"]["package-managers"]["files"]
            .as_u64()
            .unwrap()
            > 100
    );
    distroless(&image);
    serves(
        &image,
        "http://127.0.0.1:8000/",
        "total 3.75, a 73-byte PNG drawn by Pillow",
    );
    // sys.path entries the image adds: a .pth file, and PYTHONPATH.
    for (p, kind) in [
        ("/opt/shop-extra/shopextra.py", "path-file"),
        ("/opt/pylib/banner.py", "env-path"),
    ] {
        assert!(kept.iter().any(|k| k == p), "{p} not kept");
        assert_eq!(explain(&src, p)["chain"][0]["reason"]["kind"], kind, "{p}");
    }
    serves(&image, "http://127.0.0.1:8000/", "welcome, prices in EUR");
    // --explain says why the app's files stay, and why pip goes.
    let e = explain(&src, "/app/templates/index.html");
    assert_eq!(e["chain"][0]["reason"]["kind"], "app-root", "{e}");
    let e = explain(
        &src,
        "/usr/local/lib/python3.11/dist-packages/pip/__init__.py",
    );
    assert_eq!(e["kept"], false, "{e}");
    assert!(
        e["dropped"].as_str().unwrap().contains("dist-packages/pip"),
        "{e}"
    );
}

#[test]
#[ignore = "needs the fixture images: scripts/test builds them and runs this"]
fn a_node_app_on_the_official_binary_keeps_node_modules_and_drops_npm() {
    let src = app("node");
    let v = analyze_json(&src, &[]);
    assert!(
        v["package_managers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p == "/usr/local/bin/npm"),
        "npm is a package manager: {}",
        v["package_managers"]
    );
    // The official docker-entrypoint.sh is a pass-through wrapper: run the Cmd directly.
    let (_d, image, _) = rewrite(&src, &["--entrypoint", ""]);
    let kept = image_paths(&image);
    for p in [
        "/usr/local/bin/node",
        "/usr/src/app/server.js",
        "/usr/src/app/lib/greeting.js",
        "/usr/src/app/node_modules/ms/index.js",
    ] {
        assert!(kept.iter().any(|k| k == p), "{p} not kept");
    }
    for gone in [
        "/usr/local/bin/npm",
        "/usr/local/lib/node_modules/npm/package.json",
    ] {
        assert!(!kept.iter().any(|k| k == gone), "{gone} kept");
    }
    distroless(&image);
    serves(&image, "http://127.0.0.1:3000/", "node app up in 2m");
}

#[test]
#[ignore = "needs the fixture images: scripts/test builds them and runs this"]
fn a_java_jar_on_a_jdk_in_opt_follows_its_manifest_class_path() {
    let src = app("java");
    let (_d, image, plan) = rewrite(&src, &[]);
    let kept = image_paths(&image);
    for p in [
        "/opt/java/openjdk/bin/java",
        "/opt/java/openjdk/lib/server/libjvm.so",
        "/opt/java/openjdk/lib/modules",
        "/srv/app/app.jar",
        "/srv/app/config/name.txt",
        // Outside the app's directory: only its Class-Path names it.
        "/srv/lib/greeting.jar",
    ] {
        assert!(
            kept.iter().any(|k| k == p),
            "{p} not kept: {}",
            plan["kept"]
        );
    }
    let e = explain(&src, "/srv/lib/greeting.jar");
    assert_eq!(e["chain"][0]["reason"]["kind"], "class-path", "{e}");
    let v = analyze_json(image.to_str().unwrap(), &[]);
    assert_eq!(v["shells"], serde_json::json!([]));
    serves(
        &image,
        "http://127.0.0.1:8081/",
        "java app up, the fixture on java 21",
    );
}

#[test]
#[ignore = "needs the fixture images: scripts/test builds them and runs this"]
fn a_static_go_binary_gets_the_skeleton_it_reads_at_run_time() {
    let src = app("go");
    let (_d, image, _) = rewrite(&src, &[]);
    let kept = image_paths(&image);
    for p in [
        "/usr/local/bin/hello-go",
        "/etc/ssl/certs/ca-certificates.crt",
        "/usr/share/zoneinfo/Europe/Paris",
        "/etc/passwd",
    ] {
        assert!(kept.iter().any(|k| k == p), "{p} not kept");
    }
    distroless(&image);
    serves(
        &image,
        "http://127.0.0.1:8082/",
        "zone Europe/Paris, user nobody",
    );
}

#[test]
#[ignore = "needs the fixture images: scripts/test builds them and runs this"]
fn a_runtime_no_rule_names_keeps_its_own_modules() {
    // Debian's ruby: no run-time rule names it; its extension modules are its
    // packages' shared objects outside the loader's directories.
    let src = fixtures().join("ruby.docker.tar");
    require_fixture(
        &src,
        &format!("fixtures/make-fixtures.sh {} ruby", fixtures().display()),
    );
    let (_d, image, _) = rewrite(src.to_str().unwrap(), &[]);
    let kept = image_paths(&image);
    for ext in ["json/ext/parser.so", "zlib.so", "digest/sha2.so"] {
        assert!(
            kept.iter()
                .any(|k| k.contains("/ruby/3.1.0/") && k.ends_with(ext)),
            "{ext} not kept"
        );
    }
    distroless(&image);
    need("runc");
    let o = Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/run-image.sh"))
        .args(["-q", "-T", "60"])
        .arg(&image)
        .output()
        .unwrap();
    assert!(
        o.status.success() && stdout(&o).contains(r#"{"crc":2363233923,"sha":"2d711642"}"#),
        "{}{}",
        stdout(&o),
        stderr(&o)
    );
}

/// Runs the image under runc and its own HEALTHCHECK inside it (run-image.sh -H).
fn healthy(image: &Path) -> (bool, String) {
    need("runc");
    let o = Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/run-image.sh"))
        .args(["-q", "-W", "20", "-H"])
        .arg(image)
        .output()
        .unwrap();
    (o.status.success(), format!("{}{}", stdout(&o), stderr(&o)))
}

fn raw_config(image: &Path) -> Value {
    need("skopeo");
    let o = Command::new("skopeo")
        .args(["inspect", "--raw", "--config"])
        .arg(format!("oci-archive:{}", image.display()))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
#[ignore = "needs the fixture images: scripts/test builds them and runs this"]
fn a_shell_form_healthcheck_is_refused_and_each_way_out_keeps_a_working_check() {
    let src = app("health");
    // CMD-SHELL needs /bin/sh, which distroless drops: refused, naming each way out once.
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("x.tar");
    let o = slim(&["rewrite", "-q", &src, "-o", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    for way in [
        "--keep /bin/sh",
        r#"--healthcheck '["CMD","curl","-fsS","http://localhost:8082/"]'"#,
        "--healthcheck none",
        "[healthcheck-shell-not-kept]",
    ] {
        assert_eq!(err.matches(way).count(), 1, "{way} once in: {err}");
    }
    assert!(!out.exists(), "nothing written");
    let src_cfg = analyze_json(&src, &[]);
    assert_eq!(src_cfg["config"]["healthcheck"]["test"][0], "CMD-SHELL");

    // The exec form it suggests: curl is traced (reason healthcheck) and runs.
    let exec_form = r#"["CMD","curl","-fsS","http://localhost:8082/"]"#;
    let a = analyze_json(&src, &["--healthcheck", exec_form]);
    assert_eq!(kept_reason(&a, "/usr/bin/curl")["kind"], "healthcheck");
    assert_eq!(a["config"]["healthcheck_runs"], "/usr/bin/curl");
    let (_d1, image, _) = rewrite(&src, &["--healthcheck", exec_form]);
    let cfg = raw_config(&image);
    let c = &cfg["config"];
    assert_eq!(
        c["Healthcheck"]["Test"],
        serde_json::json!(serde_json::from_str::<Value>(exec_form).unwrap())
    );
    assert_eq!(
        c["Healthcheck"]["Interval"], 5_000_000_000u64,
        "timing kept"
    );
    assert_eq!(c["Healthcheck"]["Retries"], 3);
    assert_eq!(c["StopSignal"], "SIGINT");
    assert_eq!(c["Volumes"], serde_json::json!({"/data": {}}));
    assert_eq!(c["Labels"]["org.example.team"], "web");
    distroless(&image);
    let (ok, log) = healthy(&image);
    assert!(ok, "the exec-form check fails in the slimmed image: {log}");

    // --keep /bin/sh: the image's own check, unchanged, passes.
    let (_d2, image, _) = rewrite(&src, &["--keep", "/bin/sh"]);
    let cfg = raw_config(&image);
    assert_eq!(
        cfg["config"]["Healthcheck"]["Test"][1],
        "curl -fsS http://localhost:8082/ || exit 1"
    );
    let (ok, log) = healthy(&image);
    assert!(ok, "the shell-form check fails with the shell kept: {log}");

    // --healthcheck none: no check, and curl is not kept for it.
    let (_d3, image, _) = rewrite(&src, &["--healthcheck", "none"]);
    assert!(raw_config(&image)["config"].get("Healthcheck").is_none());
    assert!(!image_paths(&image).iter().any(|p| p == "/usr/bin/curl"));
    serves(&image, "http://127.0.0.1:8082/", "go app up");
}

#[test]
#[ignore = "needs the fixture images: scripts/test builds them and runs this"]
fn npm_start_is_refused_naming_its_script_and_both_ways_out_serve() {
    let src = app("npm");
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("x.tar");
    let o = slim(&["rewrite", "-q", &src, "-o", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    let exec_form = r#"["node","server.js"]"#;
    for needle in [
        "scripts.start of /usr/src/app/package.json (`node server.js`)",
        &format!("--entrypoint '{exec_form}'"),
        "--keep /bin/sh",
        "[shell-not-kept]",
    ] {
        assert_eq!(err.matches(needle).count(), 1, "{needle} once in: {err}");
    }
    assert!(!out.exists(), "nothing written");
    // analyze says the same, once.
    let a = analyze_json(&src, &[]);
    let shell: Vec<Diagnostic> = diagnostics(&a)
        .into_iter()
        .filter(|d| d.code.as_str() == "entrypoint-needs-shell")
        .collect();
    assert_eq!(shell.len(), 1, "{shell:?}");

    // The exec form it names: no shell, no npm, and the app serves.
    let (_d1, image, _) = rewrite(&src, &["--entrypoint", exec_form]);
    let kept = image_paths(&image);
    assert!(!kept.iter().any(|p| p.contains("/node_modules/npm/")));
    distroless(&image);
    serves(&image, "http://127.0.0.1:3000/", "node app up");

    // --keep /bin/sh: npm, its tree and the shell stay, and `npm start` serves.
    let (_d2, image, _) = rewrite(&src, &["--keep", "/bin/sh"]);
    let kept = image_paths(&image);
    for p in [
        "/usr/local/bin/npm",
        "/usr/local/lib/node_modules/npm/bin/npm-cli.js",
        "/usr/src/app/package.json",
    ] {
        assert!(kept.iter().any(|k| k == p), "{p} not kept");
    }
    serves(&image, "http://127.0.0.1:3000/", "node app up");
}

#[test]
#[ignore = "needs the fixture images: scripts/test builds them and runs this"]
fn a_venv_console_script_keeps_the_venv_python_imports_from() {
    let src = app("venv");
    let a = analyze_json(&src, &[]);
    assert!(
        a["projected"]["by_rule"]["python-prefix"]
            .as_u64()
            .unwrap_or(0)
            > 100,
        "{}",
        a["projected"]["by_rule"]
    );
    let (_d, image, _) = rewrite(&src, &[]);
    let kept = image_paths(&image);
    for p in [
        "/opt/venv/pyvenv.cfg",
        "/opt/venv/bin/uvicorn",
        "/opt/venv/bin/python3",
        "/opt/venv/lib64",
        "/opt/venv/lib/python3.11/site-packages/uvicorn/main.py",
        "/opt/venv/lib/python3.11/site-packages/h11/__init__.py",
        "/app/main.py",
    ] {
        assert!(kept.iter().any(|k| k == p), "{p} not kept");
    }
    // The venv's dist-info (importlib.metadata, entry points) stays with its packages.
    assert!(kept.iter().any(
        |k| k.contains("site-packages/uvicorn-") && k.ends_with(".dist-info/entry_points.txt")
    ));
    distroless(&image);
    serves(
        &image,
        "http://127.0.0.1:8000/",
        "prefix /opt/venv, base /usr",
    );
    // `python -m uvicorn`: the venv's python found through PATH is the same prefix.
    let (_d2, image, _) = rewrite(
        &src,
        &[
            "--cmd",
            r#"["python","-m","uvicorn","main:app","--host","0.0.0.0"]"#,
        ],
    );
    serves(&image, "http://127.0.0.1:8000/", "prefix /opt/venv");
}

#[test]
#[ignore = "needs the fixture images: scripts/test builds them and runs this"]
fn java_code_that_draws_text_gets_the_fontconfig_its_jre_dlopens() {
    let src = app("javafont");
    let a = analyze_json(&src, &[]);
    let kept = |path: &str| Some(kept_reason(&a, path)).filter(|r| !r.is_null());
    let fc = kept("/usr/lib/x86_64-linux-gnu/libfontconfig.so.1").expect("libfontconfig kept");
    assert_eq!(fc["kind"], "dlopen-soname", "{fc}");
    assert_eq!(fc["name"], "libfontconfig.so.1");
    assert!(
        fc["by"].as_str().unwrap().ends_with("/libawt_headless.so"),
        "{fc}"
    );
    // Its package's data: the config and the fonts it names.
    assert!(kept("/etc/fonts/fonts.conf").is_some());
    // A soname the image lacks is said, at info.
    let missing: Vec<Diagnostic> = diagnostics(&a)
        .into_iter()
        .filter(|d| d.code.as_str() == "dlopen-soname-missing")
        .collect();
    assert!(
        missing.iter().all(|d| d.severity == Severity::Info),
        "{missing:?}"
    );
    let (_d, image, _) = rewrite(&src, &[]);
    let paths = image_paths(&image);
    assert!(paths.iter().any(|p| p.ends_with(".ttf")), "no font kept");
    distroless(&image);
    let (ok, out) = run_image(&image);
    assert!(ok && out.contains("text width "), "{out}");
}

#[test]
#[ignore = "needs the fixture images: scripts/test builds them and runs this"]
fn modules_on_a_runtimes_search_path_come_with_it() {
    // perl with JSON::XS (libjson-xs-perl: no dependency of perl) and ruby with
    // the distro gem ruby-mustache, both found on their search paths.
    let src = fixtures().join("modules.oci");
    require_fixture(
        &src,
        &format!("fixtures/make-fixtures.sh {} modules", fixtures().display()),
    );
    let src = src.to_str().unwrap();
    let a = analyze_json(src, &[]);
    let reason = kept_reason;
    let xs = reason(
        &a,
        "/usr/lib/x86_64-linux-gnu/perl5/5.36/auto/JSON/XS/XS.so",
    );
    assert_eq!(xs["rule"], "perl-inc", "{xs}");
    assert_eq!(
        reason(&a, "/usr/lib/x86_64-linux-gnu/perl5/5.36/JSON/XS.pm")["rule"],
        "perl-inc"
    );
    assert!(a["projected"]["by_rule"]["perl-inc"].as_u64().unwrap() > 10);
    let (_d, image, _) = rewrite(src, &[]);
    distroless(&image);
    let (ok, out) = run_image(&image);
    assert!(ok && out.contains(r#"{"n":3,"perl":"xs"}"#), "{out}");

    let ruby = r#"["ruby","-e","require \"mustache\"; puts Mustache.render(\"Hi {{who}}\", who: \"gem\")"]"#;
    let a = analyze_json(src, &["--entrypoint", ruby]);
    assert_eq!(
        reason(&a, "/usr/lib/ruby/vendor_ruby/mustache.rb")["rule"],
        "ruby-load-path"
    );
    let (_d2, image, _) = rewrite(src, &["--entrypoint", ruby]);
    distroless(&image);
    let (ok, out) = run_image(&image);
    assert!(ok && out.contains("Hi gem"), "{out}");

    // php-mbstring: an extension .so and the conf.d ini that loads it.
    let php = r#"["php","-r","echo mb_strtoupper(\"h\\u{e9}llo\"), PHP_EOL;"]"#;
    let a = analyze_json(src, &["--entrypoint", php]);
    let kept: Vec<&str> = a["projected"]["kept"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["path"].as_str().unwrap())
        .collect();
    assert!(
        kept.iter().any(|p| p.ends_with("/mbstring.so")),
        "mbstring.so not kept"
    );
    assert!(
        kept.iter()
            .any(|p| p.ends_with("/cli/conf.d/20-mbstring.ini")),
        "the ini that loads it not kept"
    );
    let (_d3, image, _) = rewrite(src, &["--entrypoint", php]);
    distroless(&image);
    let (ok, out) = run_image(&image);
    assert!(ok && out.contains("HÉLLO"), "{out}");
}
