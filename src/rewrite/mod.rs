//! `slim rewrite` as library calls: [`prepare`] traces the image, plans the
//! slimmed tree and checks the result; [`Rewrite::write`] builds its layers,
//! derives its config and writes it. The CLI adds the progress bars, the
//! messages and the report.

use crate::catalog::Catalog;
use crate::diagnostic::{Code, Diagnostic, Severity};
use crate::image::write::{self, LayerOptions};
use crate::image::{Compression, Image, Layers};
use crate::plan::{self, Plan, Profile};
use crate::progress::Reporter;
use crate::trace::Trace;
use crate::transport::{self, Output, Written};

pub mod index;

/// How to rewrite.
pub struct Options {
    pub analyze: crate::trace::command::Options,
    pub plan: plan::Options,
    pub profile: Profile,
    /// Run as the profile's non-root user (65532), its state directories its own.
    pub nonroot: bool,
    /// Write even when the result check says the image would not start.
    pub force: bool,
    pub compression: Compression,
    /// A system layer (the profile's files and system packages) under an app
    /// layer, instead of one layer.
    pub split_layers: bool,
    /// `SOURCE_DATE_EPOCH`: mtimes clamped to it, and the image's creation time.
    pub source_date_epoch: Option<u64>,
}

impl Options {
    /// The defaults `slim rewrite --to PROFILE` has: the built-in run-time
    /// rules, the image's own command, one gzip layer, no clamped mtimes.
    pub fn new(profile: Profile) -> Options {
        Options {
            analyze: crate::trace::command::Options {
                rules: crate::rules::Rules::builtin(),
                ..crate::trace::command::Options::default()
            },
            plan: plan::Options::default(),
            profile,
            nonroot: false,
            force: false,
            compression: Compression::Gzip,
            split_layers: false,
            source_date_epoch: None,
        }
    }
}

