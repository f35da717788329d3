//! Probes: run an image daemonless and check that it does its job — it
//! answers HTTP from inside its own network namespace (`--probe-http`), a
//! command run inside it succeeds (`--probe-exec`, the image's CMD
//! HEALTHCHECK), or its command runs to a zero exit (`--probe-run`) — and,
//! when asked, record every file its processes open or execute (fanotify on
//! the bundle's own tmpfs), mapped back to image paths.

use super::container::{self, Finished, Limits, Process, Running};
use super::{sys, Bundle};
use crate::fs::Content;
use crate::fs::Tree;
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod http;
mod watch;
pub use http::get;
use http::*;
use watch::*;

/// One check of a running image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Probe {
    /// GET `http://127.0.0.1:PORT/PATH` from the container's network
    /// namespace answers 2xx or 3xx.
    Http { port: u16, path: String },
    /// This argv, run inside the running container, exits 0.
    Exec { argv: Vec<String> },
    /// The image's command (with these arguments as its Cmd, when given)
    /// runs to completion and exits 0.
    Run { args: Option<Vec<String>> },
    /// The image's own `HEALTHCHECK ["CMD", …]`, run like `Exec`.
    Healthcheck { argv: Vec<String> },
}

impl std::fmt::Display for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let json = |v: &[String]| serde_json::to_string(v).unwrap_or_default();
        match self {
            Probe::Http { port, path } => write!(f, "--probe-http {port}{path}"),
            Probe::Exec { argv } => write!(f, "--probe-exec '{}'", json(argv)),
            Probe::Run { args: None } => write!(f, "--probe-run"),
            Probe::Run { args: Some(a) } => write!(f, "--probe-run '{}'", json(a)),
            Probe::Healthcheck { argv } => write!(f, "healthcheck {}", json(argv)),
        }
    }
}

impl Probe {
    /// Whether it needs the image's command running (a service probe).
    fn is_service(&self) -> bool {
        !matches!(self, Probe::Run { .. })
    }
}

/// Why a probe could not even be tried.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Bundle(#[from] super::Error),
    #[error(transparent)]
    Runtime(#[from] container::Error),
    #[error("the image's User {user:?}: {why}")]
    User { user: String, why: String },
    #[error("--probe watches what the container opens with fanotify, which needs root (CAP_SYS_ADMIN): {0}; run slim as root, or probe and --verify without --probe")]
    Observe(std::io::Error),
    #[error("the image has no command to run (no Entrypoint or Cmd): a probe needs one (--entrypoint, --cmd)")]
    NoCommand,
}

/// `--probe-http PORT[/PATH]`.
pub fn parse_http(v: &str) -> Result<Probe, Error> {
    let (port, path) = match v.find('/') {
        Some(i) => (&v[..i], &v[i..]),
        None => (v, "/"),
    };
    let port: u16 = port.trim().parse().ok().filter(|p| *p > 0).ok_or_else(|| {
        Error::Usage(format!(
            "--probe-http '{v}': PORT[/PATH] with a port from 1 to 65535 (e.g. 8080/healthz)"
        ))
    })?;
    Ok(Probe::Http {
        port,
        path: path.to_string(),
    })
}

fn argv(flag: &str, v: &str) -> Result<Vec<String>, Error> {
    let a: Vec<String> = serde_json::from_str(v.trim()).map_err(|_| {
        Error::Usage(format!(
            "{flag} '{v}': not a JSON array of strings (e.g. '[\"python3\", \"-c\", \"import app\"]')"
        ))
    })?;
    Ok(a)
}

/// `--probe-exec JSON_ARGV`.
pub fn parse_exec(v: &str) -> Result<Probe, Error> {
    let a = argv("--probe-exec", v)?;
    if a.is_empty() {
        return Err(Error::Usage(
            "--probe-exec '[]': name a program to run in the container".into(),
        ));
    }
    Ok(Probe::Exec { argv: a })
}

/// `--probe-run [ARGS_JSON]` ('' : the image's own command).
pub fn parse_run(v: &str) -> Result<Probe, Error> {
    Ok(Probe::Run {
        args: match v.trim() {
            "" => None,
            t => Some(argv("--probe-run", t)?),
        },
    })
}

/// How probes run.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The OCI runtime binary (runc, crun, youki).
    pub runtime: PathBuf,
    /// Each probe's bound (`--probe-timeout`).
    pub timeout: Duration,
    pub limits: Limits,
    /// Record what the container opens (`--probe`).
    pub observe: bool,
    /// Where the bundle's private directory is made.
    pub parent: PathBuf,
}

