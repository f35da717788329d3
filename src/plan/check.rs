//! The result check: before an image is written, what its command needs is
//! in it. Each failure is a diagnostic with a stable code and the fix;
//! `rewrite` refuses the errors unless `--force`.

use super::Plan;
use crate::diagnostic::{Code, Diagnostic, Severity};
use crate::fs::Rootfs;
use crate::fs::Tree;
use crate::trace::Trace;

fn exists(tree: &Tree, path: &str) -> bool {
    tree.resolve(path, true)
        .is_ok_and(|r| tree.get(&r.path).is_some())
}

/// The interpreter a `#!` line names, and for `/usr/bin/env PROG`, PROG.
fn shebang(head: &[u8]) -> Option<(String, Option<String>)> {
    let line = head.strip_prefix(b"#!")?;
    let line = String::from_utf8_lossy(line.split(|b| *b == b'\n').next()?).into_owned();
    let mut words = line.split_whitespace();
    let interp = words.next()?.to_string();
    let prog = interp
        .ends_with("/env")
        .then(|| words.find(|w| !w.starts_with('-')).map(String::from))
        .flatten();
    Some((interp, prog))
}

/// Checks the planned tree against what the command needs.
pub fn check(plan: &Plan, layers: &Rootfs, trace: &Trace, env: &[String]) -> Vec<Diagnostic> {
    let tree = &plan.tree;
    let mut out = Vec::new();
    // 1. What the command line names, and the program itself.
    let mut named: Vec<&String> = trace.named.iter().collect();
    named.extend(trace.entrypoint.iter());
    for p in named {
        if !exists(tree, p) {
            out.push(
                Diagnostic::new(
                    Code::CheckMissingCommandPath,
                    Some(p),
                    format!("{p}, which the command runs or names, is not in the result"),
                )
                .fix("keep it", ["--keep", p]),
            );
        }
    }
    // 2. The application roots.
    for r in &trace.app_roots {
        if !exists(tree, r) {
            out.push(
                Diagnostic::new(
                    Code::CheckMissingAppRoot,
                    Some(r),
                    format!("the application's directory {r} is not in the result"),
                )
                .fix("keep it", ["--keep".to_string(), format!("{r}/**")]),
            );
        }
    }
    // 3. Symlinks whose target the input had and the result lacks.
    for (p, n) in tree.iter() {
        let Some(target) = n.symlink_target() else {
            continue;
        };
        let abs = format!("/{p}");
        if !exists(tree, &abs) && exists(&layers.tree, &abs) {
            let to = layers
                .tree
                .resolve(&abs, true)
                .map(|r| format!("/{}", r.path))
                .unwrap_or_else(|_| target.to_string());
            out.push(
                Diagnostic::new(
                    Code::CheckDanglingSymlink,
                    Some(&abs),
                    format!("{abs} -> {target} points to {to}, which is not in the result"),
                )
                .fix("keep it", ["--keep", &to])
                .fix("drop the link", ["--drop", &abs]),
            );
        }
    }
    // 4. Scripts that will run: their interpreters. The program and what the
    // command line names must start (errors); the app's own executable
    // scripts may be run by it (warnings).
    let mut scripts: Vec<(String, Severity)> = Vec::new();
    for p in trace.named.iter().chain(trace.entrypoint.iter()) {
        scripts.push((p.clone(), Severity::Error));
    }
    for r in &trace.app_roots {
        for (p, n) in tree.subtree(r.trim_start_matches('/')) {
            if n.is_file() && n.meta.mode & 0o111 != 0 {
                // A library's own helper scripts (node_modules/x/bin/…) are not
                // what the command runs: said at info, in --format json.
                let severity = match in_dependency_tree(p) {
                    true => Severity::Info,
                    false => Severity::Warning,
                };
                scripts.push((format!("/{p}"), severity));
            }
        }
    }
    scripts.sort();
    scripts.dedup_by(|a, b| a.0 == b.0);
    for (p, severity) in scripts {
        let Some(head) = layers.read(&p, 256) else {
            continue;
        };
        let Some((interp, prog)) = shebang(&head) else {
            continue;
        };
        let missing = if !exists(tree, &interp) {
            Some(interp.clone())
        } else {
            prog.filter(|prog| {
                !matches!(
                    crate::trace::resolve_program(tree, prog, env, "/"),
                    Ok(Ok(_))
                )
            })
        };
        if let Some(m) = missing {
            out.push(
                Diagnostic::new(
                    Code::CheckMissingInterpreter,
                    Some(&p),
                    format!("{p} runs through {m} (its #! line), which is not in the result"),
                )
                .fix("keep it", ["--keep", &m])
                .with_severity(severity),
            );
        }
    }
    out
}

/// Whether a path is inside the installed dependencies of an app (npm's
/// `node_modules`, Python's site directories, bundler's and gems' trees).
fn in_dependency_tree(path: &str) -> bool {
    path.split('/').any(|c| {
        matches!(
            c,
            "node_modules" | "site-packages" | "dist-packages" | "gems" | "bundle" | "vendor"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::{in_dependency_tree, shebang};

    #[test]
    fn dependency_trees() {
        assert!(in_dependency_tree("usr/src/app/node_modules/ms/bin/x.js"));
        assert!(in_dependency_tree(
            "app/.venv/lib/python3.12/site-packages/a/b.py"
        ));
        assert!(!in_dependency_tree("usr/src/app/bin/start.sh"));
    }

    #[test]
    fn shebang_lines() {
        assert_eq!(shebang(b"#!/bin/sh\nx"), Some(("/bin/sh".into(), None)));
        assert_eq!(
            shebang(b"#!/usr/bin/env -S python3 -u\n"),
            Some(("/usr/bin/env".into(), Some("python3".into())))
        );
        assert_eq!(shebang(b"\x7fELF"), None);
    }
}
