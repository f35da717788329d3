//! The application itself, beyond what package databases know: the files and
//! directories the command line names, the app's own tree (its WorkingDir,
//! the directory of the script or jar it runs), pass-through wrapper scripts
//! (`docker-entrypoint.sh … exec "$@"`), and libraries a program `dlopen`s by
//! a path compiled into it.

use super::state::State;
use super::Reason;
use crate::catalog::Catalog;
use crate::diagnostic::{Code, Diagnostic};
use std::collections::BTreeSet;

/// Directories that are never an application's own root, however the image
/// sets WorkingDir: keeping one whole would keep the system.
pub const SYSTEM_DIRS: &[&str] = &[
    "/",
    "/bin",
    "/sbin",
    "/lib",
    "/lib64",
    "/usr",
    "/usr/bin",
    "/usr/sbin",
    "/usr/lib",
    "/usr/lib64",
    "/usr/libexec",
    "/usr/share",
    "/usr/include",
    "/usr/src",
    "/usr/local",
    "/usr/local/bin",
    "/usr/local/sbin",
    "/usr/local/lib",
    "/usr/local/share",
    "/usr/local/include",
    "/etc",
    "/var",
    "/var/lib",
    "/var/cache",
    "/var/log",
    "/var/tmp",
    "/opt",
    "/home",
    "/root",
    "/tmp",
    "/run",
    "/srv",
    "/mnt",
    "/media",
    "/dev",
    "/proc",
    "/sys",
    "/boot",
];

/// Version-control metadata an app tree copied with `COPY . /app` may carry.
const VCS: &[&str] = &[".git", ".hg", ".svn", ".bzr"];

/// `dir/../x` and `./x` made plain.
fn join(dir: &str, rel: &str) -> String {
    let base = if rel.starts_with('/') { "" } else { dir };
    crate::rules::normalize(&format!("{}/{rel}", base.trim_end_matches('/')))
}

/// The paths a command-line word may name: itself, the value of
/// `--opt=VALUE`, each element of a `:`-separated list (`-cp a.jar:lib/*`),
/// with a trailing `/*` (a classpath wildcard) meaning the directory.
fn candidates(word: &str) -> Vec<String> {
    let value = match word.split_once('=') {
        Some((k, v)) if k.starts_with('-') => v,
        _ if word.starts_with('-') => return Vec::new(),
        _ => word,
    };
    let mut out: Vec<String> = value
        .split(':')
        .filter(|p| !p.is_empty())
        .map(|p| p.strip_suffix("/*").unwrap_or(p).to_string())
        .collect();
    // A Python module argument (`-m pkg.mod`, `uvicorn main:app`,
    // `gunicorn app.wsgi:application`): the module's file or package
    // directory, found from WorkingDir as sys.path[0] finds it.
    let module = value.split(':').next().unwrap_or("");
    let ident = |p: &str| {
        p.chars()
            .next()
            .is_some_and(|c| c.is_alphabetic() || c == '_')
            && p.chars().all(|c| c.is_alphanumeric() || c == '_')
    };
    let file_like = module.rsplit_once('.').is_some_and(|(_, ext)| {
        matches!(
            ext,
            "py" | "js"
                | "mjs"
                | "cjs"
                | "ts"
                | "jar"
                | "rb"
                | "pl"
                | "sh"
                | "php"
                | "lua"
                | "json"
                | "toml"
                | "yaml"
                | "yml"
                | "conf"
                | "cfg"
                | "ini"
                | "txt"
        )
    });
    if !module.is_empty() && !file_like && module.split('.').all(ident) {
        let path = module.replace('.', "/");
        out.push(format!("{path}.py"));
        out.push(path);
    }
    out.sort();
    out.dedup();
    out
}

impl State<'_> {
    /// Whether `dir` (absolute, real) may be an application root.
    fn app_root_ok(&self, dir: &str, catalog: &Catalog) -> bool {
        let key = dir.trim_start_matches('/');
        !SYSTEM_DIRS.contains(&dir)
            && !catalog.is_owned(key)
            && self.layers.tree.get(key).is_some_and(|n| n.is_dir())
    }

    /// Keeps a directory's whole tree (less VCS metadata) for `reason`.
    pub(super) fn keep_tree(&mut self, dir: &str, reason: &Reason) -> bool {
        let key = dir.trim_start_matches('/').to_string();
        let paths: Vec<String> = self
            .layers
            .tree
            .subtree(&key)
            .filter(|(p, _)| !p.split('/').any(|c| VCS.contains(&c)))
            .map(|(p, _)| format!("/{p}"))
            .collect();
        let mut new = self.keep(dir, reason.clone());
        for p in paths {
            new |= self.keep(&p, reason.clone());
        }
        new
    }
}

