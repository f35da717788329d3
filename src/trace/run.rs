//! The whole trace: entrypoint → interpreters → ELF closure → run-time rules
//! → package data, repeated until nothing new is kept.

use super::{elf_closure, EdgeKind, Loader, Object};
use crate::catalog::Catalog;
use crate::image::Layers;
use crate::rules::{self, Rules};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// Why a path is kept. The `by`/`of`/`trigger` paths lead back to the entrypoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Reason {
    /// The program the image runs (argv[0]).
    Entrypoint,
    /// An extra program to trace (`--exec`).
    Exec,
    /// A program the shell-form command string runs (`sh -c "nginx -g …"`).
    ShellCommand { command: String },
    /// Matched by the user's `--keep GLOB`.
    UserKeep { glob: String },
    /// A file or directory a word of the command line names (`main.py`, `-jar app.jar`).
    CommandLine { word: String },
    /// Part of the application's own tree: its WorkingDir, or the directory of
    /// the script or jar it runs.
    AppRoot { root: String },
    /// The program a pass-through wrapper script (`exec "$@"`) runs.
    Wrapped { wrapper: String },
    /// A library `by` dlopens by a path compiled into it.
    DlopenPath { by: String },
    /// Named by a variable of the image's Env that runtimes search (`PYTHONPATH`).
    EnvPath { var: String },
    /// Named by the `Class-Path` of `jar`'s manifest.
    ClassPath { jar: String },
    /// A directory a Python `.pth` file adds to `sys.path`.
    PathFile { file: String },
    /// PT_INTERP of an ELF file, or the `#!` interpreter of a script.
    Interpreter { of: String },
    /// DT_NEEDED `name` of `by`.
    ElfNeeded { by: String, name: String },
    /// A symlink followed to reach `of`.
    SymlinkHop { of: String },
    /// A run-time rule fired by `trigger` (a kept file or an imported symbol).
    Rule {
        rule: String,
        trigger: String,
        detail: Option<String>,
    },
    /// A file of package `package`, pulled in `via` (the entrypoint, or a package that depends on it).
    Package { package: String, via: String },
    /// A path named in a kept config file.
    ConfigReference { config: String, line: usize },
    /// An absolute path compiled into the program `by` (its read-only strings).
    CompiledIn { by: String },
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reason::Entrypoint => write!(f, "entrypoint"),
            Reason::Exec => write!(f, "--exec"),
            Reason::ShellCommand { command } => write!(f, "run by the shell command `{command}`"),
            Reason::UserKeep { glob } => write!(f, "--keep {glob}"),
            Reason::CommandLine { word } => write!(f, "named on the command line ({word})"),
            Reason::AppRoot { root } => write!(f, "app-root {root}"),
            Reason::Wrapped { wrapper } => write!(f, "run by the wrapper {wrapper} (exec \"$@\")"),
            Reason::DlopenPath { by } => write!(f, "dlopen-path: named in {by}"),
            Reason::EnvPath { var } => write!(f, "named by the image's {var}"),
            Reason::ClassPath { jar } => write!(f, "Class-Path of {jar}"),
            Reason::PathFile { file } => write!(f, "added to sys.path by {file}"),
            Reason::Interpreter { of } => write!(f, "interpreter of {of}"),
            Reason::ElfNeeded { by, name } => write!(f, "elf-needed by {by} ({name})"),
            Reason::SymlinkHop { of } => write!(f, "symlink hop of {of}"),
            Reason::Rule {
                rule,
                trigger,
                detail: Some(d),
            } => write!(f, "rule {rule} ({d}; fired by {trigger})"),
            Reason::Rule {
                rule,
                trigger,
                detail: None,
            } => write!(f, "rule {rule} (fired by {trigger})"),
            Reason::Package { package, via } => write!(f, "package {package} ({via})"),
            Reason::ConfigReference { config, line } => write!(f, "named in {config} line {line}"),
            Reason::CompiledIn { by } => write!(f, "compiled into {by}"),
        }
    }
}

