//! The entrypoint's package data: the config, data and state of the packages
//! owning what the container runs, their same-source siblings and their
//! dependencies, the paths their config files name, and the paths compiled
//! into the programs.

use super::state::State;
use super::Reason;
use crate::catalog::Catalog;
use crate::rules::{self, Rules};
use std::collections::BTreeSet;

/// The config, data and state of the packages owning the entrypoint (and
/// its interpreters), of same-source siblings and of their dependencies.
pub(super) fn package_data(
    st: &mut State,
    catalog: &Catalog,
    rules: &Rules,
    related: &[String],
) -> bool {
    let Some(pd) = &rules.package_data else {
        return false;
    };
    let excluded = |p: &str| rules::matches_any(&pd.exclude, p);
    let mut roots: Vec<String> = Vec::new();
    for path in related {
        let real = st
            .layers
            .tree
            .resolve(path, false)
            .map(|r| r.path)
            .unwrap_or_default();
        for p in catalog.owners(&real) {
            if !roots.contains(&p.name) {
                roots.push(p.name.clone());
            }
            for sib in catalog.from_source(p.source.as_deref().unwrap_or(&p.name)) {
                if !roots.contains(&sib.name) {
                    roots.push(sib.name.clone());
                }
            }
        }
    }
    let mut pkgs: Vec<(String, String)> = Vec::new();
    for r in &roots {
        for (p, parent) in catalog.with_dependencies(r, &pd.skip_packages) {
            if pkgs.iter().any(|(n, _)| n == &p.name) {
                continue;
            }
            let via = match parent {
                None => "entrypoint package".to_string(),
                Some(parent) => format!("dependency of {parent}"),
            };
            pkgs.push((p.name.clone(), via));
        }
    }
    let mut new = false;
    let tree = &st.layers.tree;
    let mut links: Vec<(String, Reason)> = Vec::new();
    let mut owned_dirs: Vec<(String, Reason)> = Vec::new();
    for (name, via) in &pkgs {
        let Some(pkg) = catalog.named(name).next() else {
            continue;
        };
        let reason = Reason::Package {
            package: pkg.name.clone(),
            via: via.clone(),
        };
        for f in &pkg.files {
            let Ok(r) = tree.resolve(f, false) else {
                continue;
            };
            let abs = format!("/{}", r.path);
            let Some(node) = tree.get(&r.path) else {
                continue;
            };
            if excluded(&abs) || excluded(f) {
                continue;
            }
            match &node.kind {
                crate::fs::Kind::Dir => {
                    new |= st.insert(&abs, reason.clone());
                    owned_dirs.push((r.path.clone(), reason.clone()));
                }
                crate::fs::Kind::Symlink(_) => links.push((abs, reason.clone())),
                crate::fs::Kind::File { .. } => {
                    let elf = st.loader.elf_at(&r.path).is_some();
                    if st.is_data_file(&r.path, node) {
                        new |= st.insert(&abs, reason.clone());
                    } else if elf && roots.contains(name) && is_module(&r.path) {
                        // A runtime's own modules (ruby's, perl's XS, PHP's
                        // extensions): shared objects its packages install
                        // outside the loader's directories are loaded by path.
                        new |= st.insert(&abs, reason.clone());
                    }
                }
                _ => new |= st.insert(&abs, reason.clone()),
            }
        }
    }
    // Files a maintainer script made (not in any .list) in a directory only these packages own.
    for (dir, reason) in owned_dirs {
        let shared = catalog
            .owners(&dir)
            .any(|p| !pkgs.iter().any(|(n, _)| n == &p.name));
        if shared || dir.matches('/').count() < 2 {
            continue;
        }
        let extra: Vec<String> = tree
            .subtree(&dir)
            .filter(|(p, n)| !catalog.is_owned(p) && !n.is_dir() && st.loader.elf_at(p).is_none())
            .map(|(p, _)| format!("/{p}"))
            .filter(|p| !excluded(p))
            .collect();
        for p in extra {
            new |= st.keep(&p, reason.clone());
        }
    }
    // A package symlink is kept when what it points to is.
    for (link, reason) in links {
        if let Ok(full) = tree.resolve(&link, true) {
            if st.t.kept.contains_key(&format!("/{}", full.path)) {
                new |= st.keep(&link, reason);
            }
        }
    }
    st.t.packages = pkgs.into_iter().map(|(n, _)| n).collect();
    new |= config_references(st, pd, &excluded);
    new
}

/// A shared object outside the directories the loader searches by default:
/// something a program loads by path (a plugin or extension module).
fn is_module(real: &str) -> bool {
    let (dir, name) = real.rsplit_once('/').unwrap_or(("", real));
    if !name.contains(".so") {
        return false;
    }
    let comps: Vec<&str> = dir.split('/').collect();
    let lib = |c: &str| matches!(c, "lib" | "lib64" | "lib32");
    let default = match comps.as_slice() {
        [l] => lib(l),
        ["usr", l] | ["usr", "local", l] => lib(l),
        [l, t] | ["usr", l, t] => lib(l) && t.contains("-linux-"),
        _ => false,
    };
    !default
}