/// Keeps what the command line names (argv after the program) and the
/// application roots: the WorkingDir when it is the app's, and the directory
/// of each script, jar or other file the command line names there. Records
/// them in the trace for the result check.
pub(super) fn command_line(st: &mut State, argv: &[String], workdir: &str, catalog: &Catalog) {
    let wd = if workdir.is_empty() { "/" } else { workdir };
    let mut roots: BTreeSet<String> = BTreeSet::new();
    // A shell's -c string is not a file name (its programs are traced apart).
    let shell_c = argv.get(1).is_some_and(|a| a == "-c");
    for word in argv.iter().skip(1).filter(|_| !shell_c) {
        for c in candidates(word) {
            let path = join(wd, &c);
            let Ok(r) = st.layers.tree.resolve(&path, true) else {
                continue;
            };
            let Some(node) = st.layers.tree.get(&r.path) else {
                continue;
            };
            let real = format!("/{}", r.path);
            let reason = Reason::CommandLine { word: word.clone() };
            if node.is_dir() {
                if st.app_root_ok(&real, catalog) {
                    roots.insert(real.clone());
                } else {
                    st.keep(&path, reason);
                }
            } else {
                st.keep(&path, reason);
                if real.ends_with(".jar") {
                    class_path(st, &real, 0);
                }
                if let Some((dir, _)) = real.rsplit_once('/') {
                    if st.app_root_ok(dir, catalog) {
                        roots.insert(dir.to_string());
                    }
                }
            }
            st.t.named.insert(path);
        }
    }
    let wd_real = st
        .layers
        .tree
        .resolve(wd, true)
        .map(|r| format!("/{}", r.path))
        .unwrap_or_default();
    if !wd_real.is_empty() && st.app_root_ok(&wd_real, catalog) {
        roots.insert(wd_real);
    }
    // node_modules of the directories above an app root: `require()` looks there too.
    for root in roots.clone() {
        let mut dir = root.as_str();
        while let Some((parent, _)) = dir.rsplit_once('/') {
            let nm = format!("{parent}/node_modules");
            if st
                .layers
                .tree
                .get(nm.trim_start_matches('/'))
                .is_some_and(|n| n.is_dir())
            {
                roots.insert(nm);
            }
            dir = parent;
        }
    }
    // An app root inside another is part of it.
    let all: Vec<String> = roots.iter().cloned().collect();
    roots.retain(|r| {
        !all.iter()
            .any(|o| o != r && r.starts_with(&format!("{o}/")))
    });
    for root in roots {
        if st.t.app_roots.contains(&root) {
            continue;
        }
        st.keep_tree(&root, &Reason::AppRoot { root: root.clone() });
        st.t.app_roots.push(root);
    }
}

/// The jars (and directories) a jar's manifest `Class-Path` names, relative
/// to the jar's directory: kept, and their own `Class-Path` followed.
fn class_path(st: &mut State, jar: &str, depth: usize) {
    if depth > 8 {
        return;
    }
    let Some(node) = st.layers.tree.get(jar.trim_start_matches('/')) else {
        return;
    };
    let Some(section) = st.layers.open(node) else {
        return;
    };
    let Some(cp) =
        super::jar::manifest(&section).and_then(|m| super::jar::attribute(&m, "Class-Path"))
    else {
        return;
    };
    let dir = jar.rsplit_once('/').map(|(d, _)| d).unwrap_or("/");
    for entry in cp.split_whitespace() {
        let entry = entry.strip_prefix("file:").unwrap_or(entry);
        let path = join(dir, entry);
        let Ok(r) = st.layers.tree.resolve(&path, true) else {
            continue;
        };
        let real = format!("/{}", r.path);
        let reason = Reason::ClassPath {
            jar: jar.to_string(),
        };
        if st.layers.tree.get(&r.path).is_some_and(|n| n.is_dir()) {
            st.keep_tree(&path, &reason);
        } else if st.keep(&path, reason) && real.ends_with(".jar") {
            class_path(st, &real, depth + 1);
        }
    }
}

/// Directories a kept `.pth` file of a Python site directory adds to
/// `sys.path` (site(7): one path a line, relative to the site directory;
/// `import` lines and comments run or say nothing): kept whole.
pub(super) fn pth_paths(st: &mut State, done: &mut BTreeSet<String>) -> bool {
    let pths: Vec<String> =
        st.t.kept
            .keys()
            .filter(|p| {
                p.ends_with(".pth")
                    && (p.contains("/site-packages/") || p.contains("/dist-packages/"))
                    && !done.contains(*p)
            })
            .cloned()
            .collect();
    let mut new = false;
    for pth in pths {
        done.insert(pth.clone());
        let Some(text) = st.layers.read(&pth, 1 << 20) else {
            continue;
        };
        let dir = pth
            .rsplit_once('/')
            .map(|(d, _)| d.to_string())
            .unwrap_or_default();
        for line in String::from_utf8_lossy(&text).lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with("import ") {
                continue;
            }
            let path = join(&dir, line);
            let is_dir = st
                .layers
                .tree
                .resolve(&path, true)
                .is_ok_and(|r| st.layers.tree.get(&r.path).is_some_and(|n| n.is_dir()));
            if is_dir && !SYSTEM_DIRS.contains(&path.as_str()) {
                new |= st.keep_tree(&path, &Reason::PathFile { file: pth.clone() });
            }
        }
    }
    new
}

