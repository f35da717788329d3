//! Temporary files and directories slim writes beside its outputs.
//!
//! Every one is named `.slim-tmp-<pid>-…` (or `.slim-work-<pid>-…`), is
//! created with mode 0666/0777 less the umask (so a finished output, renamed
//! from it, has the modes any other program's output would), and is recorded
//! so that [`cleanup`] can remove it when a signal ends the process before the
//! destructors run. [`sweep`] removes the leftovers of a process that died
//! without cleaning up (SIGKILL, power loss) the next time slim writes there.

use std::fs::Permissions;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Paths made by this process that are temporary until renamed into place.
static LIVE: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Name prefixes of slim's temporary entries, each followed by `<pid>-`.
const PREFIXES: [&str; 2] = [".slim-tmp-", ".slim-work-"];

/// tempfile's errors end in ` at path ".slim-tmp-…"`: a name that means
/// nothing to the user, whose message names the real destination instead.
fn unnamed(e: io::Error) -> io::Error {
    let text = e.to_string();
    match text.split_once(" at path ") {
        Some((msg, _)) => io::Error::new(e.kind(), msg.to_string()),
        None => e,
    }
}

/// What a signal must undo before the temporary paths can go (a container
/// still running, a mount in a bundle): a token for the action given to
/// [`remember_undo`], until [`forget`] says it was done the ordinary way.
#[derive(Debug, PartialEq, Eq)]
pub struct Undo(u64);

type Action = Box<dyn Fn() + Send>;

static UNDO: Mutex<Vec<(u64, Action)>> = Mutex::new(Vec::new());
static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// Records `action` for [`cleanup`] (run from a signal: best effort, quick).
pub fn remember_undo(action: impl Fn() + Send + 'static) -> Undo {
    let id = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    if let Ok(mut v) = UNDO.lock() {
        v.push((id, Box::new(action)));
    }
    Undo(id)
}

/// The action of `u` was done in the ordinary way: nothing left for a signal.
pub fn forget(u: Undo) {
    if let Ok(mut v) = UNDO.lock() {
        v.retain(|(id, _)| *id != u.0);
    }
}

fn remember(p: &Path) {
    if let Ok(mut v) = LIVE.lock() {
        v.push(p.to_path_buf());
    }
}

/// A temporary file in `dir`, removed on drop (and by [`cleanup`]).
pub fn file_in(dir: &Path) -> io::Result<tempfile::NamedTempFile> {
    let f = tempfile::Builder::new()
        .prefix(&format!("{}{}-", PREFIXES[0], std::process::id()))
        .permissions(Permissions::from_mode(0o666))
        .tempfile_in(dir)
        .map_err(unnamed)?;
    remember(f.path());
    Ok(f)
}

/// A temporary directory in `dir`, removed on drop (and by [`cleanup`]).
pub fn dir_in(dir: &Path) -> io::Result<tempfile::TempDir> {
    let d = tempfile::Builder::new()
        .prefix(&format!("{}{}-", PREFIXES[1], std::process::id()))
        .permissions(Permissions::from_mode(0o777))
        .tempdir_in(dir)
        .map_err(unnamed)?;
    remember(d.path());
    Ok(d)
}

/// Removes every temporary entry this process made that is still there.
/// Called from the signal handler: best effort, never panics.
pub fn cleanup() {
    let undos = match UNDO.lock() {
        Ok(mut v) => std::mem::take(&mut *v),
        Err(p) => std::mem::take(&mut *p.into_inner()),
    };
    // Newest first: a container goes before the mount it runs on.
    for (_, action) in undos.iter().rev() {
        action();
    }
    let paths = match LIVE.lock() {
        Ok(mut v) => std::mem::take(&mut *v),
        Err(p) => std::mem::take(&mut *p.into_inner()),
    };
    for p in paths {
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.is_dir() => {
                let _ = std::fs::remove_dir_all(&p);
            }
            Ok(_) => {
                let _ = std::fs::remove_file(&p);
            }
            Err(_) => {}
        }
    }
}

/// The pid in a temporary entry's name, if it is one of slim's.
fn owner_pid(name: &str) -> Option<u32> {
    let rest = PREFIXES.iter().find_map(|p| name.strip_prefix(p))?;
    rest.split_once('-')?.0.parse().ok()
}

/// Removes slim's temporary entries in `dir` whose process is gone; returns
/// what it removed. An entry of a live process, or of this one, stays.
pub fn sweep(dir: &Path) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return removed;
    };
    let me = std::process::id();
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name.to_str().and_then(owner_pid) else {
            continue;
        };
        if pid == me || Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        let p = e.path();
        let ok = match e.file_type() {
            Ok(t) if t.is_dir() => std::fs::remove_dir_all(&p).is_ok(),
            Ok(_) => std::fs::remove_file(&p).is_ok(),
            Err(_) => false,
        };
        if ok {
            removed.push(p);
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_the_pid() {
        assert_eq!(owner_pid(".slim-tmp-123-abc"), Some(123));
        assert_eq!(owner_pid(".slim-work-7-x"), Some(7));
        assert_eq!(owner_pid(".slim-tmp-abc"), None);
        assert_eq!(owner_pid("slim-tmp-1-x"), None);
    }

    #[test]
    fn sweep_removes_only_dead_processes_entries() {
        let d = tempfile::tempdir().unwrap();
        // pid 2^22+1 is above Linux's pid_max limit: never alive.
        let dead = d.path().join(".slim-work-4194305-abc");
        std::fs::create_dir(&dead).unwrap();
        std::fs::write(dead.join("blob"), b"x").unwrap();
        std::fs::write(d.path().join(".slim-tmp-4194305-def"), b"x").unwrap();
        let mine = file_in(d.path()).unwrap();
        std::fs::write(d.path().join("keep.tar"), b"x").unwrap();
        let removed = sweep(d.path());
        assert_eq!(removed.len(), 2);
        let mut left: Vec<String> = std::fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left.len(), 2);
        assert!(left.contains(&"keep.tar".to_string()));
        assert!(mine.path().exists());
    }
}
