//! `slim copy`: convert an image between formats, optionally flattened.

use super::{progress::Bars, ImageArgs};
use crate::image::write::{self, LayerOptions};
use crate::image::{Compression, Transport};
use crate::transport::{self, Output};
use anyhow::Context;
use std::process::ExitCode;

/// Copy an image to another format (like `skopeo copy`), verifying every blob.
///
/// A copy that changes no blob keeps the manifest's bytes (so its digest, and
/// any signature or pin on it, stay valid) and moves every blob as it is,
/// checking its digest as it streams. Only a conversion reads the layers:
/// --flatten merges them into one reproducible layer (sorted entries, numeric
/// owners, mtimes clamped to SOURCE_DATE_EPOCH when it is set), --compression
/// re-encodes those in another compression, and a docker-archive (source or
/// destination) has no manifest to keep.
///
/// --all copies a multi-platform index whole: every platform's image (and
/// attestation), byte for byte, digests unchanged.
///
/// DEST: oci:DIR[:TAG], oci-archive:PATH[:TAG], docker-archive:PATH[:REPO:TAG],
/// docker://HOST/REPO:TAG (a registry: only the blobs it lacks are sent), or a
/// bare path (`*.tar` is an oci-archive, anything else an OCI layout dir).
///
/// Examples:
///   slim copy nginx.docker.tar oci-archive:nginx.oci.tar:1.0
///   slim copy --flatten oci:app:v2 docker-archive:app.tar:example/app:v2
///   slim copy --all docker://registry.example.com/app:2 oci:mirror:app-2
///   slim copy app.tar docker://localhost:5000/app:2 --tls-verify=false
#[derive(clap::Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct Args {
    #[command(flatten)]
    image: ImageArgs,
    /// Where to write the image.
    #[arg(value_name = "DEST")]
    dest: String,
    /// Merge all layers into one.
    #[arg(long)]
    flatten: bool,
    /// Layer compression of the written image (docker-archive layers are always
    /// uncompressed). zstd needs recent tools: umoci 0.4.7 and Docker < 23 cannot read it.
    #[arg(long, value_enum)]
    compression: Option<super::Codec>,
    /// Copy the whole index (every platform), not only this machine's (or --platform's) image.
    #[arg(long, conflicts_with_all = ["flatten", "compression"])]
    all: bool,
    /// Also decompress every layer of a verbatim copy and check it against the
    /// config's diff_ids (a conversion always does).
    #[arg(long)]
    verify_layers: bool,
    /// Print what was written as JSON on stdout.
    #[arg(long)]
    json: bool,
    /// Replace DEST even when it is not an image, or is the image being read.
    /// (A directory is never deleted: the layout is written into it.)
    #[arg(long)]
    force: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut out = Output::parse(&args.dest)?;
    out.force = args.force;
    args.image.registry.apply(&mut out)?;
    let sde = super::source_date_epoch()?;
    if let Some(super::Codec::Zstd) = args.compression {
        super::warn_zstd();
    }
    if args.all {
        return copy_all(&args, out, sde);
    }
    super::note_bare_destination(&args.dest, &out);
    let (wanted, verbatim_possible) = {
        let dest = out.destination();
        let wanted = dest.compression(args.compression.map(Into::into));
        (wanted, !args.flatten && dest.stores_manifest())
    };
    let image = super::open_for(&args.image, true, Some(&out))?;
    out.mount_from = image.reference.as_remote();
    if verbatim_possible && changes_no_blob(&image, wanted) {
        return copy_verbatim(&args, out, image, sde);
    }
    let bars = Bars::new(!args.image.quiet);
    let layers = crate::image::read_layers(&image, &bars)
        .with_context(|| format!("reading {}", image.reference))?;
    bars.clear();
    super::name_docker_archive(&mut out, &image);
    let work = out.destination().work_dir()?;
    let (config, built) = if args.flatten {
        let opts = LayerOptions {
            compression: wanted.unwrap_or(Compression::Gzip),
            clamp_mtime: sde,
        };
        let layer = write::build_layer(&layers.tree, &layers, opts, work.path(), &bars, 0)?;
        let created = sde.map(crate::image::write::rfc3339);
        let what = format!(
            "slim copy --flatten: {} layers of {}",
            layers.stats.len(),
            image.reference
        );
        let config = write::derive_config(
            &image.config_raw,
            std::slice::from_ref(&layer.diff_id),
            &what,
            created.as_deref(),
        )?;
        (config, vec![layer])
    } else {
        let mut built = Vec::new();
        for (i, stats) in layers.stats.iter().enumerate() {
            let b = match wanted {
                Some(c) if c != stats.compression => {
                    write::copy_layer(layers.tar(i), c, work.path())?
                }
                _ => write::copy_verbatim(
                    image.container.open(&image.layers[i].name)?.0,
                    stats,
                    work.path(),
                )?,
            };
            built.push(b);
        }
        (image.config_raw.clone(), built)
    };
    let written = transport::write_image(&out, &config, built, &[], sde.unwrap_or(0), &bars);
    bars.clear();
    report(&args, written, |w| {
        format!(
            "{}, {} layer{}",
            super::written(Some(&out), w),
            w.layers.len(),
            if w.layers.len() == 1 { "" } else { "s" },
        )
    })
}

