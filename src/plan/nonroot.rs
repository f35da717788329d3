//! `--nonroot`: the directories the program writes, made its user's.

use super::*;

/// Where programs keep state, logs and run-time files. Below them, what a
/// program creates files in, or what the image gave its service user, is the
/// program's own to write; these directories themselves are shared.
pub(super) const STATE_DIRS: &[&str] = &[
    "/var/lib",
    "/var/cache",
    "/var/log",
    "/var/spool",
    "/var/tmp",
    "/run",
    "/var/run",
    "/srv",
];

/// What a non-root user needs to run the program: below the state
/// directories, the directories it creates files in (`/var/lib/nginx` for
/// `/var/lib/nginx/body`) and the files and directories the image gave its
/// own service user (`/var/log/nginx/error.log` of `www-data`) are given to
/// it. A file it creates in a shared state directory (`/run/nginx.pid`) is
/// made beforehand, empty and the user's, since handing `/run` over would be wrong.
pub(super) fn own_writable(
    b: &mut Builder,
    trace: &Trace,
    (uid, gid): (u32, u32),
    diagnostics: &mut Vec<Diagnostic>,
) -> Vec<String> {
    let below_state = |p: &str| {
        STATE_DIRS
            .iter()
            .any(|s| p.strip_prefix(s).is_some_and(|r| r.starts_with('/')))
    };
    let mut give: BTreeSet<String> = BTreeSet::new();
    let mut shared: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (file, dir) in &trace.creates {
        let Some(node) = b.tree.get(dir.trim_start_matches('/')) else {
            continue;
        };
        if !node.is_dir() || node.meta.mode & 0o002 != 0 {
            continue;
        }
        if below_state(dir) {
            give.insert(dir.clone());
        } else if STATE_DIRS.contains(&dir.as_str()) {
            shared.entry(dir).or_default().push(file.clone());
        }
    }
    for (p, n) in b.tree.iter() {
        let abs = abs(p);
        if n.layer != MADE && n.meta.uid != 0 && n.meta.uid != uid && below_state(&abs) {
            give.insert(abs);
        }
    }
    let mut owned = Vec::new();
    for p in give {
        let key = p.trim_start_matches('/');
        if let Some(mut n) = b.tree.get(key).cloned() {
            n.meta.uid = uid;
            n.meta.gid = gid;
            b.tree.insert(key, n);
            owned.push(p);
        }
    }
    // The user cannot create a file in a shared directory, but it can write an
    // existing one it owns: such files are made empty, its own.
    for (dir, files) in shared {
        for f in &files {
            let meta = Meta {
                mode: 0o644,
                uid,
                gid,
                ..Meta::default()
            };
            b.make(f, Vec::new(), meta, "nonroot");
            owned.push(f.clone());
        }
        diagnostics.push(Diagnostic::new(
            Code::NonrootPrecreated,
            Some(dir),
            format!(
                "{} made empty and owned by {uid}: the program creates it, and {dir} is root's \
                 (it cannot remove it at exit)",
                some_paths(&files)
            ),
        ));
    }
    owned
}
