//! From a trace to the slimmed image's file tree: what the trace keeps, the
//! profile's skeleton (users, CA certificates, time zones, /tmp …), the
//! user's `--keep`/`--drop`, and package metadata scanners read
//! (`/var/lib/dpkg/status.d/<pkg>`, `<pkg>.md5sums`, copyright files).

mod build;
pub mod check;
pub mod config;
mod content;
mod nonroot;
mod profile;

use build::*;
pub use content::*;
use nonroot::*;
pub use profile::*;

use crate::catalog::Catalog;
use crate::diagnostic::{Code, Diagnostic};
use crate::fs::Content;
use crate::fs::Rootfs;
use crate::fs::{DataRef, Kind, Meta, Node, Tree};
use crate::rules;
use crate::trace::Trace;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;

/// What the user asks for on top of the profile.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub keep: Vec<String>,
    pub keep_packages: Vec<String>,
    pub drop: Vec<String>,
    /// The program runs as this uid:gid (`--nonroot`): the directories it
    /// writes are given to it.
    pub run_as: Option<(u32, u32)>,
}

/// Why a path is in the output, by category (for the plan summary).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Counts {
    pub files: usize,
    pub bytes: u64,
}

/// The plan: the output tree and what it is made of.
#[derive(Debug, Serialize)]
pub struct Plan {
    #[serde(skip)]
    pub tree: Tree,
    #[serde(skip)]
    made: Vec<Vec<u8>>,
    /// Output path → category (`entrypoint`, `elf-needed`, `rule`, `package`, `profile`, `keep`, `metadata`, `parent` …).
    #[serde(skip)]
    pub why: BTreeMap<String, String>,
    /// Regular files and bytes kept, by category.
    pub kept: BTreeMap<String, Counts>,
    /// Regular files and bytes of the source image left out, by category.
    pub dropped: BTreeMap<String, Counts>,
    /// Packages that still have a file in the image (their metadata is written).
    pub packages: Vec<String>,
    /// Where their metadata is written (`/var/lib/dpkg/status.d`, an rpmdb.sqlite).
    pub metadata: Vec<String>,
    pub source_files: usize,
    pub source_bytes: u64,
    /// What the options did that the user should know (a `--drop` that removes
    /// what the program needs is an error; globs that match nothing, warnings).
    pub diagnostics: Vec<Diagnostic>,
    /// Paths given to the non-root user (`--nonroot`) because the program writes there.
    pub owned_by_user: Vec<String>,
}

/// A plan that cannot be carried out.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("--keep-package {name}: no such package in the image{hint}")]
    NoSuchPackage { name: String, hint: String },
    #[error("package metadata: {0}")]
    Metadata(#[from] crate::catalog::SlimError),
}

/// Paths (at most three, then a count) for a message.
fn some_paths(v: &[String]) -> String {
    let mut s = v.iter().take(3).cloned().collect::<Vec<_>>().join(", ");
    if v.len() > 3 {
        s.push_str(&format!(" and {} more", v.len() - 3));
    }
    s
}

