//! The command line: argument parsing, printing and progress bars. The only
//! place that prints.

mod analyze;
mod audit;
mod copy;
mod explain;
mod licenses;
mod ls;
mod options;
mod outputs;
mod probes;
mod progress;
mod rewrite;
mod sbom;
mod sbom_files;

use crate::image::Compression;
use clap::{Parser, Subcommand, ValueEnum};
use std::io::Write;
use std::process::ExitCode;

/// Turn a fat container image into a distroless one, and tell exactly what is inside it.
///
/// slim reads images statically — no Docker daemon, no privileges — from
/// `docker save` tarballs (legacy and Docker >= 25), OCI layout directories,
/// oci-archives and registries, with gzip, zstd or plain layers, and verifies
/// every digest.
///
/// IMAGE is a path (the format is detected) or a transport reference:
///   oci:DIR[:TAG]   oci-archive:PATH[:TAG]   docker-archive:PATH[:REPO:TAG | :@N]
///   docker://HOST[:PORT]/REPO[:TAG | @sha256:…]   (docker://nginx is Docker Hub's library/nginx)
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
    /// (internal) A rootless HTTP probe's request, run inside the container's namespaces.
    #[command(name = "__probe-http-get", hide = true)]
    ProbeHttpGet {
        port: u16,
        path: String,
        timeout_ms: u64,
    },
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
    /// The image: a path, or oci:DIR[:TAG], oci-archive:PATH[:TAG], docker-archive:PATH[:REF],
    /// docker://HOST/REPO[:TAG|@DIGEST].
    #[arg(value_name = "IMAGE")]
    pub image: String,
    /// Which image of a multi-platform index: os/arch[/variant]. Default: this
    /// machine's (rewrite: every platform; it takes several, repeated or a comma list).
    #[arg(long, value_name = "OS/ARCH[/VARIANT]", value_delimiter = ',')]
    pub platform: Vec<String>,
    /// No progress bars.
    #[arg(long, short)]
    pub quiet: bool,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

impl ImageArgs {
    /// The platforms --platform names, parsed.
    pub fn platforms(&self) -> anyhow::Result<Vec<crate::image::Platform>> {
        Ok(self
            .platform
            .iter()
            .map(|p| crate::image::Platform::parse(p))
            .collect::<Result<_, _>>()?)
    }
}

/// How to reach registries, for `docker://` images (as skopeo takes them).
#[derive(clap::Args, Debug, Clone)]
pub struct RegistryArgs {
    /// Credentials for the registry (read and written). Without it: the auth files
    /// skopeo and docker use (REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR/containers/auth.json,
    /// ~/.docker/config.json with its credential helpers), else anonymous.
    #[arg(long, value_name = "USER:PASSWORD", help_heading = "Registries")]
    pub creds: Option<String>,
    /// The auth file to read credentials from (instead of the usual ones).
    #[arg(long, value_name = "FILE", help_heading = "Registries")]
    pub authfile: Option<std::path::PathBuf>,
    /// TLS files for the registry, as skopeo reads them: *.crt CA certificates to trust
    /// besides the system's, and a client certificate NAME.cert with its key NAME.key.
    /// Default: ~/.config/containers/certs.d/HOST:PORT, else /etc/containers/certs.d/…,
    /// else /etc/docker/certs.d/….
    #[arg(long, value_name = "DIR", help_heading = "Registries")]
    pub cert_dir: Option<std::path::PathBuf>,
    /// --tls-verify=false allows plain HTTP and unverified TLS (test registries only).
    #[arg(long, value_name = "BOOL", default_value_t = true, num_args = 0..=1,
          default_missing_value = "true", action = clap::ArgAction::Set, help_heading = "Registries")]
    pub tls_verify: bool,
    /// Download again instead of using the blob cache ($XDG_CACHE_HOME/slim, else ~/.cache/slim).
    #[arg(long, help_heading = "Registries")]
    pub no_cache: bool,
    /// How many times to try a registry request again after a transient fault (a dropped
    /// or refused connection, a stall, 408/429/500/502/503/504). 0: never.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 3,
        help_heading = "Registries"
    )]
    pub retry_times: u32,
    /// The wait before the first retry; each next one doubles, with jitter. A registry's
    /// Retry-After is honoured when longer (up to 60s).
    #[arg(long, value_name = "DURATION", default_value = "1s",
          value_parser = options::parse_seconds, help_heading = "Registries")]
    pub retry_delay: std::time::Duration,
    /// A connection that sends nothing for this long has stalled (and is retried).
    #[arg(long, value_name = "DURATION", default_value = "60s",
          value_parser = options::parse_seconds, help_heading = "Registries")]
    pub timeout: std::time::Duration,
}

