//! What the programs the container launches bring with them: the chain of
//! `#!` interpreters down to an ELF program, a package-script runner's
//! script (`npm start`), the HEALTHCHECK's programs, and a hint when a
//! program names /bin/sh.

use super::command::{resolve_program, DEFAULT_PATH};
use super::run::TraceOptions;
use super::state::State;
use super::Reason;
use crate::diagnostic::{Code, Diagnostic};
use crate::rules::programs::SHELLS;

/// A program the container starts whose own strings name /bin/sh may run
/// shell commands (system(3), popen(3), a spawn through a shell): a hint,
/// not proof, said at info for when the slimmed image has no shell.
pub(super) fn names_shell(st: &mut State, program: &str) {
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
        st.t.diagnostics.push(
            Diagnostic::new(
                Code::ProgramNamesShell,
                Some(program),
                format!(
                    "{program} names {sh} in its strings: it may run shell commands (system(3), \
                 popen(3), a spawn through a shell), which fail where the image has no shell"
                ),
            )
            .fix("if it does, keep one", ["--keep", sh]),
        );
    }
}

/// A package-script runner as the program (`npm start`): the script it runs
/// from the app's package.json needs `sh -c` (a warning the plan turns into a
/// refusal when the shell is dropped); the programs the script runs are traced,
/// found as the runner finds them (the package's `node_modules/.bin` first on
/// PATH). Returns the words of the script when it is one plain command, and
/// the directory it runs in.
pub(super) fn package_script(
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
            st.t.diagnostics.push(
                Diagnostic::new(
                    Code::ShellCommandDynamic,
                    None,
                    format!(
                        "{} of {pkg} (`{command}`) runs `{d}`, known only when it runs",
                        ps.what
                    ),
                )
                .fix("name the program", ["--exec", "PATH"]),
            );
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
pub(super) fn healthcheck(
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
            st.t.diagnostics.push(
                Diagnostic::new(
                    Code::ShellCommandDynamic,
                    None,
                    format!(
                        "the HEALTHCHECK command `{first}` runs `{d}`, known only when it runs"
                    ),
                )
                .fix("name the program", ["--exec", "PATH"]),
            );
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
            Err(problem) => st.t.diagnostics.push(
                Diagnostic::new(
                    Code::HealthcheckNotFound,
                    Some(p),
                    format!(
                        "the HEALTHCHECK {shown} runs {p}: {problem}; the container would never \
                     be healthy"
                    ),
                )
                .fix(
                    "name a program that is there",
                    ["--healthcheck", r#"["CMD", "/path/to/program", …]"#],
                )
                .fix("drop the check", ["--healthcheck", "none"]),
            ),
        }
    }
    Ok(())
}

/// Keeps `path` and the chain of `#!` interpreters it runs through, down to
/// an ELF program, which becomes a trace root. Returns the ELF's real path.
pub(super) fn follow_interpreters(
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
