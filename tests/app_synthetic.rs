//! The application mechanisms on small synthetic images: the command line and
//! the app root, pass-through wrappers, dlopen by path, a jar's Class-Path,
//! and the result check that refuses what would not run.

mod common;
use common::*;
use serde_json::Value;
use std::path::Path;
use std::process::Command;

/// The reason kind the trace keeps `path` for, if it does.
fn kept_for(report: &Value, path: &str) -> Option<String> {
    report["projected"]["kept"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["path"] == path)
        .map(|k| k["reason"]["kind"].as_str().unwrap().to_string())
}

fn layout(dir: &Path, img: &Img) -> String {
    oci_layout(dir, img, "v1");
    dir.display().to_string()
}

fn elf() -> Vec<u8> {
    std::fs::read("/bin/true").unwrap()
}

#[test]
fn the_app_root_is_kept_whole_less_vcs_and_command_words_name_files() {
    let d = tempfile::tempdir().unwrap();
    let py = elf();
    let mut img = Img::new(vec![(
        tar_of(&[
            E::Exec("usr/bin/python3", &py),
            E::File("app/main.py", b"print(1)"),
            E::File("app/static/site.css", b"body{}"),
            E::File("app/data/rows.json", b"[]"),
            E::File("app/.git/HEAD", b"ref: x"),
            E::File("etc/app.toml", b"x=1"),
            E::File("srv/tool/run.py", b"print(2)"),
            E::File("srv/tool/helper.py", b""),
            E::File("srv/other/unused.py", b""),
        ]),
        Comp::Gzip,
    )]);
    img.entrypoint = vec!["python3".into()];
    img.cmd = vec!["main.py".into(), "--config=/etc/app.toml".into()];
    img.workdir = "/app".into();
    let r = analyze_json(&layout(&d.path().join("a"), &img), &[]);
    assert_eq!(
        kept_for(&r, "/app/main.py").as_deref(),
        Some("command-line")
    );
    assert_eq!(
        kept_for(&r, "/etc/app.toml").as_deref(),
        Some("command-line")
    );
    assert_eq!(
        kept_for(&r, "/app/static/site.css").as_deref(),
        Some("app-root")
    );
    assert_eq!(
        kept_for(&r, "/app/data/rows.json").as_deref(),
        Some("app-root")
    );
    assert_eq!(kept_for(&r, "/app/.git/HEAD"), None);
    // With WorkingDir /, the directory of the script is the app's.
    img.workdir = String::new();
    img.cmd = vec!["/srv/tool/run.py".into()];
    let r = analyze_json(&layout(&d.path().join("b"), &img), &[]);
    assert_eq!(
        kept_for(&r, "/srv/tool/helper.py").as_deref(),
        Some("app-root")
    );
    assert_eq!(kept_for(&r, "/srv/other/unused.py"), None);
    assert_eq!(
        kept_for(&r, "/app/static/site.css"),
        None,
        "/ is never an app root"
    );
}