/// Variables whose value lists where a runtime finds the app's own code and
/// packages (`PYTHONPATH=/app/src`, `NODE_PATH`, `CLASSPATH`, `GEM_HOME` …).
const PATH_VARS: &[&str] = &[
    "PYTHONPATH",
    "NODE_PATH",
    "CLASSPATH",
    "PERL5LIB",
    "PERLLIB",
    "RUBYLIB",
    "GEM_HOME",
    "GEM_PATH",
];

/// Keeps what the image's Env points runtimes at (see [`PATH_VARS`]): each
/// existing directory whole, each file (a jar) as it is.
pub(super) fn env_paths(st: &mut State, env: &[String]) {
    for e in env {
        let Some((var, value)) = e.split_once('=') else {
            continue;
        };
        if !PATH_VARS.contains(&var) {
            continue;
        }
        for c in value.split(':').filter(|c| c.starts_with('/')) {
            let c = c.strip_suffix("/*").unwrap_or(c);
            let Ok(r) = st.layers.tree.resolve(c, true) else {
                continue;
            };
            let reason = Reason::EnvPath {
                var: var.to_string(),
            };
            if SYSTEM_DIRS.contains(&format!("/{}", r.path).as_str()) {
                continue;
            }
            if st.layers.tree.get(&r.path).is_some_and(|n| n.is_dir()) {
                st.keep_tree(c, &reason);
            } else {
                st.keep(c, reason);
                if r.path.ends_with(".jar") {
                    class_path(st, &format!("/{}", r.path), 0);
                }
            }
        }
    }
}

/// A `#!` shell script run as the entrypoint that ends by running its
/// arguments (`exec "$@"`, as official images' `docker-entrypoint.sh` do): a
/// pass-through wrapper. Says what would run without it, traces that program
/// (for when the wrapper and a shell are kept) and what the script itself runs.
pub(super) fn wrapper(
    st: &mut State,
    script: &str,
    argv: &[String],
    env: &[String],
    workdir: &str,
) -> Vec<(String, Reason)> {
    let mut programs = Vec::new();
    let Some(text) = st.layers.read(script, 1 << 20) else {
        return programs;
    };
    let text = String::from_utf8_lossy(&text).into_owned();
    // Only shell scripts: `#!/bin/sh`, `#!/usr/bin/env bash`.
    let first = text.lines().next().unwrap_or("");
    let Some(line) = first.strip_prefix("#!") else {
        return programs;
    };
    let mut words = line.split_whitespace();
    let interp = words.next().unwrap_or("");
    let interp = if interp.ends_with("/env") {
        words.find(|w| !w.starts_with('-')).unwrap_or("")
    } else {
        interp
    };
    if !crate::rules::programs::SHELLS.contains(&interp.rsplit('/').next().unwrap_or("")) {
        return programs;
    }
    let runs_args = text
        .lines()
        .map(str::trim)
        .any(|l| !l.starts_with('#') && (l.contains("exec \"$@\"") || l.contains("exec \"${@}\"")));
    // What the script runs itself (gosu, chown, find …), found as sh reads it.
    let body = text.split_once('\n').map(|(_, b)| b).unwrap_or("");
    for p in super::shell::programs(body).programs {
        if let Ok(Ok(path)) = super::resolve_program(&st.layers.tree, &p, env, workdir) {
            programs.push((
                path,
                Reason::ShellCommand {
                    command: format!("{p} (run by {script})"),
                },
            ));
        }
    }
    if !runs_args {
        return programs;
    }
    let rest: Vec<&String> = argv.iter().skip(1).collect();
    st.t.diagnostics.push(
        Diagnostic::new(
            Code::EntrypointWrapper,
            Some(script),
            format!(
            "{script} is a wrapper script that ends in exec \"$@\": without it the image runs {}",
            if rest.is_empty() {
                "nothing (the image has no Cmd)".to_string()
            } else {
                serde_json::to_string(&rest).unwrap_or_default()
            }
        ),
        )
        .fix("run that directly, with no shell", ["--entrypoint", ""])
        .fix("keep the wrapper and a shell", ["--keep", "/bin/sh"]),
    );
    if let Some(prog) = rest.first().filter(|p| !p.starts_with('-')) {
        if let Ok(Ok(path)) = super::resolve_program(&st.layers.tree, prog, env, workdir) {
            programs.push((
                path,
                Reason::Wrapped {
                    wrapper: script.to_string(),
                },
            ));
        }
    }
    programs
}

