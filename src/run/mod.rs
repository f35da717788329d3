//! Running an image without a daemon (issue 20, in progress): the root
//! filesystem of an OCI runtime bundle, unpacked from a merged tree.
//!
//! The image is untrusted: nothing it holds may write outside the bundle's
//! rootfs. Entries are written parents first; a path whose parent on disk is
//! not a real directory (a symlink the image planted, `etc -> /host/etc`) is
//! refused rather than followed, and no symlink is ever followed while writing.

use crate::fs::Content;
use crate::fs::{Kind, Tree};
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
    /// Extended attributes set, and those the filesystem or a rootless
    /// unpack could not take.
    pub xattrs: usize,
    pub xattrs_skipped: usize,
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

/// The node's extended attributes (file capabilities, as `setcap` leaves
/// them); `trusted.*` and `security.*` ones need root, so a rootless unpack
/// skips those and counts them.
fn xattrs(path: &Path, node: &crate::fs::Node, root: bool, out: &mut Unpacked) {
    for (name, value) in node.meta.xattrs.iter() {
        let privileged = name.starts_with("security.") || name.starts_with("trusted.");
        if (privileged && !root) || sys::set_xattr(path, name, value).is_err() {
            out.xattrs_skipped += 1;
        } else {
            out.xattrs += 1;
        }
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
                xattrs(&path, node, owners, &mut out);
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

pub mod container;
pub mod probe;
pub mod sys;
pub mod verify;

/// A runtime bundle in a private temporary directory (mode 0700): `rootfs/`
/// unpacked from a tree (on its own tmpfs when asked: a filesystem of its
/// own for fanotify to watch), `etc/` with the files the runtime provides,
/// and `config.json`. Removed on drop, and by the signal-time sweep.
pub struct Bundle {
    pub dir: tempfile::TempDir,
    etc: PathBuf,
    limits: container::Limits,
    host: container::Host,
    mount: Option<(PathBuf, crate::tmp::Undo)>,
}

impl Drop for Bundle {
    fn drop(&mut self) {
        if let Some((m, undo)) = self.mount.take() {
            let _ = sys::unmount(&m);
            crate::tmp::forget(undo);
        }
    }
}

impl Bundle {
    /// Unpacks `tree` (as root: with the image's owners) and writes the
    /// config for `process` under `limits`.
    pub fn new(
        tree: &Tree,
        content: &dyn Content,
        parent: &Path,
        process: &container::Process,
        limits: &container::Limits,
    ) -> Result<Bundle, Error> {
        Bundle::with(tree, content, parent, process, limits, None)
    }

    /// [`Bundle::new`], the rootfs on a tmpfs of `tmpfs` bytes when given (root only).
    pub fn with(
        tree: &Tree,
        content: &dyn Content,
        parent: &Path,
        process: &container::Process,
        limits: &container::Limits,
        tmpfs: Option<u64>,
    ) -> Result<Bundle, Error> {
        let dir = crate::tmp::dir_in(parent).map_err(io_err(parent))?;
        let d = dir.path();
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o700)).map_err(io_err(d))?;
        let rootfs = d.join("rootfs");
        std::fs::DirBuilder::new()
            .mode(0o755)
            .create(&rootfs)
            .map_err(io_err(&rootfs))?;
        let root = is_root();
        let mut mount = None;
        if let Some(size) = tmpfs {
            sys::mount_tmpfs(&rootfs, size).map_err(io_err(&rootfs))?;
            let m = rootfs.clone();
            let undo = crate::tmp::remember_undo(move || {
                let _ = sys::unmount(&m);
            });
            mount = Some((rootfs.clone(), undo));
        }
        let etc = d.join("etc");
        let bundle = Bundle {
            etc: etc.clone(),
            limits: *limits,
            host: container::Host {
                tmp_tmpfs: !tree.get("tmp").is_some_and(|n| n.is_dir()),
                rootless: (!root).then(|| (current_id("Uid:"), current_id("Gid:"))),
            },
            mount,
            dir,
        };
        unpack(tree, content, &rootfs, root)?;
        std::fs::create_dir(&etc).map_err(io_err(&etc))?;
        for (name, text) in [
            (
                "hosts",
                "127.0.0.1\tlocalhost slim-probe\n::1\tlocalhost ip6-localhost ip6-loopback\n",
            ),
            ("hostname", "slim-probe\n"),
            ("resolv.conf", "nameserver 127.0.0.1\n"),
        ] {
            let p = etc.join(name);
            std::fs::write(&p, text).map_err(io_err(&p))?;
            // The bind targets must be plain files in the rootfs (checked
            // without following links: the image's /etc may be one).
            let retc = rootfs.join("etc");
            match std::fs::symlink_metadata(&retc) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => return Err(Error::Escape("etc".into())),
                Err(_) => std::fs::DirBuilder::new()
                    .mode(0o755)
                    .create(&retc)
                    .map_err(io_err(&retc))?,
            }
            let target = retc.join(name);
            match std::fs::symlink_metadata(&target) {
                Ok(m) if m.is_file() => {}
                Ok(m) if m.file_type().is_symlink() => {
                    std::fs::remove_file(&target).map_err(io_err(&target))?;
                    std::fs::write(&target, "").map_err(io_err(&target))?;
                }
                Ok(_) => return Err(Error::Escape(format!("etc/{name}"))),
                Err(_) => std::fs::write(&target, "").map_err(io_err(&target))?,
            }
        }
        bundle.set_process(process)?;
        Ok(bundle)
    }

    /// Writes `config.json` for `process` (a new run of the same rootfs).
    pub fn set_process(&self, process: &container::Process) -> Result<(), Error> {
        let mut process = process.clone();
        if self.host.rootless.is_some() {
            // One id is mapped (this user's, as the container's root): the
            // process runs as that root, whatever the image's User says.
            (process.uid, process.gid) = (0, 0);
            process.additional_gids.clear();
        }
        let spec = container::spec(&process, &self.limits, &self.etc, &self.host);
        let cfg = self.dir.path().join("config.json");
        std::fs::write(&cfg, serde_json::to_vec_pretty(&spec).expect("JSON")).map_err(io_err(&cfg))
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn rootfs(&self) -> PathBuf {
        self.dir.path().join("rootfs")
    }
}

/// This process's effective id from /proc/self/status (`Uid:` or `Gid:`).
pub(crate) fn current_id(field: &str) -> u32 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(field))
                .and_then(|v| v.split_whitespace().nth(1).and_then(|e| e.parse().ok()))
        })
        .unwrap_or(u32::MAX)
}

/// Whether this process runs as root.
pub fn is_root() -> bool {
    current_id("Uid:") == 0
}