impl RegistryArgs {
    pub fn options(&self) -> anyhow::Result<crate::registry::Options> {
        Ok(crate::registry::Options {
            creds: self
                .creds
                .as_deref()
                .map(crate::registry::auth::parse_creds)
                .transpose()?,
            authfile: self.authfile.clone(),
            cert_dir: self.cert_dir.clone(),
            tls_verify: self.tls_verify,
            cache: (!self.no_cache).then(crate::registry::cache::Cache::default_dir),
            retry: crate::registry::retry::Policy {
                times: self.retry_times,
                delay: self.retry_delay,
                timeout: self.timeout,
            },
        })
    }

    /// Gives a `docker://` destination these options.
    pub fn apply(&self, out: &mut crate::transport::Output) -> anyhow::Result<()> {
        out.registry = self.options()?;
        Ok(())
    }
}

/// Removes this process's temporary files when SIGINT, SIGTERM or SIGHUP
/// ends it, then dies of the signal as it would have (exit status 128+N).
fn clean_up_on_signals() {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) else {
        return;
    };
    std::thread::spawn(move || {
        if let Some(sig) = signals.forever().next() {
            crate::tmp::cleanup();
            let _ = signal_hook::low_level::emulate_default_handler(sig);
            std::process::exit(128 + sig);
        }
    });
}

/// Runs the command line; errors are one line on stderr and exit code 2
/// (bad usage or bad input).
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => return usage_error(e),
    };
    clean_up_on_signals();
    let result = match cli.command {
        Command::Analyze(a) => analyze::run(a),
        Command::Audit(a) => audit::run(a),
        Command::Copy(a) => copy::run(a),
        Command::Licenses(a) => licenses::run(a),
        Command::Ls(a) => ls::run(a),
        Command::Rewrite(a) => rewrite::run(a),
        Command::Sbom(a) => sbom::run(a),
        Command::ProbeHttpGet {
            port,
            path,
            timeout_ms,
        } => {
            match crate::run::probe::get(port, &path, std::time::Duration::from_millis(timeout_ms))
            {
                Ok(code) => {
                    println!("{code}");
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => Err(anyhow::anyhow!(e)),
            }
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            if is_broken_pipe(&e) {
                return ExitCode::SUCCESS;
            }
            let _ = writeln!(std::io::stderr(), "{}", message(&e));
            ExitCode::from(2)
        }
    }
}

/// clap's usage errors as one `slim: error:` line plus the hint how to get
/// help; `--help` and `--version` print as clap does, exit 0.
fn usage_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = e.print();
        return if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
            ExitCode::from(2)
        } else {
            ExitCode::SUCCESS
        };
    }
    let text = e.render().to_string();
    // clap's message is a paragraph (what is wrong, then the argument or the
    // allowed values on their own lines) followed by a usage line: keep the
    // whole paragraph on one line; its "tip:" lines say how to fix it.
    let para: Vec<&str> = text
        .lines()
        .map(str::trim)
        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .filter(|l| !l.is_empty())
        .collect();
    let (tips, what): (Vec<&str>, Vec<&str>) =
        para.into_iter().partition(|l| l.starts_with("tip:"));
    let mut first = what.join(" ");
    if first.is_empty() {
        first = "bad usage".into();
    }
    let first = first.trim_start_matches("error:").trim().to_string();
    let mut msg = format!("slim: error: {first}");
    for t in tips {
        msg.push_str(&format!(" ({})", t.trim_start_matches("tip:").trim()));
    }
    msg.push_str(" — see `slim --help`, or `slim COMMAND --help`");
    let _ = writeln!(std::io::stderr(), "{msg}");
    ExitCode::from(2)
}

