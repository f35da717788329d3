//! Findings with stable codes: one type for every stage (catalog, trace,
//! plan, the result check), with the code's severity and meaning in one
//! table, so that reports, `rewrite`'s refusals and the README agree.

use serde::{Deserialize, Serialize};

/// How bad a finding is. `rewrite` refuses errors whose code says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
    Info,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

macro_rules! codes {
    ($( $variant:ident = $name:literal, $severity:ident, $refused:literal, $doc:literal; )*) => {
        /// A finding's stable kebab-case code.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Code { $( #[doc = $doc] $variant ),* }

        impl Code {
            /// Every code, in the order of the table.
            pub const ALL: &'static [Code] = &[$(Code::$variant),*];

            /// The code as reports print it (`elf-unresolved-needed`).
            pub fn as_str(self) -> &'static str {
                match self { $(Code::$variant => $name),* }
            }

            /// Its usual severity.
            pub fn severity(self) -> Severity {
                match self { $(Code::$variant => Severity::$severity),* }
            }

            /// Whether `rewrite` refuses to write an image with this finding
            /// (as an error) unless `--force`: the image would not start.
            pub fn refused(self) -> bool {
                match self { $(Code::$variant => $refused),* }
            }

            /// What it means.
            pub fn description(self) -> &'static str {
                match self { $(Code::$variant => $doc),* }
            }
        }
    };
}

codes! {
    CatalogUnsupported = "catalog-unsupported", Warning, false, "a package database slim cannot read (SUSE's ndb): its packages are missing from reports";
    CatalogUnreadable = "catalog-unreadable", Warning, false, "a package database that is broken: its packages are missing from reports";
    ElfUnresolvedNeeded = "elf-unresolved-needed", Error, false, "a DT_NEEDED library is not in the image";
    ElfInvalidCandidate = "elf-invalid-candidate", Error, false, "the loader stops at a file it cannot load (not ELF, wrong class)";
    ElfDlopen = "elf-dlopen", Info, false, "a kept library imports dlopen and no rule says what it loads";
    DlopenSonameMissing = "dlopen-soname-missing", Info, false, "a kept library that imports dlopen names a soname the image lacks";
    ElfMalformed = "elf-malformed", Warning, false, "a file looks like ELF but cannot be parsed";
    TraceRoundCap = "trace-round-cap", Warning, false, "the trace reached its round limit still finding files: what a further round would add is missing";
    EntrypointNeedsShell = "entrypoint-needs-shell", Warning, false, "the command needs a shell (shell form, a #!/bin/sh script)";
    ShellNotKept = "shell-not-kept", Error, true, "the command needs a shell and the profile leaves it out: the image would not start";
    HealthcheckShell = "healthcheck-shell", Warning, false, "the HEALTHCHECK is CMD-SHELL: it runs through /bin/sh";
    HealthcheckShellNotKept = "healthcheck-shell-not-kept", Error, true, "the HEALTHCHECK needs a shell the profile leaves out: the container would never be healthy";
    HealthcheckNotFound = "healthcheck-not-found", Error, true, "the program the HEALTHCHECK runs is not in the image";
    PackageScriptNotFound = "package-script-not-found", Error, true, "a package-script runner (npm start) names a script the app's package.json lacks";
    ProgramNamesShell = "program-names-shell", Info, false, "a program the container starts names /bin/sh in its strings: it may run shell commands";
    EntrypointWrapper = "entrypoint-wrapper", Warning, false, "the entrypoint is a pass-through wrapper script (exec \"$@\")";
    EntrypointNotFound = "entrypoint-not-found", Error, true, "the program the command names is not in the image";
    EntrypointNotExecutable = "entrypoint-not-executable", Error, false, "the entrypoint is neither ELF nor a #! script";
    NoEntrypoint = "no-entrypoint", Error, true, "the image has no Entrypoint and no Cmd";
    ShellCommandNotFound = "shell-command-not-found", Warning, false, "a program a shell command string runs is not on PATH";
    ShellCommandDynamic = "shell-command-dynamic", Warning, false, "a shell command string runs a program known only at run time ($APP)";
    InterpreterNotFound = "interpreter-not-found", Error, false, "a #! line's program is not on PATH";
    ExecNotFound = "exec-not-found", Error, true, "an --exec program is not in the image";
    DropBreaksProgram = "drop-breaks-program", Error, true, "a --drop removes what the program needs to start";
    DropRemovesTraced = "drop-removes-traced", Warning, false, "a --drop removes data the trace keeps";
    KeepMatchedNothing = "keep-matched-nothing", Warning, false, "a --keep glob matches nothing in the image";
    DropMatchedNothing = "drop-matched-nothing", Warning, false, "a --drop glob matches nothing in the image";
    NonrootPrivilegedPort = "nonroot-privileged-port", Warning, false, "--nonroot on an image that exposes a port below 1024, which its user cannot bind by default";
    NonrootPrecreated = "nonroot-precreated", Info, false, "--nonroot made a file the program creates where its user cannot";
    CheckMissingCommandPath = "check-missing-command-path", Error, true, "a path the command runs or names is not in the result";
    CheckMissingAppRoot = "check-missing-app-root", Error, true, "the application's directory is not in the result";
    CheckDanglingSymlink = "check-dangling-symlink", Error, true, "a kept symlink's target, present in the input, is not in the result";
    CheckMissingInterpreter = "check-missing-interpreter", Error, true, "a #! interpreter of a script that runs is not in the result";
    LicenseDenied = "license-denied", Error, false, "A package's license is denied by the policy";
    LicenseReview = "license-review", Warning, false, "A package's license is unknown or in neither list";
}

