//! Writing images: a reproducible layer tar from a [`Tree`], and the OCI
//! layout, oci-archive and docker-archive (legacy `docker save`) formats.
//!
//! Everything is written under a temporary name beside the destination and
//! renamed at the end: a failure leaves nothing behind.

use super::digest::HashingWriter;
use super::{Compression, Digest, Layers, RefError, Transport};
use crate::fs::{DataRef, Kind, Tree};
use crate::progress::Reporter;
use crate::reference::Remote;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use crate::media::{
    OCI_CONFIG as MEDIA_CONFIG, OCI_INDEX as MEDIA_INDEX, OCI_MANIFEST as MEDIA_MANIFEST,
};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io { path: String, source: io::Error },
    #[error("{0}")]
    Dest(String),
    #[error("reading /{path} from layer {layer}: {source}")]
    Source {
        path: String,
        layer: usize,
        source: io::Error,
    },
}

fn io_err(path: &Path) -> impl Fn(io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Where and how to write an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub transport: Transport,
    pub path: PathBuf,
    pub tag: Option<String>,
    /// Replace what is there even when it is not an image, or is the input
    /// (`--force`). A directory is still never deleted: the layout is written into it.
    pub force: bool,
    /// For `docker://`: the registry client to push with (the command line
    /// sets `crate::registry::Pusher`), and a repository of the same registry
    /// to mount blobs from (the image read) instead of uploading them.
    pub registry: Option<Registry>,
    pub mount_from: Option<crate::reference::Remote>,
}

/// A blob to push: its digest, size and where its bytes are.
pub struct PushBlob<'a> {
    pub digest: Digest,
    pub size: u64,
    pub data: PushData<'a>,
}

pub enum PushData<'a> {
    /// A file (a layer), streamed.
    File(&'a Path),
    /// Bytes in memory (a config).
    Bytes(&'a [u8]),
}

/// What a push did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Pushed {
    pub manifest_digest: Digest,
    /// Blobs sent, mounted from another repository, and already there.
    pub uploaded: usize,
    pub mounted: usize,
    pub reused: usize,
}

/// A manifest or index to push by digest before the tagged one: bytes and media type.
pub type Manifest<'a> = (&'a [u8], &'a str);

/// What writing needs of a registry (`crate::registry` provides it).
pub trait Pusher: Send + Sync {
    /// The registry answers and the credentials allow pushing to `dest`:
    /// checked before any work.
    fn check(&self, dest: &Remote) -> Result<(), String>;
    /// Uploads each blob the registry lacks (mounted from `mount_from`, a
    /// repository of the same registry, when it has it), then `below` by
    /// digest, then `top` under `dest`'s tag. Nothing is tagged unless every
    /// blob is there.
    fn push(
        &self,
        dest: &Remote,
        blobs: &[PushBlob],
        below: &[Manifest],
        top: Manifest,
        mount_from: Option<&Remote>,
        reporter: &dyn crate::progress::Reporter,
    ) -> Result<Pushed, String>;
}

/// The [`Pusher`] of a `docker://` output.
#[derive(Clone)]
pub struct Registry(pub std::sync::Arc<dyn Pusher>);

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Registry")
    }
}