impl Reason {
    /// The reason's kind, as serialised (`entrypoint`, `elf-needed`, …).
    pub fn kind(&self) -> &'static str {
        match self {
            Reason::Entrypoint => "entrypoint",
            Reason::Exec => "exec",
            Reason::ShellCommand { .. } => "shell-command",
            Reason::UserKeep { .. } => "user-keep",
            Reason::CommandLine { .. } => "command-line",
            Reason::AppRoot { .. } => "app-root",
            Reason::Wrapped { .. } => "wrapped",
            Reason::DlopenPath { .. } => "dlopen-path",
            Reason::EnvPath { .. } => "env-path",
            Reason::ClassPath { .. } => "class-path",
            Reason::PathFile { .. } => "path-file",
            Reason::Interpreter { .. } => "interpreter",
            Reason::ElfNeeded { .. } => "elf-needed",
            Reason::SymlinkHop { .. } => "symlink-hop",
            Reason::Rule { .. } => "rule",
            Reason::Package { .. } => "package",
            Reason::ConfigReference { .. } => "config-reference",
            Reason::CompiledIn { .. } => "compiled-in",
        }
    }

    /// Whether the program cannot start without the path: what it runs and
    /// what the loader loads (the profile's drops yield to these).
    pub fn is_essential(&self) -> bool {
        matches!(
            self,
            Reason::Entrypoint
                | Reason::Exec
                | Reason::ShellCommand { .. }
                | Reason::CommandLine { .. }
                | Reason::Wrapped { .. }
                | Reason::DlopenPath { .. }
                | Reason::ClassPath { .. }
                | Reason::Interpreter { .. }
                | Reason::ElfNeeded { .. }
                | Reason::SymlinkHop { .. }
        )
    }

    /// The kept path this reason depends on, if any (to walk back to the entrypoint).
    pub fn parent(&self) -> Option<&str> {
        match self {
            Reason::Interpreter { of } | Reason::SymlinkHop { of } => Some(of),
            Reason::ConfigReference { config, .. } => Some(config),
            Reason::CompiledIn { by } | Reason::DlopenPath { by } => Some(by),
            Reason::Wrapped { wrapper } => Some(wrapper),
            Reason::ClassPath { jar } => Some(jar),
            Reason::PathFile { file } => Some(file),
            Reason::ElfNeeded { by, .. } => Some(by),
            Reason::Rule { trigger, .. } if trigger.starts_with('/') => Some(trigger),
            _ => None,
        }
    }
}

/// A finding with a stable code (`elf-unresolved-needed`, `entrypoint-needs-shell`, …).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Diagnostic {
    pub code: &'static str,
    /// error | warning | info
    pub severity: &'static str,
    pub path: Option<String>,
    pub message: String,
}

impl Diagnostic {
    pub fn new(
        code: &'static str,
        severity: &'static str,
        path: Option<&str>,
        message: String,
    ) -> Diagnostic {
        Diagnostic {
            code,
            severity,
            path: path.map(String::from),
            message,
        }
    }
}

/// What to trace.
#[derive(Debug, Clone, Default)]
pub struct TraceOptions {
    /// Entrypoint followed by Cmd (empty: trace only `exec`).
    pub argv: Vec<String>,
    /// The image Env (PATH, LD_LIBRARY_PATH).
    pub env: Vec<String>,
    pub workdir: String,
    /// Extra programs the image runs (helpers, probes).
    pub exec: Vec<String>,
    /// The user's `--keep` globs: kept, and traced when they are ELF files.
    pub keep: Vec<String>,
}

/// The result: every kept path with its reason.
#[derive(Debug, Default, Serialize)]
pub struct Trace {
    /// The program argv[0] resolves to, if found.
    pub entrypoint: Option<String>,
    pub closure: super::Closure,
    /// Absolute path → the first reason it was kept for.
    pub kept: BTreeMap<String, Reason>,
    pub diagnostics: Vec<Diagnostic>,
    /// Packages whose data was kept, in the order found.
    pub packages: Vec<String>,
    /// Paths the command line names that exist in the image (the result must have them).
    pub named: BTreeSet<String>,
    /// The application's own trees, kept whole.
    pub app_roots: Vec<String>,
    /// Files the program will create (named in its config or compiled in, not
    /// in the image) → the directory they go in (real path): what it writes.
    pub creates: BTreeMap<String, String>,
}

/// The default PATH of container runtimes when the image sets none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

use crate::analyze::SHELLS;

/// Finds the program a container runs for `argv0`: through PATH (from the
/// image Env) or relative to WorkingDir, following symlinks in the image.
/// Returns the path it was found at (not symlink-resolved), or why not;
/// a symlink loop is an error.
pub fn resolve_program(
    tree: &crate::fs::Tree,
    argv0: &str,
    env: &[String],
    workdir: &str,
) -> Result<Result<String, String>, crate::fs::ResolveError> {
    let candidates: Vec<String> = if argv0.contains('/') {
        if argv0.starts_with('/') {
            vec![argv0.to_string()]
        } else {
            vec![rules::normalize(&format!(
                "{}/{argv0}",
                if workdir.is_empty() { "/" } else { workdir }
            ))]
        }
    } else {
        let path = env
            .iter()
            .find_map(|e| e.strip_prefix("PATH="))
            .unwrap_or(DEFAULT_PATH);
        path.split(':')
            .filter(|d| d.starts_with('/'))
            .map(|d| format!("{}/{argv0}", d.trim_end_matches('/')))
            .collect()
    };
    for c in &candidates {
        match tree.resolve(c, true) {
            Ok(r) if tree.get(&r.path).is_some_and(|n| n.is_file()) => return Ok(Ok(c.clone())),
            Err(e @ crate::fs::ResolveError::Loop { .. }) => return Err(e),
            _ => {}
        }
    }
    Ok(Err(if argv0.contains('/') {
        format!("{argv0} is not a regular file in the image")
    } else {
        format!("{argv0} is not found in PATH")
    }))
}

