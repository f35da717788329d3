//! `slim analyze`: what an image is made of, in one report.

use crate::fs::{Hidden, Kind};
use crate::image::{Digest, Image, LayerStats, Layers};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// Shell programs: their presence means `docker exec sh` works, and so does an attacker's.
pub const SHELLS: &[&str] = &[
    "sh", "bash", "dash", "ash", "zsh", "ksh", "mksh", "csh", "tcsh", "fish", "busybox",
];

/// Package managers and their front ends.
pub const PACKAGE_MANAGERS: &[&str] = &[
    "apt",
    "apt-get",
    "apt-cache",
    "aptitude",
    "dpkg",
    "dpkg-deb",
    "apk",
    "rpm",
    "yum",
    "dnf",
    "microdnf",
    "zypper",
    "pip",
    "pip3",
    "npm",
    "gem",
];

/// The full report; field names are a stable interface (see README).
#[derive(Debug, Serialize)]
pub struct Report {
    pub reference: String,
    pub transport: &'static str,
    pub name: Option<String>,
    pub platform: String,
    pub manifest_digest: Option<Digest>,
    pub config_digest: Digest,
    pub config: ConfigSummary,
    /// The program the container runs, resolved as a runtime would.
    pub entrypoint: Option<Entrypoint>,
    pub layers: Vec<LayerReport>,
    pub totals: Totals,
    pub os: Option<OsRelease>,
    pub package_databases: Vec<PackageDb>,
    pub shells: Vec<String>,
    pub package_managers: Vec<String>,
    pub largest_directories: Vec<DirSize>,
    pub hidden: HiddenSummary,
    /// The entrypoint's ELF dependency graph (PT_INTERP and DT_NEEDED, as ld.so resolves them).
    pub dependencies: Option<crate::trace::Closure>,
    /// Problems found on the way, with stable kebab-case codes.
    pub diagnostics: Vec<Diagnostic>,
}

/// A finding with a stable code (`elf-unresolved-needed`, `entrypoint-needs-shell`, …).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Diagnostic {
    pub code: &'static str,
    /// error | warning | info
    pub severity: &'static str,
    pub path: Option<String>,
    pub message: String,
}

const SHELL_NAMES: &[&str] = &["sh", "bash", "dash", "ash", "zsh", "ksh", "busybox"];

/// Follows `#!` lines from `path` to the ELF program that really runs,
/// noting when that program is a shell. Returns the ELF object, if any.
fn follow_interpreters(
    loader: &crate::trace::Loader,
    layers: &Layers,
    path: &str,
    env: &[String],
    diags: &mut Vec<Diagnostic>,
) -> Option<crate::trace::Object> {
    let mut cur = path.to_string();
    for _ in 0..4 {
        if let Some(o) = loader.object(&cur) {
            let base = cur.rsplit('/').next().unwrap_or("");
            if SHELL_NAMES.contains(&base) {
                diags.push(Diagnostic {
                    code: "entrypoint-needs-shell",
                    severity: "warning",
                    path: Some(cur.clone()),
                    message: format!(
                        "the entrypoint runs a shell ({cur}): a distroless image has none"
                    ),
                });
            }
            return Some(o);
        }
        let head = layers.read(&cur, 512)?;
        let line = head.strip_prefix(b"#!")?;
        let line =
            String::from_utf8_lossy(line.split(|b| *b == b'\n').next().unwrap_or(&[])).into_owned();
        let mut words = line.split_whitespace();
        let interp = words.next()?.to_string();
        let next = if interp.ends_with("/env") {
            let prog = words.find(|w| !w.starts_with('-'))?.to_string();
            match resolve_entrypoint(&layers.tree, &prog, env, "/") {
                Ok(Ok(p)) => p,
                _ => {
                    diags.push(Diagnostic {
                        code: "interpreter-not-found",
                        severity: "error",
                        path: Some(cur.clone()),
                        message: format!("{cur} runs '{prog}' through env, which is not in PATH"),
                    });
                    return None;
                }
            }
        } else {
            interp
        };
        cur = next;
    }
    None
}