impl PartialEq for Registry {
    fn eq(&self, other: &Registry) -> bool {
        std::sync::Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for Registry {}

impl Output {
    /// `oci:DIR[:TAG]`, `oci-archive:PATH[:TAG]`, `docker-archive:PATH[:REF]`,
    /// or a bare path: `*.tar` is an oci-archive, anything else an OCI layout dir.
    pub fn parse(s: &str) -> Result<Output, RefError> {
        if let Some(rest) = s.strip_prefix("docker://") {
            let r = crate::reference::Remote::parse(rest).map_err(RefError)?;
            if r.digest.is_some() {
                return Err(RefError(format!(
                    "'{s}': an image is pushed under a tag (docker://HOST/REPO:TAG), not a digest"
                )));
            }
            return Ok(Output {
                transport: Transport::Docker,
                path: PathBuf::from(r.repo()),
                tag: r.tag,
                force: false,
                registry: None,
                mount_from: None,
            });
        }
        for remote in ["containers-storage:", "docker-daemon:", "dir:"] {
            if s.starts_with(remote) {
                return Err(RefError(format!(
                    "'{s}': slim does not write to the {} transport; write a file, then copy it \
                     there: `-o oci-archive:image.tar`, then `skopeo copy oci-archive:image.tar {s}`",
                    remote.trim_end_matches(['/', ':'])
                )));
            }
        }
        let r = super::ImageRef::parse(s)?;
        let transport = r.transport.unwrap_or_else(|| {
            if r.path.extension().is_some_and(|e| e == "tar") {
                Transport::OciArchive
            } else {
                Transport::Oci
            }
        });
        Ok(Output {
            transport,
            path: r.path,
            tag: r.tag,
            force: false,
            registry: None,
            mount_from: None,
        })
    }

    /// Checks, before any work, that the image can be written here: the
    /// directory exists, and what is at the path may be replaced. An archive
    /// may replace an image archive; an OCI layout is written into an OCI
    /// layout (adding or replacing one tag) or an empty directory. Anything
    /// else — a file or directory that is not an image — is refused unless
    /// `force`. Leftovers of an earlier slim that was killed are swept.
    pub fn check(&self) -> Result<(), Error> {
        if let Some(r) = self.remote() {
            // The registry answers and lets us push, before any work.
            return self.pusher()?.check(&r).map_err(Error::Dest);
        }
        let parent = parent_dir(&self.path);
        if !parent.is_dir() {
            return Err(Error::Dest(format!(
                "{}: the directory to write into does not exist (create it first)",
                parent.display()
            )));
        }
        crate::tmp::sweep(&parent);
        let p = &self.path;
        let Ok(meta) = std::fs::metadata(p) else {
            return Ok(());
        };
        let what = match (self.transport, meta.is_dir()) {
            (Transport::Oci, true) => {
                if p.join("oci-layout").is_file() || dir_is_empty(p) {
                    return Ok(());
                }
                "a directory that is not an OCI layout"
            }
            (Transport::Oci, false) => {
                "a file, not an OCI layout directory (oci-archive: writes a tar)"
            }
            (_, true) => {
                // Never delete a directory to put a file there, even with --force.
                return Err(Error::Dest(format!(
                    "{}: is a directory; an {} is a file (use oci:{} to write an OCI layout directory)",
                    p.display(),
                    self.transport.name(),
                    p.display()
                )));
            }
            (_, false) => {
                if is_image_archive(p) {
                    return Ok(());
                }
                "a file that is not an image archive"
            }
        };
        if self.force {
            return Ok(());
        }
        Err(Error::Dest(format!(
            "{}: exists and is {what}; refusing to replace it (choose another path, or --force)",
            p.display()
        )))
    }

    /// Whether writing here would replace the image `input` was read from: the
    /// same archive, or the same tag of the same OCI layout.
    pub fn replaces(&self, input: &super::Image) -> bool {
        if let Some(r) = self.remote() {
            return input
                .reference
                .as_remote()
                .is_some_and(|i| i.repo() == r.repo() && i.tag == r.tag);
        }
        let (Some(a), Some(b)) = (canonical(&self.path), canonical(&input.reference.path)) else {
            return false;
        };
        if a != b {
            return false;
        }
        match (self.transport, input.transport) {
            // Both keep their other tags: only the same tag is the input.
            (Transport::Oci, Transport::Oci) | (Transport::OciArchive, Transport::OciArchive) => {
                let selected = input.reference.tag.as_ref().or(input.name.as_ref());
                self.tag.as_ref() == selected
            }
            _ => true,
        }
    }
}

impl Output {
    /// The registry image this writes, for `docker://`.
    /// The registry client of a `docker://` output.
    fn pusher(&self) -> Result<&dyn Pusher, Error> {
        match &self.registry {
            Some(r) => Ok(r.0.as_ref()),
            None => Err(Error::Dest(format!(
                "{}: no registry client was given for this docker:// output",
                self.location()
            ))),
        }
    }

    pub fn remote(&self) -> Option<crate::reference::Remote> {
        if self.transport != Transport::Docker {
            return None;
        }
        let r = super::ImageRef {
            transport: Some(Transport::Docker),
            path: self.path.clone(),
            tag: self.tag.clone(),
        };
        r.as_remote()
    }

    /// Where it was written, as the user names it: `docker://HOST/REPO:TAG`, a path.
    pub fn location(&self) -> String {
        match (self.remote(), &self.tag) {
            (Some(r), _) => r.to_string(),
            (None, Some(t)) => format!("{}:{}:{t}", self.transport.name(), self.path.display()),
            (None, None) => format!("{}:{}", self.transport.name(), self.path.display()),
        }
    }
}

/// A path made absolute with symlinks resolved; for a path that does not
/// exist yet, its parent's canonical form joined with its name.
pub(crate) fn canonical(p: &Path) -> Option<PathBuf> {
    if let Ok(c) = p.canonicalize() {
        return Some(c);
    }
    let name = p.file_name()?;
    Some(parent_dir(p).canonicalize().ok()?.join(name))
}

fn dir_is_empty(p: &Path) -> bool {
    std::fs::read_dir(p)
        .map(|mut d| d.next().is_none())
        .unwrap_or(false)
}

/// Whether `p` is a tar (plain, gzip or zstd) holding an image: `manifest.json`
/// (docker save) or `oci-layout` and `index.json` (oci-archive).
pub(crate) fn is_image_archive(p: &Path) -> bool {
    fn scan<R: Read>(entries: io::Result<tar::Entries<'_, R>>) -> bool {
        let Ok(entries) = entries else { return false };
        let (mut docker, mut layout, mut index) = (false, false, false);
        for e in entries {
            let Ok(e) = e else { return false };
            match String::from_utf8_lossy(&e.path_bytes()).trim_start_matches("./") {
                "manifest.json" => docker = true,
                "oci-layout" => layout = true,
                "index.json" => index = true,
                _ => {}
            }
            if docker || (layout && index) {
                return true;
            }
        }
        false
    }
    let Ok(mut f) = File::open(p) else {
        return false;
    };
    let mut magic = [0u8; 4];
    let n = f.read(&mut magic).unwrap_or(0);
    let Ok(f) = File::open(p) else { return false };
    match Compression::sniff(&magic[..n]) {
        Compression::None => scan(tar::Archive::new(f).entries_with_seek()),
        c => match c.decoder(io::BufReader::new(f)) {
            Ok(d) => scan(tar::Archive::new(d).entries()),
            Err(_) => false,
        },
    }
}

/// A layer blob written to a temporary file.
pub struct BuiltLayer {
    file: tempfile::NamedTempFile,
    pub digest: Digest,
    pub size: u64,
    pub diff_id: Digest,
    pub compression: Compression,
    pub uncompressed_size: u64,
}

impl BuiltLayer {
    pub fn media_type(&self) -> &'static str {
        match self.compression {
            Compression::None => crate::media::OCI_LAYER,
            Compression::Gzip => crate::media::OCI_LAYER_GZIP,
            Compression::Zstd => crate::media::OCI_LAYER_ZSTD,
        }
    }
}

/// Options of a layer tar.
#[derive(Debug, Clone, Copy)]
pub struct LayerOptions {
    pub compression: Compression,
    /// mtimes later than this are set to it (`SOURCE_DATE_EPOCH`), like `tar --clamp-mtime`.
    pub clamp_mtime: Option<u64>,
}

enum Encoder<W: Write> {
    None(W),
    Gzip(flate2::write::GzEncoder<W>),
    Zstd(zstd::stream::write::Encoder<'static, W>),
}

impl<W: Write> Write for Encoder<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Encoder::None(w) => w.write(buf),
            Encoder::Gzip(w) => w.write(buf),
            Encoder::Zstd(w) => w.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Encoder::None(w) => w.flush(),
            Encoder::Gzip(w) => w.flush(),
            Encoder::Zstd(w) => w.flush(),
        }
    }
}

impl<W: Write> Encoder<W> {
    fn new(c: Compression, w: W) -> io::Result<Self> {
        Ok(match c {
            Compression::None => Encoder::None(w),
            // GzEncoder writes mtime 0 and no file name: the output is reproducible.
            Compression::Gzip => Encoder::Gzip(flate2::write::GzEncoder::new(
                w,
                flate2::Compression::default(),
            )),
            Compression::Zstd => Encoder::Zstd(zstd::stream::write::Encoder::new(w, 3)?),
        })
    }
    fn finish(self) -> io::Result<W> {
        match self {
            Encoder::None(w) => Ok(w),
            Encoder::Gzip(w) => w.finish(),
            Encoder::Zstd(w) => w.finish(),
        }
    }
}