/// Whether a string is a library's file name as dlopen takes it:
/// `lib` NAME `.so`, with an optional numeric version (`libfontconfig.so.1`).
pub(super) fn is_soname(s: &[u8]) -> bool {
    let Some(rest) = s.strip_prefix(b"lib") else {
        return false;
    };
    let Some(at) = rest.windows(3).position(|w| w == b".so") else {
        return false;
    };
    let (name, version) = (&rest[..at], &rest[at + 3..]);
    !name.is_empty()
        && name
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"_+-.".contains(b))
        && (version.is_empty()
            || version.starts_with(b".")
                && version[1..]
                    .split(|b| *b == b'.')
                    .all(|p| !p.is_empty() && p.iter().all(u8::is_ascii_digit)))
}

/// The absolute paths among a binary's printable strings (`/var/lib/nginx/body`),
/// and the bare sonames (`libfontconfig.so.1`, see [`is_soname`]).
pub(super) fn absolute_strings(r: impl std::io::Read) -> std::io::Result<BTreeSet<String>> {
    // Streamed: a program can be 120 MB (node); no path is 4 KiB long.
    const MAX_RUN: usize = 4096;
    let mut found: BTreeSet<String> = BTreeSet::new();
    let mut take = |run: &[u8]| {
        if run.len() >= 5 && run[0] == b'/' && run[1].is_ascii_alphanumeric() {
            let s = String::from_utf8_lossy(run)
                .trim_end_matches(['/', '.', ',', ':', ';', ')'])
                .to_string();
            if !s.contains(['%', '*', '$', '{', '\\', '\'', '"', '(']) {
                found.insert(s);
            }
        } else if is_soname(run) {
            // A bare soname (`libfontconfig.so.1`): what dlopen may be given.
            found.insert(String::from_utf8_lossy(run).into_owned());
        }
    };
    let printable = |b: &u8| (0x21..0x7f).contains(b);
    let mut r = r;
    let mut buf = vec![0u8; 256 << 10];
    // A run that began in an earlier read: its bytes so far, and whether
    // it already passed MAX_RUN.
    let (mut carry, mut too_long) = (Vec::with_capacity(MAX_RUN), false);
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let mut rest = &buf[..n];
        // Whole runs are taken from the buffer in place; only a run cut by
        // the end of a read is copied.
        while let Some(end) = rest.iter().position(|b| !printable(b)) {
            let run = &rest[..end];
            if carry.is_empty() && !too_long {
                if run.len() <= MAX_RUN {
                    take(run);
                }
            } else {
                if !too_long && carry.len() + run.len() <= MAX_RUN {
                    carry.extend_from_slice(run);
                    take(&carry);
                }
                carry.clear();
                too_long = false;
            }
            let next = &rest[end + 1..];
            rest = match next.iter().position(printable) {
                Some(p) => &next[p..],
                None => &[],
            };
        }
        if carry.len() + rest.len() <= MAX_RUN {
            carry.extend_from_slice(rest);
        } else {
            too_long = true;
        }
    }
    if !too_long {
        take(&carry);
    }
    Ok(found)
}

/// Keeps the directories and data files whose absolute paths are compiled
/// into the program (nginx's `/var/lib/nginx/body`: the directory must exist).
pub(super) fn compiled_in(st: &mut State, rules: &Rules, program: &str) -> bool {
    let excluded = |p: &str| {
        rules
            .package_data
            .as_ref()
            .is_some_and(|pd| rules::matches_any(&pd.exclude, p))
    };
    let Some(found) = st.strings_of(program) else {
        return false;
    };
    let reason = Reason::CompiledIn {
        by: program.to_string(),
    };
    let mut new = false;
    for s in found.iter().filter(|s| s.starts_with('/')) {
        let tree = &st.layers.tree;
        let target = match tree.resolve(s, true) {
            Ok(r) => Some(r.path),
            // A file the program creates: its directory.
            Err(_) => s
                .rsplit_once('/')
                .map(|(d, _)| d)
                .filter(|d| d.len() > 1)
                .and_then(|d| tree.resolve(d, true).ok())
                .map(|r| r.path),
        };
        let Some(path) = target else { continue };
        if tree.resolve(s, true).is_err() && tree.get(&path).is_some_and(|n| n.is_dir()) {
            st.t.creates.insert(s.clone(), format!("/{path}"));
        }
        let Some(node) = tree.get(&path) else {
            continue;
        };
        let abs = format!("/{path}");
        let data = node.is_dir() || st.is_data_file(&path, node);
        if data && !excluded(&abs) {
            // As named when it exists (its symlink hops too), else its directory.
            let named = if tree.resolve(s, true).is_ok() {
                s.clone()
            } else {
                abs
            };
            new |= st.keep(&named, reason.clone());
        }
    }
    new
}

