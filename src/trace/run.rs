//! The whole trace: entrypoint → interpreters → ELF closure → run-time rules
//! → package data, repeated until nothing new is kept.

use super::package::{compiled_in, package_data};
use super::runtime::apply_rules;
use super::state::{State, Trace};
use super::{elf_closure, EdgeKind, Loader, Reason};
use crate::catalog::Catalog;
use crate::diagnostic::{Code, Diagnostic};
use crate::image::Layers;
use crate::rules::{self, Rules};
use std::collections::{BTreeMap, BTreeSet};

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
    /// The user's `--keep-package` names: their files are kept like `--keep`
    /// keeps them, so their programs and libraries bring what they load.
    pub keep_packages: Vec<String>,
    /// The HEALTHCHECK test the container runs (`["CMD", prog, …]` or
    /// `["CMD-SHELL", "…"]`; empty: none): traced like `--exec`.
    pub healthcheck: Vec<String>,
    /// Files a probe saw the container open (`--probe`): image path → the
    /// probe. Kept after the static trace's fixed point, so that what it
    /// reached keeps its own reason, and traced like any kept file.
    pub observed: BTreeMap<String, String>,
}

/// The default PATH of container runtimes when the image sets none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

use crate::rules::programs::SHELLS;

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

/// The image's programs (executable files and links) closest to `want`, a
/// program name or path that is not there: by name, else by whole path.
fn closest_programs(tree: &crate::fs::Tree, want: &str) -> Vec<String> {
    let programs: Vec<(String, &str)> = tree
        .iter()
        .filter(|(_, n)| (n.is_file() || n.symlink_target().is_some()) && n.meta.mode & 0o111 != 0)
        .map(|(p, _)| (format!("/{p}"), p.rsplit('/').next().unwrap_or(p)))
        .collect();
    let base = want.rsplit('/').next().unwrap_or(want);
    let names = rules::closest(base, programs.iter().map(|(_, b)| *b));
    let mut out: Vec<String> = Vec::new();
    for n in names {
        out.extend(
            programs
                .iter()
                .filter(|(_, b)| *b == n)
                .map(|(p, _)| p.clone()),
        );
    }
    // `/usr/sbin/ngnix`: of the programs of that name, the nearest path first.
    if want.contains('/') {
        out.sort_by_key(|p| rules::distance(want, p));
    }
    if out.is_empty() && want.contains('/') {
        out = rules::closest(want, programs.iter().map(|(p, _)| p.as_str()))
            .into_iter()
            .map(String::from)
            .collect();
    }
    out.truncate(5);
    out
}

/// Rounds of passes (closure, rules, dlopen, .pth, package data) before the
/// trace stops even though the last one still found something.
const MAX_ROUNDS: usize = 32;

