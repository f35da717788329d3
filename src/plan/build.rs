//! The output tree built from the input's nodes, and the package metadata
//! merged into it; why a dropped path was dropped.

use super::*;

pub(super) fn abs(p: &str) -> String {
    format!("/{}", p.trim_start_matches('/'))
}

pub(super) struct Builder<'a> {
    pub(super) layers: &'a Rootfs,
    pub(super) tree: Tree,
    pub(super) why: BTreeMap<String, String>,
    pub(super) made: Vec<Vec<u8>>,
}

impl Builder<'_> {
    /// Copies the source node at real path `p` (and its parent directories) into the output.
    pub(super) fn take(&mut self, p: &str, why: &str) {
        let src = &self.layers.tree;
        let key = p.trim_start_matches('/');
        let Some(node) = src.get(key) else { return };
        let mut dir = key;
        while let Some((parent, _)) = dir.rsplit_once('/') {
            if self.tree.get(parent).is_none() {
                if let Some(n) = src.get(parent) {
                    self.tree.insert(parent, n.clone());
                    self.why
                        .entry(abs(parent))
                        .or_insert_with(|| "parent".into());
                }
            }
            dir = parent;
        }
        if self.tree.get(key).is_none() {
            self.tree.insert(key, node.clone());
        }
        self.why.insert(abs(key), why.to_string());
    }

    /// Like `take`, following a symlink: every hop and the target.
    pub(super) fn take_path(&mut self, path: &str, why: &str) {
        let src = &self.layers.tree;
        let Ok(r) = src.resolve(path, false) else {
            return;
        };
        let hops = r.hops.clone();
        for h in hops {
            self.take(&h, "symlink-hop");
        }
        self.take(&r.path, why);
        if src
            .get(&r.path)
            .is_some_and(|n| n.symlink_target().is_some())
        {
            if let Ok(full) = src.resolve(&r.path, true) {
                for h in &full.hops {
                    self.take(h, "symlink-hop");
                }
                self.take(&full.path, why);
            }
        }
    }

    /// Adds a file slim makes, replacing any source file there.
    pub(super) fn make(&mut self, path: &str, bytes: Vec<u8>, meta: Meta, why: &str) {
        let key = path.trim_start_matches('/');
        if let Some((parent, _)) = key.rsplit_once('/') {
            if self.tree.get(parent).is_none() {
                self.take(parent, "parent");
            }
            self.ensure_dir(parent);
        }
        let size = bytes.len() as u64;
        self.made.push(bytes);
        let data = DataRef {
            layer: MADE,
            offset: (self.made.len() - 1) as u64,
        };
        self.tree.insert(
            key,
            Node {
                kind: Kind::File {
                    data,
                    hardlink: None,
                },
                meta: Meta { size, ..meta },
                layer: MADE,
            },
        );
        self.why.insert(abs(key), why.to_string());
    }

    pub(super) fn ensure_dir(&mut self, key: &str) {
        let mut acc = String::new();
        for c in key.split('/').filter(|c| !c.is_empty()) {
            if !acc.is_empty() {
                acc.push('/');
            }
            acc.push_str(c);
            if self.tree.get(&acc).is_none() {
                match self.layers.tree.get(&acc) {
                    Some(n) if n.is_dir() => self.tree.insert(&acc, n.clone()),
                    _ => {
                        let meta = Meta {
                            mode: 0o755,
                            ..Meta::default()
                        };
                        self.tree.insert(
                            &acc,
                            Node {
                                kind: Kind::Dir,
                                meta,
                                layer: MADE,
                            },
                        );
                    }
                }
                self.why.entry(abs(&acc)).or_insert_with(|| "parent".into());
            }
        }
    }
}

/// Lines of a passwd/group file, plus `extra` entries whose name is absent.
pub(super) fn merge_db(original: Option<Vec<u8>>, extra: &[String]) -> Vec<u8> {
    let mut text = original
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    let names: BTreeSet<String> = text
        .lines()
        .filter_map(|l| l.split(':').next())
        .map(String::from)
        .collect();
    for e in extra {
        let name = e.split(':').next().unwrap_or_default();
        if !names.contains(name) {
            text.push_str(e);
            text.push('\n');
        }
    }
    text.into_bytes()
}

pub(super) fn category_of_dropped(path: &str, node: &Node) -> &'static str {
    let base = path.rsplit('/').next().unwrap_or("");
    if crate::rules::programs::SHELLS.contains(&base) && path.contains("bin/") {
        "shells"
    } else if crate::rules::programs::PACKAGE_MANAGERS.contains(&base) && path.contains("bin/")
        || path.starts_with("var/lib/dpkg")
        || path.starts_with("var/lib/apt")
        || path.starts_with("var/cache/apt")
        || [
            "-packages/pip/",
            "/node_modules/npm/",
            "/node_modules/corepack/",
            "/node_modules/yarn/",
        ]
        .iter()
        .any(|d| path.contains(d))
    {
        "package-managers"
    } else if ["usr/share/doc/", "usr/share/man/", "usr/share/info/"]
        .iter()
        .any(|d| path.starts_with(d))
    {
        "docs"
    } else if path.starts_with("usr/share/locale/") || path.starts_with("usr/lib/locale/") {
        "locales"
    } else if path.contains("/bin/") || path.contains("/sbin/") || path.starts_with("bin/") {
        "executables"
    } else if base.contains(".so") || path.contains("/lib/") && node.meta.mode & 0o111 != 0 {
        "libraries"
    } else {
        "other"
    }
}