#[derive(Debug, Serialize)]
pub struct ConfigSummary {
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub user: String,
    pub workdir: String,
    pub exposed_ports: Vec<String>,
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Serialize)]
pub struct Entrypoint {
    /// Entrypoint followed by Cmd.
    pub argv: Vec<String>,
    /// The file argv[0] is, after PATH lookup and symlinks (absolute path in the image).
    pub resolved: Option<String>,
    /// Why it could not be resolved.
    pub problem: Option<String>,
}

/// Problems that make the analysis meaningless.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{what}: {source}")]
    Resolve {
        what: String,
        source: crate::fs::ResolveError,
    },
}

#[derive(Debug, Serialize)]
pub struct LayerReport {
    #[serde(flatten)]
    pub stats: LayerStats,
    /// The history entry that made the layer, when the config says.
    pub created_by: Option<String>,
}

#[derive(Debug, Default, Serialize)]
pub struct Totals {
    pub layers: usize,
    pub compressed_size: u64,
    pub uncompressed_size: u64,
    /// Entries of the merged filesystem.
    pub entries: usize,
    pub files: usize,
    pub directories: usize,
    pub symlinks: usize,
    pub hardlinks: usize,
    pub other: usize,
    /// Bytes of regular files in the merged filesystem (hardlinks counted once).
    pub file_bytes: u64,
}

#[derive(Debug, Serialize)]
pub struct OsRelease {
    pub id: Option<String>,
    pub version_id: Option<String>,
    pub version_codename: Option<String>,
    pub pretty_name: Option<String>,
    /// The file it was read from.
    pub path: String,
}

#[derive(Debug, Serialize)]
pub struct PackageDb {
    /// dpkg, dpkg-distroless (status.d), apk, rpm-sqlite, rpm-bdb, rpm-ndb
    pub kind: &'static str,
    pub path: String,
    /// Installed packages counted, when the format is read by slim.
    pub packages: Option<usize>,
}

#[derive(Debug, Serialize)]
pub struct DirSize {
    pub path: String,
    pub bytes: u64,
    pub files: usize,
}

#[derive(Debug, Serialize)]
pub struct HiddenSummary {
    pub files: usize,
    /// Bytes shipped in lower layers but deleted or replaced by later ones.
    pub bytes: u64,
    /// The largest of them.
    pub largest: Vec<Hidden>,
}

fn slash(p: &str) -> String {
    format!("/{p}")
}

/// The default PATH of container runtimes when the image sets none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Finds the program a container runs: argv[0] through PATH (from the
/// image Env) or relative to WorkingDir, following symlinks in the image.
/// A symlink loop on the way is an error: the image cannot start.
pub fn resolve_entrypoint(
    tree: &crate::fs::Tree,
    argv0: &str,
    env: &[String],
    workdir: &str,
) -> Result<Result<String, String>, Error> {
    let loop_err =
        |what: String, e: crate::fs::ResolveError| Err(Error::Resolve { what, source: e });
    let candidates: Vec<String> = if argv0.contains('/') {
        let abs = if argv0.starts_with('/') {
            argv0.to_string()
        } else {
            format!("{}/{argv0}", workdir.trim_end_matches('/'))
        };
        vec![abs]
    } else {
        let path = env
            .iter()
            .find_map(|e| e.strip_prefix("PATH="))
            .unwrap_or(DEFAULT_PATH);
        path.split(':')
            .filter(|d| !d.is_empty())
            .map(|d| format!("{}/{argv0}", d.trim_end_matches('/')))
            .collect()
    };
    for c in &candidates {
        match tree.resolve(c, true) {
            Ok(r) if tree.get(&r.path).is_some_and(|n| n.is_file()) => {
                return Ok(Ok(slash(&r.path)))
            }
            Ok(_) => {}
            Err(e @ crate::fs::ResolveError::Loop { .. }) => {
                return loop_err(format!("entrypoint {argv0}"), e)
            }
            Err(_) => {}
        }
    }
    Ok(Err(if argv0.contains('/') {
        format!("{argv0} is not a regular file in the image")
    } else {
        format!("{argv0} not found in PATH")
    }))
}

