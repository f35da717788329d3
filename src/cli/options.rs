//! The options that say what slim traces and keeps, shared by `analyze`,
//! `rewrite` and `licenses` so that each answers for the same slimmed image.

use anyhow::Context;

/// What the container runs and what to keep besides what its trace needs.
#[derive(clap::Args, Debug, Default)]
pub struct SlimArgs {
    /// The profile: `distroless`, or a profile file (the format of rules/distroless.toml).
    #[arg(long, value_name = "PROFILE", default_value = "distroless")]
    pub to: String,
    /// Replace the image's Entrypoint, as `docker run --entrypoint` does (the Cmd is
    /// cleared unless --cmd is given): a JSON array (`'["/app/server","--port","80"]'`),
    /// one program, or '' for none. `rewrite` writes it into the image.
    #[arg(long, value_name = "VALUE", allow_hyphen_values = true)]
    pub entrypoint: Option<String>,
    /// Replace the image's Cmd: a JSON array, or '' for none. `rewrite` writes it into the image.
    #[arg(long, value_name = "VALUE", allow_hyphen_values = true)]
    pub cmd: Option<String>,
    /// Replace the image's HEALTHCHECK: a JSON array as Docker writes it
    /// (`'["CMD","/usr/bin/curl","-f","http://localhost/"]'`, `'["CMD-SHELL","…"]'`),
    /// or `none` to remove it. What it runs is traced and kept; `rewrite` writes it
    /// (interval, timeout and retries stay the image's).
    #[arg(long, value_name = "TEST", allow_hyphen_values = true)]
    pub healthcheck: Option<String>,
    /// Another program the image runs (helper, probe); its needs are kept too. Repeatable.
    #[arg(long, value_name = "PATH")]
    pub exec: Vec<String>,
    /// Extra run-time rules (TOML, the format of rules/runtime.toml); a rule named
    /// like a built-in one replaces it. Repeatable.
    #[arg(long, value_name = "FILE")]
    pub rules: Vec<std::path::PathBuf>,
    /// Also keep paths matching this glob (`*`, `?`, `**`); ELF files are traced. Repeatable.
    #[arg(long, value_name = "PATH_OR_GLOB")]
    pub keep: Vec<String>,
    /// Also keep every file of this package (docs excepted). Repeatable.
    #[arg(long, value_name = "NAME")]
    pub keep_package: Vec<String>,
    /// Leave out paths matching this glob, whatever keeps them. Repeatable.
    #[arg(long, value_name = "PATH_OR_GLOB")]
    pub drop: Vec<String>,
    /// Run as the non-root user 65532, in /home/nonroot unless the image sets a
    /// WorkingDir; the directories the program writes are given to that user
    /// (`analyze` lists them as `owned_by_user`).
    #[arg(long)]
    pub nonroot: bool,
}

/// `--entrypoint`/`--cmd` values: '' is none, `[…]` a JSON array, else one word.
pub(crate) fn parse_command(flag: &str, v: &str) -> anyhow::Result<Vec<String>> {
    let t = v.trim();
    if t.is_empty() || t == "[]" {
        return Ok(Vec::new());
    }
    if t.starts_with('[') {
        return serde_json::from_str::<Vec<String>>(t).with_context(|| {
            format!("{flag} '{v}': not a JSON array of strings (e.g. '[\"/app/server\", \"--port\", \"80\"]')")
        });
    }
    Ok(vec![v.to_string()])
}

/// A `--healthcheck` value: `none`, or a JSON array whose first element is
/// `CMD` (then the program and its arguments), `CMD-SHELL` (then one string)
/// or `NONE`.
pub(crate) fn parse_healthcheck(v: &str) -> anyhow::Result<Option<Vec<String>>> {
    let t = v.trim();
    if t.eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    let example = "e.g. '[\"CMD\", \"/usr/bin/curl\", \"-f\", \"http://localhost/\"]', or none";
    let test: Vec<String> = serde_json::from_str(t).map_err(|_| {
        anyhow::anyhow!("--healthcheck '{v}': not a JSON array of strings ({example})")
    })?;
    match test.first().map(String::as_str) {
        Some("NONE") => Ok(None),
        Some("CMD") if test.len() > 1 => Ok(Some(test)),
        Some("CMD-SHELL") if test.len() == 2 => Ok(Some(test)),
        _ => anyhow::bail!(
            "--healthcheck '{v}': the first element is CMD (then the program and its arguments) \
             or CMD-SHELL (then one command string) ({example})"
        ),
    }
}