/// Streams a blob through an encoder into a temporary file in `dir`,
/// hashing both sides.
struct BlobWriter {
    inner: HashingWriter<Encoder<HashingWriter<BufWriter<File>>>>,
    file: tempfile::NamedTempFile,
    compression: Compression,
}

impl BlobWriter {
    fn new(dir: &Path, compression: Compression) -> Result<BlobWriter, Error> {
        let file = crate::tmp::file_in(dir).map_err(io_err(dir))?;
        let f = file.reopen().map_err(io_err(file.path()))?;
        let enc = Encoder::new(
            compression,
            HashingWriter::new(BufWriter::with_capacity(256 << 10, f)),
        )
        .map_err(io_err(dir))?;
        Ok(BlobWriter {
            inner: HashingWriter::new(enc),
            file,
            compression,
        })
    }

    fn finish(self) -> Result<BuiltLayer, Error> {
        let path = self.file.path().to_path_buf();
        let (enc, diff_id, uncompressed_size) = self.inner.finish();
        let hw = enc.finish().map_err(io_err(&path))?;
        let (mut bw, digest, size) = hw.finish();
        bw.flush().map_err(io_err(&path))?;
        Ok(BuiltLayer {
            file: self.file,
            digest,
            size,
            diff_id,
            compression: self.compression,
            uncompressed_size,
        })
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Where the bytes of a tree's regular files come from.
pub trait Content {
    /// The contents of a regular file node.
    fn open_node(&self, node: &crate::fs::Node) -> Option<Box<dyn Read + '_>>;
}

impl Content for Layers {
    fn open_node(&self, node: &crate::fs::Node) -> Option<Box<dyn Read + '_>> {
        self.open(node).map(|s| Box::new(s) as Box<dyn Read>)
    }
}

/// Writes `tree` as one layer tar: entries sorted by path, parents first,
/// numeric owners only, mtimes clamped, hardlinked files stored once and
/// linked after. File contents are streamed from `layers`.
pub fn build_layer(
    tree: &Tree,
    layers: &dyn Content,
    opts: LayerOptions,
    dir: &Path,
    reporter: &dyn Reporter,
    task: usize,
) -> Result<BuiltLayer, Error> {
    let total: u64 = tree.iter().map(|(_, n)| n.meta.size).sum();
    reporter.begin(task, "writing layer", total);
    let mut builder = tar::Builder::new(BlobWriter::new(dir, opts.compression)?);
    let out = dir.to_path_buf();
    let werr = |e: io::Error| Error::Io {
        path: out.display().to_string(),
        source: e,
    };
    // The first path written for each file's data; later ones become hardlinks to it.
    let mut written: HashMap<DataRef, String> = HashMap::new();
    for (path, node) in tree.iter() {
        let meta = &node.meta;
        if !meta.xattrs.is_empty() {
            let pax: Vec<(String, &[u8])> = meta
                .xattrs
                .iter()
                .map(|(k, v)| (format!("SCHILY.xattr.{k}"), v.as_slice()))
                .collect();
            builder
                .append_pax_extensions(pax.iter().map(|(k, v)| (k.as_str(), *v)))
                .map_err(werr)?;
        }
        let mut h = tar::Header::new_gnu();
        h.set_mode(meta.mode);
        h.set_uid(u64::from(meta.uid));
        h.set_gid(u64::from(meta.gid));
        h.set_mtime(opts.clamp_mtime.map_or(meta.mtime, |c| meta.mtime.min(c)));
        h.set_size(0);
        match &node.kind {
            Kind::Dir => {
                h.set_entry_type(tar::EntryType::Directory);
                builder
                    .append_data(&mut h, format!("{path}/"), io::empty())
                    .map_err(werr)?;
            }
            Kind::File { data, .. } => {
                if let Some(first) = written.get(data) {
                    h.set_entry_type(tar::EntryType::Link);
                    builder.append_link(&mut h, path, first).map_err(werr)?;
                    continue;
                }
                written.insert(*data, path.to_string());
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(meta.size);
                let src = layers.open_node(node).expect("a file node has data");
                let mut counted = SourceReader {
                    inner: src,
                    path,
                    layer: node.layer,
                    err: None,
                };
                let r = builder.append_data(&mut h, path, &mut counted);
                if let Some(e) = counted.err.take() {
                    return Err(e);
                }
                r.map_err(werr)?;
                reporter.advance(task, meta.size);
            }
            Kind::Symlink(target) => {
                h.set_entry_type(tar::EntryType::Symlink);
                builder.append_link(&mut h, path, target).map_err(werr)?;
            }
            Kind::CharDevice(a, b) | Kind::BlockDevice(a, b) => {
                let t = if matches!(node.kind, Kind::CharDevice(..)) {
                    tar::EntryType::Char
                } else {
                    tar::EntryType::Block
                };
                h.set_entry_type(t);
                h.set_device_major(*a).map_err(werr)?;
                h.set_device_minor(*b).map_err(werr)?;
                builder
                    .append_data(&mut h, path, io::empty())
                    .map_err(werr)?;
            }
            Kind::Fifo => {
                h.set_entry_type(tar::EntryType::Fifo);
                builder
                    .append_data(&mut h, path, io::empty())
                    .map_err(werr)?;
            }
        }
    }
    let w = builder.into_inner().map_err(werr)?;
    reporter.end(task);
    w.finish()
}

/// Reads a source file, remembering a read error so it is reported as a
/// source problem, not as a write failure.
struct SourceReader<'a, R> {
    inner: R,
    path: &'a str,
    layer: usize,
    err: Option<Error>,
}

impl<R: Read> Read for SourceReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).inspect_err(|e| {
            self.err = Some(Error::Source {
                path: self.path.to_string(),
                layer: self.layer,
                source: io::Error::new(e.kind(), e.to_string()),
            });
        })
    }
}

/// Copies a layer's existing bytes into a blob: as stored (`keep`), or
/// re-encoded from its uncompressed tar.
pub fn copy_layer(
    src: impl Read,
    compression: Compression,
    dir: &Path,
) -> Result<BuiltLayer, Error> {
    let mut w = BlobWriter::new(dir, compression)?;
    let mut src = src;
    io::copy(&mut src, &mut w).map_err(io_err(dir))?;
    w.finish()
}

