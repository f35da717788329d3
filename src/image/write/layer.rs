//! Layer blobs: a reproducible layer tar built from a tree, and layers
//! copied or re-encoded, each hashed as it is written.

use super::*;

/// A layer blob written to a temporary file.
pub struct BuiltLayer {
    pub file: tempfile::NamedTempFile,
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

pub(super) enum Encoder<W: Write> {
    None(W),
    /// gzip members or zstd frames, compressed on every core.
    Blocks(super::blocks::BlockEncoder<W>),
}

impl<W: Write> Write for Encoder<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Encoder::None(w) => w.write(buf),
            Encoder::Blocks(w) => w.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Encoder::None(w) => w.flush(),
            Encoder::Blocks(w) => w.flush(),
        }
    }
}

impl<W: Write> Encoder<W> {
    fn new(c: Compression, w: W) -> io::Result<Self> {
        Ok(match c {
            Compression::None => Encoder::None(w),
            c => Encoder::Blocks(super::blocks::BlockEncoder::new(c, w)),
        })
    }
    fn finish(self) -> io::Result<W> {
        match self {
            Encoder::None(w) => Ok(w),
            Encoder::Blocks(w) => w.finish(),
        }
    }
}

/// Streams a blob through an encoder into a temporary file in `dir`,
/// hashing both sides.
pub(super) struct BlobWriter {
    inner: HashingWriter<Encoder<HashingWriter<BufWriter<File>>>>,
    pub(super) file: tempfile::NamedTempFile,
    compression: Compression,
}

impl BlobWriter {
    pub(super) fn new(dir: &Path, compression: Compression) -> Result<BlobWriter, Error> {
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

    pub(super) fn finish(self) -> Result<BuiltLayer, Error> {
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
impl Content for Layers {
    fn open_node(&self, node: &crate::fs::Node) -> Option<Box<dyn Read + '_>> {
        self.rootfs().open_node(node)
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
pub(super) struct SourceReader<'a, R> {
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
    stats: &crate::image::LayerStats,
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
