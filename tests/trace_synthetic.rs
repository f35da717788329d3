//! The loader's rules on small synthetic images: C programs compiled with gcc
//! in the test, laid out in a root filesystem with the host's glibc, traced by
//! slim, and checked against the real loader (`chroot ROOT ld.so --list`,
//! with the cache built by `ldconfig -r ROOT`).

mod common;
use common::*;
use serde_json::Value;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;

struct Root {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    src: PathBuf,
}

fn sh(cmd: &mut Command) {
    let o = cmd.output().unwrap();
    assert!(
        o.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

impl Root {
    /// A root with the host's dynamic loader and libc, merged-/usr style.
    fn new() -> Root {
        need("gcc");
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("root");
        let src = tmp.path().join("src");
        std::fs::create_dir_all(&src).unwrap();
        let ma = dir.join("usr/lib/x86_64-linux-gnu");
        std::fs::create_dir_all(&ma).unwrap();
        std::fs::create_dir_all(dir.join("usr/bin")).unwrap();
        std::fs::create_dir_all(dir.join("etc")).unwrap();
        for (l, t) in [
            ("lib", "usr/lib"),
            ("lib64", "usr/lib64"),
            ("bin", "usr/bin"),
        ] {
            symlink(t, dir.join(l)).unwrap();
        }
        std::fs::create_dir_all(dir.join("usr/lib64")).unwrap();
        for f in ["libc.so.6", "ld-linux-x86-64.so.2"] {
            std::fs::copy(Path::new("/lib/x86_64-linux-gnu").join(f), ma.join(f)).unwrap();
        }
        symlink(
            "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
            dir.join("usr/lib64/ld-linux-x86-64.so.2"),
        )
        .unwrap();
        Root {
            _tmp: tmp,
            dir,
            src,
        }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.join(p.trim_start_matches('/'))
    }

    /// Compiles a shared library `soname` (needing `needs`) into image dir `dir`.
    fn lib(&self, dir: &str, soname: &str, needs: &[&str], extra: &[&str]) {
        let c = self.src.join(format!("{soname}.c"));
        std::fs::write(
            &c,
            format!(
                "int f_{}(void) {{ return 1; }}\n",
                soname.replace(['.', '-'], "_")
            ),
        )
        .unwrap();
        std::fs::create_dir_all(self.path(dir)).unwrap();
        let mut cmd = Command::new("gcc");
        cmd.args(["-shared", "-fPIC", "-o"])
            .arg(self.path(dir).join(soname))
            .arg(&c);
        cmd.arg(format!("-Wl,-soname,{soname}"))
            .arg("-Wl,--no-as-needed");
        cmd.args(extra);
        for n in needs {
            cmd.arg(format!("-l:{n}"));
        }
        sh(&mut cmd);
    }

    /// Compiles a program into image path `path`, linked against `needs` (found via `-L` dirs in `extra`).
    fn prog(&self, path: &str, needs: &[&str], extra: &[&str]) {
        let c = self.src.join("main.c");
        std::fs::write(&c, "int main(void) { return 0; }\n").unwrap();
        std::fs::create_dir_all(self.path(path).parent().unwrap()).unwrap();
        let mut cmd = Command::new("gcc");
        cmd.arg("-o")
            .arg(self.path(path))
            .arg(&c)
            .arg("-Wl,--no-as-needed");
        cmd.args(extra);
        for n in needs {
            cmd.arg(format!("-l:{n}"));
        }
        sh(&mut cmd);
    }

    /// Packs the root as an image with Entrypoint `argv0` and `env`; returns the layout path.
    fn image(&self, argv0: &str, env: &[&str]) -> String {
        let layer = self._tmp.path().join("layer.tar");
        tar_dir(&self.dir, &layer);
        let mut img = Img::new(vec![(std::fs::read(&layer).unwrap(), Comp::Gzip)]);
        img.entrypoint = vec![argv0.to_string()];
        img.env = env.iter().map(|s| s.to_string()).collect();
        let out = self._tmp.path().join("image");
        let _ = std::fs::remove_dir_all(&out);
        oci_layout(&out, &img, "t");
        out.display().to_string()
    }

    /// slim's resolution: DT_NEEDED name → real path (None when unresolved), for edges from `from`.
    fn slim_edges(
        &self,
        argv0: &str,
        env: &[&str],
    ) -> (Value, Vec<(String, String, Option<String>)>) {
        let image = self.image(argv0, env);
        let o = ok(slim(&["analyze", "--format", "json", "--quiet", &image]));
        let r: Value = serde_json::from_slice(&o.stdout).unwrap();
        let edges = r["dependencies"]["edges"]
            .as_array()
            .map(|v| {
                v.iter()
                    .map(|e| {
                        (
                            e["from"].as_str().unwrap().to_string(),
                            e["name"].as_str().unwrap().to_string(),
                            e["to"].as_str().map(String::from),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        (r, edges)
    }

    /// What the real loader resolves `name` to for `prog`, in a chroot, and what it says on stderr.
    fn real_loader(&self, prog: &str, env: &[&str]) -> Vec<(String, String)> {
        self.real_loader_full(prog, env).0
    }

    fn real_loader_full(&self, prog: &str, env: &[&str]) -> (Vec<(String, String)>, String) {
        sh(Command::new("ldconfig").arg("-r").arg(&self.dir));
        let mut cmd = Command::new("/usr/sbin/chroot");
        cmd.arg(&self.dir)
            .args(["/lib64/ld-linux-x86-64.so.2", "--list", prog])
            .env_clear();
        for e in env {
            let (k, v) = e.split_once('=').unwrap();
            cmd.env(k, v);
        }
        let o = cmd.output().unwrap();
        let list = String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter_map(|l| {
                let (n, rest) = l.trim().split_once(" => ")?;
                Some((n.to_string(), rest.split(" (").next()?.trim().to_string()))
            })
            .collect();
        (list, String::from_utf8_lossy(&o.stderr).into_owned())
    }
}

fn to<'a>(edges: &'a [(String, String, Option<String>)], name: &str) -> Option<&'a str> {
    edges
        .iter()
        .find(|(_, n, _)| n == name)
        .and_then(|(_, _, t)| t.as_deref())
}

fn real_to(list: &[(String, String)], name: &str) -> String {
    list.iter()
        .find(|(n, _)| n == name)
        .map(|(_, p)| p.clone())
        .unwrap_or_else(|| format!("{name}: not listed in {list:?}"))
}

#[test]
fn runpath_origin_relative_to_the_binary() {
    let r = Root::new();
    r.lib("/opt/app/lib", "libfoo.so", &[], &[]);
    r.prog(
        "/opt/app/bin/app",
        &["libfoo.so"],
        &[
            &format!("-L{}", r.path("/opt/app/lib").display()),
            "-Wl,--enable-new-dtags",
            "-Wl,-rpath,$ORIGIN/../lib",
        ],
    );
    let (_, edges) = r.slim_edges("/opt/app/bin/app", &[]);
    assert_eq!(to(&edges, "libfoo.so"), Some("/opt/app/lib/libfoo.so"));
    assert_eq!(
        to(&edges, "libc.so.6"),
        Some("/usr/lib/x86_64-linux-gnu/libc.so.6")
    );
    assert_eq!(
        real_to(&r.real_loader("/opt/app/bin/app", &[]), "libfoo.so"),
        "/opt/app/bin/../lib/libfoo.so"
    );
}

#[test]
fn rpath_beats_ld_library_path_but_runpath_does_not() {
    let r = Root::new();
    r.lib("/rp", "libbar.so", &[], &[]);
    r.lib("/ld", "libbar.so", &[], &[]);
    let l = format!("-L{}", r.path("/rp").display());
    r.prog(
        "/usr/bin/with-rpath",
        &["libbar.so"],
        &[&l, "-Wl,--disable-new-dtags", "-Wl,-rpath,/rp"],
    );
    r.prog(
        "/usr/bin/with-runpath",
        &["libbar.so"],
        &[&l, "-Wl,--enable-new-dtags", "-Wl,-rpath,/rp"],
    );
    let env = ["LD_LIBRARY_PATH=/ld", "PATH=/usr/bin"];
    let (_, e) = r.slim_edges("with-rpath", &env);
    assert_eq!(to(&e, "libbar.so"), Some("/rp/libbar.so"));
    assert_eq!(
        real_to(&r.real_loader("/usr/bin/with-rpath", &env), "libbar.so"),
        "/rp/libbar.so"
    );
    let (_, e) = r.slim_edges("with-runpath", &env);
    assert_eq!(to(&e, "libbar.so"), Some("/ld/libbar.so"));
    assert_eq!(
        real_to(&r.real_loader("/usr/bin/with-runpath", &env), "libbar.so"),
        "/ld/libbar.so"
    );
}

#[test]
fn ld_so_conf_include_is_followed() {
    let r = Root::new();
    r.lib("/opt/x/lib", "libx.so", &[], &[]);
    std::fs::create_dir_all(r.path("/etc/ld.so.conf.d")).unwrap();
    std::fs::write(
        r.path("/etc/ld.so.conf"),
        "# comment\ninclude /etc/ld.so.conf.d/*.conf\n",
    )
    .unwrap();
    std::fs::write(r.path("/etc/ld.so.conf.d/x.conf"), "/opt/x/lib\n").unwrap();
    std::fs::write(r.path("/etc/ld.so.conf.d/ignored.txt"), "/nope\n").unwrap();
    r.prog(
        "/usr/bin/app",
        &["libx.so"],
        &[&format!("-L{}", r.path("/opt/x/lib").display())],
    );
    let (_, e) = r.slim_edges("/usr/bin/app", &[]);
    assert_eq!(to(&e, "libx.so"), Some("/opt/x/lib/libx.so"));
    assert_eq!(
        real_to(&r.real_loader("/usr/bin/app", &[]), "libx.so"),
        "/opt/x/lib/libx.so"
    );
}

#[test]
fn symlink_chain_through_an_absolute_link_keeps_every_hop() {
    let r = Root::new();
    r.lib("/opt/real", "libchain.so.1", &[], &[]);
    std::fs::rename(
        r.path("/opt/real/libchain.so.1"),
        r.path("/opt/real/libchain.so.1.0"),
    )
    .unwrap();
    symlink("libchain.so.1.0", r.path("/opt/real/libchain.so.1")).unwrap();
    symlink(
        "/opt/real/libchain.so.1",
        r.path("/usr/lib/x86_64-linux-gnu/libchain.so.1"),
    )
    .unwrap();
    // Link against a copy named by the soname the program will ask for.
    let d = tempfile::tempdir().unwrap();
    std::fs::copy(
        r.path("/opt/real/libchain.so.1.0"),
        d.path().join("libchain.so.1"),
    )
    .unwrap();
    r.prog(
        "/usr/bin/app",
        &["libchain.so.1"],
        &[&format!("-L{}", d.path().display())],
    );
    let (rep, e) = r.slim_edges("/usr/bin/app", &[]);
    assert_eq!(to(&e, "libchain.so.1"), Some("/opt/real/libchain.so.1.0"));
    let links: Vec<&str> = rep["dependencies"]["symlinks"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for hop in [
        "/lib",
        "/usr/lib/x86_64-linux-gnu/libchain.so.1",
        "/opt/real/libchain.so.1",
    ] {
        assert!(links.contains(&hop), "{hop} missing from {links:?}");
    }
    // --explain walks from the real file back to the entrypoint.
    let image = r.image("/usr/bin/app", &[]);
    let o = ok(slim(&[
        "analyze",
        "--quiet",
        "--explain",
        "/opt/real/libchain.so.1",
        "--format",
        "json",
        &image,
    ]));
    let x: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(x["kept"], true);
    assert_eq!(x["chain"][0]["reason"]["kind"], "symlink-hop");
    let last = x["chain"].as_array().unwrap().last().unwrap();
    assert_eq!(last["reason"]["kind"], "entrypoint", "{x}");
    assert_eq!(
        real_to(&r.real_loader("/usr/bin/app", &[]), "libchain.so.1"),
        "/lib/x86_64-linux-gnu/libchain.so.1"
    );
}

#[test]
fn missing_library_is_a_diagnostic_not_a_panic() {
    let r = Root::new();
    r.lib("/tmp/build", "libgone.so", &[], &[]);
    r.prog(
        "/usr/bin/app",
        &["libgone.so"],
        &[&format!("-L{}", r.path("/tmp/build").display())],
    );
    std::fs::remove_file(r.path("/tmp/build/libgone.so")).unwrap();
    let (rep, e) = r.slim_edges("/usr/bin/app", &[]);
    assert_eq!(to(&e, "libgone.so"), None);
    let d: Vec<Diagnostic> = diagnostics(&rep)
        .into_iter()
        .filter(|d| d.code.as_str() == "elf-unresolved-needed")
        .collect();
    assert_eq!(d.len(), 1, "{}", rep["diagnostics"]);
    assert!(d[0].message.contains("libgone.so"));
    let (_, err) = r.real_loader_full("/usr/bin/app", &[]);
    assert!(
        err.contains("libgone.so: cannot open shared object file"),
        "{err}"
    );
}

/// A 32-bit i386 ELF header padded to a page (ld.so reads that much before checking the class).
fn elf32_stub() -> Vec<u8> {
    let mut h = vec![0u8; 4096];
    h[..4].copy_from_slice(b"\x7fELF");
    h[4] = 1; // ELFCLASS32
    h[5] = 1; // little endian
    h[6] = 1; // EV_CURRENT
    h[16] = 3; // ET_DYN
    h[18] = 3; // EM_386
    h[20] = 1; // e_version
    h[40] = 52; // e_ehsize
    h
}

#[test]
fn a_32_bit_library_earlier_in_the_path_is_skipped() {
    let r = Root::new();
    r.lib("/usr/lib/x86_64-linux-gnu", "libfoo.so", &[], &[]);
    r.prog(
        "/usr/bin/app",
        &["libfoo.so"],
        &[&format!(
            "-L{}",
            r.path("/usr/lib/x86_64-linux-gnu").display()
        )],
    );
    std::fs::create_dir_all(r.path("/early")).unwrap();
    std::fs::write(r.path("/early/libfoo.so"), elf32_stub()).unwrap();
    let env = ["LD_LIBRARY_PATH=/early"];
    let (_, e) = r.slim_edges("/usr/bin/app", &env);
    assert_eq!(
        to(&e, "libfoo.so"),
        Some("/usr/lib/x86_64-linux-gnu/libfoo.so")
    );
    assert_eq!(
        real_to(&r.real_loader("/usr/bin/app", &env), "libfoo.so"),
        "/lib/x86_64-linux-gnu/libfoo.so"
    );
}

#[test]
fn a_non_elf_file_named_like_the_library_stops_the_loader() {
    // glibc does not skip it: "invalid ELF header" ends the program's start.
    let r = Root::new();
    r.lib("/usr/lib/x86_64-linux-gnu", "libtxt.so", &[], &[]);
    r.prog(
        "/usr/bin/app",
        &["libtxt.so"],
        &[&format!(
            "-L{}",
            r.path("/usr/lib/x86_64-linux-gnu").display()
        )],
    );
    std::fs::create_dir_all(r.path("/early")).unwrap();
    std::fs::write(
        r.path("/early/libtxt.so"),
        format!("/* GNU ld script */\nINPUT(-ltxt)\n{}\n", "#".repeat(100)),
    )
    .unwrap();
    let env = ["LD_LIBRARY_PATH=/early"];
    let (rep, e) = r.slim_edges("/usr/bin/app", &env);
    assert_eq!(to(&e, "libtxt.so"), None);
    let d: Vec<Diagnostic> = diagnostics(&rep)
        .into_iter()
        .filter(|d| d.code.as_str() == "elf-invalid-candidate")
        .collect();
    assert_eq!(d.len(), 1, "{}", rep["diagnostics"]);
    assert!(
        d[0].message
            .contains("/early/libtxt.so: invalid ELF header"),
        "{}",
        d[0]
    );
    let (_, err) = r.real_loader_full("/usr/bin/app", &env);
    assert!(
        err.contains("/early/libtxt.so: invalid ELF header"),
        "{err}"
    );
    // Without it on the path, the real library is found.
    let (_, e) = r.slim_edges("/usr/bin/app", &[]);
    assert_eq!(
        to(&e, "libtxt.so"),
        Some("/usr/lib/x86_64-linux-gnu/libtxt.so")
    );
}

#[test]
fn cyclic_needed_terminates() {
    let r = Root::new();
    let l = format!("-L{}", r.path("/usr/lib/x86_64-linux-gnu").display());
    r.lib("/usr/lib/x86_64-linux-gnu", "libb.so", &[], &[]);
    r.lib("/usr/lib/x86_64-linux-gnu", "liba.so", &["libb.so"], &[&l]);
    r.lib("/usr/lib/x86_64-linux-gnu", "libb.so", &["liba.so"], &[&l]);
    r.prog("/usr/bin/app", &["liba.so"], &[&l]);
    let (rep, e) = r.slim_edges("/usr/bin/app", &[]);
    assert_eq!(to(&e, "liba.so"), Some("/usr/lib/x86_64-linux-gnu/liba.so"));
    assert_eq!(to(&e, "libb.so"), Some("/usr/lib/x86_64-linux-gnu/libb.so"));
    assert!(
        e.iter()
            .any(|(f, n, _)| f.ends_with("libb.so") && n == "liba.so"),
        "{e:?}"
    );
    assert!(!codes(&rep).contains(&"elf-unresolved-needed"));
}

#[test]
fn scripts_are_followed_to_their_interpreter_and_shells_are_flagged() {
    let r = Root::new();
    r.prog("/usr/bin/tool", &[], &[]);
    std::fs::copy(r.path("/usr/bin/tool"), r.path("/usr/bin/sh")).unwrap();
    std::fs::write(r.path("/usr/bin/run.sh"), "#!/bin/sh\nexec tool\n").unwrap();
    std::fs::write(
        r.path("/usr/bin/run.py"),
        "#!/usr/bin/env tool -u\nprint()\n",
    )
    .unwrap();
    std::fs::copy(r.path("/usr/bin/tool"), r.path("/usr/bin/env")).unwrap();
    let (rep, _) = r.slim_edges("/usr/bin/run.sh", &["PATH=/usr/bin"]);
    let found = codes(&rep);
    assert!(found.contains(&"entrypoint-needs-shell"), "{found:?}");
    assert!(rep["dependencies"]["objects"]
        .as_object()
        .unwrap()
        .contains_key("/usr/bin/sh"));
    let (rep, _) = r.slim_edges("/usr/bin/run.py", &["PATH=/usr/bin"]);
    let objects = rep["dependencies"]["objects"].as_object().unwrap();
    assert!(objects.contains_key("/usr/bin/tool"), "{objects:?}");
    assert!(!codes(&rep).contains(&"entrypoint-needs-shell"));
}

#[test]
fn glibc_hwcaps_variants_are_kept_beside_the_baseline() {
    // ld.so prefers DIR/glibc-hwcaps/x86-64-v2/NAME on a CPU of that level;
    // which one runs depends on the CPU, so both must be in the image.
    let r = Root::new();
    let ma = "/usr/lib/x86_64-linux-gnu";
    r.lib(ma, "libfast.so", &[], &[]);
    r.lib(
        &format!("{ma}/glibc-hwcaps/x86-64-v2"),
        "libfast.so",
        &[],
        &[],
    );
    r.prog(
        "/usr/bin/app",
        &["libfast.so"],
        &[&format!("-L{}", r.path(ma).display())],
    );
    let (rep, e) = r.slim_edges("/usr/bin/app", &[]);
    assert_eq!(
        to(&e, "libfast.so"),
        Some("/usr/lib/x86_64-linux-gnu/libfast.so")
    );
    let objects = rep["dependencies"]["objects"].as_object().unwrap();
    let variant = "/usr/lib/x86_64-linux-gnu/glibc-hwcaps/x86-64-v2/libfast.so";
    assert!(objects.contains_key(variant), "{objects:?}");
    let hw: Vec<&Value> = rep["dependencies"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "hwcaps")
        .collect();
    assert_eq!(hw.len(), 1, "{hw:?}");
    // Whatever this CPU makes the real loader pick is one of them.
    let picked = real_to(&r.real_loader("/usr/bin/app", &[]), "libfast.so");
    let picked = picked.replace("/lib/", "/usr/lib/");
    assert!(
        picked == variant || picked == "/usr/lib/x86_64-linux-gnu/libfast.so",
        "real loader picked {picked}"
    );
}

#[test]
fn fedora_openssl_keeps_its_config_and_the_crypto_policy_it_includes() {
    // Fedora/RHEL: libcrypto reads /etc/pki/tls/openssl.cnf, which includes the
    // crypto policy back-end, a symlink into /usr/share/crypto-policies.
    let r = Root::new();
    r.lib("/usr/lib64", "libcrypto.so.3", &[], &[]);
    r.prog(
        "/usr/bin/app",
        &["libcrypto.so.3"],
        &[&format!("-L{}", r.path("/usr/lib64").display())],
    );
    for (p, body) in [
        (
            "/etc/pki/tls/openssl.cnf",
            ".include = /etc/crypto-policies/back-ends/opensslcnf.config\n",
        ),
        ("/etc/crypto-policies/config", "DEFAULT\n"),
        (
            "/usr/share/crypto-policies/DEFAULT/opensslcnf.txt",
            "CipherString = @SECLEVEL=2\n",
        ),
    ] {
        std::fs::create_dir_all(r.path(p).parent().unwrap()).unwrap();
        std::fs::write(r.path(p), body).unwrap();
    }
    std::fs::create_dir_all(r.path("/etc/crypto-policies/back-ends")).unwrap();
    symlink(
        "/usr/share/crypto-policies/DEFAULT/opensslcnf.txt",
        r.path("/etc/crypto-policies/back-ends/opensslcnf.config"),
    )
    .unwrap();
    let image = r.image("/usr/bin/app", &[]);
    for p in [
        "/etc/pki/tls/openssl.cnf",
        "/etc/crypto-policies/back-ends/opensslcnf.config",
        "/usr/share/crypto-policies/DEFAULT/opensslcnf.txt",
    ] {
        let o = ok(slim(&["analyze", "--quiet", &image, "--explain", p]));
        let out = stdout(&o);
        assert!(
            out.contains("is kept") && out.contains("rule "),
            "{p}: {out}"
        );
    }
}

/// An Alpine-style root: musl's loader at /lib/ld-musl-x86_64.so.1 (Debian's
/// musl build), a program and a library compiled with musl-gcc.
fn musl_root() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    for d in ["lib", "usr/bin", "usr/local/lib", "etc", "decoy", "opt/lib"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::copy(
        "/lib/x86_64-linux-musl/libc.so",
        root.join("lib/ld-musl-x86_64.so.1"),
    )
    .unwrap();
    for out in [
        "usr/local/lib/libfoo.so",
        "decoy/libfoo.so",
        "opt/lib/libbar.so",
    ] {
        let soname = out.rsplit('/').next().unwrap();
        musl_gcc(
            &root.join(out),
            "int foo(void) { return 1; }\n",
            Some(soname),
            &[],
        );
    }
    musl_gcc(
        &root.join("usr/bin/app"),
        "int foo(void); int main(void) { return foo() - 1; }\n",
        None,
        &[
            format!("-L{}", root.join("usr/local/lib").display()),
            format!("-L{}", root.join("opt/lib").display()),
            "-Wl,--no-as-needed".into(),
            "-l:libfoo.so".into(),
            "-l:libbar.so".into(),
        ],
    );
    // glibc's configuration, which musl never reads: a decoy first in line.
    std::fs::write(root.join("etc/ld.so.conf"), "/decoy\n").unwrap();
    (tmp, root)
}

/// musl's own answer: `ld-musl --list` in a chroot, name => path.
fn musl_list(root: &Path) -> Vec<(String, String)> {
    let o = Command::new("/usr/sbin/chroot")
        .arg(root)
        .args(["/lib/ld-musl-x86_64.so.1", "--list", "/usr/bin/app"])
        .env_clear()
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| {
            let (n, rest) = l.trim().split_once(" => ")?;
            Some((n.to_string(), rest.split(" (").next()?.trim().to_string()))
        })
        .collect()
}

#[test]
fn musl_programs_are_searched_as_musl_does() {
    let (tmp, root) = musl_root();
    // musl's path file names /opt/lib; without it, only /lib:/usr/local/lib:/usr/lib.
    std::fs::write(
        root.join("etc/ld-musl-x86_64.path"),
        "/lib\n/usr/local/lib:/opt/lib\n/usr/lib\n",
    )
    .unwrap();
    let real = musl_list(&root);
    assert_eq!(
        real_to(&real, "libfoo.so"),
        "/usr/local/lib/libfoo.so",
        "{real:?}"
    );
    assert_eq!(
        real_to(&real, "libbar.so"),
        "/opt/lib/libbar.so",
        "{real:?}"
    );
    let layer = tmp.path().join("layer.tar");
    tar_dir(&root, &layer);
    let mut img = Img::new(vec![(std::fs::read(&layer).unwrap(), Comp::Gzip)]);
    img.entrypoint = vec!["/usr/bin/app".into()];
    let out = tmp.path().join("image");
    oci_layout(&out, &img, "t");
    let o = ok(slim(&[
        "analyze",
        "--format",
        "json",
        "--quiet",
        out.to_str().unwrap(),
    ]));
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
    let edges: Vec<(String, String, Option<String>)> = r["dependencies"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["from"].as_str().unwrap().to_string(),
                e["name"].as_str().unwrap().to_string(),
                e["to"].as_str().map(String::from),
            )
        })
        .collect();
    assert_eq!(to(&edges, "libfoo.so"), Some("/usr/local/lib/libfoo.so"));
    assert_eq!(to(&edges, "libbar.so"), Some("/opt/lib/libbar.so"));
    // libc.so is the loader itself, as musl says.
    assert_eq!(to(&edges, "libc.so"), Some("/lib/ld-musl-x86_64.so.1"));
    let unresolved: Vec<Diagnostic> = diagnostics(&r)
        .into_iter()
        .filter(|d| d.code.as_str() == "elf-unresolved-needed")
        .collect();
    assert!(unresolved.is_empty(), "{unresolved:?}");
}

/// Regression (issue 11): an `/etc/ld.so.conf` include whose glob makes a
/// backtracking matcher take exponential time must not hang `analyze`.
#[test]
fn crafted_ld_so_conf_glob_does_not_hang_the_trace() {
    let d = tempfile::tempdir().unwrap();
    let app = std::fs::read("/bin/true").unwrap();
    let include = format!("include /etc/ld.so.conf.d/{}b\n", "*a".repeat(14));
    let long = format!("etc/ld.so.conf.d/{}", "a".repeat(60));
    let img = Img::new(vec![(
        tar_of(&[
            E::Exec("bin/app", &app),
            E::File("etc/ld.so.conf", include.as_bytes()),
            E::File(&long, b"/opt/lib\n"),
        ]),
        Comp::Gzip,
    )]);
    oci_layout(&d.path().join("img"), &img, "v1");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_slim"))
        .args([
            "analyze",
            "-q",
            "--format",
            "json",
            d.path().join("img").to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let t0 = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "{status:?}");
            break;
        }
        if t0.elapsed().as_secs() > 20 {
            let _ = child.kill();
            panic!("analyze still running after 20 s: the glob matcher backtracks");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
