//! Where an image's files live: a directory on disk, or members of a tar
//! archive (`docker save`, oci-archive). Members are read in place: the
//! archive is indexed once and each member is a byte range of the file.

use super::Error;
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use crate::fs::Section;

/// Where a member's bytes are in the archive.
#[derive(Debug, Clone)]
pub struct Member {
    offset: u64,
    size: u64,
    /// Target of a symlink member, relative to the member's directory.
    link: Option<String>,
}

/// The files of an image on disk.
#[derive(Clone)]
pub enum Container {
    Dir(PathBuf),
    Tar {
        path: PathBuf,
        file: Arc<File>,
        members: HashMap<String, Member>,
    },
}

fn clean(name: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for c in name.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out.join("/")
}

impl Container {
    /// Indexes the members of a tar archive (reading headers only).
    pub fn open_tar(path: &Path) -> Result<Container, Error> {
        let io_err = |e: io::Error| Error::io(path, e);
        let file = File::open(path).map_err(io_err)?;
        let mut members = HashMap::new();
        let mut archive = tar::Archive::new(&file);
        let entries = archive
            .entries_with_seek()
            .map_err(|e| Error::bad_archive(path, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| Error::bad_archive(path, e))?;
            let name = clean(&String::from_utf8_lossy(&entry.path_bytes()));
            let kind = entry.header().entry_type();
            let link = if kind.is_symlink() || kind.is_hard_link() {
                let target = entry
                    .link_name_bytes()
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default();
                // Hard link names are archive paths; symlink targets are
                // relative to the member's directory.
                Some(if kind.is_hard_link() {
                    format!("/{target}")
                } else {
                    target
                })
            } else {
                None
            };
            if !(kind.is_file() || link.is_some()) {
                continue;
            }
            members.insert(
                name,
                Member {
                    offset: entry.raw_file_position(),
                    size: entry.size(),
                    link,
                },
            );
        }
        // A truncated archive still lists its first members; check that the
        // last one's data is all there.
        let len = file.metadata().map_err(io_err)?.len();
        if let Some(m) = members
            .values()
            .filter(|m| m.link.is_none())
            .max_by_key(|m| m.offset + m.size)
        {
            if m.offset + m.size > len {
                return Err(Error::bad_archive(
                    path,
                    io::Error::new(io::ErrorKind::UnexpectedEof, "archive is truncated"),
                ));
            }
        }
        Ok(Container::Tar {
            path: path.to_path_buf(),
            file: Arc::new(file),
            members,
        })
    }

    /// The archive or directory path, for messages.
    pub fn path(&self) -> &Path {
        match self {
            Container::Dir(p) => p,
            Container::Tar { path, .. } => path,
        }
    }

    /// Where `name` is, for messages: `DIR/name` or `ARCHIVE:name`.
    pub fn describe(&self, name: &str) -> String {
        match self {
            Container::Dir(p) => p.join(name).display().to_string(),
            Container::Tar { path, .. } => format!("{}:{}", path.display(), name),
        }
    }

    fn member(&self, name: &str) -> Option<(u64, u64)> {
        let Container::Tar { members, .. } = self else {
            return None;
        };
        let mut name = clean(name);
        for _ in 0..40 {
            let m = members.get(&name)?;
            match &m.link {
                None => return Some((m.offset, m.size)),
                Some(t) if t.starts_with('/') => name = clean(t),
                Some(t) => {
                    let dir = name.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
                    name = clean(&format!("{dir}/{t}"));
                }
            }
        }
        None
    }

    /// True when `name` exists (following symlink members).
    pub fn exists(&self, name: &str) -> bool {
        match self {
            Container::Dir(p) => p.join(name).is_file(),
            Container::Tar { .. } => self.member(name).is_some(),
        }
    }

    /// Opens `name` for reading, with its size.
    pub fn open(&self, name: &str) -> Result<(Section, u64), Error> {
        match self {
            Container::Dir(p) => {
                let path = p.join(name);
                let file = File::open(&path).map_err(|e| Error::io(&path, e))?;
                let len = file.metadata().map_err(|e| Error::io(&path, e))?.len();
                Ok((Section::new(Arc::new(file), 0, len), len))
            }
            Container::Tar { file, .. } => {
                let (off, size) = self.member(name).ok_or_else(|| Error::Missing {
                    what: name.to_string(),
                    location: self.describe(name),
                })?;
                Ok((Section::new(file.clone(), off, size), size))
            }
        }
    }

    /// Reads a small file (manifest, config, index) whole. Refuses files over
    /// `limit` bytes so a corrupt archive cannot make us allocate gigabytes.
    pub fn read_small(&self, name: &str, limit: u64) -> Result<Vec<u8>, Error> {
        let (mut r, size) = self.open(name)?;
        if size > limit {
            return Err(Error::Invalid {
                location: self.describe(name),
                problem: format!(
                    "is {size} bytes, more than the {limit} bytes expected of such a file"
                ),
            });
        }
        let mut buf = Vec::with_capacity(size as usize);
        r.read_to_end(&mut buf)
            .map_err(|e| Error::io(self.describe(name), e))?;
        Ok(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::clean;

    #[test]
    fn clean_normalises_member_names() {
        assert_eq!(clean("./a//b/./c"), "a/b/c");
        assert_eq!(clean("a/../b"), "b");
        assert_eq!(clean("../../x"), "x");
    }
}