/// Libraries a kept ELF file that imports `dlopen` names by absolute path in
/// its strings (`/usr/local/lib/svc/plugins/hello.so`), or directories of
/// them (`/usr/local/lib/svc/plugins`): kept, and traced in turn.
pub(super) fn dlopen_paths(
    st: &mut State,
    scanned: &mut BTreeSet<String>,
    dlopened: &mut Vec<String>,
) -> bool {
    let objects: Vec<String> =
        st.t.closure
            .objects
            .keys()
            .filter(|o| !scanned.contains(*o))
            .cloned()
            .collect();
    let mut new = false;
    for o in objects {
        scanned.insert(o.clone());
        if !st.loader.elf_at(&o).is_some_and(|i| i.imports("dlopen")) {
            continue;
        }
        let Some(strings) = st.strings_of(&o) else {
            continue;
        };
        dlopen_sonames(st, &o, &strings, dlopened);
        for s in strings.iter().filter(|s| s.starts_with('/')) {
            let tree = &st.layers.tree;
            let Ok(r) = tree.resolve(s, true) else {
                continue;
            };
            let Some(node) = tree.get(&r.path) else {
                continue;
            };
            let reason = Reason::DlopenPath { by: o.clone() };
            // Libraries only: a program names executables too (`/bin/sh` for
            // its child processes), which are not loaded into it.
            let name = r.path.rsplit('/').next().unwrap_or("");
            if node.is_file() {
                if name.contains(".so") && st.loader.object(s).is_some() {
                    new |= st.keep(s, reason);
                }
            } else if node.is_dir() && r.path.matches('/').count() >= 2 {
                let libs: Vec<String> = tree
                    .subtree(&r.path)
                    .filter(|(p, n)| {
                        n.is_file()
                            && p[r.path.len() + 1..].split('/').count() == 1
                            && p.contains(".so")
                    })
                    .map(|(p, _)| format!("/{p}"))
                    .collect();
                for l in libs {
                    if st.loader.object(&l).is_some() {
                        new |= st.keep(&l, reason.clone());
                    }
                }
            }
        }
    }
    new
}

/// Libraries a kept ELF file that imports `dlopen` names by bare soname in
/// its strings (`libfontconfig.so.1`), found as the loader finds them for it
/// (its RUNPATH, LD_LIBRARY_PATH, ld.so.cache's directories): kept and
/// traced (`dlopen-soname`); their paths go in `dlopened`, so that their
/// packages' data comes too. A soname the image lacks is said (info).
fn dlopen_sonames(
    st: &mut State,
    by: &str,
    strings: &BTreeSet<String>,
    dlopened: &mut Vec<String>,
) {
    let Some(obj) = st.loader.object(by) else {
        return;
    };
    for name in strings.iter().filter(|s| !s.starts_with('/')) {
        // Its own name and what it links are the loader's already.
        if obj.info.soname.as_deref() == Some(name.as_str()) || obj.info.needed.contains(name) {
            continue;
        }
        match st.loader.search(name, &obj, &[]) {
            Ok(Some(lib)) => {
                let reason = Reason::DlopenSoname {
                    by: by.to_string(),
                    name: name.clone(),
                };
                let mut new = st.keep(&lib.path, reason.clone());
                new |= st.keep(&lib.real, reason);
                if new {
                    dlopened.push(lib.real.clone());
                }
            }
            // Unversioned names are for development files (`libfoo.so`): not
            // in a runtime image, and not what a program dlopens when it has the versioned one.
            _ if !name.ends_with(".so") => st.t.diagnostics.push(Diagnostic::new(
                Code::DlopenSonameMissing,
                Some(by),
                format!(
                    "{by} imports dlopen and names {name}, which the image lacks: what needs \
                     it fails at run time if that code runs"
                ),
            )),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_words_and_their_paths() {
        assert_eq!(candidates("main.py"), ["main.py"]);
        assert_eq!(candidates("--config=/etc/app.toml"), ["/etc/app.toml"]);
        assert!(candidates("-g").is_empty());
        assert_eq!(candidates("app.jar:lib/*"), ["app.jar", "lib"]);
        assert_eq!(
            candidates("main:app"),
            ["app", "main", "main.py"],
            "a module:attribute names main.py"
        );
        assert_eq!(
            candidates("app.wsgi:application"),
            ["app.wsgi", "app/wsgi", "app/wsgi.py", "application"]
        );
        assert_eq!(join("/app", "./src/../main.py"), "/app/main.py");
        assert_eq!(join("/app", "/etc/x"), "/etc/x");
    }
}
