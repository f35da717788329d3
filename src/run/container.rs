//! An OCI runtime's `config.json` for an untrusted image, as Docker would
//! run it (its default capabilities, a private network namespace with
//! loopback only, pid and memory limits, /etc/hosts, resolv.conf and hostname
//! provided), and a bounded run of it with runc or crun: killed at its
//! deadline and deleted whatever happens.

use serde_json::{json, Value};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Docker's default capabilities (moby's `oci/caps/defaults.go`).
pub const DOCKER_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// What the container runs.
#[derive(Debug, Clone)]
pub struct Process {
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups (the user's in the image's /etc/group).
    pub additional_gids: Vec<u32>,
}

/// Limits of one run.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub pids: i64,
    pub memory_bytes: i64,
    pub timeout: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            pids: 1024,
            memory_bytes: 2 << 30,
            timeout: Duration::from_secs(60),
        }
    }
}

/// What the host gives the container besides its image.
#[derive(Debug, Clone, Default)]
pub struct Host {
    /// A tmpfs at /tmp (the image has none).
    pub tmp_tmpfs: bool,
    /// Rootless: the (uid, gid) this process runs as, mapped to the
    /// container's root in a user namespace; no cgroup limits then (an
    /// unprivileged runtime cannot set them without a systemd delegation).
    pub rootless: Option<(u32, u32)>,
}

/// `config.json` for a bundle whose rootfs is `rootfs` and whose /etc files
/// the runtime provides from `etc` (hosts, hostname, resolv.conf), as
/// oci-spec's runtime types hold it (each field checked against them).
pub fn spec(p: &Process, limits: &Limits, etc: &Path, host: &Host) -> oci_spec::runtime::Spec {
    let v = spec_json(p, limits, etc, host);
    serde_json::from_value(v).expect("the spec slim writes matches oci-spec's runtime types")
}

fn spec_json(p: &Process, limits: &Limits, etc: &Path, host: &Host) -> Value {
    let bind = |name: &str| {
        json!({"destination": format!("/etc/{name}"), "type": "bind",
               "source": etc.join(name), "options": ["rbind", "ro", "nosuid", "nodev", "noexec"]})
    };
    let mut v = json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": {"uid": p.uid, "gid": p.gid, "additionalGids": p.additional_gids},
            "args": p.args,
            "env": p.env,
            "cwd": if p.cwd.is_empty() { "/" } else { &p.cwd },
            "capabilities": {
                "bounding": DOCKER_CAPS, "effective": DOCKER_CAPS, "permitted": DOCKER_CAPS,
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024u64, "soft": 1024u64}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": false},
        "hostname": "slim-probe",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
            bind("hosts"), bind("hostname"), bind("resolv.conf"),
        ],
        "linux": {
            "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}],
            "resources": {"pids": {"limit": limits.pids}, "memory": {"limit": limits.memory_bytes}},
            "maskedPaths": ["/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
                            "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware"],
            "readonlyPaths": ["/proc/asound", "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
        }
    });
    if host.tmp_tmpfs {
        v["mounts"].as_array_mut().expect("mounts").push(json!(
            {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "mode=1777"]}));
    }
    if let Some((uid, gid)) = host.rootless {
        let linux = &mut v["linux"];
        linux["namespaces"]
            .as_array_mut()
            .expect("namespaces")
            .push(json!({"type": "user"}));
        linux["uidMappings"] = json!([{"containerID": 0, "hostID": uid, "size": 1}]);
        linux["gidMappings"] = json!([{"containerID": 0, "hostID": gid, "size": 1}]);
        linux.as_object_mut().expect("linux").remove("resources");
        // A user namespace cannot mount a new mqueue or devpts with gid=5.
        v["mounts"]
            .as_array_mut()
            .expect("mounts")
            .retain(|m| m["type"] != "mqueue");
    }
    v
}

/// How a run ended.
#[derive(Debug)]
pub struct Finished {
    /// The process's exit code; None when it was killed at the deadline.
    pub code: Option<i32>,
    pub timed_out: bool,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub elapsed: Duration,
}

/// Why a run could not happen.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no OCI runtime found on PATH: slim runs images with runc, crun or youki (install one, e.g. apt-get install runc, or name it with --runtime PATH)")]
    NoRuntime,
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
    #[error("running an image as a user other than root needs user namespaces, which this machine does not give: {0} (enable them, or run slim as root)")]
    NoUserNamespaces(String),
}