/// Copies a blob as it is (already verified), keeping its known digests.
pub fn copy_verbatim(
    src: impl Read,
    stats: &super::LayerStats,
    dir: &Path,
) -> Result<BuiltLayer, Error> {
    let mut w = BlobWriter::new(dir, Compression::None)?;
    let mut src = src;
    io::copy(&mut src, &mut w).map_err(io_err(dir))?;
    let mut b = w.finish()?;
    if b.digest != stats.digest {
        return Err(Error::Dest(format!(
            "layer {} changed while it was copied",
            stats.digest
        )));
    }
    b.diff_id = stats.diff_id.clone();
    b.compression = stats.compression;
    b.uncompressed_size = stats.uncompressed_size;
    Ok(b)
}

/// A config for new layers: `rootfs.diff_ids` replaced, a history entry
/// added (earlier entries kept, marked as making no layer), `created` set
/// when given. Unknown fields are kept; keys come out sorted.
pub fn derive_config(
    raw: &[u8],
    diff_ids: &[Digest],
    created_by: &str,
    created: Option<&str>,
) -> Result<Vec<u8>, Error> {
    let mut v: Value = serde_json::from_slice(raw)
        .map_err(|e| Error::Dest(format!("the source config is not JSON: {e}")))?;
    let Some(obj) = v.as_object_mut() else {
        return Err(Error::Dest("the source config is not a JSON object".into()));
    };
    obj.insert(
        "rootfs".into(),
        json!({"type": "layers", "diff_ids": diff_ids}),
    );
    let mut history: Vec<Value> = obj
        .get("history")
        .and_then(|h| h.as_array())
        .cloned()
        .unwrap_or_default();
    for h in &mut history {
        if let Some(o) = h.as_object_mut() {
            o.insert("empty_layer".into(), Value::Bool(true));
        }
    }
    if let Some(c) = created {
        obj.insert("created".into(), json!(c));
    }
    // Every history entry has a time (umoci 0.4.7's `stat` dereferences it):
    // SOURCE_DATE_EPOCH, else the source's last history time (reproducible),
    // else its creation time, else now.
    let when = created
        .map(String::from)
        .or_else(|| {
            history
                .iter()
                .rev()
                .find_map(|h| h["created"].as_str().map(String::from))
        })
        .or_else(|| obj.get("created").and_then(Value::as_str).map(String::from))
        .unwrap_or_else(|| {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            rfc3339(now)
        });
    let entry = json!({"created": when, "created_by": created_by, "comment": "slim"});
    // One history entry per layer made: all but the last layer are marked below.
    for i in 0..diff_ids.len() {
        let mut e = entry.clone();
        if diff_ids.len() > 1 {
            e["created_by"] = json!(format!("{created_by} (layer {}/{})", i + 1, diff_ids.len()));
        }
        history.push(e);
    }
    obj.insert("history".into(), Value::Array(history));
    Ok(serde_json::to_vec(&v).expect("JSON values serialise"))
}

/// What was written.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Written {
    pub path: PathBuf,
    pub transport: Transport,
    /// Digest of the manifest (OCI outputs) — what a registry and `skopeo
    /// inspect` call the image. A docker-archive stores no manifest: None.
    pub manifest_digest: Option<Digest>,
    /// Digest of the config: Docker's image id (`docker images --no-trunc`).
    pub config_digest: Digest,
    pub layers: Vec<Digest>,
    /// For a registry: what was uploaded, mounted, and already there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pushed: Option<Pushed>,
    /// The other tags of the OCI layout or oci-archive written into, kept.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub other_tags: Vec<String>,
}

impl Written {
    /// The digests, labelled: `manifest sha256:…, image id sha256:…` (the
    /// image id alone for a docker-archive, which stores no manifest).
    pub fn digests(&self) -> String {
        match &self.manifest_digest {
            Some(m) => format!("manifest {m}, image id {}", self.config_digest),
            None => format!("image id {}", self.config_digest),
        }
    }
}

