//! A root filesystem: the merged [`Tree`] and where each regular file's
//! bytes are. What the stages after reading (catalog, trace, plan, sbom)
//! look at — an image's merged layers, or a plain directory on disk (tests,
//! and anything unpacked).

use super::{DataRef, Kind, Meta, Node, Section, Tree};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;
use std::sync::Arc;

/// What gives the contents of a tree's regular files: a root filesystem,
/// or a plan's (its own files, made, and the image's).
pub trait Content {
    /// The contents of a regular file node.
    fn open_node(&self, node: &Node) -> Option<Box<dyn Read + '_>>;
}

impl Content for Rootfs {
    fn open_node(&self, node: &Node) -> Option<Box<dyn Read + '_>> {
        self.open(node).map(|s| Box::new(s) as Box<dyn Read>)
    }
}

/// A tree and the byte ranges its regular files read from.
pub struct Rootfs {
    pub tree: Tree,
    /// Where `DataRef::layer` points: a layer's uncompressed tar (the file at
    /// `DataRef::offset` in it), or one file on disk.
    data: Vec<Section>,
}

impl Rootfs {
    /// `tree`, whose files' `DataRef`s index `data`.
    pub fn new(tree: Tree, data: Vec<Section>) -> Rootfs {
        Rootfs { tree, data }
    }

    /// The directory `root` as a root filesystem, walked once (symlinks are
    /// kept as links, never followed): modes, owners, mtimes as on disk.
    pub fn from_dir(root: &Path) -> io::Result<Rootfs> {
        let mut fs = Rootfs {
            tree: Tree::new(),
            data: Vec::new(),
        };
        let mut todo = vec![(root.to_path_buf(), String::new())];
        while let Some((dir, rel)) = todo.pop() {
            let mut entries: Vec<_> = std::fs::read_dir(&dir)?.collect::<Result<_, _>>()?;
            entries.sort_by_key(|e| e.file_name());
            for e in entries {
                let name = e.file_name().to_string_lossy().into_owned();
                let path = match rel.is_empty() {
                    true => name,
                    false => format!("{rel}/{name}"),
                };
                let m = e.path().symlink_metadata()?;
                let t = m.file_type();
                let kind = if t.is_dir() {
                    todo.push((e.path(), path.clone()));
                    Kind::Dir
                } else if t.is_symlink() {
                    Kind::Symlink(std::fs::read_link(e.path())?.to_string_lossy().into_owned())
                } else if t.is_file() {
                    let file = std::fs::File::open(e.path())?;
                    fs.data.push(Section::new(Arc::new(file), 0, m.len()));
                    Kind::File {
                        data: DataRef {
                            layer: fs.data.len() - 1,
                            offset: 0,
                        },
                        hardlink: None,
                    }
                } else if t.is_fifo() {
                    Kind::Fifo
                } else {
                    continue;
                };
                let node = Node {
                    meta: Meta {
                        mode: m.mode() & 0o7777,
                        uid: m.uid(),
                        gid: m.gid(),
                        mtime: m.mtime().max(0) as u64,
                        size: if t.is_file() { m.len() } else { 0 },
                        xattrs: Box::new([]),
                    },
                    kind,
                    layer: 0,
                };
                fs.tree.insert(&path, node);
            }
        }
        Ok(fs)
    }

    /// The contents of a regular file node.
    pub fn open(&self, node: &Node) -> Option<Section> {
        match node.kind {
            Kind::File {
                data: DataRef { layer, offset },
                ..
            } => Some(self.data.get(layer)?.sub(offset, node.meta.size)),
            _ => None,
        }
    }

    /// Reads a regular file (following symlinks) up to `limit` bytes; None
    /// when it does not exist or is not a regular file.
    pub fn read(&self, path: &str, limit: u64) -> Option<Vec<u8>> {
        let r = self.tree.resolve(path, true).ok()?;
        let node = self.tree.get(&r.path)?;
        let mut buf = Vec::new();
        self.open(node)?.take(limit).read_to_end(&mut buf).ok()?;
        Some(buf)
    }

    /// Data source `i` (a layer's uncompressed tar, for an image's root).
    pub fn data(&self, i: usize) -> Section {
        self.data[i].clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_is_a_root_filesystem_with_links_kept() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("usr/lib")).unwrap();
        std::fs::write(d.path().join("usr/lib/os-release"), "ID=test\n").unwrap();
        std::fs::create_dir(d.path().join("etc")).unwrap();
        std::os::unix::fs::symlink("../usr/lib/os-release", d.path().join("etc/os-release"))
            .unwrap();
        let fs = Rootfs::from_dir(d.path()).unwrap();
        assert_eq!(
            fs.tree
                .get("etc/os-release")
                .and_then(|n| n.symlink_target()),
            Some("../usr/lib/os-release")
        );
        assert_eq!(fs.read("/etc/os-release", 100).unwrap(), b"ID=test\n");
        assert_eq!(fs.read("/etc/os-release", 2).unwrap(), b"ID");
        assert!(fs.tree.get("usr").is_some_and(Node::is_dir));
        assert!(fs.read("/etc", 10).is_none());
    }
}
