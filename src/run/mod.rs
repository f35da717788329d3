//! Running an image without a daemon (issue 20, in progress): the root
//! filesystem of an OCI runtime bundle, unpacked from a merged tree.
//!
//! The image is untrusted: nothing it holds may write outside the bundle's
//! rootfs. Entries are written parents first; a path whose parent on disk is
//! not a real directory (a symlink the image planted, `etc -> /host/etc`) is
//! refused rather than followed, and no symlink is ever followed while writing.

use crate::fs::{Kind, Tree};
use crate::image::write::Content;
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// What an unpack wrote and skipped.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Unpacked {
    pub files: usize,
    pub dirs: usize,
    pub symlinks: usize,
    pub hardlinks: usize,
    /// Device nodes and fifos: not made (a container gets its /dev from the runtime).
    pub skipped: usize,
}

/// Why an unpack stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{0}: its parent in the image is not a directory (a symlink?): not written, so nothing is written outside the root")]
    Escape(String),
    #[error("{0}: the image has no content for this file")]
    NoContent(String),
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Creates the directories of `rel` under `root` that are missing, refusing
/// any that exists as something other than a real directory.
fn parent_dirs(root: &Path, rel: &str) -> Result<(), Error> {
    let mut at = root.to_path_buf();
    let comps: Vec<&str> = rel.split('/').filter(|c| !c.is_empty()).collect();
    for c in comps.iter().take(comps.len().saturating_sub(1)) {
        if *c == ".." || *c == "." {
            return Err(Error::Escape(rel.to_string()));
        }
        at.push(c);
        match std::fs::symlink_metadata(&at) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => return Err(Error::Escape(rel.to_string())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => std::fs::DirBuilder::new()
                .mode(0o755)
                .create(&at)
                .map_err(io_err(&at))?,
            Err(e) => return Err(io_err(&at)(e)),
        }
    }
    Ok(())
}

/// Writes `tree` under `root` (an empty directory): regular files streamed
/// from `content`, directories, symlinks and hardlinks, with the image's
/// modes, and its owners when `owners` (as root; a rootless unpack leaves
/// them to the user namespace's mapping). Directory modes are set last, so
/// that a read-only directory can still be filled.
pub fn unpack(
    tree: &Tree,
    content: &dyn Content,
    root: &Path,
    owners: bool,
) -> Result<Unpacked, Error> {
    let mut out = Unpacked::default();
    let mut dir_modes: Vec<(PathBuf, u32)> = Vec::new();
    let mut links: Vec<(PathBuf, String)> = Vec::new();
    for (rel, node) in tree.iter() {
        if rel.is_empty() {
            continue;
        }
        parent_dirs(root, rel)?;
        let path = root.join(rel);
        match &node.kind {
            Kind::Dir => {
                match std::fs::symlink_metadata(&path) {
                    Ok(m) if m.is_dir() => {}
                    Ok(_) => return Err(Error::Escape(rel.to_string())),
                    Err(_) => std::fs::DirBuilder::new()
                        .mode(0o700)
                        .create(&path)
                        .map_err(io_err(&path))?,
                }
                dir_modes.push((path.clone(), node.meta.mode));
                out.dirs += 1;
            }
            Kind::Symlink(target) => {
                std::os::unix::fs::symlink(target, &path).map_err(io_err(&path))?;
                out.symlinks += 1;
            }
            Kind::File { hardlink, .. } => {
                if let Some(first) = hardlink.as_deref().filter(|f| tree.get(f).is_some()) {
                    if first != rel {
                        links.push((path.clone(), first.to_string()));
                        continue;
                    }
                }
                let mut r = content
                    .open_node(node)
                    .ok_or_else(|| Error::NoContent(rel.to_string()))?;
                // O_CREAT|O_EXCL: never over anything, never through a link.
                let mut f = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&path)
                    .map_err(io_err(&path))?;
                io::copy(&mut r, &mut f).map_err(io_err(&path))?;
                drop(f);
                // Owners before modes: chown clears setuid bits.
                if owners {
                    std::os::unix::fs::lchown(&path, Some(node.meta.uid), Some(node.meta.gid))
                        .map_err(io_err(&path))?;
                }
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(node.meta.mode))
                    .map_err(io_err(&path))?;
                out.files += 1;
                continue;
            }
            Kind::CharDevice(..) | Kind::BlockDevice(..) | Kind::Fifo => {
                out.skipped += 1;
                continue;
            }
        }
        if owners {
            std::os::unix::fs::lchown(&path, Some(node.meta.uid), Some(node.meta.gid))
                .map_err(io_err(&path))?;
        }
    }
    for (path, first) in links {
        std::fs::hard_link(root.join(&first), &path).map_err(io_err(&path))?;
        out.hardlinks += 1;
    }
    for (path, mode) in dir_modes.into_iter().rev() {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
            .map_err(io_err(&path))?;
    }
    Ok(out)
}