#[test]
fn a_pass_through_wrapper_is_recognised_and_what_it_runs_traced() {
    let d = tempfile::tempdir().unwrap();
    let bin = elf();
    let wrapper = b"#!/bin/sh\nset -e\nchown -R app /data\nexec \"$@\"\n";
    let mut img = Img::new(vec![(
        tar_of(&[
            E::Exec("bin/sh", &bin),
            E::Exec("bin/chown", &bin),
            E::Exec("usr/bin/server", &bin),
            E::Exec("usr/local/bin/docker-entrypoint.sh", wrapper),
        ]),
        Comp::Gzip,
    )]);
    img.entrypoint = vec!["docker-entrypoint.sh".into()];
    img.cmd = vec!["server".into(), "--port".into(), "80".into()];
    let src = layout(&d.path().join("w"), &img);
    let r = analyze_json(&src, &[]);
    let w = diagnostic(&r, "entrypoint-wrapper");
    assert!(w.message.contains(r#"["server","--port","80"]"#), "{w}");
    assert_eq!(kept_for(&r, "/usr/bin/server").as_deref(), Some("wrapped"));
    assert_eq!(kept_for(&r, "/bin/chown").as_deref(), Some("shell-command"));
    let out = d.path().join("o.tar");
    fails_with(
        &slim(&["rewrite", "-q", &src, "-o", out.to_str().unwrap()]),
        &["--entrypoint ''", "--keep /bin/sh"],
    );
    ok(slim(&[
        "rewrite",
        "-q",
        &src,
        "--entrypoint",
        "",
        "-o",
        out.to_str().unwrap(),
    ]));
    let paths = image_paths(&out);
    assert!(paths.iter().any(|p| p == "/usr/bin/server"));
    assert!(!paths
        .iter()
        .any(|p| p.ends_with("docker-entrypoint.sh") || p == "/bin/sh"));
}

#[test]
fn a_library_dlopened_by_a_compiled_in_path_is_traced() {
    let d = tempfile::tempdir().unwrap();
    let c = d.path().join("main.c");
    std::fs::write(
        &c,
        "#include <dlfcn.h>\nint main(void){return dlopen(\"/opt/plug/libp.so\", RTLD_NOW) != 0;}\n",
    )
    .unwrap();
    let prog = d.path().join("main");
    let lib = d.path().join("libp.so");
    let pc = d.path().join("p.c");
    std::fs::write(&pc, "int p(void){return 1;}\n").unwrap();
    for args in [
        vec!["-o", prog.to_str().unwrap(), c.to_str().unwrap(), "-ldl"],
        vec![
            "-shared",
            "-fPIC",
            "-o",
            lib.to_str().unwrap(),
            pc.to_str().unwrap(),
        ],
    ] {
        let s = Command::new("gcc").args(&args).status().unwrap();
        assert!(s.success(), "gcc {args:?}");
    }
    let (p, l) = (std::fs::read(&prog).unwrap(), std::fs::read(&lib).unwrap());
    let img = Img::new(vec![(
        tar_of(&[
            E::Exec("bin/app", &p),
            E::File("opt/plug/libp.so", &l),
            E::File("opt/plug/libq.so", &l),
        ]),
        Comp::Gzip,
    )]);
    let r = analyze_json(&layout(&d.path().join("img"), &img), &[]);
    assert_eq!(
        kept_for(&r, "/opt/plug/libp.so").as_deref(),
        Some("dlopen-path")
    );
    assert_eq!(
        kept_for(&r, "/opt/plug/libq.so"),
        None,
        "only what it names"
    );
    assert!(
        !r["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["code"] == "elf-dlopen" && d["path"] == "/bin/app"),
        "{}",
        r["diagnostics"]
    );
}

#[test]
fn a_jar_manifest_class_path_is_followed() {
    let d = tempfile::tempdir().unwrap();
    let jar = d.path().join("app.jar");
    let py = "import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED)\n\
              z.writestr('META-INF/MANIFEST.MF', 'Manifest-Version: 1.0\\r\\nMain-Class: a.Main\\r\\nClass-Path: ../lib/dep.jar\\r\\n  ../lib/more/\\r\\n\\r\\n')\n\
              z.writestr('a/Main.class', b'\\xca\\xfe\\xba\\xbe')\nz.close()\n";
    let s = Command::new("python3")
        .args(["-c", py, jar.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(s.success());
    let java = elf();
    let j = std::fs::read(&jar).unwrap();
    let mut img = Img::new(vec![(
        tar_of(&[
            E::Exec("usr/bin/java", &java),
            E::File("srv/app/app.jar", &j),
            E::File("srv/lib/dep.jar", b"PK"),
            E::File("srv/lib/more/x.class", b"x"),
            E::File("srv/lib/unused.jar", b"PK"),
        ]),
        Comp::Gzip,
    )]);
    img.entrypoint = vec!["java".into(), "-jar".into(), "/srv/app/app.jar".into()];
    let r = analyze_json(&layout(&d.path().join("img"), &img), &[]);
    assert_eq!(
        kept_for(&r, "/srv/app/app.jar").as_deref(),
        Some("command-line")
    );
    assert_eq!(
        kept_for(&r, "/srv/lib/dep.jar").as_deref(),
        Some("class-path")
    );
    assert_eq!(
        kept_for(&r, "/srv/lib/more/x.class").as_deref(),
        Some("class-path")
    );
    assert_eq!(kept_for(&r, "/srv/lib/unused.jar"), None);
}

#[test]
fn the_result_check_refuses_a_link_the_profile_would_leave_dangling() {
    let d = tempfile::tempdir().unwrap();
    let bin = elf();
    let mut img = Img::new(vec![(
        tar_of(&[
            E::Exec("usr/bin/server", &bin),
            E::File("var/cache/app/state.db", b"x"),
            E::Symlink("app/state.db", "/var/cache/app/state.db"),
            E::Exec("app/bin/migrate", b"#!/bin/bash\necho\n"),
        ]),
        Comp::Gzip,
    )]);
    img.entrypoint = vec!["server".into()];
    img.workdir = "/app".into();
    let src = layout(&d.path().join("img"), &img);
    let out = d.path().join("o.tar");
    // The profile drops /var/cache/**; the app links into it.
    let o = slim(&["rewrite", "-q", &src, "-o", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    let last = err.trim_end().lines().last().unwrap();
    for n in [
        "slim: error: ",
        "check-dangling-symlink",
        "/app/state.db",
        "--keep /var/cache/app/state.db",
        "--force",
    ] {
        assert!(last.contains(n), "{n}: {err}");
    }
    assert!(!out.exists());
    // The app's own script needs bash: said, not refused.
    let o = ok(slim(&[
        "rewrite",
        "-q",
        &src,
        "--keep",
        "/var/cache/app/**",
        "-o",
        out.to_str().unwrap(),
    ]));
    assert!(
        stderr(&o).contains("/app/bin/migrate runs through /bin/bash")
            && stderr(&o).contains("[check-missing-interpreter]"),
        "{}",
        stderr(&o)
    );
    assert!(image_paths(&out)
        .iter()
        .any(|p| p == "/var/cache/app/state.db"));
}

#[test]
fn a_python_built_into_usr_local_keeps_its_prefix_and_its_extension_modules() {
    let d = tempfile::tempdir().unwrap();
    let (so, ext) = (d.path().join("libffi.so.8"), d.path().join("_ctypes.so"));
    let c = d.path().join("x.c");
    std::fs::write(&c, "int x(void){return 1;}\n").unwrap();
    for (out, extra) in [(&so, vec!["-Wl,-soname,libffi.so.8"]), (&ext, vec![])] {
        let mut args = vec![
            "-shared",
            "-fPIC",
            "-o",
            out.to_str().unwrap(),
            c.to_str().unwrap(),
        ];
        args.extend(extra);
        if out == &ext {
            // (Debian's gcc links --as-needed: the library must stay DT_NEEDED.)
            args.extend([
                "-L",
                d.path().to_str().unwrap(),
                "-Wl,--no-as-needed",
                "-l:libffi.so.8",
            ]);
        }
        assert!(Command::new("gcc").args(&args).status().unwrap().success());
    }
    let (so, ext, py) = (
        std::fs::read(&so).unwrap(),
        std::fs::read(&ext).unwrap(),
        elf(),
    );
    let mut img = Img::new(vec![(
        tar_of(&[
            E::Exec("usr/local/bin/python3.12", &py),
            E::Symlink("usr/local/bin/python3", "python3.12"),
            E::File("usr/local/lib/python3.12/os.py", b""),
            E::File(
                "usr/local/lib/python3.12/lib-dynload/_ctypes.cpython-312-x86_64-linux-gnu.so",
                &ext,
            ),
            E::File(
                "usr/local/lib/python3.12/site-packages/requests/__init__.py",
                b"",
            ),
            E::File("usr/lib/x86_64-linux-gnu/libffi.so.8", &so),
            E::File("app/app.py", b""),
        ]),
        Comp::Gzip,
    )]);
    img.entrypoint = vec!["python3".into(), "/app/app.py".into()];
    let r = analyze_json(&layout(&d.path().join("img"), &img), &[]);
    for p in [
        "/usr/local/lib/python3.12/os.py",
        "/usr/local/lib/python3.12/site-packages/requests/__init__.py",
        "/usr/local/lib/python3.12/lib-dynload/_ctypes.cpython-312-x86_64-linux-gnu.so",
    ] {
        assert_eq!(kept_for(&r, p).as_deref(), Some("rule"), "{p}");
    }
    // The extension module is traced: its DT_NEEDED comes too.
    assert_eq!(
        kept_for(&r, "/usr/lib/x86_64-linux-gnu/libffi.so.8").as_deref(),
        Some("elf-needed")
    );
}

#[test]
fn node_native_addons_node_path_and_npm_start() {
    let d = tempfile::tempdir().unwrap();
    let (lib, addon) = (d.path().join("libz9.so.1"), d.path().join("addon.node"));
    let c = d.path().join("x.c");
    std::fs::write(&c, "int x(void){return 1;}\n").unwrap();
    assert!(Command::new("gcc")
        .args([
            "-shared",
            "-fPIC",
            "-Wl,-soname,libz9.so.1",
            "-o",
            lib.to_str().unwrap(),
            c.to_str().unwrap()
        ])
        .status()
        .unwrap()
        .success());
    assert!(Command::new("gcc")
        .args([
            "-shared",
            "-fPIC",
            "-o",
            addon.to_str().unwrap(),
            c.to_str().unwrap(),
            "-L",
            d.path().to_str().unwrap(),
            "-Wl,--no-as-needed",
            "-l:libz9.so.1"
        ])
        .status()
        .unwrap()
        .success());
    let (lib, addon, node) = (
        std::fs::read(&lib).unwrap(),
        std::fs::read(&addon).unwrap(),
        elf(),
    );
    let npm_cli = b"#!/usr/bin/env node\nrequire('../lib/cli.js')\n";
    let entries = [
        E::Exec("usr/local/bin/node", &node),
        E::Exec("usr/bin/env", &node),
        E::Exec("usr/local/lib/node_modules/npm/bin/npm-cli.js", npm_cli),
        E::File("usr/local/lib/node_modules/npm/lib/cli.js", b""),
        E::Symlink(
            "usr/local/bin/npm",
            "../lib/node_modules/npm/bin/npm-cli.js",
        ),
        E::File("usr/src/app/server.js", b""),
        E::File(
            "usr/src/app/node_modules/fast/build/Release/addon.node",
            &addon,
        ),
        E::File("usr/lib/x86_64-linux-gnu/libz9.so.1", &lib),
        E::File("opt/node_libs/shared.js", b""),
        E::File(
            "usr/src/app/package.json",
            br#"{"scripts":{"start":"node server.js"}}"#,
        ),
        E::Exec("bin/sh", &node),
    ];
    let mut img = Img::new(vec![(tar_of(&entries), Comp::Gzip)]);
    img.entrypoint = vec!["node".into(), "server.js".into()];
    img.workdir = "/usr/src/app".into();
    img.env.push("NODE_PATH=/opt/node_libs".into());
    let src = layout(&d.path().join("a"), &img);
    let r = analyze_json(&src, &[]);
    assert_eq!(
        kept_for(
            &r,
            "/usr/src/app/node_modules/fast/build/Release/addon.node"
        )
        .as_deref(),
        Some("app-root")
    );
    assert_eq!(
        kept_for(&r, "/usr/lib/x86_64-linux-gnu/libz9.so.1").as_deref(),
        Some("elf-needed")
    );
    assert_eq!(
        kept_for(&r, "/opt/node_libs/shared.js").as_deref(),
        Some("env-path")
    );
    // npm is dropped as a package manager …
    let out = d.path().join("o.tar");
    ok(slim(&["rewrite", "-q", &src, "-o", out.to_str().unwrap()]));
    assert!(!image_paths(&out)
        .iter()
        .any(|p| p.contains("node_modules/npm")));
    // … unless the command runs it (`npm start`, which runs its script
    // through sh: refused unless the shell is kept).
    img.entrypoint = vec!["npm".into(), "start".into()];
    let src = layout(&d.path().join("b"), &img);
    let out = d.path().join("p.tar");
    let o = slim(&["rewrite", "-q", &src, "-o", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    ok(slim(&[
        "rewrite",
        "-q",
        &src,
        "-o",
        out.to_str().unwrap(),
        "--keep",
        "/bin/sh",
    ]));
    let paths = image_paths(&out);
    for p in [
        "/usr/local/bin/npm",
        "/usr/local/lib/node_modules/npm/lib/cli.js",
    ] {
        assert!(
            paths.iter().any(|k| k == p),
            "{p} missing when the command runs npm"
        );
    }
}

#[test]
fn a_librarys_helper_script_without_its_interpreter_is_info_the_apps_own_a_warning() {
    let d = tempfile::tempdir().unwrap();
    let node = elf();
    let img_for = |extra: &[E]| {
        let mut entries = vec![
            E::Exec("usr/bin/node", &node),
            E::File("app/server.js", b"1"),
            E::Exec("app/node_modules/lib/bin/helper.sh", b"#!/bin/bash\necho\n"),
        ];
        entries.extend_from_slice(extra);
        let mut img = Img::new(vec![(tar_of(&entries), Comp::Gzip)]);
        img.entrypoint = vec!["node".into(), "server.js".into()];
        img.workdir = "/app".into();
        img
    };
    let run = |img: &Img, name: &str| -> Value {
        let src = layout(&d.path().join(name), img);
        let out = d.path().join(format!("{name}.tar"));
        let o = slim(&[
            "rewrite",
            "-q",
            "--dry-run",
            "--format",
            "json",
            &src,
            "-o",
            out.to_str().unwrap(),
        ]);
        serde_json::from_slice(&o.stdout).unwrap()
    };
    let checks = |v: &Value| -> Vec<(String, String)> {
        v["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["code"] == "check-missing-interpreter")
            .map(|d| {
                (
                    d["path"].as_str().unwrap().to_string(),
                    d["severity"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let v = run(&img_for(&[]), "lib");
    assert_eq!(
        checks(&v),
        [(
            "/app/node_modules/lib/bin/helper.sh".to_string(),
            "info".to_string()
        )]
    );
    let own = [E::Exec("app/bin/migrate.sh", b"#!/bin/bash\necho\n")];
    let v = run(&img_for(&own), "own");
    assert!(
        checks(&v).contains(&("/app/bin/migrate.sh".to_string(), "warning".to_string())),
        "{:?}",
        checks(&v)
    );
}

#[test]
fn a_python_module_argument_names_its_file_from_workdir() {
    let d = tempfile::tempdir().unwrap();
    let py = elf();
    let mut img = Img::new(vec![(
        tar_of(&[
            E::Exec("usr/bin/python3", &py),
            E::File("srv/svc/__init__.py", b""),
            E::File("srv/svc/main.py", b"print(1)"),
            E::File("srv/svc/util.py", b""),
            E::File("srv/wsgi.py", b"app = 1"),
            E::File("srv/unrelated.py", b""),
        ]),
        Comp::Gzip,
    )]);
    img.entrypoint = vec!["python3".into(), "-m".into(), "svc.main".into()];
    img.workdir = "/srv".into();
    let r = analyze_json(&layout(&d.path().join("a"), &img), &[]);
    assert_eq!(
        kept_for(&r, "/srv/svc/main.py").as_deref(),
        Some("command-line")
    );
    // Its package is the app's root; what else is in /srv is not named.
    assert!(kept_for(&r, "/srv/svc/util.py").is_some());
    assert_eq!(kept_for(&r, "/srv/unrelated.py"), None);
    img.entrypoint = vec![
        "python3".into(),
        "-m".into(),
        "gunicorn".into(),
        "wsgi:app".into(),
    ];
    let r = analyze_json(&layout(&d.path().join("b"), &img), &[]);
    assert_eq!(
        kept_for(&r, "/srv/wsgi.py").as_deref(),
        Some("command-line")
    );
}

#[test]
fn lua_modules_on_its_search_path_come_with_the_interpreter() {
    let d = tempfile::tempdir().unwrap();
    let lua = elf();
    let mut img = Img::new(vec![(
        tar_of(&[
            E::Exec("usr/bin/lua5.4", &lua),
            E::File("usr/share/lua/5.4/inspect.lua", b"return {}"),
            E::File("usr/lib/x86_64-linux-gnu/lua/5.4/lpeg.so", &lua),
            E::File("app/main.lua", b"require 'inspect'"),
            E::File("usr/share/other/unrelated.lua", b""),
        ]),
        Comp::Gzip,
    )]);
    img.entrypoint = vec!["lua5.4".into(), "main.lua".into()];
    img.workdir = "/app".into();
    let r = analyze_json(&layout(&d.path().join("a"), &img), &[]);
    assert_eq!(
        kept_for(&r, "/usr/share/lua/5.4/inspect.lua").as_deref(),
        Some("rule")
    );
    assert_eq!(
        kept_for(&r, "/usr/lib/x86_64-linux-gnu/lua/5.4/lpeg.so").as_deref(),
        Some("rule")
    );
    assert_eq!(kept_for(&r, "/usr/share/other/unrelated.lua"), None);
    assert!(r["projected"]["by_rule"]["lua-path"].as_u64().unwrap() >= 2);
}

#[test]
fn a_package_script_is_read_from_package_json_and_its_bin_programs_named_whole() {
    let d = tempfile::tempdir().unwrap();
    let node = elf();
    let img_with = |cmd: &[&str]| {
        let mut img = Img::new(vec![(
            tar_of(&[
                E::Exec("usr/local/bin/node", &node),
                E::Exec(
                    "usr/local/lib/node_modules/npm/bin/npm-cli.js",
                    b"#!/usr/bin/env node\n",
                ),
                E::Symlink(
                    "usr/local/bin/npm",
                    "../lib/node_modules/npm/bin/npm-cli.js",
                ),
                E::File(
                    "app/package.json",
                    br#"{"scripts":{"start":"next start -p 3000"}}"#,
                ),
                E::Exec(
                    "app/node_modules/next/dist/bin/next",
                    b"#!/usr/bin/env node\n",
                ),
                E::Symlink("app/node_modules/.bin/next", "../next/dist/bin/next"),
            ]),
            Comp::Gzip,
        )]);
        img.entrypoint = Vec::new();
        img.cmd = cmd.iter().map(|s| s.to_string()).collect();
        img.workdir = "/app".into();
        img
    };
    let refusal = |img: &Img, name: &str| -> String {
        let src = layout(&d.path().join(name), img);
        let out = d.path().join(format!("{name}.tar"));
        let o = slim(&["rewrite", "-q", &src, "-o", out.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        assert!(!out.exists());
        stderr(&o)
    };
    let err = refusal(&img_with(&["npm", "start"]), "start");
    assert!(
        err.contains(r#"--entrypoint '["/app/node_modules/.bin/next","start","-p","3000"]'"#),
        "{err}"
    );
    assert!(
        err.contains("scripts.start of /app/package.json (`next start -p 3000`)"),
        "{err}"
    );
    let err = refusal(&img_with(&["npm", "run", "build"]), "build");
    assert!(
        err.contains("scripts.build of /app/package.json, which has none")
            && err.contains("[package-script-not-found]"),
        "{err}"
    );
}