/// Whether copying `image` with layers in `wanted` compression (None: as
/// they are) changes no blob: an OCI-format source whose manifest names
/// every layer by digest, each already in that compression. (A
/// docker-archive destination always converts: it stores no manifest.)
fn changes_no_blob(image: &crate::image::Image, wanted: Option<Compression>) -> bool {
    image.transport != Transport::DockerArchive
        && image.manifest_digest.is_some()
        && image.layers.iter().all(|l| {
            l.digest.is_some()
                && l.size.is_some()
                && wanted.map_or(true, |w| {
                    l.media_type
                        .as_deref()
                        .and_then(Compression::from_media_type)
                        == Some(w)
                })
        })
}

/// The manifest, config and layers as they are (see [`changes_no_blob`]).
fn copy_verbatim(
    args: &Args,
    out: Output,
    image: crate::image::Image,
    sde: Option<u64>,
) -> anyhow::Result<ExitCode> {
    let bars = Bars::new(!args.image.quiet);
    if args.verify_layers {
        crate::image::read_layers(&image, &bars)
            .with_context(|| format!("reading {}", image.reference))?;
        bars.clear();
    }
    let config_digest = image.config_digest.clone();
    let layers: Vec<_> = image
        .layers
        .iter()
        .filter_map(|l| l.digest.clone())
        .collect();
    let reference = image.reference.to_string();
    // Pulled blobs were checked as they arrived (or as the cache gave them).
    let verified = image.transport == Transport::Docker;
    let mut whole = image
        .into_whole()
        .with_context(|| format!("reading {reference}"))?
        .expect("changes_no_blob checked the manifest");
    whole.verified = verified;
    let work = out.destination().work_dir()?;
    let written = transport::write_whole(&out, &whole, work.path(), sde.unwrap_or(0), &bars);
    bars.clear();
    let written = written.map(|w| transport::Written {
        path: out.path.clone(),
        transport: out.transport,
        manifest_digest: Some(w.digest),
        config_digest,
        layers,
        pushed: w.pushed,
        other_tags: w.other_tags,
    });
    report(args, written, |w| {
        format!(
            "{}, {} layer{}",
            super::written(Some(&out), w),
            w.layers.len(),
            if w.layers.len() == 1 { "" } else { "s" },
        )
    })
}

/// What was written: JSON on stdout with --json, else a line on stderr.
fn report<T: serde::Serialize>(
    args: &Args,
    written: Result<T, transport::Error>,
    line: impl FnOnce(&T) -> String,
) -> anyhow::Result<ExitCode> {
    let written = written.with_context(|| format!("writing {}", args.dest))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&written)?);
    } else {
        eprintln!("slim: wrote {}", line(&written));
    }
    Ok(ExitCode::SUCCESS)
}

/// `--all`: the index and everything it reaches, as they are.
fn copy_all(args: &Args, mut out: Output, sde: Option<u64>) -> anyhow::Result<ExitCode> {
    let r = crate::image::ImageRef::parse(&args.image.image)?;
    out.destination().check_whole()?;
    let same = match (r.as_remote(), out.remote()) {
        (Some(a), Some(b)) => a.repo() == b.repo() && a.tag == b.tag,
        (None, None) => {
            std::fs::canonicalize(&r.path).ok() == std::fs::canonicalize(&out.path).ok()
                && r.tag == out.tag
        }
        _ => false,
    };
    if same && !out.force {
        anyhow::bail!(
            "{}: is the image being read; writing there would replace the input \
             (choose another path or tag, or --force)",
            out.location()
        );
    }
    let bars = Bars::new(!args.image.quiet);
    let opts = args.image.registry.options()?;
    let whole = transport::open_whole(&r, &opts, &bars);
    bars.clear();
    let whole = whole.with_context(|| format!("reading {r}"))?;
    if let Some(remote) = r.as_remote() {
        out.mount_from = Some(remote);
    }
    let work = out.destination().work_dir()?;
    let written = transport::write_whole(&out, &whole, work.path(), sde.unwrap_or(0), &bars);
    bars.clear();
    report(args, written, |w| {
        format!(
            "{} ({} {}; {} manifests, {} blobs{})",
            w.location,
            if w.manifests > 1 { "index" } else { "manifest" },
            w.digest,
            w.manifests,
            w.blobs,
            super::pushed(w.pushed.as_ref())
        )
    })
}