/// Writes an image made of `config` (bytes as they will be stored) and `layers`.
pub fn write_image(
    out: &Output,
    config: &[u8],
    layers: Vec<BuiltLayer>,
    annotations: &[(String, String)],
    mtime: u64,
    reporter: &dyn crate::progress::Reporter,
) -> Result<Written, Error> {
    let config_digest = Digest::of(config);
    let mut ann = serde_json::Map::new();
    for (k, v) in annotations {
        ann.insert(k.clone(), Value::String(v.clone()));
    }
    let mut manifest = json!({
        "schemaVersion": 2,
        "mediaType": MEDIA_MANIFEST,
        "config": {"mediaType": MEDIA_CONFIG, "digest": config_digest, "size": config.len()},
        "layers": layers.iter().map(|l| json!({
            "mediaType": l.media_type(), "digest": l.digest, "size": l.size,
        })).collect::<Vec<_>>(),
    });
    if !ann.is_empty() {
        manifest["annotations"] = Value::Object(ann);
    }
    let manifest = serde_json::to_vec(&manifest).expect("JSON values serialise");
    let manifest_digest = Digest::of(&manifest);
    let mut desc =
        json!({"mediaType": MEDIA_MANIFEST, "digest": manifest_digest, "size": manifest.len()});
    if let Some(t) = &out.tag {
        desc["annotations"] = json!({"org.opencontainers.image.ref.name": t});
    }
    let mut other_tags = Vec::new();
    let written = Written {
        path: out.path.clone(),
        transport: out.transport,
        manifest_digest: (out.transport != Transport::DockerArchive)
            .then(|| manifest_digest.clone()),
        config_digest: config_digest.clone(),
        layers: layers.iter().map(|l| l.digest.clone()).collect(),
        pushed: None,
        other_tags: Vec::new(),
    };
    let layout = || -> Vec<(String, Blob)> {
        let mut blobs = vec![
            (
                format!("blobs/sha256/{}", config_digest.hex()),
                Blob::Bytes(config.to_vec()),
            ),
            (
                format!("blobs/sha256/{}", manifest_digest.hex()),
                Blob::Bytes(manifest.clone()),
            ),
        ];
        blobs.sort_by(|a, b| a.0.cmp(&b.0));
        blobs
    };
    match out.transport {
        Transport::Docker => {
            let remote = out.remote().ok_or_else(|| {
                Error::Dest(format!("{}: not a registry image", out.path.display()))
            })?;
            let mut blobs = vec![PushBlob {
                digest: config_digest.clone(),
                size: config.len() as u64,
                data: PushData::Bytes(config),
            }];
            for l in &layers {
                blobs.push(PushBlob {
                    digest: l.digest.clone(),
                    size: l.size,
                    data: PushData::File(l.file.path()),
                });
            }
            let pushed = out
                .pusher()?
                .push(
                    &remote,
                    &blobs,
                    &[],
                    (&manifest, MEDIA_MANIFEST),
                    out.mount_from.as_ref(),
                    reporter,
                )
                .map_err(Error::Dest)?;
            return Ok(Written {
                pushed: Some(pushed),
                ..written
            });
        }
        Transport::Oci => {
            let mut blobs = layout();
            for l in layers {
                blobs.push((
                    format!("blobs/sha256/{}", l.digest.hex()),
                    Blob::File(l.file),
                ));
            }
            other_tags = write_layout(&out.path, blobs, desc)?;
        }
        Transport::OciArchive => {
            let mut entries: Vec<(String, Blob)> = layout();
            for l in layers {
                entries.push((
                    format!("blobs/sha256/{}", l.digest.hex()),
                    Blob::File(l.file),
                ));
            }
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            let (manifests, others) = merge_archive(&out.path, desc, &mut entries)?;
            other_tags = others;
            let index = serde_json::to_vec(
                &json!({"schemaVersion": 2, "mediaType": MEDIA_INDEX, "manifests": manifests}),
            )
            .expect("JSON values serialise");
            let mut all = vec![
                ("blobs/".to_string(), Blob::Dir),
                ("blobs/sha256/".to_string(), Blob::Dir),
            ];
            all.extend(entries);
            all.push(("index.json".into(), Blob::Bytes(index)));
            all.push((
                "oci-layout".into(),
                Blob::Bytes(br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec()),
            ));
            write_tar(&out.path, all, mtime)?;
        }
        Transport::DockerArchive => {
            let mut all = vec![(
                format!("{}.json", config_digest.hex()),
                Blob::Bytes(config.to_vec()),
            )];
            let mut paths = Vec::new();
            let mut parent_id: Option<String> = None;
            for l in layers {
                if l.compression != Compression::None {
                    return Err(Error::Dest(
                        "docker-archive layers must be uncompressed".into(),
                    ));
                }
                // Legacy v1 layer ids: the chain of diff_ids, as `docker save` before 25 did.
                let id = match &parent_id {
                    None => l.diff_id.hex().to_string(),
                    Some(p) => Digest::of(format!("sha256:{p} {}", l.diff_id).as_bytes())
                        .hex()
                        .to_string(),
                };
                let mut v1 =
                    json!({"id": id, "created": "1970-01-01T00:00:00Z", "container_config": {}});
                if let Some(p) = &parent_id {
                    v1["parent"] = json!(p);
                }
                all.push((format!("{id}/"), Blob::Dir));
                all.push((format!("{id}/VERSION"), Blob::Bytes(b"1.0".to_vec())));
                all.push((
                    format!("{id}/json"),
                    Blob::Bytes(serde_json::to_vec(&v1).expect("JSON")),
                ));
                all.push((format!("{id}/layer.tar"), Blob::File(l.file)));
                paths.push(format!("{id}/layer.tar"));
                parent_id = Some(id);
            }
            let tags: Vec<String> = out.tag.iter().map(|t| docker_ref(t)).collect();
            let manifest = json!([{"Config": format!("{}.json", config_digest.hex()), "RepoTags": tags, "Layers": paths}]);
            all.push((
                "manifest.json".into(),
                Blob::Bytes(serde_json::to_vec(&manifest).expect("JSON")),
            ));
            if let (Some(t), Some(top)) = (tags.first(), &parent_id) {
                let (repo, tag) = t.rsplit_once(':').expect("docker_ref adds a tag");
                let repos = json!({ repo: { tag: top } });
                all.push((
                    "repositories".into(),
                    Blob::Bytes(serde_json::to_vec(&repos).expect("JSON")),
                ));
            }
            write_tar(&out.path, all, mtime)?;
        }
    }
    Ok(Written {
        other_tags,
        ..written
    })
}

/// What `copy --all` wrote: an index (or manifest) and all it reaches.
#[derive(Debug, Clone, serde::Serialize)]
pub struct WrittenWhole {
    pub location: String,
    pub transport: Transport,
    /// The digest of the top index (or manifest), unchanged from the source.
    pub digest: Digest,
    pub manifests: usize,
    pub blobs: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pushed: Option<Pushed>,
    /// The other tags of the OCI layout written into, kept.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub other_tags: Vec<String>,
}