/// Traces what the image's entrypoint (and `opts.exec`) needs.
pub fn trace(
    layers: &Layers,
    catalog: &Catalog,
    rules: &Rules,
    opts: &TraceOptions,
) -> Result<Trace, crate::fs::ResolveError> {
    let mut st = State {
        layers,
        loader: Loader::new(layers, &opts.env).keep_imports(
            rules
                .rules
                .iter()
                .flat_map(|r| r.when.imports.iter().cloned())
                .chain(["dlopen".to_string()])
                .collect(),
        ),
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
    // The words of a package script's plain command, and the directory it runs in.
    let mut script_words: Option<(Vec<String>, String)> = None;
    if opts.argv.is_empty() && opts.exec.is_empty() {
        st.t.diagnostics.push(Diagnostic::new(
            Code::NoEntrypoint,
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
            let shell = match resolve_program(&layers.tree, argv0, &opts.env, &opts.workdir)? {
                Ok(p) => p,
                Err(_) => argv0.clone(),
            };
            st.t.diagnostics.push(Diagnostic::new(
                Code::EntrypointNeedsShell,
                Some(&shell),
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
                            Code::ShellCommandNotFound,
                            None,
                            format!("the shell command `{command}` runs {p}: {problem}"),
                        )),
                    }
                }
                for d in &found.dynamic {
                    st.t.diagnostics.push(Diagnostic::new(
                        Code::ShellCommandDynamic,
                        None,
                        format!(
                            "the shell command `{command}` runs `{d}`, known only when it runs: \
                             name the program with --exec PATH"
                        ),
                    ));
                }
            }
        }
        if let Some(command) = opts
            .argv
            .get(2)
            .filter(|_| opts.argv.get(1).is_some_and(|a| a == "-c"))
        {
            st.t.exec_form = super::shell::simple_command(command);
        }
        match resolve_program(&layers.tree, argv0, &opts.env, &opts.workdir)? {
            Ok(p) => {
                script_words = package_script(&mut st, &p, opts, &mut programs)?;
                programs.push((p, Reason::Entrypoint));
            }
            Err(problem) => {
                st.t.diagnostics
                    .push(Diagnostic::new(Code::EntrypointNotFound, None, problem));
            }
        }
    }
    for e in &opts.exec {
        match resolve_program(&layers.tree, e, &opts.env, &opts.workdir)? {
            Ok(p) => programs.push((p, Reason::Exec)),
            Err(problem) => {
                let near = closest_programs(&layers.tree, e);
                let hint = match near.is_empty() {
                    true => String::new(),
                    false => format!(" (closest: {})", near.join(", ")),
                };
                st.t.diagnostics.push(Diagnostic::new(
                    Code::ExecNotFound,
                    Some(e),
                    format!("--exec {e}: {problem}{hint}"),
                ))
            }
        }
    }
    healthcheck(&mut st, opts, &mut programs)?;
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
    if let Some((words, dir)) = &script_words {
        super::app::command_line(&mut st, words, dir, catalog);
    }
    if opts.healthcheck.first().is_some_and(|t| t == "CMD") {
        super::app::command_line(&mut st, &opts.healthcheck[1..], &opts.workdir, catalog);
    }
    super::app::env_paths(&mut st, &opts.env);
    for g in &opts.keep {
        let (paths, hops) = rules::user_glob(&layers.tree, g);
        for p in paths.iter().chain(hops.iter()) {
            st.keep(p, Reason::UserKeep { glob: g.clone() });
        }
    }
    for name in &opts.keep_packages {
        for pkg in catalog.named(name) {
            for f in &pkg.files {
                if !rules::is_doc(f) {
                    st.keep(
                        f,
                        Reason::KeepPackage {
                            package: pkg.name.clone(),
                        },
                    );
                }
            }
        }
    }

    let mut fired: BTreeSet<(String, String)> = BTreeSet::new();
    let mut dlopen_scanned: BTreeSet<String> = BTreeSet::new();
    let mut pth_done: BTreeSet<String> = BTreeSet::new();
    let mut packages_done = false;
    let mut compiled_done = false;
    let mut observed_done = false;
    let mut settled = false;
    for _round in 0..MAX_ROUNDS {
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
        new |= apply_rules(&mut st, rules, catalog, &mut fired);
        let mut dlopened = Vec::new();
        new |= super::app::dlopen_paths(&mut st, &mut dlopen_scanned, &mut dlopened);
        if !dlopened.is_empty() {
            // Libraries dlopened by soname bring their packages' data (fontconfig's /etc/fonts).
            related.extend(dlopened);
            packages_done = false;
        }
        new |= super::app::pth_paths(&mut st, &mut pth_done);
        if !packages_done {
            packages_done = true;
            new |= package_data(&mut st, catalog, rules, &related);
            if !compiled_done {
                compiled_done = true;
                for p in &launched {
                    new |= compiled_in(&mut st, rules, p);
                    names_shell(&mut st, p);
                }
            }
        }
        if !new && !observed_done {
            observed_done = true;
            for (p, probe) in &opts.observed {
                new |= st.keep(
                    p,
                    Reason::Observed {
                        probe: probe.clone(),
                    },
                );
            }
        }
        if !new {
            settled = true;
            break;
        }
    }
    if !settled {
        st.t.diagnostics.push(Diagnostic::new(
            Code::TraceRoundCap,
            None,
            format!(
                "the trace stopped after {MAX_ROUNDS} rounds while each still kept new files: \
                 files a further round would reach are missing (the rules may feed each other)"
            ),
        ));
    }
    for e in st.t.closure.missing() {
        let d = match &e.problem {
            Some(p) => Diagnostic::new(
                Code::ElfInvalidCandidate,
                Some(&e.from),
                format!(
                    "{} needs {}: the loader stops at {p} and the program will not start",
                    e.from, e.name
                ),
            ),
            None => Diagnostic::new(
                Code::ElfUnresolvedNeeded,
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
        let by_path = st.t.kept.values().any(|r| {
            matches!(r, Reason::DlopenPath { by } | Reason::DlopenSoname { by, .. } if *by == o)
        });
        let explained = by_path
            || matches!(st.t.kept.get(&o), Some(Reason::Rule { .. }))
            || rules
                .rules
                .iter()
                .any(|r| r.when.kept.iter().any(|g| rules::matches(g, &o)));
        if !explained {
            st.t.diagnostics.push(Diagnostic::new(Code::ElfDlopen,
                Some(&o),
                format!("{o} imports dlopen and no rule says what it loads: libraries it opens at run time are not traced"),
            ));
        }
    }
    for (p, problem) in st.loader.malformed.lock().expect("not poisoned").iter() {
        st.t.diagnostics.push(Diagnostic::new(
            Code::ElfMalformed,
            Some(p),
            format!("{p}: {problem}"),
        ));
    }
    Ok(st.t)
}

/// A program the container starts whose own strings name /bin/sh may run
/// shell commands (system(3), popen(3), a spawn through a shell): a hint,
/// not proof, said at info for when the slimmed image has no shell.
fn names_shell(st: &mut State, program: &str) {
    let base = program.rsplit('/').next().unwrap_or("");
    if SHELLS.contains(&base) {
        return;
    }
    let Some(strings) = st.strings_of(program) else {
        return;
    };
    if let Some(sh) = ["/bin/sh", "/bin/bash", "/usr/bin/sh"]
        .iter()
        .find(|s| strings.contains(**s))
    {
        st.t.diagnostics.push(Diagnostic::new(
            Code::ProgramNamesShell,
            Some(program),
            format!(
                "{program} names {sh} in its strings: it may run shell commands (system(3), \
                 popen(3), a spawn through a shell), which fail where the image has no shell; \
                 if it does, keep one (--keep {sh})"
            ),
        ));
    }
}

/// A package-script runner as the program (`npm start`): the script it runs
/// from the app's package.json needs `sh -c` (a warning the plan turns into a
/// refusal when the shell is dropped); the programs the script runs are traced,
/// found as the runner finds them (the package's `node_modules/.bin` first on
/// PATH). Returns the words of the script when it is one plain command, and
/// the directory it runs in.
fn package_script(
    st: &mut State,
    program: &str,
    opts: &TraceOptions,
    programs: &mut Vec<(String, Reason)>,
) -> Result<Option<(Vec<String>, String)>, crate::fs::ResolveError> {
    let tree = &st.layers.tree;
    let real = tree
        .resolve(program, true)
        .map(|r| format!("/{}", r.path))
        .unwrap_or_default();
    let Some(runner) = super::runner::runner_name(&[opts.argv[0].as_str(), program, &real]) else {
        return Ok(None);
    };
    let layers = st.layers;
    let read = |p: &str| layers.read(p, 1 << 20);
    let wd = if opts.workdir.is_empty() {
        "/"
    } else {
        &opts.workdir
    };
    let Some(ps) = super::runner::package_script(runner, &opts.argv[1..], wd, &read) else {
        return Ok(None);
    };
    let shown = opts.argv.join(" ");
    let pkg = format!("{}/package.json", ps.dir.trim_end_matches('/'));
    if ps.commands.is_empty() {
        let has_pkg = st.layers.tree.get(pkg.trim_start_matches('/')).is_some();
        let message = match has_pkg {
            true => format!(
                "`{shown}` runs {} of {pkg}, which has none: {runner} would exit at once",
                ps.what
            ),
            false => format!(
                "`{shown}` reads package.json from {} or a directory above it, and the image has \
                 none there: {runner} would exit at once (is WorkingDir the app's directory?)",
                ps.dir
            ),
        };
        st.t.diagnostics.push(Diagnostic::new(
            Code::PackageScriptNotFound,
            Some(&pkg),
            message,
        ));
        return Ok(None);
    }
    st.keep(&pkg, Reason::CommandLine { word: pkg.clone() });
    st.t.diagnostics.push(Diagnostic::new(
        Code::EntrypointNeedsShell,
        Some("/bin/sh"),
        format!(
            "`{shown}` runs {} of {pkg} (`{}`) through sh -c, as {runner} runs every script",
            ps.what,
            ps.commands.join("`, `")
        ),
    ));
    // The PATH a script runs with: node_modules/.bin of the package and its parents first.
    let mut path: Vec<String> = Vec::new();
    let mut dir = ps.dir.trim_end_matches('/').to_string();
    loop {
        path.push(format!("{dir}/node_modules/.bin"));
        match dir.rsplit_once('/') {
            Some((parent, _)) => dir = parent.to_string(),
            None => break,
        }
    }
    let image_path = opts
        .env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH);
    let env: Vec<String> = opts
        .env
        .iter()
        .filter(|e| !e.starts_with("PATH="))
        .cloned()
        .chain([format!("PATH={}:{image_path}", path.join(":"))])
        .collect();
    for command in &ps.commands {
        let found = super::shell::programs(command);
        for p in &found.programs {
            match resolve_program(&st.layers.tree, p, &env, &ps.dir)? {
                Ok(path) => programs.push((
                    path,
                    Reason::ShellCommand {
                        command: format!("{} of {pkg}: {command}", ps.what),
                    },
                )),
                Err(problem) => st.t.diagnostics.push(Diagnostic::new(
                    Code::ShellCommandNotFound,
                    None,
                    format!("{} of {pkg} (`{command}`) runs {p}: {problem}", ps.what),
                )),
            }
        }
        for d in &found.dynamic {
            st.t.diagnostics.push(Diagnostic::new(
                Code::ShellCommandDynamic,
                None,
                format!("{} of {pkg} (`{command}`) runs `{d}`, known only when it runs: name the program with --exec PATH", ps.what),
            ));
        }
    }
    let [command] = ps.commands.as_slice() else {
        return Ok(None);
    };
    let Some(mut words) = super::shell::simple_command(command) else {
        return Ok(None);
    };
    // A program of node_modules/.bin is on no PATH without the runner: name it whole.
    if !words[0].contains('/') {
        if let Ok(Ok(p)) = resolve_program(&st.layers.tree, &words[0], &env, &ps.dir) {
            if p.contains("/node_modules/.bin/") {
                words[0] = p;
            }
        }
    }
    // Relative arguments are the script's, which runs in the package's directory.
    if ps.dir.trim_end_matches('/') != wd.trim_end_matches('/') {
        for w in words.iter_mut().skip(1) {
            let candidate = format!("{}/{w}", ps.dir.trim_end_matches('/'));
            if !w.starts_with(['/', '-'])
                && st
                    .layers
                    .tree
                    .get(candidate.trim_start_matches('/'))
                    .is_some()
            {
                *w = candidate;
            }
        }
    }
    st.t.exec_form = Some(words.clone());
    Ok(Some((
        std::iter::once(String::new())
            .chain(words.into_iter().skip(1))
            .collect(),
        ps.dir,
    )))
}