pub(super) struct State<'a> {
    pub(super) layers: &'a Layers,
    pub(super) loader: Loader<'a>,
    pub(super) t: Trace,
    roots: Vec<Object>,
    root_set: BTreeSet<String>,
    /// Absolute paths among a file's strings, by real path: a big program
    /// (node is 120 MB) is scanned once for compiled-in and dlopen paths.
    strings: std::collections::HashMap<String, std::rc::Rc<BTreeSet<String>>>,
}

impl State<'_> {
    /// The absolute paths among the strings of the file at `path` (see [`absolute_strings`]).
    pub(super) fn strings_of(&mut self, path: &str) -> Option<std::rc::Rc<BTreeSet<String>>> {
        let real = self.layers.tree.resolve(path, true).ok()?.path;
        if let Some(s) = self.strings.get(&real) {
            return Some(s.clone());
        }
        let bytes = self.layers.read(&real, 256 << 20)?;
        let found = std::rc::Rc::new(absolute_strings(&bytes));
        self.strings.insert(real, found.clone());
        Some(found)
    }

    /// Keeps `path` (absolute, as named) for `reason`; a symlink also keeps
    /// every hop and its target. Returns true when something new was kept.
    pub(super) fn keep(&mut self, path: &str, reason: Reason) -> bool {
        let tree = &self.layers.tree;
        let Ok(r) = tree.resolve(path, false) else {
            return false;
        };
        let here = format!("/{}", r.path);
        let mut new = false;
        // Directories on the way that are symlinks (merged /usr) are hops too.
        for h in &r.hops {
            new |= self.insert(&format!("/{h}"), Reason::SymlinkHop { of: here.clone() });
        }
        new |= self.insert(&here, reason.clone());
        if tree
            .get(&r.path)
            .is_some_and(|n| n.symlink_target().is_some())
        {
            if let Ok(full) = tree.resolve(&r.path, true) {
                let target = format!("/{}", full.path);
                for h in &full.hops {
                    new |= self.insert(&format!("/{h}"), Reason::SymlinkHop { of: target.clone() });
                }
                if tree.get(&full.path).is_some() {
                    new |= self.insert(&target, reason);
                }
            }
        }
        new
    }

    fn insert(&mut self, path: &str, reason: Reason) -> bool {
        if self.t.kept.contains_key(path) {
            return false;
        }
        self.t.kept.insert(path.to_string(), reason);
        // An ELF program or library kept for any reason is traced too.
        if let Some(o) = self.loader.object(path) {
            if o.info.kind != goblin::elf::header::ET_REL && self.root_set.insert(o.real.clone()) {
                self.roots.push(o);
            }
        }
        true
    }
}

