//! `slim ls`: list the merged filesystem of an image.

use super::{Format, ImageArgs};
use crate::fs::Kind;
use serde::Serialize;
use std::io::Write;
use std::process::ExitCode;

/// List every entry of the image's merged filesystem (layers applied, whiteouts honoured).
///
/// One line per entry: type, mode, uid:gid, size, layer, path, and the link
/// target; --digests adds each regular file's sha256 (reads every file).
///
/// Examples:
///   slim ls nginx.tar | grep ' /usr/sbin/'
///   slim ls --digests --format json oci:./out > tree.json
#[derive(clap::Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct Args {
    #[command(flatten)]
    image: ImageArgs,
    /// Add the sha256 of each regular file's contents.
    #[arg(long)]
    digests: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
}

#[derive(Serialize)]
struct Entry<'a> {
    path: String,
    /// file, dir, symlink, hardlink, char, block, fifo
    kind: &'static str,
    mode: String,
    uid: u64,
    gid: u64,
    size: u64,
    layer: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    target: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sha256: Option<String>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (_image, layers) = super::load(&args.image, args.format == Format::Human)?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut all = Vec::new();
    for (path, node) in layers.tree.iter() {
        let (kind, target) = match &node.kind {
            Kind::File {
                hardlink: Some(t), ..
            } => ("hardlink", Some(t.as_str())),
            Kind::File { .. } => ("file", None),
            Kind::Dir => ("dir", None),
            Kind::Symlink(t) => ("symlink", Some(t.as_str())),
            Kind::CharDevice(..) => ("char", None),
            Kind::BlockDevice(..) => ("block", None),
            Kind::Fifo => ("fifo", None),
        };
        let sha256 = match layers.open(node) {
            Some(mut r) if args.digests => {
                let mut h = crate::image::digest::HashingReader::new(&mut r);
                std::io::copy(&mut h, &mut std::io::sink())?;
                h.into_parts().1.map(|d| d.hex().to_string())
            }
            _ => None,
        };
        let e = Entry {
            path: format!("/{path}"),
            kind,
            mode: format!("{:04o}", node.meta.mode),
            uid: u64::from(node.meta.uid),
            gid: u64::from(node.meta.gid),
            size: node.meta.size,
            layer: node.layer,
            target,
            sha256,
        };
        match args.format {
            Format::Json => all.push(e),
            Format::Human => {
                write!(
                    out,
                    "{:<8} {} {:>5}:{:<5} {:>10} L{} {}",
                    e.kind, e.mode, e.uid, e.gid, e.size, e.layer, e.path
                )?;
                if let Some(t) = e.target {
                    write!(out, " -> {t}")?;
                }
                if let Some(d) = &e.sha256 {
                    write!(out, " sha256:{d}")?;
                }
                writeln!(out)?;
            }
        }
    }
    if args.format == Format::Json {
        serde_json::to_writer_pretty(&mut out, &all)?;
        writeln!(out)?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