impl SlimArgs {
    /// The trace options these arguments ask for.
    pub fn analyze_options(&self) -> anyhow::Result<crate::analyze::Options> {
        Ok(crate::analyze::Options {
            entrypoint: self
                .entrypoint
                .as_deref()
                .map(|v| parse_command("--entrypoint", v))
                .transpose()?,
            cmd: self
                .cmd
                .as_deref()
                .map(|v| parse_command("--cmd", v))
                .transpose()?,
            exec: self.exec.clone(),
            keep: self.keep.clone(),
            keep_packages: self.keep_package.clone(),
            rules: load_rules(&self.rules)?,
            healthcheck: self
                .healthcheck
                .as_deref()
                .map(parse_healthcheck)
                .transpose()?,
        })
    }

    /// The plan options these arguments ask for (`--nonroot`: the profile's user).
    pub fn plan_options(&self, profile: &crate::plan::Profile) -> crate::plan::Options {
        crate::plan::Options {
            keep: self.keep.clone(),
            keep_packages: self.keep_package.clone(),
            drop: self.drop.clone(),
            run_as: self.nonroot.then(|| profile.nonroot_ids()).flatten(),
        }
    }

    pub fn profile(&self) -> anyhow::Result<crate::plan::Profile> {
        Ok(crate::plan::Profile::load(&self.to)?)
    }
}

/// A mistyped `--exec` would trace nothing and keep nothing for it: for a
/// report (analyze, licenses) it is an error, as `rewrite` refuses it unless --force.
pub(crate) fn exec_found(trace: &crate::trace::Trace) -> anyhow::Result<()> {
    use crate::diagnostic::Code;
    let missing: Vec<String> = trace
        .diagnostics
        .iter()
        .filter(|d| d.code == Code::ExecNotFound)
        .map(ToString::to_string)
        .collect();
    match missing.is_empty() {
        true => Ok(()),
        false => anyhow::bail!("{}", missing.join("; ")),
    }
}

/// Built-in rules plus the user's.
pub(crate) fn load_rules(files: &[std::path::PathBuf]) -> anyhow::Result<crate::rules::Rules> {
    let mut rules = crate::rules::Rules::builtin();
    for f in files {
        let text =
            std::fs::read_to_string(f).map_err(|e| anyhow::anyhow!("{}: {e}", f.display()))?;
        rules.extend(crate::rules::Rules::parse(&text, &f.display().to_string())?);
    }
    Ok(rules)
}

#[cfg(test)]
mod tests {
    use super::parse_command;

    #[test]
    fn command_values_as_docker_takes_them() {
        assert!(parse_command("--cmd", "").unwrap().is_empty());
        assert!(parse_command("--cmd", "[]").unwrap().is_empty());
        assert_eq!(
            parse_command("--entrypoint", "/bin/app").unwrap(),
            ["/bin/app"]
        );
        assert_eq!(
            parse_command("--cmd", r#"["-g", "daemon off;"]"#).unwrap(),
            ["-g", "daemon off;"]
        );
        assert!(parse_command("--cmd", "[1]").is_err());
    }

    #[test]
    fn healthcheck_values_as_docker_writes_them() {
        use super::parse_healthcheck;
        assert_eq!(parse_healthcheck("none").unwrap(), None);
        assert_eq!(parse_healthcheck(r#"["NONE"]"#).unwrap(), None);
        assert_eq!(
            parse_healthcheck(r#"["CMD","/bin/check","-q"]"#).unwrap(),
            Some(vec!["CMD".into(), "/bin/check".into(), "-q".into()])
        );
        assert!(parse_healthcheck(r#"["CMD-SHELL","curl x"]"#)
            .unwrap()
            .is_some());
        for bad in [
            r#"["/bin/check"]"#,
            r#"["CMD"]"#,
            "curl -f x",
            r#"["CMD-SHELL","a","b"]"#,
        ] {
            let e = parse_healthcheck(bad).unwrap_err().to_string();
            assert!(e.contains("--healthcheck"), "{e}");
        }
    }
}