/// Traces what the image's entrypoint (and `opts.exec`) needs.
pub fn trace(
    layers: &Layers,
    catalog: &Catalog,
    rules: &Rules,
    opts: &TraceOptions,
) -> Result<Trace, crate::fs::ResolveError> {
    let mut st = State {
        layers,
        loader: Loader::new(layers, &opts.env),
        t: Trace::default(),
        roots: Vec::new(),
        root_set: BTreeSet::new(),
        strings: Default::default(),
    };
    // Sniff every regular file and parse every ELF once, on all cores: the
    // closure and the rules then read from the cache (0.03 s for the 7,868
    // files of the JRE image, benches/trace.sh).
    st.loader.preload_all();
    let mut programs: Vec<(String, Reason)> = Vec::new();
    if opts.argv.is_empty() && opts.exec.is_empty() {
        st.t.diagnostics.push(Diagnostic::new(
            "no-entrypoint",
            "error",
            None,
            "the image has no Entrypoint and no Cmd, so nothing tells what it runs: name the \
             program with --entrypoint PROGRAM (or trace one with --exec PATH)"
                .into(),
        ));
    }
    if let Some(argv0) = opts.argv.first() {
        if opts.argv.get(1).is_some_and(|a| a == "-c")
            && SHELLS.contains(&argv0.rsplit('/').next().unwrap_or(""))
        {
            st.t.diagnostics.push(Diagnostic::new(
                "entrypoint-needs-shell",
                "warning",
                None,
                format!("shell-form command ({argv0} -c …): the image needs a shell to start"),
            ));
            // What the command string runs is the real program: trace it.
            if let Some(command) = opts.argv.get(2) {
                let found = super::shell::programs(command);
                for p in &found.programs {
                    match resolve_program(&layers.tree, p, &opts.env, &opts.workdir)? {
                        Ok(path) => programs.push((
                            path,
                            Reason::ShellCommand {
                                command: command.clone(),
                            },
                        )),
                        Err(problem) => st.t.diagnostics.push(Diagnostic::new(
                            "shell-command-not-found",
                            "warning",
                            None,
                            format!("the shell command `{command}` runs {p}: {problem}"),
                        )),
                    }
                }
                for d in &found.dynamic {
                    st.t.diagnostics.push(Diagnostic::new(
                        "shell-command-dynamic",
                        "warning",
                        None,
                        format!(
                            "the shell command `{command}` runs `{d}`, known only when it runs: \
                             name the program with --exec PATH"
                        ),
                    ));
                }
            }
        }
        match resolve_program(&layers.tree, argv0, &opts.env, &opts.workdir)? {
            Ok(p) => programs.push((p, Reason::Entrypoint)),
            Err(problem) => {
                st.t.diagnostics.push(Diagnostic::new(
                    "entrypoint-not-found",
                    "error",
                    None,
                    problem,
                ));
            }
        }
    }
    for e in &opts.exec {
        match resolve_program(&layers.tree, e, &opts.env, &opts.workdir)? {
            Ok(p) => programs.push((p, Reason::Exec)),
            Err(problem) => {
                st.t.diagnostics
                    .push(Diagnostic::new("exec-not-found", "error", None, problem))
            }
        }
    }
    let mut related: Vec<String> = Vec::new();
    // Every program the container starts (not its interpreters): their
    // compiled-in paths are data they read.
    let mut launched: Vec<String> = Vec::new();
    for (path, reason) in programs {
        launched.push(path.clone());
        if reason == Reason::Entrypoint {
            // The file argv[0] is, whatever it turns out to be.
            st.t.entrypoint = layers
                .tree
                .resolve(&path, true)
                .ok()
                .map(|r| format!("/{}", r.path));
        }
        let is_entry = reason == Reason::Entrypoint;
        follow_interpreters(&mut st, &path, reason, &opts.env, &mut related);
        // A shell script as the entrypoint may be a pass-through wrapper.
        let script = st.t.entrypoint.clone().filter(|_| is_entry);
        if let Some(script) = script.filter(|s| st.loader.object(s).is_none()) {
            for (p, r) in
                super::app::wrapper(&mut st, &script, &opts.argv, &opts.env, &opts.workdir)
            {
                if matches!(r, Reason::Wrapped { .. }) {
                    launched.push(p.clone());
                }
                follow_interpreters(&mut st, &p, r, &opts.env, &mut related);
            }
        }
    }
    super::app::command_line(&mut st, &opts.argv, &opts.workdir, catalog);
    super::app::env_paths(&mut st, &opts.env);
    for g in &opts.keep {
        let (paths, hops) = rules::glob(&layers.tree, g);
        for p in paths.iter().chain(hops.iter()) {
            st.keep(p, Reason::UserKeep { glob: g.clone() });
        }
    }

    let mut fired: BTreeSet<(String, String)> = BTreeSet::new();
    let mut dlopen_scanned: BTreeSet<String> = BTreeSet::new();
    let mut pth_done: BTreeSet<String> = BTreeSet::new();
    let mut packages_done = false;
    for _round in 0..32 {
        let mut new = false;
        let closure = elf_closure(&st.loader, &st.roots);
        for e in &closure.edges {
            let Some(to) = &e.to else { continue };
            let reason = match e.kind {
                EdgeKind::Interpreter => Reason::Interpreter { of: e.from.clone() },
                EdgeKind::Needed | EdgeKind::Hwcaps => Reason::ElfNeeded {
                    by: e.from.clone(),
                    name: e.name.clone(),
                },
            };
            // Keep the path it was loaded by (with its hops), then the real file.
            for loaded_by in closure.objects.get(to).into_iter().flatten() {
                new |= st.keep(loaded_by, reason.clone());
            }
            new |= st.keep(to, reason);
        }
        st.t.closure = closure;
        new |= apply_rules(&mut st, rules, &mut fired);
        new |= super::app::dlopen_paths(&mut st, &mut dlopen_scanned);
        new |= super::app::pth_paths(&mut st, &mut pth_done);
        if !packages_done {
            packages_done = true;
            new |= package_data(&mut st, catalog, rules, &related);
            for p in &launched {
                new |= compiled_in(&mut st, rules, p);
            }
        }
        if !new {
            break;
        }
    }
    for e in st.t.closure.missing() {
        let d = match &e.problem {
            Some(p) => Diagnostic::new(
                "elf-invalid-candidate",
                "error",
                Some(&e.from),
                format!(
                    "{} needs {}: the loader stops at {p} and the program will not start",
                    e.from, e.name
                ),
            ),
            None => Diagnostic::new(
                "elf-unresolved-needed",
                "error",
                Some(&e.from),
                format!(
                    "{} needs {}, which is not found in the image",
                    e.from, e.name
                ),
            ),
        };
        st.t.diagnostics.push(d);
    }
    let dlopeners: Vec<String> =
        st.t.closure
            .objects
            .keys()
            .filter(|o| st.loader.elf_at(o).is_some_and(|i| i.imports("dlopen")))
            .cloned()
            .collect();
    for o in dlopeners {
        let by_path =
            st.t.kept
                .values()
                .any(|r| matches!(r, Reason::DlopenPath { by } if *by == o));
        let explained = by_path
            || matches!(st.t.kept.get(&o), Some(Reason::Rule { .. }))
            || rules
                .rules
                .iter()
                .any(|r| r.when.kept.iter().any(|g| rules::matches(g, &o)));
        if !explained {
            st.t.diagnostics.push(Diagnostic::new(
                "elf-dlopen",
                "info",
                Some(&o),
                format!("{o} imports dlopen and no rule says what it loads: libraries it opens at run time are not traced"),
            ));
        }
    }
    for (p, problem) in st.loader.malformed.lock().expect("not poisoned").iter() {
        st.t.diagnostics.push(Diagnostic::new(
            "elf-malformed",
            "warning",
            Some(p),
            format!("{p}: {problem}"),
        ));
    }
    Ok(st.t)
}