impl Plan {
    /// Splits the output tree in two for `rewrite --layers 2`: the system
    /// layer (the profile's files, and the files and metadata of the profile's
    /// `system_packages`) and the app layer (everything else, with the package
    /// databases that list every package). Each layer holds the directories its
    /// entries need; together they make the same tree.
    pub fn split(&self, layers: &Rootfs, catalog: &Catalog, profile: &Profile) -> (Tree, Tree) {
        let system_pkg = |name: &str| profile.system_packages.iter().any(|s| s == name);
        let classify = |path: &str| -> bool {
            let p = abs(path);
            if self.why.get(&p).is_some_and(|w| w == "profile") {
                return true;
            }
            // Per-package metadata goes with its package.
            for prefix in [
                "/var/lib/dpkg/status.d/",
                "/usr/share/doc/",
                "/usr/share/licenses/",
            ] {
                if let Some(rest) = p.strip_prefix(prefix) {
                    let name = rest.split('/').next().unwrap_or_default();
                    let name = name.strip_suffix(".md5sums").unwrap_or(name);
                    return system_pkg(name);
                }
            }
            let real = layers
                .tree
                .resolve(&p, false)
                .map(|r| r.path)
                .unwrap_or_else(|_| path.to_string());
            let mut owners = catalog.owners(&real).peekable();
            owners.peek().is_some() && owners.all(|o| system_pkg(&o.name))
        };
        // A symlink goes with what it points to (`/etc/localtime` with tzdata,
        // `/etc/ssl/certs/*.0` with ca-certificates); one to a directory with
        // the system; one to nothing, by itself.
        let is_system = |path: &str| -> bool {
            let target = self
                .tree
                .resolve(path, true)
                .ok()
                .map(|r| r.path)
                .filter(|t| t != path && self.tree.get(t).is_some());
            match (self.tree.get(path).and_then(|n| n.symlink_target()), target) {
                // Merged-/usr's /lib, /bin, /lib64: the skeleton every image shares.
                (Some(_), Some(t)) if self.tree.get(&t).is_some_and(|n| n.is_dir()) => true,
                (Some(_), Some(t)) => classify(&t),
                _ => classify(path),
            }
        };
        let (mut sys, mut app) = (Tree::new(), Tree::new());
        for (path, node) in self.tree.iter() {
            if node.is_dir() {
                // Empty directories the profile makes (/tmp, /home/nonroot) are
                // system; others come in with what they hold.
                if self.tree.subtree(path).next().is_none() {
                    let t = if is_system(path) { &mut sys } else { &mut app };
                    self.insert_with_parents(t, path, node);
                }
                continue;
            }
            let t = if is_system(path) { &mut sys } else { &mut app };
            self.insert_with_parents(t, path, node);
        }
        (sys, app)
    }

    fn insert_with_parents(&self, t: &mut Tree, path: &str, node: &Node) {
        let mut p = path;
        while let Some((parent, _)) = p.rsplit_once('/') {
            if t.get(parent).is_none() {
                if let Some(d) = self.tree.get(parent) {
                    t.insert(parent, d.clone());
                }
            }
            p = parent;
        }
        t.insert(path, node.clone());
    }
}