/// Keeps what kept config files name: absolute paths that exist in the image.
fn config_references(
    st: &mut State,
    pd: &rules::PackageData,
    excluded: &dyn Fn(&str) -> bool,
) -> bool {
    let configs: Vec<String> =
        st.t.kept
            .iter()
            .filter(|(p, r)| {
                matches!(r, Reason::Package { .. }) && rules::matches_any(&pd.config_files, p)
            })
            .map(|(p, _)| p.clone())
            .collect();
    let mut new = false;
    for config in configs {
        let Some(node) = st.layers.tree.get(&config) else {
            continue;
        };
        if !node.is_file() || node.meta.size > 1 << 20 {
            continue;
        }
        let Some(bytes) = st.layers.read(&config, 1 << 20) else {
            continue;
        };
        if bytes.contains(&0) {
            continue; // binary
        }
        let text = String::from_utf8_lossy(&bytes).into_owned();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim_start();
            if line.starts_with('#') {
                continue;
            }
            for word in line.split(|c: char| {
                c.is_whitespace() || matches!(c, ';' | '"' | '\'' | ',' | '=' | '(' | ')')
            }) {
                if !word.starts_with('/') || word.len() < 2 || word.contains(['$', '{']) {
                    continue;
                }
                if word.contains(['*', '?']) {
                    // `include /etc/nginx/sites-enabled/*;`: what it matches, and its directory.
                    let reason = Reason::ConfigReference {
                        config: config.clone(),
                        line: i + 1,
                    };
                    let dir = word.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
                    if dir.len() > 1
                        && !dir.contains(['*', '?'])
                        && st.layers.tree.resolve(dir, true).is_ok()
                    {
                        new |= st.keep(dir, reason.clone());
                    }
                    let (paths, _) = rules::glob(&st.layers.tree, word);
                    for p in paths {
                        let data = st
                            .layers
                            .tree
                            .get(&p)
                            .is_some_and(|n| !n.is_file() || st.is_data_file(&p, n));
                        if data && !excluded(&p) {
                            new |= st.keep(&p, reason.clone());
                        }
                    }
                    continue;
                }
                let Ok(r) = st.layers.tree.resolve(word, true) else {
                    // A file the program will create (`pid /run/nginx.pid;`):
                    // keep the directory it goes in.
                    let parent = word.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
                    if parent.len() > 1 {
                        if let Ok(d) = st.layers.tree.resolve(parent, true) {
                            let abs = format!("/{}", d.path);
                            if st.layers.tree.get(&d.path).is_some_and(|n| n.is_dir())
                                && !excluded(&abs)
                            {
                                st.t.creates.insert(word.to_string(), abs.clone());
                                let reason = Reason::ConfigReference {
                                    config: config.clone(),
                                    line: i + 1,
                                };
                                new |= st.keep(parent, reason);
                            }
                        }
                    }
                    continue;
                };
                let abs = format!("/{}", r.path);
                let Some(node) = st.layers.tree.get(&r.path) else {
                    continue;
                };
                if excluded(&abs) || st.t.kept.contains_key(&abs) {
                    continue;
                }
                let reason = Reason::ConfigReference {
                    config: config.clone(),
                    line: i + 1,
                };
                let data = |st: &State, p: &str, n: &crate::fs::Node| {
                    st.is_data_file(p, n) && !excluded(&format!("/{p}"))
                };
                if node.is_dir() {
                    new |= st.keep(word, reason.clone());
                    if r.path.matches('/').count() >= 2 {
                        let files: Vec<String> = st
                            .layers
                            .tree
                            .subtree(&r.path)
                            .filter(|(p, n)| n.is_dir() || (n.is_file() && data(st, p, n)))
                            .map(|(p, _)| format!("/{p}"))
                            .collect();
                        for f in files {
                            new |= st.keep(&f, reason.clone());
                        }
                    }
                } else if node.is_file() && data(st, &r.path, node) {
                    new |= st.keep(word, reason);
                }
            }
        }
    }
    new
}

#[cfg(test)]
mod tests {
    /// A reader that hands out a few bytes at a time, so runs cross reads.
    struct Trickle<'a>(&'a [u8]);

    impl std::io::Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.0.len().min(buf.len()).min(3);
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn absolute_strings_of_a_stream() {
        let mut bytes = b"\x7fELF\0/var/lib/nginx/body\0x/not\0/etc/a.conf;\0%s/x\0".to_vec();
        bytes.extend(std::iter::repeat_n(b'/', 5000));
        bytes.extend(b"\0/usr/share/end");
        let all = |r: &[u8]| super::absolute_strings(Trickle(r)).unwrap();
        let found = all(&bytes);
        let want: Vec<&str> = vec!["/etc/a.conf", "/usr/share/end", "/var/lib/nginx/body"];
        for (name, yes) in [
            ("libfontconfig.so.1", true),
            ("libc.so.6", true),
            ("libgtk-3.so.0", true),
            ("libstdc++.so.6.0.30", true),
            ("libfoo.so", true),
            ("libnss_%s.so.2", false),
            ("libfoo.so.", false),
            ("libfoo.so.x", false),
            ("lib.so", false),
            ("libfoo.sox", false),
        ] {
            assert_eq!(super::is_soname(name.as_bytes()), yes, "{name}");
        }
        assert_eq!(found.iter().map(String::as_str).collect::<Vec<_>>(), want);
        assert_eq!(super::absolute_strings(bytes.as_slice()).unwrap(), found);
    }
}