/// Builds the report of an image whose layers have been read.
pub fn analyze(image: &Image, layers: &Layers) -> Result<Report, Error> {
    let cfg = image.config.config().as_ref();
    let strings = |v: Option<&Vec<String>>| v.cloned().unwrap_or_default();
    let config = ConfigSummary {
        entrypoint: strings(cfg.and_then(|c| c.entrypoint().as_ref())),
        cmd: strings(cfg.and_then(|c| c.cmd().as_ref())),
        env: strings(cfg.and_then(|c| c.env().as_ref())),
        user: cfg.and_then(|c| c.user().clone()).unwrap_or_default(),
        workdir: cfg
            .and_then(|c| c.working_dir().clone())
            .unwrap_or_default(),
        exposed_ports: {
            let mut v = strings(cfg.and_then(|c| c.exposed_ports().as_ref()));
            v.sort();
            v
        },
        labels: cfg
            .and_then(|c| c.labels().as_ref())
            .map(|l| l.clone().into_iter().collect())
            .unwrap_or_default(),
    };
    let argv: Vec<String> = config
        .entrypoint
        .iter()
        .chain(&config.cmd)
        .cloned()
        .collect();
    let entrypoint = match argv.first() {
        None => None,
        Some(argv0) => {
            let wd = if config.workdir.is_empty() {
                "/"
            } else {
                &config.workdir
            };
            let r = resolve_entrypoint(&layers.tree, argv0, &config.env, wd)?;
            let (resolved, problem) = match r {
                Ok(p) => (Some(p), None),
                Err(p) => (None, Some(p)),
            };
            Some(Entrypoint {
                argv,
                resolved,
                problem,
            })
        }
    };
    let mut diagnostics = Vec::new();
    let mut dependencies = None;
    if let Some(ep) = &entrypoint {
        if ep.argv.len() >= 2
            && SHELL_NAMES
                .iter()
                .any(|s| ep.argv[0].ends_with(&format!("/{s}")) || ep.argv[0] == *s)
            && ep.argv[1] == "-c"
        {
            diagnostics.push(Diagnostic {
                code: "entrypoint-needs-shell",
                severity: "warning",
                path: None,
                message: format!(
                    "shell-form command ({} -c …): a distroless image has no shell",
                    ep.argv[0]
                ),
            });
        }
        match &ep.resolved {
            Some(path) => {
                let loader = crate::trace::Loader::new(layers, &config.env);
                if let Some(root) =
                    follow_interpreters(&loader, layers, path, &config.env, &mut diagnostics)
                {
                    let c = crate::trace::elf_closure(&loader, std::slice::from_ref(&root));
                    for e in c.missing() {
                        diagnostics.push(Diagnostic {
                            code: "elf-unresolved-needed",
                            severity: "error",
                            path: Some(e.from.clone()),
                            message: format!(
                                "{} needs {}, which is not found in the image",
                                e.from, e.name
                            ),
                        });
                    }
                    for obj in c.objects.keys() {
                        if loader.elf_at(obj).is_some_and(|i| i.imports("dlopen"))
                            && !obj.contains("/libc.so")
                        {
                            diagnostics.push(Diagnostic {
                                code: "elf-dlopen",
                                severity: "info",
                                path: Some(obj.clone()),
                                message: format!("{obj} imports dlopen: it may load libraries its DT_NEEDED does not name"),
                            });
                        }
                    }
                    for (p, problem) in loader.malformed.lock().expect("not poisoned").iter() {
                        diagnostics.push(Diagnostic {
                            code: "elf-malformed",
                            severity: "warning",
                            path: Some(p.clone()),
                            message: format!("{p}: {problem}"),
                        });
                    }
                    dependencies = Some(c);
                }
            }
            None => diagnostics.push(Diagnostic {
                code: "entrypoint-not-found",
                severity: "error",
                path: None,
                message: ep.problem.clone().unwrap_or_default(),
            }),
        }
    }
    for p in ["/etc/os-release", "/usr/lib/os-release"] {
        if let Err(e @ crate::fs::ResolveError::Loop { .. }) = layers.tree.resolve(p, true) {
            return Err(Error::Resolve {
                what: p.to_string(),
                source: e,
            });
        }
    }
    // History entries with empty_layer set made no layer; the others map to layers in order.
    let made_layers: Vec<Option<String>> = image
        .config
        .history()
        .as_ref()
        .map(|h| {
            h.iter()
                .filter(|e| !e.empty_layer().unwrap_or(false))
                .map(|e| e.created_by().clone())
                .collect()
        })
        .unwrap_or_default();
    let layer_reports: Vec<LayerReport> = layers
        .stats
        .iter()
        .map(|s| LayerReport {
            stats: s.clone(),
            created_by: made_layers.get(s.index).cloned().flatten(),
        })
        .collect();

    let tree = &layers.tree;
    let mut totals = Totals {
        layers: layers.stats.len(),
        compressed_size: layers.stats.iter().map(|s| s.compressed_size).sum(),
        uncompressed_size: layers.stats.iter().map(|s| s.uncompressed_size).sum(),
        entries: tree.len(),
        ..Totals::default()
    };
    let mut dir_sizes: HashMap<&str, (u64, usize)> = HashMap::new();
    let mut shells = Vec::new();
    let mut managers = Vec::new();
    for (path, node) in tree.iter() {
        match &node.kind {
            Kind::File { hardlink, .. } => {
                if hardlink.is_some() {
                    totals.hardlinks += 1;
                } else {
                    totals.files += 1;
                    totals.file_bytes += node.meta.size;
                    let mut p = path;
                    while let Some((parent, _)) = p.rsplit_once('/') {
                        let e = dir_sizes.entry(parent).or_default();
                        e.0 += node.meta.size;
                        e.1 += 1;
                        p = parent;
                    }
                }
            }
            Kind::Dir => totals.directories += 1,
            Kind::Symlink(_) => totals.symlinks += 1,
            _ => totals.other += 1,
        }
        if matches!(node.kind, Kind::Dir) {
            continue;
        }
        let (dir, base) = path.rsplit_once('/').unwrap_or(("", path));
        let in_bin = dir.ends_with("bin")
            && (dir == "bin" || dir == "sbin" || dir.ends_with("/bin") || dir.ends_with("/sbin"));
        if in_bin {
            if SHELLS.contains(&base) {
                shells.push(slash(path));
            }
            let versioned_pip =
                base.starts_with("pip3.") && base[5..].chars().all(|c| c.is_ascii_digit());
            if PACKAGE_MANAGERS.contains(&base) || versioned_pip {
                managers.push(slash(path));
            }
        }
    }
    let mut largest: Vec<DirSize> = dir_sizes
        .into_iter()
        .map(|(p, (bytes, files))| DirSize {
            path: slash(p),
            bytes,
            files,
        })
        .collect();
    largest.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.path.cmp(&b.path)));
    largest.truncate(10);

    let mut hidden_list = tree.hidden().to_vec();
    let hidden_bytes = hidden_list.iter().map(|h| h.size).sum();
    let hidden_files = hidden_list.len();
    hidden_list.sort_by(|a, b| b.size.cmp(&a.size).then_with(|| a.path.cmp(&b.path)));
    hidden_list.truncate(10);
    for h in &mut hidden_list {
        h.path = slash(&h.path);
    }

    Ok(Report {
        reference: image.reference.to_string(),
        transport: image.transport.name(),
        name: image.name.clone(),
        platform: image.platform(),
        manifest_digest: image.manifest_digest.clone(),
        config_digest: image.config_digest.clone(),
        config,
        entrypoint,
        layers: layer_reports,
        totals,
        os: os_release(layers),
        package_databases: package_dbs(layers),
        shells,
        package_managers: managers,
        largest_directories: largest,
        hidden: HiddenSummary {
            files: hidden_files,
            bytes: hidden_bytes,
            largest: hidden_list,
        },
        dependencies,
        diagnostics,
    })
}