/// Writes an index and everything it reaches as they are (digests unchanged),
/// each config and layer copied through `work` and checked against its digest.
pub fn write_whole(
    out: &Output,
    w: &super::Whole,
    work: &Path,
    mtime: u64,
    reporter: &dyn crate::progress::Reporter,
) -> Result<WrittenWhole, Error> {
    if out.transport == Transport::DockerArchive {
        return Err(Error::Dest(
            "a docker-archive holds one image per tag, not an index: write --all to oci:, \
             oci-archive: or docker://"
                .into(),
        ));
    }
    let mut files = Vec::new();
    for (i, (d, size)) in w.blobs.iter().enumerate() {
        let name = format!("blobs/sha256/{}", d.hex());
        if let Some(b) = linked(w, &name, d, *size, work) {
            files.push(b);
            continue;
        }
        let (src, _) = w
            .container
            .open(&name)
            .map_err(|e| Error::Dest(e.to_string()))?;
        reporter.begin(i, &format!("copy {}", d.short()), *size);
        let mut bw = BlobWriter::new(work, Compression::None)?;
        let mut src = crate::progress::ProgressReader::new(src, reporter, i);
        io::copy(&mut src, &mut bw).map_err(|e| Error::Source {
            path: name.clone(),
            layer: i,
            source: e,
        })?;
        reporter.end(i);
        let b = bw.finish()?;
        if b.digest != *d {
            return Err(Error::Dest(format!(
                "{}: blob {d} holds other bytes (digest {}): refusing to copy it",
                w.container.describe(&name),
                b.digest
            )));
        }
        files.push(b);
    }
    let (top_digest, top_bytes, top_type) = w
        .manifests
        .last()
        .cloned()
        .ok_or_else(|| Error::Dest("nothing to copy".into()))?;
    let mut desc = w.top.clone();
    if let Some(obj) = desc.as_object_mut() {
        obj.remove("annotations");
    }
    if let Some(t) = &out.tag {
        desc["annotations"] = json!({"org.opencontainers.image.ref.name": t});
    }
    let mut written = WrittenWhole {
        location: out.location(),
        transport: out.transport,
        digest: top_digest,
        manifests: w.manifests.len(),
        blobs: w.blobs.len(),
        pushed: None,
        other_tags: Vec::new(),
    };
    let blob_entries = |files: Vec<BuiltLayer>| -> Vec<(String, Blob)> {
        let mut v: Vec<(String, Blob)> = w
            .manifests
            .iter()
            .map(|(d, b, _)| (format!("blobs/sha256/{}", d.hex()), Blob::Bytes(b.clone())))
            .collect();
        v.extend(files.into_iter().map(|f| {
            (
                format!("blobs/sha256/{}", f.digest.hex()),
                Blob::File(f.file),
            )
        }));
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v.dedup_by(|a, b| a.0 == b.0);
        v
    };
    match out.transport {
        Transport::Docker => {
            let remote = out.remote().ok_or_else(|| {
                Error::Dest(format!("{}: not a registry image", out.path.display()))
            })?;
            let blobs: Vec<PushBlob> = files
                .iter()
                .map(|f| PushBlob {
                    digest: f.digest.clone(),
                    size: f.size,
                    data: PushData::File(f.file.path()),
                })
                .collect();
            let n = w.manifests.len();
            let below: Vec<Manifest> = w.manifests[..n - 1]
                .iter()
                .map(|(_, b, mt)| (b.as_slice(), mt.as_str()))
                .collect();
            let pushed = out
                .pusher()?
                .push(
                    &remote,
                    &blobs,
                    &below,
                    (&top_bytes, &top_type),
                    out.mount_from.as_ref(),
                    reporter,
                )
                .map_err(Error::Dest)?;
            written.pushed = Some(pushed);
        }
        Transport::Oci => {
            written.other_tags = write_layout(&out.path, blob_entries(files), desc)?;
        }
        _ => {
            let mut entries = blob_entries(files);
            let (manifests, others) = merge_archive(&out.path, desc, &mut entries)?;
            written.other_tags = others;
            let index = serde_json::to_vec(
                &json!({"schemaVersion": 2, "mediaType": MEDIA_INDEX, "manifests": manifests}),
            )
            .expect("JSON values serialise");
            let mut all = vec![
                ("blobs/".to_string(), Blob::Dir),
                ("blobs/sha256/".to_string(), Blob::Dir),
            ];
            all.extend(entries);
            all.push(("index.json".into(), Blob::Bytes(index)));
            all.push((
                "oci-layout".into(),
                Blob::Bytes(br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec()),
            ));
            write_tar(&out.path, all, mtime)?;
        }
    }
    Ok(written)
}

/// A verified blob of a directory container hard-linked into `work`
/// (the same file system), instead of copied: None when it cannot be.
fn linked(w: &super::Whole, name: &str, d: &Digest, size: u64, work: &Path) -> Option<BuiltLayer> {
    let super::container::Container::Dir(root) = &w.container else {
        return None;
    };
    if !w.verified {
        return None;
    }
    let dest = work.join(format!("link-{}", d.hex()));
    std::fs::hard_link(root.join(name), &dest).ok()?;
    let path = tempfile::TempPath::try_from_path(&dest).ok()?;
    let file = std::fs::File::open(&dest).ok()?;
    Some(BuiltLayer {
        file: tempfile::NamedTempFile::from_parts(file, path),
        digest: d.clone(),
        size,
        diff_id: d.clone(),
        compression: Compression::None,
        uncompressed_size: size,
    })
}

/// `name` → `name:latest`; `name:tag` unchanged.
fn docker_ref(r: &str) -> String {
    match r.rsplit_once(':') {
        Some((_, t)) if !t.contains('/') => r.to_string(),
        _ => format!("{r}:latest"),
    }
}

enum Blob {
    Dir,
    Bytes(Vec<u8>),
    File(tempfile::NamedTempFile),
    /// A member of the archive being replaced, copied as it is.
    Old(super::container::Section),
}

fn parent_dir(p: &Path) -> PathBuf {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// A temporary directory next to where the output goes, for layer blobs
/// (so they can be renamed into place, not copied). Checks the destination first.
pub fn work_dir(out: &Output) -> Result<tempfile::TempDir, Error> {
    // A registry was checked before the image was read, and the push
    // authenticates again: no third round trip here.
    let parent = match out.transport {
        Transport::Docker => std::env::temp_dir(),
        _ => {
            out.check()?;
            parent_dir(&out.path)
        }
    };
    crate::tmp::dir_in(&parent).map_err(|e| {
        Error::Dest(format!(
            "{}: cannot write into {}: {e}",
            out.path.display(),
            parent.display()
        ))
    })
}

fn write_tar(dest: &Path, entries: Vec<(String, Blob)>, mtime: u64) -> Result<(), Error> {
    let parent = parent_dir(dest);
    let tmp = crate::tmp::file_in(&parent).map_err(io_err(&parent))?;
    let mut b = tar::Builder::new(BufWriter::with_capacity(
        256 << 10,
        tmp.reopen().map_err(io_err(tmp.path()))?,
    ));
    let tmp_path = tmp.path().to_path_buf();
    let werr = io_err(&tmp_path);
    for (name, blob) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mtime(mtime);
        h.set_uid(0);
        h.set_gid(0);
        match blob {
            Blob::Dir => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                b.append_data(&mut h, &name, io::empty()).map_err(&werr)?;
            }
            Blob::Bytes(v) => {
                h.set_mode(0o644);
                h.set_size(v.len() as u64);
                b.append_data(&mut h, &name, v.as_slice()).map_err(&werr)?;
            }
            Blob::File(f) => {
                let file = f.reopen().map_err(io_err(f.path()))?;
                h.set_mode(0o644);
                h.set_size(file.metadata().map_err(io_err(f.path()))?.len());
                b.append_data(&mut h, &name, file).map_err(&werr)?;
            }
            Blob::Old(section) => {
                h.set_mode(0o644);
                h.set_size(section.len());
                b.append_data(&mut h, &name, section).map_err(&werr)?;
            }
        }
    }
    let mut w = b.into_inner().map_err(&werr)?;
    w.flush().map_err(&werr)?;
    tmp.as_file().sync_all().map_err(&werr)?;
    tmp.persist(dest).map_err(|e| Error::Io {
        path: dest.display().to_string(),
        source: e.error,
    })?;
    Ok(())
}

