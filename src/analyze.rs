//! `slim analyze`: what an image is made of, in one report.

use crate::fs::{Hidden, Kind};
use crate::image::{Digest, Image, LayerStats, Layers};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

pub use crate::catalog::os::{os_release, OsRelease};
pub use crate::rules::programs::{PACKAGE_MANAGERS, SHELLS};
pub use crate::trace::command::{image_healthcheck, run_trace, Error, Healthcheck, Options};

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
    pub package_databases: Vec<crate::catalog::Database>,
    pub shells: Vec<String>,
    pub package_managers: Vec<String>,
    pub largest_directories: Vec<DirSize>,
    pub hidden: HiddenSummary,
    /// Content no package database owns (what the image's own layers added:
    /// the app, pip wheels, a runtime in /usr/local), by directory, largest first.
    pub unowned: Vec<UnownedDir>,
    /// The entrypoint's ELF dependency graph (PT_INTERP and DT_NEEDED, as ld.so resolves them).
    pub dependencies: Option<crate::trace::Closure>,
    /// What a slimmed image would keep.
    pub projected: Projected,
    /// Problems found on the way, with stable kebab-case codes.
    pub diagnostics: Vec<Diagnostic>,
    /// Package and license counts (filled by the caller, which reads the licenses).
    pub licenses: Option<crate::sbom::LicenseSummary>,
    /// With `--nonroot`: the paths given to the non-root user because the
    /// program writes there (filled by the caller, from the plan).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owned_by_user: Option<Vec<String>>,
    /// With probes: how each ended on the image, and (`--probe`) what the
    /// container opened that the static trace did not reach (filled by the caller).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probes: Option<Probes>,
}

/// The probes' run on the image, for the report.
#[derive(Debug, Serialize)]
pub struct Probes {
    #[serde(flatten)]
    pub run: crate::run::probe::Report,
    /// How many image files the container opened (`--probe`).
    pub observed: usize,
    /// Those the static trace did not keep: kept for `observed` alone. The
    /// data a rule could learn from.
    pub observed_only: Vec<ObservedOnly>,
}

#[derive(Debug, Serialize)]
pub struct ObservedOnly {
    pub path: String,
    pub probe: String,
}

impl Probes {
    /// The report of `run` over `trace` (traced with its observations).
    pub fn new(run: crate::run::probe::Report, trace: &crate::trace::Trace) -> Probes {
        let observed_only = trace
            .kept
            .iter()
            .filter_map(|(p, r)| match r {
                crate::trace::Reason::Observed { probe } => Some(ObservedOnly {
                    path: p.clone(),
                    probe: probe.clone(),
                }),
                _ => None,
            })
            .collect();
        Probes {
            observed: run.observed.len(),
            run,
            observed_only,
        }
    }
}

/// Runs `probes` on the image as the container would run it (`opts`'
/// command overrides applied), observing what it opens when
/// `settings.observe`.
pub fn probe(
    image: &Image,
    layers: &Layers,
    opts: &Options,
    probes: &[crate::run::probe::Probe],
    settings: &crate::run::probe::Settings,
) -> Result<crate::run::probe::Report, crate::run::probe::Error> {
    let config: serde_json::Value =
        serde_json::from_slice(&image.config_raw).unwrap_or(serde_json::Value::Null);
    let (mut command, cmd) = opts.command(image);
    command.extend(cmd);
    let subject = crate::run::probe::Subject {
        tree: &layers.tree,
        content: layers,
        config: &config,
        command,
    };
    crate::run::probe::run(&subject, probes, settings)
}

/// The slimmed image slim would make: what the trace keeps.
#[derive(Debug, Serialize)]
pub struct Projected {
    /// Kept paths of any kind.
    pub paths: usize,
    /// Regular files kept and their bytes (before the distroless skeleton is added).
    pub files: usize,
    pub bytes: u64,
    /// Kept paths per kind of reason (entrypoint, elf-needed, rule, package, symlink-hop, …).
    pub by_reason: BTreeMap<String, usize>,
    /// Paths the run-time rules keep, per rule (nss, gconv, openssl, jvm, python, …).
    pub by_rule: BTreeMap<String, usize>,
    /// Packages whose config and data are kept (the entrypoint's and its dependencies).
    pub packages: Vec<String>,
    /// Every kept path with the reason it was first kept for.
    pub kept: Vec<KeptPath>,
}