/// `slim: error: …` on one line. A parser's multi-line report (TOML's, with
/// its caret under the bad spot) follows as it is, its last line — what is
/// wrong — repeated on the first.
fn message(e: &anyhow::Error) -> String {
    let full = chain(e);
    match full.split_once('\n') {
        None => format!("slim: error: {full}"),
        Some((head, rest)) => {
            let what = rest
                .lines()
                .rev()
                .map(str::trim)
                .find(|l| !l.is_empty())
                .unwrap_or("");
            format!("slim: error: {head}: {what}\n{}", rest.trim_end())
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
    msg
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    use std::io::ErrorKind::BrokenPipe;
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == BrokenPipe)
            // serde_json's writer errors hide the io::Error they wrap.
            || c
                .downcast_ref::<serde_json::Error>()
                .is_some_and(|j| j.io_error_kind() == Some(BrokenPipe))
    })
}

/// Opens and reads an image, with progress bars unless quiet.
pub(crate) fn load(
    args: &ImageArgs,
    show_progress: bool,
) -> anyhow::Result<(crate::image::Image, crate::image::Layers)> {
    load_for(args, show_progress, None)
}

/// Like [`load`], for a command that will write `out`: the destination is
/// checked before the image is read (a bad `-o` fails at once, not after the
/// work), and writing over the input itself is refused unless `--force`.
pub(crate) fn load_for(
    args: &ImageArgs,
    show_progress: bool,
    out: Option<&crate::transport::Output>,
) -> anyhow::Result<(crate::image::Image, crate::image::Layers)> {
    let image = open_for(args, show_progress, out)?;
    read_opened(args, image, show_progress)
}

/// `--all-platforms`, for the commands that report on an image.
#[derive(clap::Args, Debug, Clone, Copy)]
pub struct AllPlatforms {
    /// Report on each platform of a multi-platform index (those --platform lists, a
    /// comma list or repeated; else every one): one section per platform, or a JSON
    /// array with each platform's report under "platform".
    #[arg(long)]
    pub all_platforms: bool,
}

/// The images a reporting command reads: the one `args` names, or with
/// `all`, each platform of its index in the index's order (attestations
/// left out), read one after the other; `f` gets each with its platform
/// (None without `all`).
pub(crate) fn each_image(
    args: &ImageArgs,
    all: bool,
    show_progress: bool,
    mut f: impl FnMut(Option<String>, &crate::image::Image, &crate::image::Layers) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    if !all {
        let (image, layers) = load(args, show_progress)?;
        return f(None, &image, &layers);
    }
    let r = crate::image::ImageRef::parse(&args.image)?;
    let ropts = args.registry.options()?;
    let bars = progress::Bars::new(show_progress && !args.quiet);
    let opened = crate::transport::open_platforms(&r, &args.platforms()?, &ropts, &bars);
    bars.clear();
    match opened.map_err(|e| anyhow::Error::new(e).context(format!("opening {r}")))? {
        crate::transport::Opened::Image(image) => {
            let (image, layers) = read_opened(args, *image, show_progress)?;
            f(Some(image.platform()), &image, &layers)
        }
        crate::transport::Opened::Index(index) => {
            let chosen: Vec<crate::transport::Entry> = index
                .select(&args.platforms()?)?
                .into_iter()
                .cloned()
                .collect();
            for e in chosen {
                let image = index.open(&e)?;
                let (image, layers) = read_opened(args, image, show_progress)?;
                f(Some(e.label()), &image, &layers)?;
            }
            Ok(())
        }
    }
}

/// `--all-platforms --format json`: each platform's report (`json` of it)
/// with its `platform`, as one array.
pub(crate) fn platform_array<T>(
    reports: &[(Option<String>, T)],
    json: impl Fn(&T) -> anyhow::Result<serde_json::Value>,
) -> anyhow::Result<serde_json::Value> {
    let mut all = Vec::new();
    for (label, r) in reports {
        let mut v = json(r)?;
        v["platform"] = serde_json::json!(label);
        all.push(v);
    }
    Ok(serde_json::Value::Array(all))
}

