//! The few system calls running an image needs that std does not wrap:
//! joining a container's network namespace (for an HTTP probe from inside
//! it), a tmpfs for the bundle's rootfs, and fanotify on that tmpfs (what the
//! container's processes open). Each is a thin, checked wrapper; nothing else
//! in slim uses `unsafe` (but `lock`, two `flock` calls).
#![allow(unsafe_code)]

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

fn cpath(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a path with a NUL byte"))
}

fn check(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// Moves the calling thread into the network namespace of process `pid`
/// (`setns(2)` with CLONE_NEWNET changes only the calling thread's).
pub fn enter_net_namespace(pid: u32) -> io::Result<()> {
    let f = std::fs::File::open(format!("/proc/{pid}/ns/net"))?;
    // SAFETY: a valid fd for the call's duration; setns has no memory effects.
    check(unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) })?;
    Ok(())
}

/// Mounts a private tmpfs of at most `size_bytes` at `dir` (as root only).
pub fn mount_tmpfs(dir: &Path, size_bytes: u64) -> io::Result<()> {
    let target = cpath(dir)?;
    let opts = CString::new(format!("size={size_bytes},mode=0755")).expect("no NUL");
    // SAFETY: every pointer is a NUL-terminated string alive for the call.
    check(unsafe {
        libc::mount(
            c"tmpfs".as_ptr(),
            target.as_ptr(),
            c"tmpfs".as_ptr(),
            libc::MS_NOSUID | libc::MS_NODEV,
            opts.as_ptr().cast(),
        )
    })?;
    Ok(())
}

/// Detaches the mount at `dir` (lazily: busy or not).
pub fn unmount(dir: &Path) -> io::Result<()> {
    let target = cpath(dir)?;
    // SAFETY: a NUL-terminated path alive for the call.
    check(unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) })?;
    Ok(())
}

/// A fanotify group marking one filesystem: every open and exec of a file on
/// it, by any process, is reported with a file descriptor for that file.
pub struct Fanotify {
    fd: OwnedFd,
}

/// One file opened or executed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    /// Where the file is, as this process sees it (`/proc/self/fd/N`).
    pub path: PathBuf,
    pub pid: i32,
    pub exec: bool,
}

impl Fanotify {
    /// Watches opens and execs of files on the filesystem `dir` is on
    /// (CAP_SYS_ADMIN: root only).
    pub fn watch_filesystem(dir: &Path) -> io::Result<Fanotify> {
        // SAFETY: plain flags; the returned fd is owned below.
        let fd = check(unsafe {
            libc::fanotify_init(
                libc::FAN_CLASS_NOTIF | libc::FAN_CLOEXEC,
                (libc::O_RDONLY | libc::O_LARGEFILE | libc::O_CLOEXEC) as u32,
            )
        })?;
        // SAFETY: fd was just returned by fanotify_init and is owned once.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let path = cpath(dir)?;
        // SAFETY: valid fd and NUL-terminated path.
        check(unsafe {
            libc::fanotify_mark(
                fd.as_raw_fd(),
                libc::FAN_MARK_ADD | libc::FAN_MARK_FILESYSTEM,
                libc::FAN_OPEN | libc::FAN_OPEN_EXEC,
                libc::AT_FDCWD,
                path.as_ptr(),
            )
        })?;
        Ok(Fanotify { fd })
    }

    /// Waits up to `timeout_ms` for events and returns them (empty on timeout).
    pub fn read(&self, timeout_ms: i32) -> io::Result<Vec<Access>> {
        let mut pfd = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::Interrupted => Ok(Vec::new()),
                _ => Err(e),
            };
        }
        if n == 0 {
            return Ok(Vec::new());
        }
        let mut buf = vec![0u8; 64 * 1024];
        // SAFETY: the buffer is writable for its whole length.
        let got = unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if got < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut out = Vec::new();
        let size = std::mem::size_of::<libc::fanotify_event_metadata>();
        let mut off = 0usize;
        while off + size <= got as usize {
            // SAFETY: the kernel wrote a whole metadata record at `off`
            // (checked against `got`); read_unaligned needs no alignment.
            let m: libc::fanotify_event_metadata =
                unsafe { std::ptr::read_unaligned(buf.as_ptr().add(off).cast()) };
            if m.event_len as usize == 0 {
                break;
            }
            if m.fd >= 0 {
                // SAFETY: the kernel gave this process the fd; owned once here.
                let file = unsafe { OwnedFd::from_raw_fd(m.fd) };
                if let Ok(path) = std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd()))
                {
                    out.push(Access {
                        path,
                        pid: m.pid,
                        exec: m.mask & libc::FAN_OPEN_EXEC != 0,
                    });
                }
            }
            off += m.event_len as usize;
        }
        Ok(out)
    }
}

/// Makes `cmd`'s child join the user namespace (when it is not this
/// process's) and then the network namespace of process `pid` before it
/// runs: how an unprivileged process reaches a rootless container's
/// loopback (setns into a user namespace needs a single-threaded process,
/// which a freshly forked child is).
pub fn in_namespaces_of(cmd: &mut std::process::Command, pid: u32) -> io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    use std::os::unix::process::CommandExt;
    let ns = |kind: &str| std::fs::File::open(format!("/proc/{pid}/ns/{kind}"));
    let user = ns("user")?;
    let net = ns("net")?;
    let mine = std::fs::metadata("/proc/self/ns/user")?;
    let theirs = user.metadata()?;
    let user = (mine.ino() != theirs.ino() || mine.dev() != theirs.dev()).then_some(user);
    let (user_fd, net_fd) = (user.as_ref().map(|f| f.as_raw_fd()), net.as_raw_fd());
    // SAFETY: the closure makes only async-signal-safe system calls on fds
    // that stay open while `cmd` lives (moved into the closure with it).
    unsafe {
        cmd.pre_exec(move || {
            let _keep = (&user, &net);
            if let Some(u) = user_fd {
                check(libc::setns(u, libc::CLONE_NEWUSER))?;
            }
            check(libc::setns(net_fd, libc::CLONE_NEWNET))?;
            Ok(())
        });
    }
    Ok(())
}

/// Sets extended attribute `name` on `path` itself (not through a link).
pub fn set_xattr(path: &Path, name: &str, value: &[u8]) -> io::Result<()> {
    let p = cpath(path)?;
    let n = CString::new(name)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "an xattr name with a NUL"))?;
    // SAFETY: NUL-terminated strings and a buffer of `value.len()` bytes, alive for the call.
    check(unsafe {
        libc::lsetxattr(
            p.as_ptr(),
            n.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    })?;
    Ok(())
}