/// Whether this kernel lets this (non-root) user make user namespaces, as
/// its sysctls say; the reason when not.
pub fn user_namespaces() -> Result<(), Error> {
    let read = |p: &str| {
        std::fs::read_to_string(p)
            .ok()
            .map(|s| s.trim().to_string())
    };
    if read("/proc/sys/user/max_user_namespaces").as_deref() == Some("0") {
        return Err(Error::NoUserNamespaces(
            "user.max_user_namespaces is 0".into(),
        ));
    }
    if read("/proc/sys/kernel/unprivileged_userns_clone").as_deref() == Some("0") {
        return Err(Error::NoUserNamespaces(
            "kernel.unprivileged_userns_clone is 0".into(),
        ));
    }
    Ok(())
}

/// The OCI runtime to use: `want` when given, else runc or crun from PATH.
pub fn find_runtime(want: Option<&Path>) -> Result<PathBuf, Error> {
    if let Some(w) = want {
        return match w.is_file() {
            true => Ok(w.to_path_buf()),
            false => Err(Error::Io(
                format!("--runtime {}", w.display()),
                std::io::Error::new(std::io::ErrorKind::NotFound, "not a file"),
            )),
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in ["runc", "crun", "youki"] {
        for dir in std::env::split_paths(&path) {
            let p = dir.join(name);
            if p.is_file() {
                return Ok(p);
            }
        }
    }
    Err(Error::NoRuntime)
}

/// `runtime` with its global options: as a user other than root, its state
/// in a directory of that user's (`$XDG_RUNTIME_DIR/slim-runc`, else
/// `$TMPDIR/slim-runc-UID`), as runc and crun take `--root`.
pub fn runtime_command(runtime: &Path) -> std::process::Command {
    let mut c = std::process::Command::new(runtime);
    if !super::is_root() {
        let dir = match std::env::var_os("XDG_RUNTIME_DIR").filter(|x| !x.is_empty()) {
            Some(x) => PathBuf::from(x).join("slim-runc"),
            None => std::env::temp_dir().join(format!("slim-runc-{}", super::current_id("Uid:"))),
        };
        let _ = std::fs::create_dir_all(&dir);
        c.arg("--root").arg(dir);
    }
    c
}

/// A container started in the foreground of a runtime process: its output
/// is collected while it runs; [`Running::stop`] kills and deletes it.
pub struct Running {
    runtime: PathBuf,
    id: String,
    child: std::process::Child,
    out: Option<std::thread::JoinHandle<Vec<u8>>>,
    err: Option<std::thread::JoinHandle<Vec<u8>>>,
    start: Instant,
    exit: Option<Option<i32>>,
    /// What a signal does while the container may still exist.
    undo: Option<crate::tmp::Undo>,
}

fn drain<R: Read + Send + 'static>(r: Option<R>) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut r) = r {
            let _ = r.read_to_end(&mut buf);
        }
        buf
    })
}

impl Running {
    /// `runtime run --bundle BUNDLE ID`: the container's init is the
    /// runtime's child, its stdout and stderr piped here.
    pub fn start(runtime: &Path, bundle: &Path, id: &str) -> Result<Running, Error> {
        let undo = {
            let (runtime, id) = (runtime.to_path_buf(), id.to_string());
            crate::tmp::remember_undo(move || {
                let _ = runtime_command(&runtime)
                    .args(["delete", "--force", &id])
                    .stdin(std::process::Stdio::null())
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .status();
            })
        };
        let child = runtime_command(runtime)
            .arg("run")
            .arg("--bundle")
            .arg(bundle)
            .arg(id)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn();
        let mut child = match child {
            Ok(c) => c,
            Err(e) => {
                crate::tmp::forget(undo);
                return Err(Error::Io(runtime.display().to_string(), e));
            }
        };
        Ok(Running {
            undo: Some(undo),
            runtime: runtime.to_path_buf(),
            id: id.to_string(),
            out: Some(drain(child.stdout.take())),
            err: Some(drain(child.stderr.take())),
            child,
            start: Instant::now(),
            exit: None,
        })
    }