impl Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Code {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Code, D::Error> {
        let s = String::deserialize(d)?;
        Code::ALL
            .iter()
            .copied()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown diagnostic code {s:?}")))
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One way to act on a finding: what it does, in words, and the `rewrite`
/// arguments that do it (`["--keep", "/bin/sh"]`; a capitalised word such as
/// `PATH` is the user's to fill in). The message says what is wrong; the
/// options that fix it live here only, so reports can show or apply them.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Fix {
    pub does: String,
    pub args: Vec<String>,
}

impl Fix {
    pub fn new<S: Into<String>>(does: &str, args: impl IntoIterator<Item = S>) -> Fix {
        Fix {
            does: does.into(),
            args: args.into_iter().map(Into::into).collect(),
        }
    }
}

impl std::fmt::Display for Fix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let args: Vec<String> = self.args.iter().map(|a| shell_word(a)).collect();
        write!(f, "{} ({})", self.does, args.join(" "))
    }
}

/// `a` as a POSIX shell reads it back: bare when it is plain, else in single quotes.
fn shell_word(a: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "/._-:=,+@%".contains(c);
    match !a.is_empty() && a.chars().all(plain) {
        true => a.to_string(),
        false => format!("'{}'", a.replace('\'', "'\\''")),
    }
}

/// A finding: its code, severity, the path it concerns, what is wrong, and
/// the ways out (alternatives, in the order to try them).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Diagnostic {
    pub code: Code,
    pub severity: Severity,
    pub path: Option<String>,
    pub message: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fixes: Vec<Fix>,
}

impl Diagnostic {
    /// A finding with its code's usual severity.
    pub fn new(code: Code, path: Option<&str>, message: String) -> Diagnostic {
        Diagnostic {
            code,
            severity: code.severity(),
            path: path.map(String::from),
            message,
            fixes: Vec::new(),
        }
    }

    /// The same finding with one more way out.
    pub fn fix<S: Into<String>>(mut self, does: &str, args: impl IntoIterator<Item = S>) -> Self {
        self.fixes.push(Fix::new(does, args));
        self
    }

    /// The message with its ways out, as people read it:
    /// `X is not in the result: keep it (--keep X)`.
    pub fn text(&self) -> String {
        let ways: Vec<String> = self.fixes.iter().map(ToString::to_string).collect();
        match ways.split_last() {
            None => self.message.clone(),
            Some((last, [])) => format!("{}: {last}", self.message),
            Some((last, rest)) => format!("{}: {}, or {last}", self.message, rest.join(", ")),
        }
    }

    /// The same finding at another severity.
    pub fn with_severity(mut self, severity: Severity) -> Diagnostic {
        self.severity = severity;
        self
    }

    /// Whether `rewrite` refuses it (an error whose code says the image would not start).
    pub fn refused(&self) -> bool {
        self.severity == Severity::Error && self.code.refused()
    }
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} [{}]", self.text(), self.code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_kebab_case_and_unique() {
        let mut seen = std::collections::BTreeSet::new();
        for c in Code::ALL {
            let s = c.as_str();
            assert!(
                s.chars().all(|ch| ch.is_ascii_lowercase() || ch == '-'),
                "{s}"
            );
            assert!(seen.insert(s), "{s} twice");
        }
    }

    #[test]
    fn fixes_read_as_alternatives_with_shell_quoted_args() {
        let d = Diagnostic::new(Code::ShellNotKept, None, "no shell".into())
            .fix("run it directly", ["--entrypoint", ""])
            .fix("give a command", ["--entrypoint", r#"["/app", "it's"]"#])
            .fix("keep a shell", ["--keep", "/bin/sh"]);
        assert_eq!(
            d.text(),
            r#"no shell: run it directly (--entrypoint ''), give a command (--entrypoint '["/app", "it'\''s"]'), or keep a shell (--keep /bin/sh)"#
        );
        let json = serde_json::to_value(&d).unwrap();
        assert_eq!(
            json["fixes"][2]["args"],
            serde_json::json!(["--keep", "/bin/sh"])
        );
        let plain = Diagnostic::new(Code::ElfDlopen, None, "m".into());
        assert_eq!(plain.to_string(), "m [elf-dlopen]");
        assert!(serde_json::to_value(&plain).unwrap().get("fixes").is_none());
    }

    #[test]
    fn the_readme_lists_every_code() {
        let readme = include_str!("../README.md");
        for c in Code::ALL {
            assert!(
                readme.contains(&format!("`{}`", c.as_str())),
                "README lacks `{}`",
                c.as_str()
            );
        }
    }
}
