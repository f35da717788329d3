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

/// `config.json` for a bundle whose rootfs is `rootfs` and whose /etc files
/// the runtime provides from `etc` (hosts, hostname, resolv.conf).
pub fn spec(p: &Process, limits: &Limits, etc: &Path) -> Value {
    let bind = |name: &str| {
        json!({"destination": format!("/etc/{name}"), "type": "bind",
               "source": etc.join(name), "options": ["rbind", "ro", "nosuid", "nodev", "noexec"]})
    };
    json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": {"uid": p.uid, "gid": p.gid},
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
    })
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
    #[error("no OCI runtime found: slim runs images with runc or crun (install one, or name it with --runtime PATH)")]
    NoRuntime,
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
}

/// The OCI runtime to use: `want` when given, else runc or crun from PATH.
pub fn find_runtime(want: Option<&Path>) -> Result<PathBuf, Error> {
    if let Some(w) = want {
        return Ok(w.to_path_buf());
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in ["runc", "crun"] {
        for dir in std::env::split_paths(&path) {
            let p = dir.join(name);
            if p.is_file() {
                return Ok(p);
            }
        }
    }
    Err(Error::NoRuntime)
}

/// Runs the bundle at `bundle` (holding `config.json` and `rootfs/`) as
/// container `id` with `runtime`, until it exits or `timeout` passes (then
/// it is killed); the container is deleted in every case.
pub fn run(runtime: &Path, bundle: &Path, id: &str, timeout: Duration) -> Result<Finished, Error> {
    let start = Instant::now();
    let mut child = std::process::Command::new(runtime)
        .arg("run")
        .arg("--bundle")
        .arg(bundle)
        .arg(id)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| Error::Io(runtime.display().to_string(), e))?;
    // Read both pipes on threads so that a chatty container cannot block.
    let drain = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut buf);
            }
            buf
        })
    };
    let out = drain(
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    let err = drain(
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    let mut timed_out = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Some(s),
            Ok(None) if start.elapsed() >= timeout => {
                timed_out = true;
                let _ = std::process::Command::new(runtime)
                    .args(["kill", id, "KILL"])
                    .output();
                let _ = child.kill();
                break child.wait().ok();
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(_) => break None,
        }
    };
    let _ = std::process::Command::new(runtime)
        .args(["delete", "--force", id])
        .output();
    Ok(Finished {
        code: if timed_out {
            None
        } else {
            status.and_then(|s| s.code())
        },
        timed_out,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
        elapsed: start.elapsed(),
    })
}
