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
            observed: Default::default(),
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

/// Probes: run the image daemonless (runc, crun or youki) and check it works.
#[derive(clap::Args, Debug, Default)]
pub struct ProbeArgs {
    /// Start the image's command and GET http://127.0.0.1:PORT/PATH from inside the
    /// container's own network namespace until it answers 2xx or 3xx. Repeatable.
    #[arg(long, value_name = "PORT[/PATH]", help_heading = "Probes")]
    pub probe_http: Vec<String>,
    /// While the command runs, run this argv inside the container (like `docker exec`);
    /// it passes on exit 0, retried every second until the timeout. Repeatable.
    #[arg(long, value_name = "JSON_ARGV", help_heading = "Probes")]
    pub probe_exec: Vec<String>,
    /// Run the image's command to completion (CLIs, batch jobs), with ARGS_JSON as its
    /// Cmd when given; it passes on exit 0. Repeatable.
    #[arg(long, value_name = "ARGS_JSON", num_args = 0..=1, default_missing_value = "", help_heading = "Probes")]
    pub probe_run: Vec<String>,
    /// Watch the original image under the probes (fanotify; needs root) and keep every
    /// file its processes open or execute (reason `observed`), traced like any kept file.
    #[arg(long, help_heading = "Probes")]
    pub probe: bool,
    /// The bound of each probe, in seconds (`90`, `90s`, `2m`).
    #[arg(long, value_name = "DURATION", default_value = "60", value_parser = parse_seconds, help_heading = "Probes")]
    pub probe_timeout: std::time::Duration,
    /// The OCI runtime to run images with (default: runc, else crun, else youki on PATH).
    #[arg(long, value_name = "PATH", help_heading = "Probes")]
    pub runtime: Option<std::path::PathBuf>,
}

/// `90`, `90s`, `2m`, `500ms` as a duration.
pub(crate) fn parse_seconds(v: &str) -> Result<std::time::Duration, String> {
    let t = v.trim();
    let (num, mult) = if let Some(n) = t.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = t.strip_suffix('m') {
        (n, 60.0)
    } else {
        (t, 1.0)
    };
    match num.trim().parse::<f64>() {
        Ok(x) if x > 0.0 && x.is_finite() => Ok(std::time::Duration::from_secs_f64(x * mult)),
        _ => Err(format!(
            "'{v}': a positive duration such as 60, 90s, 2m or 500ms"
        )),
    }
}

impl ProbeArgs {
    /// The probes asked for, plus the image's `HEALTHCHECK ["CMD", …]`
    /// (`healthcheck`) whenever the command runs as a service — or alone,
    /// when `--probe`/`--verify` name no other probe.
    pub fn probes(
        &self,
        healthcheck: Option<Vec<String>>,
        wanted: bool,
    ) -> anyhow::Result<Vec<crate::run::probe::Probe>> {
        use crate::run::probe;
        let mut v = Vec::new();
        for h in &self.probe_http {
            v.push(probe::parse_http(h)?);
        }
        for e in &self.probe_exec {
            v.push(probe::parse_exec(e)?);
        }
        for r in &self.probe_run {
            v.push(probe::parse_run(r)?);
        }
        let service = !self.probe_http.is_empty() || !self.probe_exec.is_empty();
        let hc = healthcheck
            .filter(|t| t.first().is_some_and(|c| c == "CMD") && t.len() > 1)
            .map(|t| probe::Probe::Healthcheck {
                argv: t[1..].to_vec(),
            });
        if let Some(h) = hc {
            if service || (v.is_empty() && wanted) {
                v.push(h);
            }
        }
        if v.is_empty() && (wanted || self.probe) {
            anyhow::bail!(
                "{} needs a probe to run: --probe-http PORT[/PATH], --probe-exec JSON_ARGV or \
                 --probe-run (the image has no HEALTHCHECK [\"CMD\", …] to use instead)",
                if self.probe { "--probe" } else { "--verify" }
            );
        }
        Ok(v)
    }

    /// How they run.
    pub fn settings(&self) -> anyhow::Result<crate::run::probe::Settings> {
        if !crate::run::is_root() {
            crate::run::container::user_namespaces()?;
        }
        Ok(crate::run::probe::Settings {
            runtime: crate::run::container::find_runtime(self.runtime.as_deref())?,
            timeout: self.probe_timeout,
            limits: crate::run::container::Limits::default(),
            observe: self.probe,
            parent: std::env::temp_dir(),
        })
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