/// Why a rewrite did not happen.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Analyze(#[from] crate::trace::command::Error),
    #[error(transparent)]
    Plan(#[from] plan::Error),
    #[error("not writing an image that would not start: {} (--force writes it anyway)", list(.0))]
    Refused(Vec<Diagnostic>),
    #[error(transparent)]
    Config(#[from] plan::config::Error),
    #[error(transparent)]
    Write(#[from] write::Error),
    #[error(transparent)]
    Transport(#[from] transport::Error),
    #[error(transparent)]
    Probe(#[from] crate::run::probe::Error),
}

fn list(d: &[Diagnostic]) -> String {
    let v: Vec<String> = d.iter().map(ToString::to_string).collect();
    v.join("; ")
}

/// A planned and checked rewrite of one image.
pub struct Rewrite {
    pub catalog: Catalog,
    pub trace: Trace,
    pub plan: Plan,
}

/// Traces `image`, plans its slimmed tree with `opts`, and checks that what
/// the command needs is in what would be written.
pub fn prepare(image: &Image, layers: &Layers, opts: &Options) -> Result<Rewrite, Error> {
    let catalog = Catalog::read(layers);
    let trace = crate::trace::command::run_trace(image, layers, &catalog, &opts.analyze)?;
    let mut popts = opts.plan.clone();
    if opts.nonroot {
        popts.run_as = opts.profile.nonroot_ids();
    }
    let mut plan = plan::plan(layers, &catalog, &trace, &opts.profile, &popts)?;
    if opts.nonroot {
        plan.diagnostics
            .extend(plan::config::privileged_ports(&image.config_raw));
    }
    let env: Vec<String> = image
        .config
        .config()
        .as_ref()
        .and_then(|c| c.env().clone())
        .unwrap_or_default();
    let mut checks = plan::check::check(&plan, layers, &trace, &env);
    // A command refused for its shell: the check would say the same (the
    // shell, or a script's #! line, missing) again.
    let shells: Vec<String> = plan
        .diagnostics
        .iter()
        .filter(|d| d.code == Code::ShellNotKept)
        .filter_map(|d| d.path.clone())
        .flat_map(|p| {
            let real = layers
                .tree
                .resolve(&p, true)
                .ok()
                .map(|r| format!("/{}", r.path));
            [Some(p), real]
        })
        .flatten()
        .collect();
    checks.retain(|c| !shells.iter().any(|s| c.message.contains(s.as_str())));
    plan.diagnostics.extend(checks);
    Ok(Rewrite {
        catalog,
        trace,
        plan,
    })
}

impl Rewrite {
    /// The slimmed image's config as the image-spec has it, before its
    /// rootfs is known: the command, Env, User and WorkingDir it runs with.
    pub fn config(&self, image: &Image, opts: &Options) -> Result<Vec<u8>, Error> {
        let plan = &self.plan;
        let exists = |p: &str| {
            plan.tree
                .resolve(p, true)
                .ok()
                .and_then(|r| plan.tree.get(&r.path).map(|n| n.is_file()))
                .unwrap_or(false)
        };
        let a = &opts.analyze;
        let command = (a.entrypoint.is_some() || a.cmd.is_some()).then(|| a.command(image));
        Ok(plan::config::slim_config(
            &image.config_raw,
            &opts.profile,
            opts.nonroot,
            command.as_ref(),
            a.healthcheck.as_ref(),
            &exists,
        )?)
    }

    /// Runs `probes` on the slimmed image, unpacked from the plan (never observed).
    pub fn probe(
        &self,
        image: &Image,
        layers: &Layers,
        opts: &Options,
        probes: &[crate::run::probe::Probe],
        settings: &crate::run::probe::Settings,
    ) -> Result<crate::run::probe::Report, Error> {
        let raw = self.config(image, opts)?;
        let config: serde_json::Value =
            serde_json::from_slice(&raw).unwrap_or(serde_json::Value::Null);
        let words = |k: &str| -> Vec<String> {
            config["config"][k]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|w| w.as_str().map(String::from))
                .collect()
        };
        let mut command = words("Entrypoint");
        command.extend(words("Cmd"));
        let content = plan::PlanContent {
            plan: &self.plan,
            layers,
        };
        let subject = crate::run::probe::Subject {
            tree: &self.plan.tree,
            content: &content,
            config: &config,
            command,
        };
        let settings = crate::run::probe::Settings {
            observe: false,
            ..settings.clone()
        };
        Ok(crate::run::probe::run(&subject, probes, &settings)?)
    }

    /// The findings worth saying, trace's then plan's: warnings and errors
    /// (a shell the plan accepted was kept on purpose: not said).
    pub fn problems(&self) -> impl Iterator<Item = &Diagnostic> {
        self.trace
            .diagnostics
            .iter()
            .chain(&self.plan.diagnostics)
            .filter(|d| {
                d.severity != Severity::Info
                    && !matches!(
                        d.code,
                        Code::EntrypointNeedsShell
                            | Code::EntrypointWrapper
                            | Code::HealthcheckShell
                    )
            })
    }

    /// Errors that mean the image would not start: the rewrite is refused
    /// unless forced.
    pub fn refusal(&self, force: bool) -> Result<(), Error> {
        let fatal: Vec<Diagnostic> = self.problems().filter(|d| d.refused()).cloned().collect();
        match fatal.is_empty() || force {
            true => Ok(()),
            false => Err(Error::Refused(fatal)),
        }
    }

    /// Builds the layers, derives the config and writes the image to `out`
    /// (refused as [`Rewrite::refusal`] says), reporting layer progress to
    /// `reporter`.
    pub fn write(
        &self,
        image: &Image,
        layers: &Layers,
        out: &Output,
        opts: &Options,
        reporter: &dyn Reporter,
    ) -> Result<Written, Error> {
        self.refusal(opts.force)?;
        let work = out.destination().work_dir()?;
        let compression = out
            .destination()
            .compression(Some(opts.compression))
            .unwrap_or(opts.compression);
        let built = self.build(image, layers, opts, compression, work.path(), reporter, 0)?;
        Ok(transport::write_image(
            out,
            &built.config,
            built.layers,
            &built.annotations,
            opts.source_date_epoch.unwrap_or(0),
            reporter,
        )?)
    }

    /// Builds the layers into `work` (`compression`, progress as tasks
    /// `task`, `task + 1`) and derives the config and the manifest's
    /// annotations: everything of the image but where it goes.
    #[allow(clippy::too_many_arguments)]
    pub fn build(
        &self,
        image: &Image,
        layers: &Layers,
        opts: &Options,
        compression: Compression,
        work: &std::path::Path,
        reporter: &dyn Reporter,
        task: usize,
    ) -> Result<Built, Error> {
        let plan = &self.plan;
        let content = plan::PlanContent { plan, layers };
        let split;
        let trees = if opts.split_layers {
            split = plan.split(layers, &self.catalog, &opts.profile);
            vec![&split.0, &split.1]
        } else {
            vec![&plan.tree]
        };
        let mut built = Vec::new();
        for (i, tree) in trees.into_iter().enumerate() {
            built.push(write::build_layer(
                tree,
                &content,
                LayerOptions {
                    compression,
                    clamp_mtime: opts.source_date_epoch,
                },
                work,
                reporter,
                task + i,
            )?);
        }
        let config = self.config(image, opts)?;
        let kept: u64 = plan.kept.values().map(|c| c.bytes).sum();
        let files: usize = plan.kept.values().map(|c| c.files).sum();
        let what = format!(
            "slim rewrite --to {}: kept {files} of {} files ({} of {})",
            opts.profile.name,
            plan.source_files,
            crate::progress::human_bytes(kept),
            crate::progress::human_bytes(plan.source_bytes)
        );
        let created = opts.source_date_epoch.map(write::rfc3339);
        let diff_ids: Vec<_> = built.iter().map(|l| l.diff_id.clone()).collect();
        let config = write::derive_config(&config, &diff_ids, &what, created.as_deref())?;
        // image-spec annotations: the base's manifest digest and its
        // reference, each only when known (a docker-archive has no manifest;
        // an OCI layout's tag alone is no reference).
        let mut annotations = Vec::new();
        if let Some(d) = &image.manifest_digest {
            annotations.push((
                "org.opencontainers.image.base.digest".to_string(),
                d.to_string(),
            ));
        }
        if let Some(name) = base_name(image) {
            annotations.push(("org.opencontainers.image.base.name".to_string(), name));
        }
        Ok(Built {
            config,
            layers: built,
            annotations,
        })
    }
}

/// A rewritten image before it is put anywhere.
pub struct Built {
    /// The config, as it will be stored.
    pub config: Vec<u8>,
    pub layers: Vec<write::BuiltLayer>,
    /// The manifest's annotations.
    pub annotations: Vec<(String, String)>,
}

/// The reference the image was known by, when it has one: a registry's
/// `HOST/REPO:TAG`, a docker-archive's `repo:tag`, an OCI layout's ref name
/// when it is a whole reference (`docker.io/library/nginx:1.25`, not `1.25`).
pub fn base_name(image: &Image) -> Option<String> {
    if let Some(r) = image.reference.as_remote() {
        return Some(r.to_string());
    }
    image
        .name
        .clone()
        .filter(|n| !n.starts_with('@') && (n.contains('/') || n.contains(':')))
}