/// Plans the slimmed image.
pub fn plan(
    layers: &Rootfs,
    catalog: &Catalog,
    trace: &Trace,
    profile: &Profile,
    opts: &Options,
) -> Result<Plan, Error> {
    let src = &layers.tree;
    let user_kept = |p: &str| opts.keep.iter().any(|g| rules::user_matches(g, p));
    // A command that needs a shell the profile drops: the plan is made (so
    // reports show it) and carries the refusal.
    let mut shell_refusal = None;
    let mut healthcheck_refusal = None;
    if let Some(d) = trace
        .diagnostics
        .iter()
        .find(|d| d.code == Code::EntrypointNeedsShell)
    {
        let shell = d.path.clone().unwrap_or_else(|| "/bin/sh".into());
        if !user_kept(&shell) && !user_kept("/bin/sh") {
            let runs: Vec<&str> = trace
                .kept
                .iter()
                .filter(|(_, r)| {
                    matches!(
                        r,
                        crate::trace::Reason::ShellCommand { .. }
                            | crate::trace::Reason::Wrapped { .. }
                    )
                })
                .map(|(p, _)| p.as_str())
                .collect();
            // Each way out once: not running a pass-through wrapper, the exec
            // form of a plain command, a shell.
            let wrapper = trace
                .diagnostics
                .iter()
                .any(|w| w.code == Code::EntrypointWrapper);
            let kept_with = match runs.is_empty() {
                true => String::new(),
                false => format!(
                    " (with a shell kept, what the command runs is kept too: {})",
                    runs.join(", ")
                ),
            };
            let mut refusal = Diagnostic::new(
                Code::ShellNotKept,
                Some(&shell),
                format!(
                    "{}. A distroless image has no shell, so this image would not start{kept_with}",
                    d.message
                ),
            );
            if wrapper {
                refusal = refusal.fix("run what the wrapper runs without it", ["--entrypoint", ""]);
            }
            match &trace.exec_form {
                Some(words) if !wrapper => {
                    let words = serde_json::to_string(words).unwrap_or_default();
                    refusal = refusal.fix("run the program without one", ["--entrypoint", &words]);
                }
                Some(_) => {}
                None if !wrapper => {
                    refusal = refusal.fix(
                        "run the program directly: an exec-form Entrypoint/Cmd, e.g.",
                        ["--entrypoint", r#"["/usr/bin/app", "--flag"]"#],
                    )
                }
                None => {}
            }
            shell_refusal = Some(match runs.is_empty() {
                true => refusal.fix(
                    "keep a shell and name what the command runs",
                    ["--keep", &shell, "--exec", "PATH"],
                ),
                false => refusal.fix("keep a shell", ["--keep", &shell]),
            });
        }
    }
    // A CMD-SHELL HEALTHCHECK: the check runs /bin/sh every interval.
    if let Some(d) = trace
        .diagnostics
        .iter()
        .find(|d| d.code == Code::HealthcheckShell)
    {
        if !user_kept("/bin/sh") {
            let mut refusal = Diagnostic::new(
                Code::HealthcheckShellNotKept,
                Some("/bin/sh"),
                format!(
                    "{}. A distroless image has no shell, so the check would fail and the \
                     container would never be healthy",
                    d.message
                ),
            )
            .fix("keep a shell", ["--keep", "/bin/sh"]);
            refusal = match &trace.healthcheck_exec {
                Some(t) => {
                    let t = serde_json::to_string(t).unwrap_or_default();
                    refusal.fix("run it without one", ["--healthcheck", &t])
                }
                None => refusal.fix(
                    "give an exec-form check",
                    ["--healthcheck", r#"["CMD", "/usr/bin/prog", "arg"]"#],
                ),
            };
            healthcheck_refusal = Some(refusal.fix("drop the check", ["--healthcheck", "none"]));
        }
    }
    for name in &opts.keep_packages {
        if catalog.named(name).next().is_none() {
            let near = rules::closest(name, catalog.packages.iter().map(|p| p.name.as_str()));
            return Err(Error::NoSuchPackage {
                name: name.clone(),
                hint: if near.is_empty() {
                    String::new()
                } else {
                    format!(" (closest: {})", near.join(", "))
                },
            });
        }
    }
    let mut diagnostics: Vec<Diagnostic> = shell_refusal
        .into_iter()
        .chain(healthcheck_refusal)
        .collect();
    let mut b = Builder {
        layers,
        tree: Tree::new(),
        why: BTreeMap::new(),
        made: Vec::new(),
    };
    // A profile drop that would remove what the command runs (`npm start`
    // runs npm) is not applied at all: the command needs that tree.
    let profile_drops: Vec<&String> = profile
        .drop
        .iter()
        .filter(|g| {
            !trace
                .kept
                .iter()
                .any(|(p, r)| r.is_essential() && rules::matches(g, p))
        })
        .collect();
    let dropped_by = |p: &str| {
        opts.drop.iter().any(|g| rules::user_matches(g, p)) || rules::matches_any(&profile_drops, p)
    };
    // 1. What the trace keeps (the profile's drops only yield to what the program needs).
    // A --drop of what the program needs is done, and said: (glob, essential?) → paths.
    let mut user_dropped: BTreeMap<(&str, bool), Vec<String>> = BTreeMap::new();
    for (p, reason) in &trace.kept {
        let essential = reason.is_essential();
        if let Some(g) = opts.drop.iter().find(|g| rules::user_matches(g, p)) {
            user_dropped
                .entry((g.as_str(), essential))
                .or_default()
                .push(format!("{p} ({reason})"));
            continue;
        }
        if !essential && dropped_by(p) {
            continue;
        }
        b.take(p, reason.kind());
    }
    for ((g, essential), paths) in &user_dropped {
        diagnostics.push(if *essential {
            Diagnostic::new(Code::DropBreaksProgram,
                None,
                format!(
                    "--drop {g} removes what the program needs to start: {}; the image would not run",
                    some_paths(paths)
                ),
            )
        } else {
            Diagnostic::new(Code::DropRemovesTraced,
                None,
                format!("--drop {g} removes what the trace keeps: {}", some_paths(paths)),
            )
        });
    }
    // 2. The profile's skeleton, then the user's --keep and --keep-package.
    // A skeleton link whose target is dropped (`/etc/localtime` with
    // `--drop /usr/share/zoneinfo`) goes too, rather than dangle.
    let target_dropped = |p: &str| {
        src.resolve(p, true)
            .is_ok_and(|r| dropped_by(&abs(&r.path)))
    };
    for g in &profile.keep {
        let (paths, hops) = rules::glob(src, g);
        for p in paths.iter().chain(hops.iter()) {
            if !dropped_by(p) && !target_dropped(p) {
                b.take_path(p, "profile");
            }
        }
    }
    for g in &opts.keep {
        let (paths, hops) = rules::user_glob(src, g);
        if paths.is_empty() && hops.is_empty() {
            diagnostics.push(Diagnostic::new(
                Code::KeepMatchedNothing,
                None,
                format!("--keep {g} matches nothing in the image"),
            ));
        }
        for p in paths.iter().chain(hops.iter()) {
            b.take_path(p, "keep");
        }
    }
    for g in &opts.drop {
        if !src.iter().any(|(p, _)| rules::user_matches(g, &abs(p))) {
            diagnostics.push(Diagnostic::new(
                Code::DropMatchedNothing,
                None,
                format!("--drop {g} matches nothing in the image"),
            ));
        }
    }
    for name in &opts.keep_packages {
        if let Some(pkg) = catalog.named(name).next() {
            for f in &pkg.files {
                if !rules::is_doc(f) && !opts.drop.iter().any(|g| rules::user_matches(g, f)) {
                    b.take_path(f, "keep-package");
                }
            }
        }
    }
    // 3. Users and groups: the image's own plus the profile's.
    let users: Vec<String> = profile
        .users
        .iter()
        .map(|u| {
            format!(
                "{}:x:{}:{}:{}:{}:{}",
                u.name, u.uid, u.gid, u.name, u.home, u.shell
            )
        })
        .collect();
    let groups: Vec<String> = profile
        .groups
        .iter()
        .map(|g| format!("{}:x:{}:", g.name, g.gid))
        .collect();
    let file_meta = |p: &str, mode: u32| {
        src.get(p).map(|n| n.meta.clone()).unwrap_or(Meta {
            mode,
            ..Meta::default()
        })
    };
    let passwd = merge_db(layers.read("/etc/passwd", 16 << 20), &users);
    b.make(
        "/etc/passwd",
        passwd,
        file_meta("etc/passwd", 0o644),
        "profile",
    );
    let group = merge_db(layers.read("/etc/group", 16 << 20), &groups);
    b.make(
        "/etc/group",
        group,
        file_meta("etc/group", 0o644),
        "profile",
    );
    for d in &profile.dirs {
        let key = d.path.trim_matches('/').to_string();
        b.ensure_dir(&key);
        let mode = u32::from_str_radix(&d.mode, 8).unwrap_or(0o755);
        let mut node = b.tree.get(&key).cloned().unwrap_or(Node {
            kind: Kind::Dir,
            meta: Meta::default(),
            layer: MADE,
        });
        if node.is_dir() {
            node.meta.mode = mode;
            node.meta.uid = d.uid;
            node.meta.gid = d.gid;
            b.tree.insert(&key, node);
            b.why.insert(abs(&key), "profile".into());
        }
    }

    let owned = match opts.run_as {
        Some(user) => own_writable(&mut b, trace, user, &mut diagnostics),
        None => Vec::new(),
    };

    // 4. Package metadata for every package that still has a file here, as
    // each ecosystem writes it.
    let mut present: Vec<&crate::catalog::Package> = Vec::new();
    let mut seen = BTreeSet::new();
    for (p, n) in b.tree.iter() {
        // Regular files only, as .md5sums lists them: old file lists still claim
        // /lib, now a symlink to a directory every package shares.
        if !n.is_file() || n.layer == MADE {
            continue;
        }
        for pkg in catalog.owners(p) {
            if seen.insert(std::ptr::from_ref(pkg)) {
                present.push(pkg);
            }
        }
    }
    let remains = |path: &str| {
        src.resolve(path, false)
            .is_ok_and(|r| b.tree.get(&r.path).is_some())
    };
    let mut slimmed = Vec::new();
    for e in crate::catalog::ECOSYSTEMS {
        let mine: Vec<&crate::catalog::Package> = present
            .iter()
            .copied()
            .filter(|p| p.kind == e.kind())
            .collect();
        if !mine.is_empty() {
            slimmed.push(e.slim(layers, &mine, &remains)?);
        }
    }
    let (mut packages, mut metadata) = (Vec::new(), Vec::new());
    let meta = Meta {
        mode: 0o644,
        ..Meta::default()
    };
    for s in slimmed {
        for (path, bytes) in s.made {
            b.make(&path, bytes, meta.clone(), "metadata");
        }
        for path in &s.kept {
            b.take_path(path, "metadata");
        }
        packages.extend(s.packages);
        metadata.extend(s.databases);
    }

    // What was kept and dropped, by category.
    let mut kept: BTreeMap<String, Counts> = BTreeMap::new();
    let mut seen = BTreeSet::new();
    for (p, n) in b.tree.iter() {
        if let Kind::File { data, .. } = n.kind {
            if seen.insert(data) {
                let c = kept
                    .entry(
                        b.why
                            .get(&abs(p))
                            .cloned()
                            .unwrap_or_else(|| "other".into()),
                    )
                    .or_default();
                c.files += 1;
                c.bytes += n.meta.size;
            }
        }
    }
    let mut dropped: BTreeMap<String, Counts> = BTreeMap::new();
    let (mut source_files, mut source_bytes) = (0, 0);
    for (p, n) in src.iter() {
        if let Kind::File { hardlink: None, .. } = n.kind {
            source_files += 1;
            source_bytes += n.meta.size;
            if b.tree.get(p).is_none() {
                let c = dropped
                    .entry(category_of_dropped(p, n).to_string())
                    .or_default();
                c.files += 1;
                c.bytes += n.meta.size;
            }
        }
    }
    Ok(Plan {
        tree: b.tree,
        made: b.made,
        why: b.why,
        kept,
        dropped,
        packages,
        metadata,
        source_files,
        source_bytes,
        diagnostics,
        owned_by_user: owned,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_profile_parses() {
        let p = Profile::load("distroless").unwrap();
        assert_eq!(p.name, "distroless");
        assert!(p.users.iter().any(|u| u.uid == 65532));
        assert!(p.drop.iter().any(|d| d == "**/bin/sh"));
    }

    #[test]
    fn passwd_keeps_the_image_users_and_adds_missing_ones() {
        let out = merge_db(
            Some(
                b"root:x:0:0:root:/root:/bin/bash\nwww-data:x:33:33::/var/www:/usr/sbin/nologin"
                    .to_vec(),
            ),
            &[
                "nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin".into(),
                "root:x:0:0:other".into(),
            ],
        );
        let s = String::from_utf8(out).unwrap();
        assert_eq!(s.lines().count(), 3);
        assert!(
            s.contains("www-data:x:33") && s.ends_with("nonroot:/home/nonroot:/sbin/nologin\n")
        );
    }
}