/// The `org.opencontainers.image.ref.name` of an index entry.
fn ref_name(desc: &Value) -> Option<&str> {
    desc["annotations"]["org.opencontainers.image.ref.name"].as_str()
}

/// Writes an image into the OCI layout at `dest` the way skopeo does: blobs
/// are added (content-addressed, so an existing one is already right), the
/// index entry with the same tag (or the untagged one, for an untagged
/// output) is replaced and every other entry kept, and `index.json` is swapped
/// in by one rename, so a reader sees the old index or the new one. Blobs only
/// the replaced entry used are then removed; a blob any entry of the new
/// index reaches is never touched. A new layout is made in a temporary
/// directory and renamed into place.
fn write_layout(
    dest: &Path,
    blobs: Vec<(String, Blob)>,
    desc: Value,
) -> Result<Vec<String>, Error> {
    if !dest.exists() {
        let parent = parent_dir(dest);
        let tmp = crate::tmp::dir_in(&parent).map_err(io_err(&parent))?;
        let root = tmp.path();
        std::fs::create_dir_all(root.join("blobs/sha256")).map_err(io_err(root))?;
        for (name, blob) in blobs {
            put_blob(root, &name, blob)?;
        }
        let index = json!({"schemaVersion": 2, "mediaType": MEDIA_INDEX, "manifests": [desc]});
        std::fs::write(root.join("oci-layout"), LAYOUT).map_err(io_err(root))?;
        std::fs::write(
            root.join("index.json"),
            serde_json::to_vec(&index).expect("JSON"),
        )
        .map_err(io_err(root))?;
        return match std::fs::rename(root, dest) {
            Ok(()) => {
                let _ = tmp.keep();
                Ok(Vec::new())
            }
            // Another writer made the layout first: add to it like any other.
            Err(_) if dest.join("oci-layout").is_file() => {
                let blobs = moved_blobs(root)?;
                add_to_layout(dest, blobs, desc)
            }
            Err(e) => Err(io_err(dest)(e)),
        };
    }
    if !dest.is_dir() {
        // Only with --force (Output::check refuses otherwise).
        std::fs::remove_file(dest).map_err(io_err(dest))?;
        return write_layout(dest, blobs, desc);
    }
    add_to_layout(dest, blobs, desc)
}

const LAYOUT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

/// The blobs of a layout this process built in `root` and could not rename
/// into place, as files to move into another layout.
fn moved_blobs(root: &Path) -> Result<Vec<(String, Blob)>, Error> {
    let dir = root.join("blobs/sha256");
    let mut out = Vec::new();
    for e in std::fs::read_dir(&dir).map_err(io_err(&dir))? {
        let path = e.map_err(io_err(&dir))?.path();
        let file = std::fs::File::open(&path).map_err(io_err(&path))?;
        let name = format!(
            "blobs/sha256/{}",
            path.file_name().unwrap_or_default().to_string_lossy()
        );
        let path = tempfile::TempPath::try_from_path(path).map_err(io_err(&dir))?;
        out.push((
            name,
            Blob::File(tempfile::NamedTempFile::from_parts(file, path)),
        ));
    }
    Ok(out)
}

/// The exclusive lock every writer of the layout `dir` holds while it adds
/// blobs, swaps `index.json` and removes garbage (containers/image's stores
/// take the same kind): two writers never lose each other's tags, and one
/// writer's garbage collection never removes a blob another is about to
/// name. Released when the file closes.
fn lock_layout(dir: &Path) -> Result<std::fs::File, Error> {
    let path = dir.join(LOCK_FILE);
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io_err(&path))?;
    if !crate::lock::try_exclusive(&f).map_err(io_err(&path))? {
        crate::progress::note(&format!(
            "slim: {}: another process is writing this layout; waiting for it",
            dir.display()
        ));
        crate::lock::exclusive(&f).map_err(io_err(&path))?;
    }
    Ok(f)
}

/// The lock file in an OCI layout (see [`lock_layout`]).
pub const LOCK_FILE: &str = "index.json.lock";

/// Adds an image to the existing layout `dest` under its lock.
fn add_to_layout(
    dest: &Path,
    blobs: Vec<(String, Blob)>,
    desc: Value,
) -> Result<Vec<String>, Error> {
    let _lock = lock_layout(dest)?;
    let index_path = dest.join("index.json");
    let mut index: Value = match std::fs::read(&index_path) {
        Ok(b) => serde_json::from_slice(&b).map_err(|e| {
            Error::Dest(format!(
                "{}: not valid JSON ({e}); refusing to add to this layout",
                index_path.display()
            ))
        })?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            json!({"schemaVersion": 2, "mediaType": MEDIA_INDEX, "manifests": []})
        }
        Err(e) => return Err(io_err(&index_path)(e)),
    };
    if !index["manifests"].is_array() {
        return Err(Error::Dest(format!(
            "{}: has no manifests list; refusing to add to this layout",
            index_path.display()
        )));
    }
    std::fs::create_dir_all(dest.join("blobs/sha256")).map_err(io_err(dest))?;
    for (name, blob) in blobs {
        put_blob(dest, &name, blob)?;
    }
    let tag = ref_name(&desc).map(String::from);
    let old: Vec<Value> = index["manifests"].as_array().cloned().unwrap_or_default();
    let (replaced, mut manifests): (Vec<Value>, Vec<Value>) =
        old.into_iter().partition(|d| ref_name(d) == tag.as_deref());
    let others = manifests
        .iter()
        .map(|d| ref_name(d).unwrap_or("(untagged)").to_string())
        .collect();
    manifests.push(desc);
    index["manifests"] = Value::Array(manifests.clone());
    if !dest.join("oci-layout").exists() {
        std::fs::write(dest.join("oci-layout"), LAYOUT).map_err(io_err(dest))?;
    }
    let mut tmp = crate::tmp::file_in(dest).map_err(io_err(dest))?;
    tmp.write_all(&serde_json::to_vec(&index).expect("JSON"))
        .map_err(io_err(&index_path))?;
    tmp.as_file().sync_all().map_err(io_err(&index_path))?;
    tmp.persist(&index_path).map_err(|e| Error::Io {
        path: index_path.display().to_string(),
        source: e.error,
    })?;
    // Garbage: what only the replaced entries reached. If any entry of the
    // new index cannot be walked, nothing is removed.
    if let (Some(gone), Some(live)) = (reachable(dest, &replaced), reachable(dest, &manifests)) {
        for hex in gone.difference(&live) {
            let _ = std::fs::remove_file(dest.join("blobs/sha256").join(hex));
        }
    }
    Ok(others)
}