    /// The exit code once the container has exited (None inside: killed by a signal).
    pub fn exited(&mut self) -> Option<Option<i32>> {
        if self.exit.is_none() {
            if let Ok(Some(s)) = self.child.try_wait() {
                self.exit = Some(s.code());
            }
        }
        self.exit
    }

    /// The container's init as the host sees it, once it runs (None when it
    /// exited or did not start within `wait`).
    pub fn pid(&mut self, wait: Duration) -> Option<u32> {
        let deadline = Instant::now() + wait;
        while Instant::now() < deadline && self.exited().is_none() {
            let out = runtime_command(&self.runtime)
                .args(["state", &self.id])
                .stdin(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .output()
                .ok()?;
            if let Ok(v) = serde_json::from_slice::<Value>(&out.stdout) {
                if v["status"] == "running" {
                    if let Some(p) = v["pid"].as_u64().filter(|p| *p > 0) {
                        return Some(p as u32);
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// `runtime exec ID ARGV…` (the container's env, user and cwd), bounded by `timeout`.
    pub fn exec(&self, argv: &[String], timeout: Duration) -> Result<Finished, Error> {
        let start = Instant::now();
        let mut child = runtime_command(&self.runtime)
            .arg("exec")
            .arg(&self.id)
            .args(argv)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .map_err(|e| Error::Io(self.runtime.display().to_string(), e))?;
        let out = drain(child.stdout.take());
        let err = drain(child.stderr.take());
        let mut timed_out = false;
        let status = loop {
            match child.try_wait() {
                Ok(Some(s)) => break Some(s),
                Ok(None) if start.elapsed() >= timeout => {
                    timed_out = true;
                    let _ = child.kill();
                    break child.wait().ok();
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                Err(_) => break None,
            }
        };
        Ok(Finished {
            code: status.filter(|_| !timed_out).and_then(|s| s.code()),
            timed_out,
            stdout: out.join().unwrap_or_default(),
            stderr: err.join().unwrap_or_default(),
            elapsed: start.elapsed(),
        })
    }

    /// Waits for the container to exit until `deadline` (from its start).
    pub fn wait(&mut self, deadline: Duration) -> Option<Option<i32>> {
        while self.start.elapsed() < deadline {
            if let Some(c) = self.exited() {
                return Some(c);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.exited()
    }

    /// Stops the container (`signal`, then SIGKILL after `grace`), deletes
    /// it, and returns how it ended and what it wrote.
    pub fn stop(mut self, signal: &str, grace: Duration) -> Finished {
        let mut timed_out = false;
        if self.exited().is_none() {
            timed_out = true;
            let (runtime, id) = (self.runtime.clone(), self.id.clone());
            let kill = |sig: &str| {
                let _ = runtime_command(&runtime)
                    .args(["kill", &id, sig])
                    .stdin(std::process::Stdio::null())
                    .output();
            };
            // A container's init that does not catch the signal ignores it
            // (the kernel's rule for a pid namespace's init): no grace then.
            let pid = self.pid(Duration::from_millis(500));
            let grace = match pid.map(|p| catches(p, signal)) {
                Some(false) => Duration::ZERO,
                _ => grace,
            };
            if !grace.is_zero() {
                kill(signal);
            }
            let until = Instant::now() + grace;
            while Instant::now() < until && self.exited().is_none() {
                std::thread::sleep(Duration::from_millis(20));
            }
            if self.exited().is_none() {
                kill("KILL");
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
        }
        let code = self.exited().flatten();
        let _ = runtime_command(&self.runtime)
            .args(["delete", "--force", &self.id])
            .stdin(std::process::Stdio::null())
            .output();
        if let Some(u) = self.undo.take() {
            crate::tmp::forget(u);
        }
        Finished {
            code: if timed_out { None } else { code },
            timed_out,
            stdout: self
                .out
                .take()
                .and_then(|h| h.join().ok())
                .unwrap_or_default(),
            stderr: self
                .err
                .take()
                .and_then(|h| h.join().ok())
                .unwrap_or_default(),
            elapsed: self.start.elapsed(),
        }
    }
}

/// Whether process `pid` has a handler for `signal` (a name as runc takes
/// it: TERM, SIGINT, 15); unknown names count as caught.
fn catches(pid: u32, signal: &str) -> bool {
    const NAMES: [&str; 31] = [
        "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "KILL", "USR1", "SEGV", "USR2",
        "PIPE", "ALRM", "TERM", "STKFLT", "CHLD", "CONT", "STOP", "TSTP", "TTIN", "TTOU", "URG",
        "XCPU", "XFSZ", "VTALRM", "PROF", "WINCH", "IO", "PWR", "SYS",
    ];
    let name = signal.trim_start_matches("SIG");
    let Some(n) = name
        .parse::<u32>()
        .ok()
        .or_else(|| NAMES.iter().position(|s| *s == name).map(|i| i as u32 + 1))
    else {
        return true;
    };
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return true;
    };
    status
        .lines()
        .find_map(|l| l.strip_prefix("SigCgt:"))
        .and_then(|m| u64::from_str_radix(m.trim(), 16).ok())
        .map_or(true, |mask| n == 0 || n > 64 || mask & (1 << (n - 1)) != 0)
}

/// Runs the bundle at `bundle` (holding `config.json` and `rootfs/`) as
/// container `id` with `runtime`, until it exits or `timeout` passes (then
/// it is killed); the container is deleted in every case.
pub fn run(runtime: &Path, bundle: &Path, id: &str, timeout: Duration) -> Result<Finished, Error> {
    let mut r = Running::start(runtime, bundle, id)?;
    r.wait(timeout);
    Ok(r.stop("KILL", Duration::from_secs(2)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxNamespaceType;

    fn proc() -> Process {
        Process {
            args: vec!["/app/server".into()],
            env: vec!["PATH=/usr/bin".into()],
            cwd: "/app".into(),
            uid: 1000,
            gid: 1000,
            additional_gids: vec![27],
        }
    }

    #[test]
    fn the_spec_is_dockers_defaults_with_a_private_network() {
        let s = spec(
            &proc(),
            &Limits::default(),
            Path::new("/b/etc"),
            &Host {
                tmp_tmpfs: true,
                rootless: None,
            },
        );
        let linux = s.linux().as_ref().unwrap();
        let ns: Vec<LinuxNamespaceType> = linux
            .namespaces()
            .as_ref()
            .unwrap()
            .iter()
            .map(|n| n.typ())
            .collect();
        assert!(ns.contains(&LinuxNamespaceType::Network), "{ns:?}");
        assert!(!ns.contains(&LinuxNamespaceType::User));
        assert!(linux
            .namespaces()
            .as_ref()
            .unwrap()
            .iter()
            .all(|n| n.path().is_none()));
        let p = s.process().as_ref().unwrap();
        assert_eq!(p.user().uid(), 1000);
        assert_eq!(p.user().additional_gids().as_deref(), Some(&[27][..]));
        let caps = p
            .capabilities()
            .as_ref()
            .unwrap()
            .bounding()
            .as_ref()
            .unwrap();
        assert_eq!(caps.len(), DOCKER_CAPS.len());
        assert!(p.no_new_privileges().unwrap_or(false));
        let dests: Vec<String> = s
            .mounts()
            .as_ref()
            .unwrap()
            .iter()
            .map(|m| m.destination().display().to_string())
            .collect();
        for d in [
            "/proc",
            "/dev",
            "/sys",
            "/dev/shm",
            "/tmp",
            "/etc/hosts",
            "/etc/resolv.conf",
        ] {
            assert!(dests.iter().any(|x| x == d), "{d} in {dests:?}");
        }
        let r = linux.resources().as_ref().unwrap();
        assert_eq!(r.pids().as_ref().unwrap().limit(), 1024);
    }

    #[test]
    fn rootless_maps_one_id_and_drops_cgroup_limits() {
        let s = spec(
            &proc(),
            &Limits::default(),
            Path::new("/b/etc"),
            &Host {
                tmp_tmpfs: false,
                rootless: Some((65534, 65534)),
            },
        );
        let linux = s.linux().as_ref().unwrap();
        assert!(linux
            .namespaces()
            .as_ref()
            .unwrap()
            .iter()
            .any(|n| n.typ() == LinuxNamespaceType::User));
        let m = &linux.uid_mappings().as_ref().unwrap()[0];
        assert_eq!((m.container_id(), m.host_id(), m.size()), (0, 65534, 1));
        assert!(linux.resources().is_none());
    }
}