/// The image to run: its merged tree, the contents, its config, and the
/// command the container runs (Entrypoint then Cmd, overrides applied).
pub struct Subject<'a> {
    pub tree: &'a Tree,
    pub content: &'a dyn Content,
    pub config: &'a serde_json::Value,
    pub command: Vec<String>,
}

/// How one probe ended.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// The probe, as the option that asks for it.
    pub probe: String,
    pub passed: bool,
    /// What decided it: `HTTP 200`, `exit 0`, `timed out after 60 s`, …
    pub status: String,
    pub seconds: f64,
    /// The tail of what the probe (an exec) or the command wrote.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub output: String,
}

/// Every probe's outcome on one image, and what its processes opened.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub outcomes: Vec<Outcome>,
    /// The tail of the image command's stderr (then stdout).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub output: String,
    /// Image paths opened or executed (and the symlinks that name them),
    /// each with the probe it was first seen under.
    #[serde(skip)]
    pub observed: BTreeMap<String, String>,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.outcomes.iter().all(|o| o.passed)
    }
}

const TAIL: usize = 2048;

/// The last `TAIL` bytes of `b`, as text.
fn tail(b: &[u8]) -> String {
    let start = b.len().saturating_sub(TAIL);
    let s = String::from_utf8_lossy(&b[start..]);
    s.trim_end().to_string()
}

fn output_of(f: &Finished) -> String {
    let mut b = f.stderr.clone();
    b.extend_from_slice(&f.stdout);
    tail(&b)
}

/// A container id unique to this process and run.
fn container_id() -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "slim-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// The lines of an /etc/passwd- or /etc/group-like file of the image.
fn table(tree: &Tree, content: &dyn Content, path: &str) -> Vec<Vec<String>> {
    let Ok(r) = tree.resolve(path, true) else {
        return Vec::new();
    };
    let Some(mut rd) = tree.get(&r.path).and_then(|n| content.open_node(n)) else {
        return Vec::new();
    };
    let mut text = String::new();
    let _ = rd.by_ref().take(1 << 20).read_to_string(&mut text);
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split(':').map(String::from).collect())
        .collect()
}

/// The image's `User` as ids, the way Docker resolves it: a name or uid,
/// optionally `:group`, names looked up in the image's /etc/passwd and
/// /etc/group; a numeric uid not in passwd gets gid 0. Also the user's
/// supplementary groups and home.
fn user_ids(
    user: &str,
    tree: &Tree,
    content: &dyn Content,
) -> Result<(u32, u32, Vec<u32>, Option<String>), Error> {
    let err = |why: &str| Error::User {
        user: user.to_string(),
        why: why.to_string(),
    };
    let passwd = table(tree, content, "/etc/passwd");
    let group = table(tree, content, "/etc/group");
    let (u, g) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let entry = passwd
        .iter()
        .find(|e| e.len() >= 4 && (e[0] == u || (u.parse::<u32>().is_ok() && e[2] == u)));
    let uid = match u.parse::<u32>() {
        Ok(n) => n,
        Err(_) if u.is_empty() => 0,
        Err(_) => entry
            .and_then(|e| e[2].parse().ok())
            .ok_or_else(|| err("no such user in the image's /etc/passwd"))?,
    };
    let gid = match g {
        Some(g) => match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => group
                .iter()
                .find(|e| e.len() >= 3 && e[0] == g)
                .and_then(|e| e[2].parse().ok())
                .ok_or_else(|| err("no such group in the image's /etc/group"))?,
        },
        None => entry.and_then(|e| e[3].parse().ok()).unwrap_or(0),
    };
    let name = entry.map(|e| e[0].clone());
    let extra = group
        .iter()
        .filter(|e| e.len() >= 4)
        .filter(|e| {
            name.as_deref()
                .is_some_and(|n| e[3].split(',').any(|m| m == n))
        })
        .filter_map(|e| e[2].parse().ok())
        .filter(|g| *g != gid)
        .collect();
    let home = entry
        .and_then(|e| e.get(5).cloned())
        .filter(|h| !h.is_empty());
    Ok((uid, gid, extra, home))
}

