//! `slim copy`: convert an image between formats, optionally flattened.

use super::{progress::Bars, ImageArgs};
use crate::image::write::{self, LayerOptions, Output};
use crate::image::{Compression, Transport};
use anyhow::Context;
use std::process::ExitCode;

/// Copy an image to another format (like `skopeo copy`), verifying every blob.
///
/// Layers are copied as they are, unless --flatten merges them into one
/// reproducible layer (sorted entries, numeric owners, mtimes clamped to
/// SOURCE_DATE_EPOCH when it is set), or --compression asks to re-encode.
///
/// DEST: oci:DIR[:TAG], oci-archive:PATH[:TAG], docker-archive:PATH[:REPO:TAG],
/// or a bare path (`*.tar` is an oci-archive, anything else an OCI layout dir).
///
/// Examples:
///   slim copy nginx.docker.tar oci-archive:nginx.oci.tar:1.0
///   slim copy --flatten oci:app:v2 docker-archive:app.tar:example/app:v2
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
    let (image, layers) = super::load_for(&args.image, true, Some(&out))?;
    out.mount_from = image.reference.as_remote();
    let work = write::work_dir(&out)?;
    let bars = Bars::new(!args.image.quiet);
    let wanted: Option<Compression> = match out.transport {
        Transport::DockerArchive => Some(Compression::None),
        _ => args.compression.map(Into::into),
    };
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
    let written = write::write_image(&out, &config, built, &[], sde.unwrap_or(0), &bars)
        .with_context(|| format!("writing {}", args.dest));
    bars.clear();
    let written = written?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&written)?);
    } else {
        eprintln!(
            "slim: wrote {}, {} layer{}",
            super::written(Some(&out), &written),
            written.layers.len(),
            if written.layers.len() == 1 { "" } else { "s" },
        );
    }
    Ok(ExitCode::SUCCESS)
}
