//! Why a path is kept, and what the trace found wrong: the reasons that lead
//! back to the entrypoint, and diagnostics with stable codes.

use serde::Serialize;

/// Why a path is kept. The `by`/`of`/`trigger` paths lead back to the entrypoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Reason {
    /// The program the image runs (argv[0]).
    Entrypoint,
    /// An extra program to trace (`--exec`).
    Exec,
    /// What the image's HEALTHCHECK runs (its `test`, as JSON).
    Healthcheck { test: String },
    /// A program the shell-form command string runs (`sh -c "nginx -g …"`).
    ShellCommand { command: String },
    /// Matched by the user's `--keep GLOB`.
    UserKeep { glob: String },
    /// A file of a package the user keeps whole (`--keep-package NAME`).
    KeepPackage { package: String },
    /// A file or directory a word of the command line names (`main.py`, `-jar app.jar`).
    CommandLine { word: String },
    /// Part of the application's own tree: its WorkingDir, or the directory of
    /// the script or jar it runs.
    AppRoot { root: String },
    /// The program a pass-through wrapper script (`exec "$@"`) runs.
    Wrapped { wrapper: String },
    /// A library `by` dlopens by a path compiled into it.
    DlopenPath { by: String },
    /// A library `by` (importing dlopen) names by its soname in its strings.
    DlopenSoname { by: String, name: String },
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
    /// Opened or executed by the container while `probe` ran (`--probe`),
    /// and not reached by the static trace.
    Observed { probe: String },
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reason::Entrypoint => write!(f, "entrypoint"),
            Reason::Exec => write!(f, "--exec"),
            Reason::Healthcheck { test } => write!(f, "healthcheck {test}"),
            Reason::ShellCommand { command } => write!(f, "run by the shell command `{command}`"),
            Reason::UserKeep { glob } => write!(f, "--keep {glob}"),
            Reason::KeepPackage { package } => write!(f, "--keep-package {package}"),
            Reason::CommandLine { word } => write!(f, "named on the command line ({word})"),
            Reason::AppRoot { root } => write!(f, "app-root {root}"),
            Reason::Wrapped { wrapper } => write!(f, "run by the wrapper {wrapper} (exec \"$@\")"),
            Reason::DlopenPath { by } => write!(f, "dlopen-path: named in {by}"),
            Reason::DlopenSoname { by, name } => write!(f, "dlopen-soname {name}: named in {by}"),
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
            Reason::Observed { probe } => write!(f, "observed: opened under {probe}"),
        }
    }
}

impl Reason {
    /// The reason's kind, as serialised (`entrypoint`, `elf-needed`, …).
    pub fn kind(&self) -> &'static str {
        match self {
            Reason::Entrypoint => "entrypoint",
            Reason::Exec => "exec",
            Reason::Healthcheck { .. } => "healthcheck",
            Reason::ShellCommand { .. } => "shell-command",
            Reason::UserKeep { .. } => "user-keep",
            Reason::KeepPackage { .. } => "keep-package",
            Reason::CommandLine { .. } => "command-line",
            Reason::AppRoot { .. } => "app-root",
            Reason::Wrapped { .. } => "wrapped",
            Reason::DlopenPath { .. } => "dlopen-path",
            Reason::DlopenSoname { .. } => "dlopen-soname",
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
            Reason::Observed { .. } => "observed",
        }
    }

    /// Whether the program cannot start without the path: what it runs and
    /// what the loader loads (the profile's drops yield to these).
    pub fn is_essential(&self) -> bool {
        matches!(
            self,
            Reason::Entrypoint
                | Reason::Exec
                | Reason::Healthcheck { .. }
                | Reason::ShellCommand { .. }
                | Reason::CommandLine { .. }
                | Reason::Wrapped { .. }
                | Reason::DlopenPath { .. }
                | Reason::DlopenSoname { .. }
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
            Reason::CompiledIn { by }
            | Reason::DlopenPath { by }
            | Reason::DlopenSoname { by, .. } => Some(by),
            Reason::Wrapped { wrapper } => Some(wrapper),
            Reason::ClassPath { jar } => Some(jar),
            Reason::PathFile { file } => Some(file),
            Reason::ElfNeeded { by, .. } => Some(by),
            Reason::Rule { trigger, .. } if trigger.starts_with('/') => Some(trigger),
            _ => None,
        }
    }
}