/// Keeps `path` and the chain of `#!` interpreters it runs through, down to
/// an ELF program, which becomes a trace root. Returns the ELF's real path.
fn follow_interpreters(
    st: &mut State,
    path: &str,
    reason: Reason,
    env: &[String],
    related: &mut Vec<String>,
) -> Option<String> {
    let mut cur = path.to_string();
    let mut reason = reason;
    for _ in 0..5 {
        st.keep(&cur, reason.clone());
        let real = st
            .layers
            .tree
            .resolve(&cur, true)
            .ok()
            .map(|r| format!("/{}", r.path))?;
        related.push(cur.clone());
        related.push(real.clone());
        if let Some(o) = st.loader.object(&cur) {
            let base = cur.rsplit('/').next().unwrap_or("");
            if SHELLS.contains(&base) {
                st.t.diagnostics.push(Diagnostic::new(
                    "entrypoint-needs-shell",
                    "warning",
                    Some(&cur),
                    format!("the entrypoint runs a shell ({cur}); keep it (--keep {cur}) or run the program directly"),
                ));
            }
            if st.root_set.insert(o.real.clone()) {
                st.roots.push(o);
            }
            return Some(real);
        }
        let head = st.layers.read(&cur, 512)?;
        let Some(line) = head.strip_prefix(b"#!") else {
            st.t.diagnostics.push(Diagnostic::new(
                "entrypoint-not-executable",
                "error",
                Some(&cur),
                format!("{cur} is neither ELF nor a #! script"),
            ));
            return None;
        };
        let line =
            String::from_utf8_lossy(line.split(|b| *b == b'\n').next().unwrap_or(&[])).into_owned();
        let mut words = line.split_whitespace();
        let interp = words.next()?.to_string();
        let next = if interp.ends_with("/env") {
            let prog = words.find(|w| !w.starts_with('-'))?;
            st.keep(&interp, Reason::Interpreter { of: real.clone() });
            match resolve_program(&st.layers.tree, prog, env, "/") {
                Ok(Ok(p)) => p,
                _ => {
                    st.t.diagnostics.push(Diagnostic::new(
                        "interpreter-not-found",
                        "error",
                        Some(&cur),
                        format!("{cur} runs '{prog}' through env, and it is not in PATH"),
                    ));
                    return None;
                }
            }
        } else {
            interp
        };
        reason = Reason::Interpreter { of: real };
        cur = next;
    }
    None
}

/// NSS modules named by /etc/nsswitch.conf (glibc's defaults when it is missing).
fn nss_modules(layers: &Layers) -> Vec<(String, String)> {
    let text = layers
        .read("/etc/nsswitch.conf", 1 << 20)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_else(|| "passwd: files\ngroup: files\nhosts: dns files\n".into());
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("");
        let Some((db, services)) = line.split_once(':') else {
            continue;
        };
        for s in services.split_whitespace().filter(|s| !s.starts_with('[')) {
            out.push((
                format!("libnss_{s}.so.2"),
                format!(
                    "/etc/nsswitch.conf line {}: {}",
                    i + 1,
                    line.trim().replace(db, db.trim())
                ),
            ));
        }
    }
    out
}