/// The heading of report `i` of `--all-platforms` (`== linux/arm64/v8 ==`,
/// a blank line before all but the first); nothing for a single image.
pub(crate) fn platform_heading(
    o: &mut impl std::io::Write,
    i: usize,
    label: Option<&str>,
) -> std::io::Result<()> {
    let Some(l) = label else { return Ok(()) };
    if i > 0 {
        writeln!(o)?;
    }
    writeln!(o, "== {l} ==")
}

/// Reads the layers of `image`, opened already from what `args` name.
pub(crate) fn read_opened(
    args: &ImageArgs,
    image: crate::image::Image,
    show_progress: bool,
) -> anyhow::Result<(crate::image::Image, crate::image::Layers)> {
    use anyhow::Context;
    let r = crate::image::ImageRef::parse(&args.image)?;
    let bars = progress::Bars::new(show_progress && !args.quiet);
    let layers =
        crate::image::read_layers(&image, &bars).with_context(|| format!("reading {r}"))?;
    bars.clear();
    Ok((image, layers))
}

/// Opens (pulls) the image `args` name, not yet reading its layers; with
/// `out`, first checks the destination, and refuses one that is the image
/// being read.
pub(crate) fn open_for(
    args: &ImageArgs,
    show_progress: bool,
    out: Option<&crate::transport::Output>,
) -> anyhow::Result<crate::image::Image> {
    let r = crate::image::ImageRef::parse(&args.image)?;
    let platform = match args.platforms()?.as_slice() {
        [] => None,
        [one] => Some(one.clone()),
        _ => anyhow::bail!("--platform: this command reads one platform's image; name one"),
    };
    if let Some(o) = out {
        o.check()?;
    }
    let bars = progress::Bars::new(show_progress && !args.quiet);
    // Most errors name the file already; "opening X: X: …" says it twice.
    let ropts = args.registry.options()?;
    let image = crate::transport::open(&r, platform.as_ref(), &ropts, &bars).map_err(|e| {
        if e.to_string().contains(&r.path.display().to_string()) {
            anyhow::Error::new(e)
        } else {
            anyhow::Error::new(e).context(format!("opening {r}"))
        }
    })?;
    bars.clear();
    if let Some(o) = out {
        check_replaces(o, &image.reference, image.transport, image.name.as_deref())?;
    }
    if !image.other_platforms.is_empty() && !args.quiet {
        // Picked silently, a report on one platform reads as the whole image's.
        eprintln!(
            "slim: note: {r} is an index of several platforms; reading {} (this machine's), not {} \
             (choose with --platform; analyze, sbom, licenses and audit take --all-platforms)",
            image.platform(),
            image.other_platforms.join(", ")
        );
    }
    Ok(image)
}

/// Refuses an output that is the image being read (unless forced).
pub(crate) fn check_replaces(
    o: &crate::transport::Output,
    reference: &crate::image::ImageRef,
    transport: crate::image::Transport,
    name: Option<&str>,
) -> anyhow::Result<()> {
    if o.replaces_source(reference, transport, name) && !o.force {
        anyhow::bail!(
            "{}: is the image being read; writing there would replace the input \
             (choose another path or tag, or --force)",
            o.location()
        );
    }
    Ok(())
}

/// What was written, for people: `oci-archive out.tar (manifest …, image id …)`,
/// `docker://host/repo:tag (manifest …; 2 blobs uploaded, 1 already there)`.
pub(crate) fn written(
    out: Option<&crate::transport::Output>,
    w: &crate::transport::Written,
) -> String {
    let place = match out.and_then(|o| o.remote()) {
        Some(r) => r.to_string(),
        None => format!("{} {}", w.transport.name(), w.path.display()),
    };
    let others = match w.other_tags.len() {
        0 => String::new(),
        _ => format!("; its other tags kept: {}", w.other_tags.join(", ")),
    };
    format!(
        "{place} ({}{}{others})",
        w.digests(),
        pushed(w.pushed.as_ref())
    )
}

