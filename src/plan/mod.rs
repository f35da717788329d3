//! From a trace to the slimmed image's file tree: what the trace keeps, the
//! profile's skeleton (users, CA certificates, time zones, /tmp …), the
//! user's `--keep`/`--drop`, and package metadata scanners read
//! (`/var/lib/dpkg/status.d/<pkg>`, `<pkg>.md5sums`, copyright files).

pub mod check;
pub mod config;

use crate::catalog::Catalog;
use crate::diagnostic::{Code, Diagnostic};
use crate::fs::{DataRef, Kind, Meta, Node, Tree};
use crate::image::write::Content;
use crate::image::Layers;
use crate::rules;
use crate::trace::Trace;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;

/// The built-in distroless profile.
pub const DISTROLESS: &str = include_str!("../../rules/distroless.toml");

/// Files slim makes (passwd, status.d …) live in this pseudo-layer.
const MADE: usize = usize::MAX;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileFile {
    pub profile: Profile,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub name: String,
    #[serde(default)]
    pub keep: Vec<String>,
    #[serde(default)]
    pub drop: Vec<String>,
    #[serde(default)]
    pub users: Vec<User>,
    #[serde(default)]
    pub groups: Vec<Group>,
    #[serde(default)]
    pub dirs: Vec<Dir>,
    #[serde(default)]
    pub env: Vec<String>,
    pub nonroot: Option<NonRoot>,
    /// Packages of the system layer of `rewrite --layers 2` (the base many
    /// images share): with the profile's own files, they go in the first layer.
    #[serde(default)]
    pub system_packages: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    pub name: String,
    pub uid: u64,
    pub gid: u64,
    pub home: String,
    pub shell: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Group {
    pub name: String,
    pub gid: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dir {
    pub path: String,
    pub mode: String,
    #[serde(default)]
    pub uid: u32,
    #[serde(default)]
    pub gid: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NonRoot {
    pub user: String,
    pub workdir: String,
}

impl Profile {
    /// The uid and gid of the profile's non-root user (`65532:65532`).
    pub fn nonroot_ids(&self) -> Option<(u32, u32)> {
        let n = self.nonroot.as_ref()?;
        let (u, g) = n.user.split_once(':').unwrap_or((&n.user, &n.user));
        Some((u.parse().ok()?, g.parse().ok()?))
    }

    /// `distroless`, or a profile file.
    pub fn load(name_or_path: &str) -> Result<Profile, rules::Error> {
        let (text, origin) = if name_or_path == "distroless" {
            (DISTROLESS.to_string(), "rules/distroless.toml".to_string())
        } else {
            let t = std::fs::read_to_string(name_or_path).map_err(|e| rules::Error {
                origin: name_or_path.to_string(),
                message: format!("{e} (--to takes `distroless` or a profile file)"),
            })?;
            (t, name_or_path.to_string())
        };
        let f: ProfileFile = toml::from_str(&text).map_err(|e| rules::Error {
            origin,
            message: e.to_string().trim().to_string(),
        })?;
        Ok(f.profile)
    }
}

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

/// Where programs keep state, logs and run-time files. Below them, what a
/// program creates files in, or what the image gave its service user, is the
/// program's own to write; these directories themselves are shared.
const STATE_DIRS: &[&str] = &[
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
fn own_writable(
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
    Metadata(String),
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
    pub fn split(&self, layers: &Layers, catalog: &Catalog, profile: &Profile) -> (Tree, Tree) {
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

fn abs(p: &str) -> String {
    format!("/{}", p.trim_start_matches('/'))
}

struct Builder<'a> {
    layers: &'a Layers,
    tree: Tree,
    why: BTreeMap<String, String>,
    made: Vec<Vec<u8>>,
}

impl Builder<'_> {
    /// Copies the source node at real path `p` (and its parent directories) into the output.
    fn take(&mut self, p: &str, why: &str) {
        let src = &self.layers.tree;
        let key = p.trim_start_matches('/');
        let Some(node) = src.get(key) else { return };
        let mut dir = key;
        while let Some((parent, _)) = dir.rsplit_once('/') {
            if self.tree.get(parent).is_none() {
                if let Some(n) = src.get(parent) {
                    self.tree.insert(parent, n.clone());
                    self.why
                        .entry(abs(parent))
                        .or_insert_with(|| "parent".into());
                }
            }
            dir = parent;
        }
        if self.tree.get(key).is_none() {
            self.tree.insert(key, node.clone());
        }
        self.why.insert(abs(key), why.to_string());
    }

    /// Like `take`, following a symlink: every hop and the target.
    fn take_path(&mut self, path: &str, why: &str) {
        let src = &self.layers.tree;
        let Ok(r) = src.resolve(path, false) else {
            return;
        };
        let hops = r.hops.clone();
        for h in hops {
            self.take(&h, "symlink-hop");
        }
        self.take(&r.path, why);
        if src
            .get(&r.path)
            .is_some_and(|n| n.symlink_target().is_some())
        {
            if let Ok(full) = src.resolve(&r.path, true) {
                for h in &full.hops {
                    self.take(h, "symlink-hop");
                }
                self.take(&full.path, why);
            }
        }
    }

    /// Adds a file slim makes, replacing any source file there.
    fn make(&mut self, path: &str, bytes: Vec<u8>, meta: Meta, why: &str) {
        let key = path.trim_start_matches('/');
        if let Some((parent, _)) = key.rsplit_once('/') {
            if self.tree.get(parent).is_none() {
                self.take(parent, "parent");
            }
            self.ensure_dir(parent);
        }
        let size = bytes.len() as u64;
        self.made.push(bytes);
        let data = DataRef {
            layer: MADE,
            offset: (self.made.len() - 1) as u64,
        };
        self.tree.insert(
            key,
            Node {
                kind: Kind::File {
                    data,
                    hardlink: None,
                },
                meta: Meta { size, ..meta },
                layer: MADE,
            },
        );
        self.why.insert(abs(key), why.to_string());
    }

    fn ensure_dir(&mut self, key: &str) {
        let mut acc = String::new();
        for c in key.split('/').filter(|c| !c.is_empty()) {
            if !acc.is_empty() {
                acc.push('/');
            }
            acc.push_str(c);
            if self.tree.get(&acc).is_none() {
                match self.layers.tree.get(&acc) {
                    Some(n) if n.is_dir() => self.tree.insert(&acc, n.clone()),
                    _ => {
                        let meta = Meta {
                            mode: 0o755,
                            ..Meta::default()
                        };
                        self.tree.insert(
                            &acc,
                            Node {
                                kind: Kind::Dir,
                                meta,
                                layer: MADE,
                            },
                        );
                    }
                }
                self.why.entry(abs(&acc)).or_insert_with(|| "parent".into());
            }
        }
    }
}

/// Lines of a passwd/group file, plus `extra` entries whose name is absent.
fn merge_db(original: Option<Vec<u8>>, extra: &[String]) -> Vec<u8> {
    let mut text = original
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    let names: BTreeSet<String> = text
        .lines()
        .filter_map(|l| l.split(':').next())
        .map(String::from)
        .collect();
    for e in extra {
        let name = e.split(':').next().unwrap_or_default();
        if !names.contains(name) {
            text.push_str(e);
            text.push('\n');
        }
    }
    text.into_bytes()
}

fn category_of_dropped(path: &str, node: &Node) -> &'static str {
    let base = path.rsplit('/').next().unwrap_or("");
    if crate::rules::programs::SHELLS.contains(&base) && path.contains("bin/") {
        "shells"
    } else if crate::rules::programs::PACKAGE_MANAGERS.contains(&base) && path.contains("bin/")
        || path.starts_with("var/lib/dpkg")
        || path.starts_with("var/lib/apt")
        || path.starts_with("var/cache/apt")
        || [
            "-packages/pip/",
            "/node_modules/npm/",
            "/node_modules/corepack/",
            "/node_modules/yarn/",
        ]
        .iter()
        .any(|d| path.contains(d))
    {
        "package-managers"
    } else if ["usr/share/doc/", "usr/share/man/", "usr/share/info/"]
        .iter()
        .any(|d| path.starts_with(d))
    {
        "docs"
    } else if path.starts_with("usr/share/locale/") || path.starts_with("usr/lib/locale/") {
        "locales"
    } else if path.contains("/bin/") || path.contains("/sbin/") || path.starts_with("bin/") {
        "executables"
    } else if base.contains(".so") || path.contains("/lib/") && node.meta.mode & 0o111 != 0 {
        "libraries"
    } else {
        "other"
    }
}

/// Plans the slimmed image.
pub fn plan(
    layers: &Layers,
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
            let with = if runs.is_empty() {
                "; name what the command runs with --exec PATH".to_string()
            } else {
                format!(
                    "; what the command runs is kept with it: {}",
                    runs.join(", ")
                )
            };
            // Each way out once: not running a pass-through wrapper, the exec
            // form of a plain command, a shell.
            let wrapper = trace
                .diagnostics
                .iter()
                .any(|w| w.code == Code::EntrypointWrapper);
            let mut ways = Vec::new();
            if wrapper {
                ways.push("run what the wrapper runs without it (--entrypoint '')".to_string());
            }
            match &trace.exec_form {
                Some(words) if !wrapper => ways.push(format!(
                    "run the program without one (--entrypoint '{}')",
                    serde_json::to_string(words).unwrap_or_default()
                )),
                Some(_) => {}
                None if !wrapper => ways.push(
                    "run the program directly: an exec-form Entrypoint/Cmd (e.g. \
                     --entrypoint '[\"/usr/bin/app\", \"--flag\"]')"
                        .to_string(),
                ),
                None => {}
            }
            ways.push(format!("keep a shell (--keep {shell}{with})"));
            let last = ways.pop().unwrap_or_default();
            let ways = match ways.is_empty() {
                true => last,
                false => format!("{}, or {last}", ways.join(", ")),
            };
            shell_refusal = Some(Diagnostic::new(
                Code::ShellNotKept,
                Some(&shell),
                format!(
                    "{}. A distroless image has no shell, so this image would not start: {ways}",
                    d.message
                ),
            ));
        }
    }
    // A CMD-SHELL HEALTHCHECK: the check runs /bin/sh every interval.
    if let Some(d) = trace
        .diagnostics
        .iter()
        .find(|d| d.code == Code::HealthcheckShell)
    {
        if !user_kept("/bin/sh") {
            let exec_form = match &trace.healthcheck_exec {
                Some(t) => format!(
                    "run it without one (--healthcheck '{}'), ",
                    serde_json::to_string(t).unwrap_or_default()
                ),
                None => "give an exec-form check (--healthcheck '[\"CMD\", \"/usr/bin/prog\", \"arg\"]'), ".into(),
            };
            healthcheck_refusal = Some(Diagnostic::new(
                Code::HealthcheckShellNotKept,
                Some("/bin/sh"),
                format!(
                    "{}. A distroless image has no shell, so the check would fail and the \
                     container would never be healthy: keep a shell (--keep /bin/sh), \
                     {exec_form}or drop the check (--healthcheck none)",
                    d.message
                ),
            ));
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
        opts.drop.iter().any(|g| rules::user_matches(g, p))
            || profile_drops.iter().any(|g| rules::matches(g, p))
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
            slimmed.push(e.slim(layers, &mine, &remains).map_err(Error::Metadata)?);
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

/// File contents of a plan: from the source layers, or made by slim.
pub struct PlanContent<'a> {
    pub plan: &'a Plan,
    pub layers: &'a Layers,
}

impl Content for PlanContent<'_> {
    fn open_node(&self, node: &Node) -> Option<Box<dyn Read + '_>> {
        match node.kind {
            Kind::File {
                data:
                    DataRef {
                        layer: MADE,
                        offset,
                    },
                ..
            } => Some(Box::new(std::io::Cursor::new(
                self.plan.made.get(offset as usize)?.as_slice(),
            ))),
            _ => self.layers.open_node(node),
        }
    }
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