fn apply_rules(st: &mut State, rules: &Rules, fired: &mut BTreeSet<(String, String)>) -> bool {
    let mut new = false;
    for rule in &rules.rules {
        // What fires it: kept files matching `when.kept`, or kept ELF files importing a symbol.
        let mut triggers: Vec<String> =
            st.t.kept
                .keys()
                .filter(|p| rule.when.kept.iter().any(|g| rules::matches(g, p)))
                .cloned()
                .collect();
        if !rule.when.imports.is_empty() {
            for o in st.t.closure.objects.keys() {
                if let Some(info) = st.loader.elf_at(o) {
                    if let Some(sym) = rule.when.imports.iter().find(|s| info.imports(s)) {
                        triggers.push(format!("{o} imports {sym}"));
                        break;
                    }
                }
            }
        }
        for trigger in triggers {
            if !fired.insert((rule.name.clone(), trigger.clone())) {
                continue;
            }
            let file = trigger
                .split(" imports ")
                .next()
                .unwrap_or(&trigger)
                .to_string();
            let (dir, name) = file.rsplit_once('/').unwrap_or(("", &file));
            let reason = Reason::Rule {
                rule: rule.name.clone(),
                trigger: file.clone(),
                detail: None,
            };
            for pat in &rule.keep {
                let pat = pat
                    .replace("{dir}", if dir.is_empty() { "/" } else { dir })
                    .replace("{name}", name);
                let (paths, hops) = rules::glob(&st.layers.tree, &pat);
                for p in paths {
                    new |= st.keep(&p, reason.clone());
                }
                for h in hops {
                    new |= st.keep(&h, reason.clone());
                }
            }
            if rule.nss {
                let Some(root) = st.roots.first().cloned() else {
                    continue;
                };
                for (module, detail) in nss_modules(st.layers) {
                    if let Ok(Some(o)) = st.loader.search(&module, &root, &[]) {
                        let r = Reason::Rule {
                            rule: rule.name.clone(),
                            trigger: file.clone(),
                            detail: Some(detail),
                        };
                        new |= st.keep(&o.path, r);
                    }
                }
            }
        }
    }
    new
}

/// The config, data and state of the packages owning the entrypoint (and
/// its interpreters), of same-source siblings and of their dependencies.
fn package_data(st: &mut State, catalog: &Catalog, rules: &Rules, related: &[String]) -> bool {
    let Some(pd) = &rules.package_data else {
        return false;
    };
    let excluded = |p: &str| pd.exclude.iter().any(|g| rules::matches(g, p));
    let mut roots: Vec<String> = Vec::new();
    for path in related {
        let real = st
            .layers
            .tree
            .resolve(path, false)
            .map(|r| r.path)
            .unwrap_or_default();
        for p in catalog.owners(&real) {
            if !roots.contains(&p.name) {
                roots.push(p.name.clone());
            }
            for sib in catalog.from_source(p.source.as_deref().unwrap_or(&p.name)) {
                if !roots.contains(&sib.name) {
                    roots.push(sib.name.clone());
                }
            }
        }
    }
    let mut pkgs: Vec<(String, String)> = Vec::new();
    for r in &roots {
        for (p, parent) in catalog.with_dependencies(r, &pd.skip_packages) {
            if pkgs.iter().any(|(n, _)| n == &p.name) {
                continue;
            }
            let via = match parent {
                None => "entrypoint package".to_string(),
                Some(parent) => format!("dependency of {parent}"),
            };
            pkgs.push((p.name.clone(), via));
        }
    }
    let mut new = false;
    let tree = &st.layers.tree;
    let mut links: Vec<(String, Reason)> = Vec::new();
    let mut owned_dirs: Vec<(String, Reason)> = Vec::new();
    for (name, via) in &pkgs {
        let Some(pkg) = catalog.named(name).next() else {
            continue;
        };
        let reason = Reason::Package {
            package: pkg.name.clone(),
            via: via.clone(),
        };
        for f in &pkg.files {
            let Ok(r) = tree.resolve(f, false) else {
                continue;
            };
            let abs = format!("/{}", r.path);
            let Some(node) = tree.get(&r.path) else {
                continue;
            };
            if excluded(&abs) || excluded(f) {
                continue;
            }
            match &node.kind {
                crate::fs::Kind::Dir => {
                    new |= st.insert(&abs, reason.clone());
                    owned_dirs.push((r.path.clone(), reason.clone()));
                }
                crate::fs::Kind::Symlink(_) => links.push((abs, reason.clone())),
                crate::fs::Kind::File { .. } => {
                    let elf = st.loader.elf_at(&r.path).is_some();
                    let exec = node.meta.mode & 0o111 != 0;
                    if !elf && !exec {
                        new |= st.insert(&abs, reason.clone());
                    } else if elf && roots.contains(name) && is_module(&r.path) {
                        // A runtime's own modules (ruby's, perl's XS, PHP's
                        // extensions): shared objects its packages install
                        // outside the loader's directories are loaded by path.
                        new |= st.insert(&abs, reason.clone());
                    }
                }
                _ => new |= st.insert(&abs, reason.clone()),
            }
        }
    }
    // Files a maintainer script made (not in any .list) in a directory only these packages own.
    for (dir, reason) in owned_dirs {
        let shared = catalog
            .owners(&dir)
            .any(|p| !pkgs.iter().any(|(n, _)| n == &p.name));
        if shared || dir.matches('/').count() < 2 {
            continue;
        }
        let extra: Vec<String> = tree
            .subtree(&dir)
            .filter(|(p, n)| !catalog.is_owned(p) && !n.is_dir() && st.loader.elf_at(p).is_none())
            .map(|(p, _)| format!("/{p}"))
            .filter(|p| !excluded(p))
            .collect();
        for p in extra {
            new |= st.keep(&p, reason.clone());
        }
    }
    // A package symlink is kept when what it points to is.
    for (link, reason) in links {
        if let Ok(full) = tree.resolve(&link, true) {
            if st.t.kept.contains_key(&format!("/{}", full.path)) {
                new |= st.keep(&link, reason);
            }
        }
    }
    st.t.packages = pkgs.into_iter().map(|(n, _)| n).collect();
    new |= config_references(st, pd, &excluded);
    new
}