/// os-release(5): /etc/os-release, falling back to /usr/lib/os-release.
pub fn os_release(layers: &Layers) -> Option<OsRelease> {
    for path in ["/etc/os-release", "/usr/lib/os-release"] {
        let Some(bytes) = layers.read(path, 64 << 10) else {
            continue;
        };
        let text = String::from_utf8_lossy(&bytes);
        let mut vars = HashMap::new();
        for line in text.lines() {
            let Some((k, v)) = line.trim().split_once('=') else {
                continue;
            };
            if k.starts_with('#') {
                continue;
            }
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .or_else(|| v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
                .unwrap_or(v);
            vars.insert(k.to_string(), v.replace("\\\"", "\"").replace("\\\\", "\\"));
        }
        let get = |k: &str| vars.get(k).cloned();
        return Some(OsRelease {
            id: get("ID"),
            version_id: get("VERSION_ID"),
            version_codename: get("VERSION_CODENAME"),
            pretty_name: get("PRETTY_NAME"),
            path: path.to_string(),
        });
    }
    None
}

/// Counts deb822 paragraphs whose Status is `install ok installed`.
fn count_dpkg(text: &str) -> usize {
    text.split("\n\n")
        .filter(|para| {
            para.lines()
                .any(|l| l.trim_end() == "Status: install ok installed")
        })
        .count()
}

fn package_dbs(layers: &Layers) -> Vec<PackageDb> {
    let tree = &layers.tree;
    let mut out = Vec::new();
    let exists = |p: &str| {
        tree.resolve(p, true)
            .ok()
            .and_then(|r| tree.get(&r.path).cloned())
    };
    if exists("/var/lib/dpkg/status").is_some_and(|n| n.is_file()) {
        let n = layers
            .read("/var/lib/dpkg/status", 256 << 20)
            .map(|b| count_dpkg(&String::from_utf8_lossy(&b)));
        out.push(PackageDb {
            kind: "dpkg",
            path: "/var/lib/dpkg/status".into(),
            packages: n,
        });
    }
    if let Ok(r) = tree.resolve("/var/lib/dpkg/status.d", true) {
        if tree.get(&r.path).is_some_and(|n| n.is_dir()) {
            let prefix = format!("{}/", r.path);
            let n = tree
                .subtree(&r.path)
                .filter(|(p, n)| {
                    n.is_file() && !p[prefix.len()..].contains('/') && !p.ends_with(".md5sums")
                })
                .count();
            out.push(PackageDb {
                kind: "dpkg-distroless",
                path: "/var/lib/dpkg/status.d".into(),
                packages: Some(n),
            });
        }
    }
    if exists("/lib/apk/db/installed").is_some_and(|n| n.is_file()) {
        let n = layers.read("/lib/apk/db/installed", 256 << 20).map(|b| {
            String::from_utf8_lossy(&b)
                .lines()
                .filter(|l| l.starts_with("P:"))
                .count()
        });
        out.push(PackageDb {
            kind: "apk",
            path: "/lib/apk/db/installed".into(),
            packages: n,
        });
    }
    for (kind, path) in [
        ("rpm-sqlite", "/var/lib/rpm/rpmdb.sqlite"),
        ("rpm-sqlite", "/usr/lib/sysimage/rpm/rpmdb.sqlite"),
        ("rpm-bdb", "/var/lib/rpm/Packages"),
        ("rpm-ndb", "/var/lib/rpm/Packages.db"),
    ] {
        if exists(path).is_some_and(|n| n.is_file()) {
            out.push(PackageDb {
                kind,
                path: path.into(),
                packages: None,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn dpkg_counts_only_installed_paragraphs() {
        let s = "Package: a\nStatus: install ok installed\n\nPackage: b\nStatus: deinstall ok config-files\n\nPackage: c\nStatus: install ok installed\n";
        assert_eq!(super::count_dpkg(s), 2);
    }
}