/// The HEALTHCHECK's programs, traced like `--exec`: a `CMD` test's first
/// word (found through PATH from WorkingDir, as the runtime execs it), or
/// what a `CMD-SHELL` string runs through /bin/sh (which the result then needs).
fn healthcheck(
    st: &mut State,
    opts: &TraceOptions,
    programs: &mut Vec<(String, Reason)>,
) -> Result<(), crate::fs::ResolveError> {
    let test = &opts.healthcheck;
    let (Some(kind), Some(first)) = (test.first(), test.get(1)) else {
        return Ok(());
    };
    let shown = serde_json::to_string(test).unwrap_or_default();
    let reason = Reason::Healthcheck {
        test: shown.clone(),
    };
    let tree = &st.layers.tree;
    let wanted: Vec<String> = if kind == "CMD-SHELL" {
        st.t.diagnostics.push(Diagnostic::new(
            Code::HealthcheckShell,
            Some("/bin/sh"),
            format!("the HEALTHCHECK {shown} runs through /bin/sh -c"),
        ));
        let found = super::shell::programs(first);
        for d in &found.dynamic {
            st.t.diagnostics.push(Diagnostic::new(
                Code::ShellCommandDynamic,
                None,
                format!("the HEALTHCHECK command `{first}` runs `{d}`, known only when it runs: name the program with --exec PATH"),
            ));
        }
        // The shell itself is the plan's to refuse or keep (`--keep /bin/sh`).
        st.t.healthcheck = Some("/bin/sh".into());
        st.t.healthcheck_exec = super::shell::simple_command(first)
            .map(|w| std::iter::once("CMD".to_string()).chain(w).collect());
        found.programs
    } else {
        vec![first.clone()]
    };
    for p in &wanted {
        match resolve_program(tree, p, &opts.env, &opts.workdir)? {
            Ok(path) => {
                if kind == "CMD" {
                    st.t.healthcheck = tree
                        .resolve(&path, true)
                        .ok()
                        .map(|r| format!("/{}", r.path));
                }
                programs.push((path, reason.clone()));
            }
            Err(problem) => st.t.diagnostics.push(Diagnostic::new(
                Code::HealthcheckNotFound,
                Some(p),
                format!(
                    "the HEALTHCHECK {shown} runs {p}: {problem}; the container would never \
                     be healthy (--healthcheck '[\"CMD\", \"/path/to/program\", …]' or --healthcheck none)"
                ),
            )),
        }
    }
    Ok(())
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
        let resolved = st
            .layers
            .tree
            .resolve(&cur, true)
            .ok()
            .filter(|r| st.layers.tree.get(&r.path).is_some());
        let Some(real) = resolved.map(|r| format!("/{}", r.path)) else {
            // A `#!` line naming a program the image does not have.
            if let Reason::Interpreter { of } = &reason {
                st.t.diagnostics.push(Diagnostic::new(
                    Code::InterpreterNotFound,
                    Some(of),
                    format!("{of} runs through {cur} (its #! line), which is not in the image"),
                ));
            }
            return None;
        };
        related.push(cur.clone());
        related.push(real.clone());
        if let Some(o) = st.loader.object(&cur) {
            let base = cur.rsplit('/').next().unwrap_or("");
            // Said once: a shell-form command has said it already.
            let said =
                st.t.diagnostics
                    .iter()
                    .any(|d| d.code == Code::EntrypointNeedsShell);
            if SHELLS.contains(&base) && !said {
                let message = match &reason {
                    Reason::Interpreter { of } => format!("{of} is a shell script (#!{cur})"),
                    _ => format!("the program is a shell ({cur})"),
                };
                st.t.diagnostics.push(Diagnostic::new(
                    Code::EntrypointNeedsShell,
                    Some(&cur),
                    message,
                ));
            }
            // Python's prefix follows from the path it is invoked by (a venv's bin/python3).
            super::python::keep_prefix(st, &cur, env);
            if st.root_set.insert(o.real.clone()) {
                st.roots.push(o);
            }
            return Some(real);
        }
        let head = st.layers.read(&cur, 512)?;
        let Some(line) = head.strip_prefix(b"#!") else {
            st.t.diagnostics.push(Diagnostic::new(
                Code::EntrypointNotExecutable,
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
                        Code::InterpreterNotFound,
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
