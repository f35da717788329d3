//! The command line: argument parsing, printing and progress bars. The only
//! place that prints.

mod analyze;
mod audit;
mod copy;
mod licenses;
mod ls;
mod progress;
mod rewrite;
mod sbom;

use clap::{Parser, Subcommand, ValueEnum};
use std::io::Write;
use std::process::ExitCode;

/// Turn a fat container image into a distroless one, and tell exactly what is inside it.
///
/// slim reads images statically — no Docker daemon, no privileges — from
/// `docker save` tarballs (legacy and Docker >= 25), OCI layout directories and
/// oci-archives, with gzip, zstd or plain layers, and verifies every digest.
///
/// IMAGE is a path (the format is detected) or a transport reference:
///   oci:DIR[:TAG]   oci-archive:PATH[:TAG]   docker-archive:PATH[:REPO:TAG | :@N]
#[derive(Parser, Debug)]
#[command(name = "slim", version, verbatim_doc_comment)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    Analyze(analyze::Args),
    Audit(audit::Args),
    Copy(copy::Args),
    Licenses(licenses::Args),
    Ls(ls::Args),
    Rewrite(rewrite::Args),
    Sbom(sbom::Args),
}

/// Output format of reports.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// A report for a person, on one screen.
    Human,
    /// Stable JSON for machines (fields documented in the README).
    Json,
}

/// Options every command that reads an image takes.
#[derive(clap::Args, Debug)]
pub struct ImageArgs {
    /// The image: a path, or oci:DIR[:TAG], oci-archive:PATH[:TAG], docker-archive:PATH[:REF].
    #[arg(value_name = "IMAGE")]
    pub image: String,
    /// Which image of a multi-platform index: os/arch[/variant]. Default: this machine's.
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<String>,
    /// No progress bars.
    #[arg(long, short)]
    pub quiet: bool,
}

/// An error for exit code 2: bad usage or bad input.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Analyze(a) => analyze::run(a),
        Command::Audit(a) => audit::run(a),
        Command::Copy(a) => copy::run(a),
        Command::Licenses(a) => licenses::run(a),
        Command::Ls(a) => ls::run(a),
        Command::Rewrite(a) => rewrite::run(a),
        Command::Sbom(a) => sbom::run(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            if is_broken_pipe(&e) {
                return ExitCode::SUCCESS;
            }
            let _ = writeln!(std::io::stderr(), "slim: error: {}", chain(&e));
            ExitCode::from(2)
        }
    }
}

/// The error and its causes on one line, skipping a cause whose text the
/// message already holds (typed errors often embed their source).
fn chain(e: &anyhow::Error) -> String {
    let mut msg = String::new();
    for c in e.chain() {
        let s = c.to_string();
        if msg.contains(&s) {
            continue;
        }
        if !msg.is_empty() {
            msg.push_str(": ");
        }
        msg.push_str(&s);
    }
    msg.replace('\n', " ")
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Opens and reads an image, with progress bars unless quiet.
pub(crate) fn load(
    args: &ImageArgs,
    show_progress: bool,
) -> anyhow::Result<(crate::image::Image, crate::image::Layers)> {
    use anyhow::Context;
    let r = crate::image::ImageRef::parse(&args.image)?;
    let platform = args
        .platform
        .as_deref()
        .map(crate::image::Platform::parse)
        .transpose()?;
    let image =
        crate::image::open(&r, platform.as_ref()).with_context(|| format!("opening {r}"))?;
    let bars = progress::Bars::new(show_progress && !args.quiet);
    let layers =
        crate::image::read_layers(&image, &bars).with_context(|| format!("reading {r}"))?;
    bars.clear();
    Ok((image, layers))
}

/// Human-readable byte sizes (binary units, as `du -h`).
pub(crate) fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// `SOURCE_DATE_EPOCH`, when set to a number (reproducible-builds.org spec).
pub(crate) fn source_date_epoch() -> anyhow::Result<Option<u64>> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) if !v.is_empty() => Ok(Some(v.trim().parse().map_err(|_| {
            anyhow::anyhow!("SOURCE_DATE_EPOCH='{v}' is not a number of seconds")
        })?)),
        _ => Ok(None),
    }
}