/// A shared object outside the directories the loader searches by default:
/// something a program loads by path (a plugin or extension module).
fn is_module(real: &str) -> bool {
    let (dir, name) = real.rsplit_once('/').unwrap_or(("", real));
    if !name.contains(".so") {
        return false;
    }
    let comps: Vec<&str> = dir.split('/').collect();
    let lib = |c: &str| matches!(c, "lib" | "lib64" | "lib32");
    let default = match comps.as_slice() {
        [l] => lib(l),
        ["usr", l] | ["usr", "local", l] => lib(l),
        [l, t] | ["usr", l, t] => lib(l) && t.contains("-linux-"),
        _ => false,
    };
    !default
}

/// Keeps the directories and data files whose absolute paths are compiled
/// into the program (nginx's `/var/lib/nginx/body`: the directory must exist).
/// The absolute paths among a binary's printable strings (`/var/lib/nginx/body`).
pub(super) fn absolute_strings(bytes: &[u8]) -> BTreeSet<String> {
    let mut found: BTreeSet<String> = BTreeSet::new();
    for run in bytes.split(|b| !(0x21..0x7f).contains(b)) {
        if run.len() >= 5 && run[0] == b'/' && run[1].is_ascii_alphanumeric() {
            let s = String::from_utf8_lossy(run)
                .trim_end_matches(['/', '.', ',', ':', ';', ')'])
                .to_string();
            if !s.contains(['%', '*', '$', '{', '\\', '\'', '"', '(']) {
                found.insert(s);
            }
        }
    }
    found
}

fn compiled_in(st: &mut State, rules: &Rules, program: &str) -> bool {
    let excluded = |p: &str| {
        rules
            .package_data
            .as_ref()
            .is_some_and(|pd| pd.exclude.iter().any(|g| rules::matches(g, p)))
    };
    let Some(found) = st.strings_of(program) else {
        return false;
    };
    let reason = Reason::CompiledIn {
        by: program.to_string(),
    };
    let mut new = false;
    for s in found.iter() {
        let tree = &st.layers.tree;
        let target = match tree.resolve(s, true) {
            Ok(r) => Some(r.path),
            // A file the program creates: its directory.
            Err(_) => s
                .rsplit_once('/')
                .map(|(d, _)| d)
                .filter(|d| d.len() > 1)
                .and_then(|d| tree.resolve(d, true).ok())
                .map(|r| r.path),
        };
        let Some(path) = target else { continue };
        if tree.resolve(s, true).is_err() && tree.get(&path).is_some_and(|n| n.is_dir()) {
            st.t.creates.insert(s.clone(), format!("/{path}"));
        }
        let Some(node) = tree.get(&path) else {
            continue;
        };
        let abs = format!("/{path}");
        let data = node.is_dir()
            || (node.is_file() && node.meta.mode & 0o111 == 0 && st.loader.elf_at(&path).is_none());
        if data && !excluded(&abs) {
            // As named when it exists (its symlink hops too), else its directory.
            let named = if tree.resolve(s, true).is_ok() {
                s.clone()
            } else {
                abs
            };
            new |= st.keep(&named, reason.clone());
        }
    }
    new
}

