//! The merged filesystem view of an image: layers applied in order, with
//! whiteouts, opaque directories and hardlinks, as a container runtime would
//! extract them (OCI image-spec layer.md, "Applying Changesets").
//!
//! No file contents are held: a regular file records where its bytes are
//! ([`DataRef`]: layer index and offset in that layer's uncompressed tar).

mod resolve;
mod rootfs;
mod section;
mod staged;
pub use rootfs::{Content, Rootfs};
pub use section::Section;
pub use staged::*;

pub use resolve::{ResolveError, Resolved};

use std::collections::BTreeMap;
use std::ops::Bound;

/// Where a regular file's bytes are: an offset in a layer's uncompressed tar stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DataRef {
    pub layer: usize,
    pub offset: u64,
}

/// What a node is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A regular file. `hardlink` names the path it was linked to in the layer tar, if any.
    File {
        data: DataRef,
        hardlink: Option<String>,
    },
    Dir,
    Symlink(String),
    CharDevice(u32, u32),
    BlockDevice(u32, u32),
    Fifo,
}

/// Metadata every node carries.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Meta {
    /// Permission bits, including setuid/setgid/sticky (no file type bits).
    pub mode: u32,
    /// Owner ids: 32 bits in Linux (larger tar values are refused when read).
    pub uid: u32,
    pub gid: u32,
    pub mtime: u64,
    /// Size of a regular file's contents; 0 for others.
    pub size: u64,
    /// Extended attributes from PAX `SCHILY.xattr.*` records (e.g.
    /// `security.capability`); boxed, as few files have any (an index of
    /// 100,000 entries carries no empty lists).
    pub xattrs: Box<[(String, Vec<u8>)]>,
}

/// A node of the merged tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub kind: Kind,
    pub meta: Meta,
    /// The layer this node comes from.
    pub layer: usize,
}

impl Node {
    pub fn is_dir(&self) -> bool {
        matches!(self.kind, Kind::Dir)
    }
    pub fn is_file(&self) -> bool {
        matches!(self.kind, Kind::File { .. })
    }
    pub fn symlink_target(&self) -> Option<&str> {
        match &self.kind {
            Kind::Symlink(t) => Some(t),
            _ => None,
        }
    }
}

/// One entry of a layer tar, as read.
#[derive(Debug, Clone)]
pub struct LayerEntry {
    /// Normalised path: no leading `/` or `./`, no `.` or `..` components.
    pub path: String,
    pub kind: EntryKind,
    pub meta: Meta,
}

#[derive(Debug, Clone)]
pub enum EntryKind {
    Node(Kind),
    /// A hardlink to `target` (a normalised path in this or a lower layer).
    Hardlink(String),
    /// `dir/.wh.NAME`: deletes `dir/NAME` from lower layers.
    Whiteout,
    /// `dir/.wh..wh..opq`: hides all lower content of `dir` (path is `dir`).
    Opaque,
}

/// A regular file removed or replaced by a later layer: bytes still shipped, never seen.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Hidden {
    pub path: String,
    pub size: u64,
    pub layer: usize,
    pub hidden_by: usize,
}

/// Problems in a layer's entries that make the image unusable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    #[error("tar entry '{0}' has a '..' component (it would escape the image root)")]
    DotDot(String),
    #[error("tar entry '{0}' has an absolute path")]
    Absolute(String),
    #[error(
        "hardlink '{path}' points to '{target}', which is in neither this layer nor a lower one"
    )]
    HardlinkMissing { path: String, target: String },
    #[error("hardlink '{path}' points to '{target}', which is not a regular file")]
    HardlinkNotFile { path: String, target: String },
}

/// Normalises a tar entry name. `Ok(None)` is the root directory itself.
pub fn entry_path(raw: &str) -> Result<Option<String>, Error> {
    let mut s = raw;
    while let Some(rest) = s.strip_prefix("./") {
        s = rest;
    }
    if s.starts_with('/') {
        return Err(Error::Absolute(raw.to_string()));
    }
    let mut parts = Vec::new();
    for c in s.split('/') {
        match c {
            "" | "." => {}
            ".." => return Err(Error::DotDot(raw.to_string())),
            c => parts.push(c),
        }
    }
    Ok(if parts.is_empty() {
        None
    } else {
        Some(parts.join("/"))
    })
}