/// The process the image's config asks for, running `command`, as Docker
/// starts it: Env plus PATH, HOSTNAME and HOME when unset, WorkingDir, User.
pub fn process_of(
    config: &serde_json::Value,
    command: Vec<String>,
    tree: &Tree,
    content: &dyn Content,
) -> Result<Process, Error> {
    if command.is_empty() {
        return Err(Error::NoCommand);
    }
    let c = &config["config"];
    let mut env: Vec<String> = c["Env"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e.as_str().map(String::from))
        .collect();
    let has = |env: &[String], k: &str| env.iter().any(|e| e.split('=').next() == Some(k));
    if !has(&env, "PATH") {
        env.push("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
    }
    env.push("HOSTNAME=slim-probe".into());
    let user = c["User"].as_str().unwrap_or("");
    let (uid, gid, additional_gids, home) = user_ids(user, tree, content)?;
    if !has(&env, "HOME") {
        env.push(format!("HOME={}", home.unwrap_or_else(|| "/root".into())));
    }
    Ok(Process {
        args: command,
        env,
        cwd: c["WorkingDir"].as_str().unwrap_or("/").to_string(),
        uid,
        gid,
        additional_gids,
    })
}

/// Whether an exec failed before the program ran (the runtime could not
/// start it: not found, not executable), which no retry changes.
fn cannot_start(f: &Finished) -> bool {
    let err = String::from_utf8_lossy(&f.stderr);
    f.code.is_some_and(|c| c != 0)
        && (err.contains("unable to start container process")
            || err.contains("executable file not found")
            || err.contains("exec failed"))
}

fn secs(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).round() / 1000.0
}

/// Runs every probe on `subject` (run probes one container each, then the
/// service probes against one run of its command) and, with
/// `settings.observe`, records what its processes opened.
pub fn run(subject: &Subject, probes: &[Probe], settings: &Settings) -> Result<Report, Error> {
    if settings.observe && !super::is_root() {
        return Err(Error::Observe(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            "this process is not root",
        )));
    }
    let process = process_of(
        subject.config,
        subject.command.clone(),
        subject.tree,
        subject.content,
    )?;
    // As root the rootfs is a tmpfs of its own: fanotify's filesystem, and
    // much faster to fill and remove than a disk (ext4 with `discard` pays for
    // every unlink).
    let tmpfs = super::is_root().then(|| {
        let bytes: u64 = subject.tree.iter().map(|(_, n)| n.meta.size).sum();
        bytes.saturating_mul(2) + (512 << 20)
    });
    let bundle = Bundle::with(
        subject.tree,
        subject.content,
        &settings.parent,
        &process,
        &settings.limits,
        tmpfs,
    )?;
    let rootfs = bundle.rootfs();
    let watcher = match settings.observe {
        true => Some(Watcher::start(&rootfs)?),
        false => None,
    };
    let label = |p: &Probe| {
        if let Some(w) = &watcher {
            w.label(&p.to_string());
        }
    };
    let mut report = Report::default();
    for p in probes.iter().filter(|p| !p.is_service()) {
        let Probe::Run { args } = p else { continue };
        label(p);
        let mut proc = process.clone();
        if let Some(a) = args {
            // As `docker run IMAGE ARGS…`: the arguments replace the Cmd.
            let entry = subject.config["config"]["Entrypoint"]
                .as_array()
                .map(|v| v.len())
                .unwrap_or(0)
                .min(proc.args.len());
            proc.args.truncate(entry);
            proc.args.extend(a.iter().cloned());
            if proc.args.is_empty() {
                return Err(Error::NoCommand);
            }
        }
        bundle.set_process(&proc)?;
        let f = container::run(
            &settings.runtime,
            bundle.path(),
            &container_id(),
            settings.timeout,
        )?;
        let (passed, status) = match (f.timed_out, f.code) {
            (true, _) => (
                false,
                format!("timed out after {} s", settings.timeout.as_secs()),
            ),
            (false, Some(0)) => (true, "exit 0".to_string()),
            (false, Some(c)) => (false, format!("exit {c}")),
            (false, None) => (false, "killed by a signal".to_string()),
        };
        report.outcomes.push(Outcome {
            probe: p.to_string(),
            passed,
            status,
            seconds: secs(f.elapsed),
            output: output_of(&f),
        });
    }
    let service: Vec<&Probe> = probes.iter().filter(|p| p.is_service()).collect();
    if !service.is_empty() {
        bundle.set_process(&process)?;
        if let Some(p) = service.first() {
            label(p);
        }
        let mut running = Running::start(&settings.runtime, bundle.path(), &container_id())?;
        let pid = running.pid(settings.timeout);
        for p in service {
            label(p);
            let o = service_probe(p, &mut running, pid, settings.timeout);
            report.outcomes.push(o);
        }
        let signal = subject.config["config"]["StopSignal"]
            .as_str()
            .unwrap_or("TERM")
            .trim_start_matches("SIG")
            .to_string();
        let f = running.stop(&signal, Duration::from_secs(5));
        report.output = output_of(&f);
    }
    if let Some(w) = watcher {
        report.observed = observed_in(subject.tree, w.finish(), &rootfs);
    }
    drop(bundle);
    Ok(report)
}