/// Keeps what kept config files name: absolute paths that exist in the image.
fn config_references(
    st: &mut State,
    pd: &rules::PackageData,
    excluded: &dyn Fn(&str) -> bool,
) -> bool {
    let configs: Vec<String> =
        st.t.kept
            .iter()
            .filter(|(p, r)| {
                matches!(r, Reason::Package { .. })
                    && pd.config_files.iter().any(|g| rules::matches(g, p))
            })
            .map(|(p, _)| p.clone())
            .collect();
    let mut new = false;
    for config in configs {
        let Some(node) = st.layers.tree.get(&config) else {
            continue;
        };
        if !node.is_file() || node.meta.size > 1 << 20 {
            continue;
        }
        let Some(bytes) = st.layers.read(&config, 1 << 20) else {
            continue;
        };
        if bytes.contains(&0) {
            continue; // binary
        }
        let text = String::from_utf8_lossy(&bytes).into_owned();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim_start();
            if line.starts_with('#') {
                continue;
            }
            for word in line.split(|c: char| {
                c.is_whitespace() || matches!(c, ';' | '"' | '\'' | ',' | '=' | '(' | ')')
            }) {
                if !word.starts_with('/') || word.len() < 2 || word.contains(['$', '{']) {
                    continue;
                }
                if word.contains(['*', '?']) {
                    // `include /etc/nginx/sites-enabled/*;`: what it matches, and its directory.
                    let reason = Reason::ConfigReference {
                        config: config.clone(),
                        line: i + 1,
                    };
                    let dir = word.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
                    if dir.len() > 1
                        && !dir.contains(['*', '?'])
                        && st.layers.tree.resolve(dir, true).is_ok()
                    {
                        new |= st.keep(dir, reason.clone());
                    }
                    let (paths, _) = rules::glob(&st.layers.tree, word);
                    for p in paths {
                        let data = st
                            .layers
                            .tree
                            .get(&p)
                            .is_some_and(|n| n.meta.mode & 0o111 == 0 || !n.is_file());
                        if data && !excluded(&p) && st.loader.elf_at(&p).is_none() {
                            new |= st.keep(&p, reason.clone());
                        }
                    }
                    continue;
                }
                let Ok(r) = st.layers.tree.resolve(word, true) else {
                    // A file the program will create (`pid /run/nginx.pid;`):
                    // keep the directory it goes in.
                    let parent = word.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
                    if parent.len() > 1 {
                        if let Ok(d) = st.layers.tree.resolve(parent, true) {
                            let abs = format!("/{}", d.path);
                            if st.layers.tree.get(&d.path).is_some_and(|n| n.is_dir())
                                && !excluded(&abs)
                            {
                                st.t.creates.insert(word.to_string(), abs.clone());
                                let reason = Reason::ConfigReference {
                                    config: config.clone(),
                                    line: i + 1,
                                };
                                new |= st.keep(parent, reason);
                            }
                        }
                    }
                    continue;
                };
                let abs = format!("/{}", r.path);
                let Some(node) = st.layers.tree.get(&r.path) else {
                    continue;
                };
                if excluded(&abs) || st.t.kept.contains_key(&abs) {
                    continue;
                }
                let reason = Reason::ConfigReference {
                    config: config.clone(),
                    line: i + 1,
                };
                let data = |st: &State, p: &str, n: &crate::fs::Node| {
                    n.meta.mode & 0o111 == 0
                        && st.loader.elf_at(p).is_none()
                        && !excluded(&format!("/{p}"))
                };
                if node.is_dir() {
                    new |= st.keep(word, reason.clone());
                    if r.path.matches('/').count() >= 2 {
                        let files: Vec<String> = st
                            .layers
                            .tree
                            .subtree(&r.path)
                            .filter(|(p, n)| n.is_dir() || (n.is_file() && data(st, p, n)))
                            .map(|(p, _)| format!("/{p}"))
                            .collect();
                        for f in files {
                            new |= st.keep(&f, reason.clone());
                        }
                    }
                } else if node.is_file() && data(st, &r.path, node) {
                    new |= st.keep(word, reason);
                }
            }
        }
    }
    new
}

impl Trace {
    /// The chain of reasons from `path` back to the entrypoint; empty when `path` is not kept.
    pub fn explain(&self, path: &str) -> Vec<(String, Reason)> {
        let mut out = Vec::new();
        let mut cur = path.to_string();
        let mut seen = BTreeSet::new();
        while let Some(r) = self.kept.get(&cur) {
            if !seen.insert(cur.clone()) {
                break;
            }
            out.push((cur.clone(), r.clone()));
            match r.parent() {
                Some(p) => cur = p.to_string(),
                None => break,
            }
        }
        out
    }

    /// Regular files kept and their bytes (hardlinked data counted once).
    pub fn size(&self, tree: &crate::fs::Tree) -> (usize, u64) {
        let mut seen = BTreeSet::new();
        let (mut n, mut bytes) = (0, 0);
        for p in self.kept.keys() {
            if let Some(node) = tree.get(p) {
                if let crate::fs::Kind::File { data, .. } = node.kind {
                    if seen.insert(data) {
                        n += 1;
                        bytes += node.meta.size;
                    }
                }
            }
        }
        (n, bytes)
    }
}