/// The merged view of all layers applied so far.
#[derive(Debug, Default)]
pub struct Tree {
    nodes: BTreeMap<String, Node>,
    hidden: Vec<Hidden>,
}

fn parent(path: &str) -> Option<&str> {
    path.rsplit_once('/').map(|(p, _)| p)
}

/// The key range of everything strictly below `dir`.
fn below(dir: &str) -> (Bound<String>, Bound<String>) {
    // '0' is the byte after '/', so [dir/, dir0) is exactly dir's subtree.
    (
        Bound::Included(format!("{dir}/")),
        Bound::Excluded(format!("{dir}0")),
    )
}

impl Tree {
    pub fn new() -> Tree {
        Tree::default()
    }

    /// Looks up a normalised path (no leading `/`), without following symlinks.
    pub fn get(&self, path: &str) -> Option<&Node> {
        self.nodes.get(path.trim_start_matches('/'))
    }

    /// All nodes, sorted by path (parents before children).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Node)> {
        self.nodes.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The direct and indirect children of `dir` ("" for the root), sorted.
    pub fn subtree<'a>(&'a self, dir: &str) -> Box<dyn Iterator<Item = (&'a str, &'a Node)> + 'a> {
        let dir = dir.trim_matches('/');
        if dir.is_empty() {
            Box::new(self.iter())
        } else {
            Box::new(self.nodes.range(below(dir)).map(|(k, v)| (k.as_str(), v)))
        }
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Regular files that later layers deleted or replaced.
    pub fn hidden(&self) -> &[Hidden] {
        &self.hidden
    }

    /// Inserts a node (used to build trees in tests and rewrites).
    pub fn insert(&mut self, path: &str, node: Node) {
        self.nodes.insert(path.trim_matches('/').to_string(), node);
    }

    fn remove_subtree(&mut self, path: &str, by: usize) {
        let keys: Vec<String> = self
            .nodes
            .range(below(path))
            .map(|(k, _)| k.clone())
            .collect();
        for k in keys.iter().map(String::as_str).chain(std::iter::once(path)) {
            if let Some(n) = self.nodes.remove(k) {
                self.note_hidden(k, &n, by);
            }
        }
    }

    fn note_hidden(&mut self, path: &str, n: &Node, by: usize) {
        if let Kind::File { hardlink: None, .. } = n.kind {
            self.hidden.push(Hidden {
                path: path.to_string(),
                size: n.meta.size,
                layer: n.layer,
                hidden_by: by,
            });
        }
    }

    /// Applies one layer's entries on top of the tree. Within a layer the
    /// later of two entries for one path wins; whiteouts and opaque markers
    /// only act on lower layers, whatever their position in the tar.
    pub fn apply_layer(&mut self, layer: usize, entries: Vec<LayerEntry>) -> Result<(), Error> {
        let mut staged = Staged::new(layer);
        for e in entries {
            staged.push(e)?;
        }
        self.apply_staged(staged)
    }

    /// Applies a layer staged entry by entry as it was read (see [`Staged`]).
    pub fn apply_staged(&mut self, staged: Staged) -> Result<(), Error> {
        let Staged {
            layer,
            nodes: mut staged,
            whiteouts,
            opaques,
            lower_links,
            ..
        } = staged;
        // Hardlinks to files of lower layers, as those layers left them.
        for (path, target) in lower_links {
            let Some(node) = staged.get_mut(&path) else {
                continue;
            };
            let still = matches!(&node.kind, Kind::File { data, hardlink: Some(t) } if *data == PENDING && *t == target);
            if !still {
                continue;
            }
            match self.nodes.get(&target) {
                Some(
                    t @ Node {
                        kind: Kind::File { data, .. },
                        ..
                    },
                ) => {
                    node.kind = Kind::File {
                        data: *data,
                        hardlink: Some(target.clone()),
                    };
                    node.meta = t.meta.clone();
                }
                Some(_) => return Err(Error::HardlinkNotFile { path, target }),
                None => return Err(Error::HardlinkMissing { path, target }),
            }
        }
        // The first layer, whose every entry's parent is one of its directories
        // (as in any tar a runtime made): the staged index is the tree, moved.
        if self.nodes.is_empty()
            && whiteouts.is_empty()
            && opaques.is_empty()
            && staged
                .iter()
                .all(|(p, _)| parent(p).map_or(true, |d| staged.get(d).is_some_and(Node::is_dir)))
        {
            compact(&mut staged);
            self.nodes = staged;
            return Ok(());
        }
        for dir in opaques {
            let keys: Vec<String> = self
                .nodes
                .range(below(&dir))
                .map(|(k, _)| k.clone())
                .collect();
            for k in keys {
                if let Some(n) = self.nodes.remove(&k) {
                    self.note_hidden(&k, &n, layer);
                }
            }
        }
        for path in whiteouts {
            self.remove_subtree(&path, layer);
        }

        for (path, node) in staged {
            let path = self.place(&path, layer);
            match self.nodes.get(&path) {
                Some(old) if old.is_dir() && node.is_dir() => {}
                Some(_) => self.remove_subtree(&path, layer),
                None => {}
            }
            self.nodes.insert(path, node);
        }
        Ok(())
    }

    /// Makes sure `path`'s parents exist as directories, as a runtime
    /// extracting the tar would: missing parents are created, and a parent
    /// that is a symlink in a lower layer is followed (inside the root).
    /// Returns the path where the entry really lands.
    fn place(&mut self, path: &str, layer: usize) -> String {
        let Some(dir) = parent(path) else {
            return path.to_string();
        };
        match self.nodes.get(dir) {
            Some(n) if n.is_dir() => return path.to_string(),
            Some(n) if n.symlink_target().is_some() => {
                if let Ok(r) = self.resolve(dir, true) {
                    if matches!(self.nodes.get(&r.path), Some(n) if n.is_dir()) {
                        let name = &path[dir.len() + 1..];
                        return if r.path.is_empty() {
                            name.to_string()
                        } else {
                            format!("{}/{}", r.path, name)
                        };
                    }
                }
            }
            _ => {}
        }
        let dir = self.place(dir, layer);
        if !matches!(self.nodes.get(&dir), Some(n) if n.is_dir()) {
            self.remove_subtree(&dir, layer);
            let meta = Meta {
                mode: 0o755,
                ..Meta::default()
            };
            self.nodes.insert(
                dir.clone(),
                Node {
                    kind: Kind::Dir,
                    meta,
                    layer,
                },
            );
        }
        format!("{dir}/{}", &path[parent(path).map_or(0, |p| p.len() + 1)..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, offset: u64) -> LayerEntry {
        LayerEntry {
            path: path.into(),
            kind: EntryKind::Node(Kind::File {
                data: DataRef { layer: 0, offset },
                hardlink: None,
            }),
            meta: Meta {
                mode: 0o644,
                size: 10,
                ..Meta::default()
            },
        }
    }
    fn dir(path: &str) -> LayerEntry {
        LayerEntry {
            path: path.into(),
            kind: EntryKind::Node(Kind::Dir),
            meta: Meta {
                mode: 0o755,
                ..Meta::default()
            },
        }
    }
    fn link(path: &str, target: &str) -> LayerEntry {
        LayerEntry {
            path: path.into(),
            kind: EntryKind::Node(Kind::Symlink(target.into())),
            meta: Meta {
                mode: 0o777,
                ..Meta::default()
            },
        }
    }
    fn special(path: &str, kind: EntryKind) -> LayerEntry {
        LayerEntry {
            path: path.into(),
            kind,
            meta: Meta::default(),
        }
    }
    fn paths(t: &Tree) -> Vec<&str> {
        t.iter().map(|(p, _)| p).collect()
    }

    #[test]
    fn entry_paths_are_normalised_and_unsafe_ones_refused() {
        assert_eq!(
            entry_path("./usr/bin/").unwrap().as_deref(),
            Some("usr/bin")
        );
        assert_eq!(entry_path("./").unwrap(), None);
        assert_eq!(entry_path("a//./b").unwrap().as_deref(), Some("a/b"));
        assert_eq!(
            entry_path("a/../../etc/passwd"),
            Err(Error::DotDot("a/../../etc/passwd".into()))
        );
        assert_eq!(
            entry_path("/etc/passwd"),
            Err(Error::Absolute("/etc/passwd".into()))
        );
    }

    #[test]
    fn whiteout_deletes_lower_subtree_and_records_wasted_bytes() {
        let mut t = Tree::new();
        t.apply_layer(
            0,
            vec![dir("a"), dir("a/b"), file("a/b/c", 1), file("a/d", 2)],
        )
        .unwrap();
        t.apply_layer(1, vec![special("a/b", EntryKind::Whiteout)])
            .unwrap();
        assert_eq!(paths(&t), ["a", "a/d"]);
        assert_eq!(
            t.hidden(),
            &[Hidden {
                path: "a/b/c".into(),
                size: 10,
                layer: 0,
                hidden_by: 1
            }]
        );
    }

    #[test]
    fn whiteout_does_not_delete_same_layer_entry_listed_before_it() {
        let mut t = Tree::new();
        t.apply_layer(0, vec![dir("a"), file("a/x", 1)]).unwrap();
        t.apply_layer(1, vec![file("a/x", 5), special("a/x", EntryKind::Whiteout)])
            .unwrap();
        assert_eq!(t.get("a/x").unwrap().layer, 1);
    }

    #[test]
    fn opaque_dir_hides_lower_children_but_keeps_its_own() {
        let mut t = Tree::new();
        t.apply_layer(
            0,
            vec![
                dir("etc"),
                file("etc/old", 1),
                dir("etc/sub"),
                file("etc/sub/x", 2),
            ],
        )
        .unwrap();
        t.apply_layer(
            1,
            vec![
                file("etc/new", 3),
                special("etc", EntryKind::Opaque),
                dir("etc"),
            ],
        )
        .unwrap();
        assert_eq!(paths(&t), ["etc", "etc/new"]);
        assert_eq!(t.hidden().len(), 2);
    }

    #[test]
    fn file_replacing_dir_removes_its_subtree() {
        let mut t = Tree::new();
        t.apply_layer(0, vec![dir("x"), file("x/y", 1)]).unwrap();
        t.apply_layer(1, vec![file("x", 2)]).unwrap();
        assert_eq!(paths(&t), ["x"]);
        assert!(t.get("x").unwrap().is_file());
    }

    #[test]
    fn hardlink_to_lower_layer_shares_data_and_missing_target_is_an_error() {
        let mut t = Tree::new();
        t.apply_layer(0, vec![dir("bin"), file("bin/a", 7)])
            .unwrap();
        t.apply_layer(
            1,
            vec![special("bin/b", EntryKind::Hardlink("bin/a".into()))],
        )
        .unwrap();
        let Kind::File { data, hardlink } = &t.get("bin/b").unwrap().kind else {
            panic!()
        };
        assert_eq!((data.offset, hardlink.as_deref()), (7, Some("bin/a")));
        assert_eq!(t.get("bin/b").unwrap().meta.size, 10);
        let err = t
            .apply_layer(
                2,
                vec![special("bin/c", EntryKind::Hardlink("nope".into()))],
            )
            .unwrap_err();
        assert_eq!(
            err,
            Error::HardlinkMissing {
                path: "bin/c".into(),
                target: "nope".into()
            }
        );
    }

    #[test]
    fn entry_below_a_lower_symlinked_dir_lands_in_its_target() {
        // Debian's merged /usr: /lib -> usr/lib. A later layer writing lib/x.so
        // really writes usr/lib/x.so, as extraction through the symlink does.
        let mut t = Tree::new();
        t.apply_layer(0, vec![dir("usr"), dir("usr/lib"), link("lib", "usr/lib")])
            .unwrap();
        t.apply_layer(1, vec![file("lib/x.so", 1)]).unwrap();
        assert!(t.get("usr/lib/x.so").is_some());
        assert!(t.get("lib").unwrap().symlink_target().is_some());
    }

    #[test]
    fn missing_parents_are_created() {
        let mut t = Tree::new();
        t.apply_layer(0, vec![file("a/b/c", 1)]).unwrap();
        assert_eq!(paths(&t), ["a", "a/b", "a/b/c"]);
    }
}
