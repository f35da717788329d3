//! The whole trace: entrypoint → interpreters → ELF closure → run-time rules
//! → package data, repeated until nothing new is kept.

use super::command::{closest_programs, resolve_program};
use super::launch::{follow_interpreters, healthcheck, package_script};
use super::passes;
use super::state::{State, Trace};
use super::{Loader, Reason};
use crate::catalog::Catalog;
use crate::diagnostic::{Code, Diagnostic};
use crate::fs::Rootfs;
use crate::rules::programs::SHELLS;
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

/// Rounds of passes (closure, rules, dlopen, .pth, package data) before the
/// trace stops even though the last one still found something.
const MAX_ROUNDS: usize = 32;

/// Traces what the image's entrypoint (and `opts.exec`) needs.
pub fn trace(
    layers: &Rootfs,
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
        related: Vec::new(),
        packages_due: true,
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
        st.t.diagnostics.push(
            Diagnostic::new(
                Code::NoEntrypoint,
                None,
                "the image has no Entrypoint and no Cmd, so nothing tells what it runs".into(),
            )
            .fix("name the program", ["--entrypoint", "PROGRAM"])
            .fix("trace one", ["--exec", "PATH"]),
        );
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
                    st.t.diagnostics.push(
                        Diagnostic::new(
                            Code::ShellCommandDynamic,
                            None,
                            format!(
                                "the shell command `{command}` runs `{d}`, known only when it runs"
                            ),
                        )
                        .fix("name the program", ["--exec", "PATH"]),
                    );
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
                st.t.diagnostics.push(Diagnostic::new(
                    Code::EntrypointNotFound,
                    None,
                    problem.to_string(),
                ));
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

    st.related = related;
    st.packages_due = true;
    let mut closure = passes::Closure;
    let mut run_time = passes::RunTimeRules {
        rules,
        catalog,
        fired: BTreeSet::new(),
    };
    let mut dlopen = passes::Dlopen::default();
    let mut pth = passes::Pth::default();
    let mut package = passes::PackageData {
        rules,
        catalog,
        launched,
        compiled_done: false,
    };
    let mut observed = passes::Observed {
        observed: &opts.observed,
        done: false,
    };
    let still = passes::fixed_point(
        &mut st,
        &mut [
            &mut closure,
            &mut run_time,
            &mut dlopen,
            &mut pth,
            &mut package,
        ],
        &mut [&mut observed],
        MAX_ROUNDS,
    );
    if let Some(still) = still {
        st.t.diagnostics.push(Diagnostic::new(
            Code::TraceRoundCap,
            None,
            format!(
                "the trace stopped after {MAX_ROUNDS} rounds while each still kept new files \
                 ({} in the last): files a further round would reach are missing (the rules \
                 may feed each other)",
                still.join(", ")
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
                .any(|r| rules::matches_any(&r.when.kept, &o));
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