/// One probe against the running command: retried (every 250 ms for HTTP,
/// every second for a command, as Docker retries a healthcheck) until it
/// passes, the command exits, or `timeout` passes.
fn service_probe(p: &Probe, running: &mut Running, pid: Option<u32>, timeout: Duration) -> Outcome {
    let start = Instant::now();
    let done = |passed: bool, status: String, output: String| Outcome {
        probe: p.to_string(),
        passed,
        status,
        seconds: secs(start.elapsed()),
        output,
    };
    let Some(pid) = pid else {
        let status = match running.exited() {
            Some(Some(c)) => format!("the command exited with code {c} before the probe ran"),
            Some(None) => "the command was killed before the probe ran".to_string(),
            None => format!("the container did not start within {} s", timeout.as_secs()),
        };
        return done(false, status, String::new());
    };
    let mut last = String::from("no answer");
    let mut output = String::new();
    loop {
        if let Some(code) = running.exited() {
            let how = match code {
                Some(c) => format!("exited with code {c}"),
                None => "was killed by a signal".to_string(),
            };
            return done(false, format!("the command {how} ({last})"), output);
        }
        let left = timeout.saturating_sub(start.elapsed());
        if left.is_zero() {
            return done(
                false,
                format!("timed out after {} s ({last})", timeout.as_secs()),
                output,
            );
        }
        match p {
            Probe::Http { port, path } => {
                match http_get(pid, *port, path, left.min(Duration::from_secs(5))) {
                    Ok(code) if (200..400).contains(&code) => {
                        return done(true, format!("HTTP {code}"), String::new())
                    }
                    Ok(code) => last = format!("last answer HTTP {code}"),
                    Err(e) => last = e.to_string(),
                }
                std::thread::sleep(Duration::from_millis(250).min(left));
            }
            Probe::Exec { argv } | Probe::Healthcheck { argv } => {
                match running.exec(argv, left) {
                    Ok(f) if f.code == Some(0) => {
                        return done(true, "exit 0".into(), output_of(&f))
                    }
                    Ok(f) if cannot_start(&f) => {
                        return done(
                            false,
                            "it cannot run in the container".into(),
                            output_of(&f),
                        )
                    }
                    Ok(f) => {
                        output = output_of(&f);
                        last = match f.code {
                            Some(c) => format!("last exit {c}"),
                            None if f.timed_out => "the last run timed out".into(),
                            None => "the last run was killed".into(),
                        };
                    }
                    Err(e) => return done(false, e.to_string(), String::new()),
                }
                std::thread::sleep(
                    Duration::from_secs(1).min(timeout.saturating_sub(start.elapsed())),
                );
            }
            Probe::Run { .. } => unreachable!("run probes are not service probes"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_options_parse() {
        assert_eq!(
            parse_http("8080/healthz").unwrap(),
            Probe::Http {
                port: 8080,
                path: "/healthz".into()
            }
        );
        assert_eq!(
            parse_http("80").unwrap(),
            Probe::Http {
                port: 80,
                path: "/".into()
            }
        );
        assert!(parse_http("http://x").is_err());
        assert!(parse_http("0").is_err());
        assert_eq!(
            parse_exec(r#"["python3","-c","import app"]"#).unwrap(),
            Probe::Exec {
                argv: vec!["python3".into(), "-c".into(), "import app".into()]
            }
        );
        assert!(parse_exec("python3").is_err());
        assert!(parse_exec("[]").is_err());
        assert_eq!(parse_run("").unwrap(), Probe::Run { args: None });
        assert_eq!(
            parse_run(r#"["--version"]"#).unwrap(),
            Probe::Run {
                args: Some(vec!["--version".into()])
            }
        );
        assert_eq!(
            Probe::Http {
                port: 80,
                path: "/x".into()
            }
            .to_string(),
            "--probe-http 80/x"
        );
    }

    #[test]
    fn opened_paths_map_to_image_paths() {
        let root = Path::new("/tmp/b/rootfs");
        assert_eq!(
            image_path(Path::new("/tmp/b/rootfs/usr/lib/x.so"), root).as_deref(),
            Some("/usr/lib/x.so")
        );
        assert_eq!(
            image_path(Path::new("/usr/lib/x.so (deleted)"), root).as_deref(),
            Some("/usr/lib/x.so")
        );
    }
}
