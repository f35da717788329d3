//! Advisory file locks (`flock(2)`), which std gains only after slim's MSRV:
//! writers of a shared OCI layout serialise on a lock file in it.
#![allow(unsafe_code)]

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;

/// Takes an exclusive lock on `f` without waiting: false when another open
/// file description holds it.
pub fn try_exclusive(f: &File) -> io::Result<bool> {
    // SAFETY: flock on a descriptor `f` owns for the whole call.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
        return Ok(true);
    }
    let e = io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
        Ok(false)
    } else {
        Err(e)
    }
}

/// Takes an exclusive lock on `f`, waiting as long as another holds it. The
/// lock goes when `f` (every descriptor of its open file) is closed.
pub fn exclusive(f: &File) -> io::Result<()> {
    loop {
        // SAFETY: as above.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_open_waits_for_the_first() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("l");
        let a = File::create(&p).unwrap();
        let b = File::open(&p).unwrap();
        assert!(try_exclusive(&a).unwrap());
        assert!(!try_exclusive(&b).unwrap());
        drop(a);
        assert!(try_exclusive(&b).unwrap());
    }
}