/// Puts a blob at `root/name` (a `blobs/sha256/<hex>` path) unless it is there.
fn put_blob(root: &Path, name: &str, blob: Blob) -> Result<(), Error> {
    let dest = root.join(name);
    if dest.is_file() {
        return Ok(());
    }
    let dir = dest.parent().unwrap_or(root).to_path_buf();
    let tmp = match blob {
        Blob::File(f) => f,
        Blob::Bytes(b) => {
            let mut t = crate::tmp::file_in(&dir).map_err(io_err(&dir))?;
            t.write_all(&b).map_err(io_err(&dest))?;
            t
        }
        Blob::Dir | Blob::Old(_) => return Ok(()),
    };
    tmp.persist(&dest).map_err(|e| Error::Io {
        path: dest.display().to_string(),
        source: e.error,
    })?;
    Ok(())
}

/// The hex digests of every blob the descriptors reach in layout `root`
/// (indexes → manifests → config and layers), or None when one cannot be read.
fn reachable(root: &Path, descs: &[Value]) -> Option<std::collections::BTreeSet<String>> {
    reachable_by(
        |hex| std::fs::read(root.join("blobs/sha256").join(hex)).ok(),
        descs,
    )
}

/// [`reachable`], reading blobs (by hex digest) with `read`.
fn reachable_by(
    read: impl Fn(&str) -> Option<Vec<u8>>,
    descs: &[Value],
) -> Option<std::collections::BTreeSet<String>> {
    let mut seen = std::collections::BTreeSet::new();
    let mut todo: Vec<Value> = descs.to_vec();
    while let Some(d) = todo.pop() {
        let digest = Digest::parse(d["digest"].as_str()?)?;
        let hex = digest.hex().to_string();
        if !seen.insert(hex.clone()) {
            continue;
        }
        let mt = d["mediaType"].as_str().unwrap_or_default();
        let is_json_tree = mt.contains("manifest") || mt.contains("index");
        if !is_json_tree {
            continue;
        }
        let bytes = read(&hex)?;
        let v: Value = serde_json::from_slice(&bytes).ok()?;
        for key in ["manifests", "layers", "blobs"] {
            if let Some(a) = v[key].as_array() {
                todo.extend(a.iter().cloned());
            }
        }
        for key in ["config", "subject"] {
            if v[key].is_object() {
                todo.push(v[key].clone());
            }
        }
    }
    Some(seen)
}

/// The index entries of an oci-archive written over `dest`: when `dest` is
/// an oci-archive already, its other tags are kept (as in an OCI layout: the
/// entry of the same tag, or the untagged one, is replaced), and the blobs
/// they reach are added to `entries`, copied from the old archive. Returns
/// the entries and the other tags kept. Anything else at `dest` (a
/// docker-archive, a file `--force` replaces) is replaced whole.
fn merge_archive(
    dest: &Path,
    desc: Value,
    entries: &mut Vec<(String, Blob)>,
) -> Result<(Vec<Value>, Vec<String>), Error> {
    let fresh = |desc| Ok((vec![desc], Vec::new()));
    if !dest.is_file() {
        return fresh(desc);
    }
    let Ok(old) = super::container::Container::open_tar(dest) else {
        return fresh(desc);
    };
    if !old.exists("oci-layout") {
        return fresh(desc);
    }
    let Ok(index) = old.read_small("index.json", 64 << 20) else {
        return fresh(desc);
    };
    let Ok(index) = serde_json::from_slice::<Value>(&index) else {
        return fresh(desc);
    };
    let Some(list) = index["manifests"].as_array() else {
        return fresh(desc);
    };
    let tag = ref_name(&desc).map(String::from);
    let mut kept: Vec<Value> = list
        .iter()
        .filter(|d| ref_name(d) != tag.as_deref())
        .cloned()
        .collect();
    if kept.is_empty() {
        return fresh(desc);
    }
    let read = |hex: &str| {
        old.read_small(&format!("blobs/sha256/{hex}"), 64 << 20)
            .ok()
    };
    let Some(live) = reachable_by(read, &kept) else {
        return Err(Error::Dest(format!(
            "{}: holds other tags whose blobs cannot all be read; refusing to rewrite it \
             (write another archive, or remove it first)",
            dest.display()
        )));
    };
    let have: std::collections::BTreeSet<String> = entries.iter().map(|e| e.0.clone()).collect();
    for hex in live {
        let name = format!("blobs/sha256/{hex}");
        if have.contains(&name) {
            continue;
        }
        let (section, _) = old.open(&name).map_err(|e| Error::Dest(e.to_string()))?;
        entries.push((name, Blob::Old(section)));
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    let others = kept
        .iter()
        .map(|d| ref_name(d).unwrap_or("(untagged)").to_string())
        .collect();
    kept.push(desc);
    Ok((kept, others))
}

/// Seconds since the epoch as RFC 3339 UTC (civil-from-days, Howard Hinnant's algorithm).
pub fn rfc3339(secs: u64) -> String {
    let days = (secs / 86400) as i64;
    let rem = secs % 86400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_of_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn bare_destinations() {
        assert_eq!(
            Output::parse("x.tar").unwrap().transport,
            Transport::OciArchive
        );
        assert_eq!(Output::parse("out/img").unwrap().transport, Transport::Oci);
        let o = Output::parse("docker-archive:x.tar:repo/a:1").unwrap();
        assert_eq!(
            (o.transport, o.tag.as_deref()),
            (Transport::DockerArchive, Some("repo/a:1"))
        );
    }

    #[test]
    fn docker_refs_get_a_tag() {
        assert_eq!(docker_ref("a/b"), "a/b:latest");
        assert_eq!(docker_ref("localhost:5000/a"), "localhost:5000/a:latest");
        assert_eq!(docker_ref("a:1"), "a:1");
    }
}