#[derive(Debug, Serialize)]
pub struct KeptPath {
    pub path: String,
    pub reason: crate::trace::Reason,
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
    /// The HEALTHCHECK, when the image has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<Healthcheck>,
    /// The program the healthcheck runs, resolved as the runtime would (a
    /// `CMD` test's first word; a `CMD-SHELL` one runs /bin/sh).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub healthcheck_runs: Option<String>,
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

pub use crate::trace::Diagnostic;

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
pub struct DirSize {
    pub path: String,
    pub bytes: u64,
    pub files: usize,
}

/// Regular files no package owns under one directory: the shallowest one no
/// package owns (`/app`), else the files' own directory (`/usr/local/bin`).
#[derive(Debug, Serialize)]
pub struct UnownedDir {
    pub path: String,
    pub files: usize,
    pub bytes: u64,
    /// Of them, what the trace keeps.
    pub kept_files: usize,
    pub kept_bytes: u64,
}

/// Unowned regular files grouped by directory (see [`UnownedDir`]).
fn unowned(
    layers: &Layers,
    catalog: &crate::catalog::Catalog,
    trace: &crate::trace::Trace,
) -> Vec<UnownedDir> {
    // What package managers write while they install (their state, caches,
    // byte-compiled modules of packaged sources) is not the image's own.
    const STATE: &[&str] = &[
        "var/lib/dpkg/",
        "var/lib/apt/",
        "var/cache/",
        "var/log/",
        "var/lib/rpm/",
        "usr/lib/sysimage/rpm/",
        "lib/apk/",
        "etc/ld.so.cache",
    ];
    let mut groups: BTreeMap<String, UnownedDir> = BTreeMap::new();
    for (path, node) in layers.tree.iter() {
        if !matches!(node.kind, Kind::File { hardlink: None, .. })
            || catalog.is_owned(path)
            || STATE.iter().any(|s| path.starts_with(s))
        {
            continue;
        }
        let dir = path.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
        if let Some(src) = dir.strip_suffix("/__pycache__") {
            if catalog.is_owned(src) {
                continue;
            }
        }
        // The shallowest directory no package owns, below the system's own
        // (`/usr/local/lib/python3.11`, `/app`); else the file's directory.
        let mut key = dir.to_string();
        let mut acc = String::new();
        for c in dir.split('/').filter(|c| !c.is_empty()) {
            if !acc.is_empty() {
                acc.push('/');
            }
            acc.push_str(c);
            if !catalog.is_owned(&acc) && !crate::trace::SYSTEM_DIRS.contains(&slash(&acc).as_str())
            {
                key = acc.clone();
                break;
            }
        }
        let g = groups.entry(key.clone()).or_insert_with(|| UnownedDir {
            path: slash(&key),
            files: 0,
            bytes: 0,
            kept_files: 0,
            kept_bytes: 0,
        });
        g.files += 1;
        g.bytes += node.meta.size;
        if trace.kept.contains_key(&slash(path)) {
            g.kept_files += 1;
            g.kept_bytes += node.meta.size;
        }
    }
    let mut v: Vec<UnownedDir> = groups.into_values().collect();
    v.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.path.cmp(&b.path)));
    v
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

/// Builds the report of an image whose layers have been read.
pub fn analyze(
    image: &Image,
    layers: &Layers,
    catalog: &crate::catalog::Catalog,
    trace: &crate::trace::Trace,
) -> Result<Report, Error> {
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
        healthcheck: image_healthcheck(&image.config_raw),
        healthcheck_runs: trace.healthcheck.clone(),
    };
    let argv: Vec<String> = config
        .entrypoint
        .iter()
        .chain(&config.cmd)
        .cloned()
        .collect();
    let entrypoint = argv.first().map(|_| Entrypoint {
        argv: argv.clone(),
        resolved: trace.entrypoint.clone(),
        problem: trace
            .diagnostics
            .iter()
            .find(|d| d.code == crate::diagnostic::Code::EntrypointNotFound)
            .map(|d| d.message.clone()),
    });
    let diagnostics = trace.diagnostics.clone();
    let dependencies = (!trace.closure.objects.is_empty()).then(|| trace.closure.clone());
    let (files, bytes) = trace.size(&layers.tree);
    let mut by_reason = BTreeMap::new();
    let mut by_rule: BTreeMap<String, usize> = BTreeMap::new();
    for r in trace.kept.values() {
        *by_reason.entry(r.kind().to_string()).or_insert(0) += 1;
        if let crate::trace::Reason::Rule { rule, .. } = r {
            *by_rule.entry(rule.clone()).or_insert(0) += 1;
        }
    }
    let kept = trace
        .kept
        .iter()
        .map(|(p, r)| KeptPath {
            path: p.clone(),
            reason: r.clone(),
        })
        .collect();
    let projected = Projected {
        paths: trace.kept.len(),
        files,
        bytes,
        by_reason,
        by_rule,
        packages: trace.packages.clone(),
        kept,
    };
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
        package_databases: catalog.databases.clone(),
        shells,
        package_managers: managers,
        largest_directories: largest,
        hidden: HiddenSummary {
            files: hidden_files,
            bytes: hidden_bytes,
            largest: hidden_list,
        },
        unowned: unowned(layers, catalog, trace),
        dependencies,
        projected,
        diagnostics,
        licenses: None,
        owned_by_user: None,
        probes: None,
    })
}