/// `; 2 blobs uploaded, 0 mounted, 1 already there` for a push, else nothing.
pub(crate) fn pushed(p: Option<&crate::registry::Pushed>) -> String {
    match p {
        Some(p) => format!(
            "; {} blobs uploaded, {} mounted, {} already there",
            p.uploaded, p.mounted, p.reused
        ),
        None => String::new(),
    }
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub(crate) enum Codec {
    Gzip,
    Zstd,
    None,
}

impl From<Codec> for Compression {
    fn from(c: Codec) -> Compression {
        match c {
            Codec::Gzip => Compression::Gzip,
            Codec::Zstd => Compression::Zstd,
            Codec::None => Compression::None,
        }
    }
}

/// zstd layers are recent in the OCI spec: say so where they are chosen.
pub(crate) fn warn_zstd() {
    eprintln!(
        "slim: note: zstd layers need a recent runtime and tools (containerd >= 1.5, podman >= 3, \
         skopeo >= 1.4; umoci 0.4.7 and Docker < 23 cannot read them); use gzip for older ones"
    );
}

/// Names each package database that is there but was not (fully) read.
pub(crate) fn warn_unread_databases(catalog: &crate::catalog::Catalog) {
    for d in &catalog.diagnostics {
        eprintln!("slim: warning: {d}");
    }
}

pub(crate) use crate::progress::human_bytes;

/// `SOURCE_DATE_EPOCH`, when set to a number (reproducible-builds.org spec).
pub(crate) fn source_date_epoch() -> anyhow::Result<Option<u64>> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) if !v.is_empty() => Ok(Some(v.trim().parse().map_err(|_| {
            anyhow::anyhow!("SOURCE_DATE_EPOCH='{v}' is not a number of seconds")
        })?)),
        _ => Ok(None),
    }
}

/// Says which format a bare `-o` path chose (`*.tar` an oci-archive, else an
/// OCI layout directory) when its name suggests another (`out.tar.gz`,
/// `x.docker.tar`).
pub(crate) fn note_bare_destination(arg: &str, out: &crate::transport::Output) {
    use crate::image::Transport;
    let bare = crate::image::ImageRef::parse(arg).is_ok_and(|r| r.transport.is_none())
        && !arg.starts_with("docker://");
    // `out.tar.gz`, `app.tgz`, `x.docker.tar`: names that suggest another
    // format than the one chosen (plain names are said by the "Written" line).
    let file = out
        .path
        .file_name()
        .map(|f| f.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let surprising = file.contains("docker")
        || file.contains(".tar.")
        || [".gz", ".tgz", ".zst", ".xz", ".bz2", ".zip"]
            .iter()
            .any(|e| file.ends_with(e));
    if !bare || !surprising {
        return;
    }
    let name = out.path.display();
    let how = match out.transport {
        Transport::OciArchive => format!(
            "slim: note: {name}: a bare path ending in .tar is written as an oci-archive \
             (docker-archive:{name} writes what `docker load` reads)"
        ),
        _ => format!(
            "slim: note: {name}: a bare path not ending in .tar is written as an OCI layout \
             directory (oci-archive:{name} or docker-archive:{name} writes a tar)"
        ),
    };
    eprintln!("{how}");
}

/// A docker-archive written without a name gets the source's (`docker load`
/// would give an untagged image otherwise), or a note saying how to name it.
pub(crate) fn name_docker_archive(out: &mut crate::transport::Output, image: &crate::image::Image) {
    if out.transport != crate::image::Transport::DockerArchive || out.tag.is_some() {
        return;
    }
    match crate::rewrite::base_name(image) {
        Some(name) => {
            eprintln!(
                "slim: note: the docker-archive is named {name}, as the source is \
                 (docker-archive:{}:REPO:TAG names it otherwise)",
                out.path.display()
            );
            out.tag = Some(name);
        }
        None => eprintln!(
            "slim: note: the source has no name, so `docker load` gives an untagged image; \
             name it with docker-archive:{}:REPO:TAG",
            out.path.display()
        ),
    }
}
