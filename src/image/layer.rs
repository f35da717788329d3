//! Reading layers: sniff the compression, decompress, verify the blob digest
//! and the diff_id while streaming, and index the tar entries. Compressed
//! layers are spooled, decompressed, to an unnamed temporary file so a file's
//! bytes can be read again later at their offset; plain layers are read in place.

use super::digest::HashingReader;
use super::read_ahead::read_ahead;
use super::{Digest, Error, Image, LayerBlob, Section};
use crate::fs::{self, DataRef, EntryKind, Kind, LayerEntry, Meta, Tree};
use crate::progress::{ProgressReader, Reporter};
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// How a layer blob is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    /// From the first bytes of a blob: archives lie about media types, magic bytes don't.
    pub fn sniff(magic: &[u8]) -> Compression {
        if magic.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }

    /// What a layer media type announces; None for a type that is not a layer.
    pub fn from_media_type(mt: &str) -> Option<Compression> {
        let oci = mt.strip_prefix(crate::media::OCI_LAYER_PREFIX);
        let docker = mt.strip_prefix(crate::media::DOCKER_LAYER_PREFIX);
        match (oci, docker) {
            (Some(rest), _) => {
                let rest = rest.strip_prefix("nondistributable.").unwrap_or(rest);
                match rest {
                    "v1.tar" => Some(Compression::None),
                    "v1.tar+gzip" => Some(Compression::Gzip),
                    "v1.tar+zstd" => Some(Compression::Zstd),
                    _ => None,
                }
            }
            (_, Some("diff.tar.gzip" | "foreign.diff.tar.gzip")) => Some(Compression::Gzip),
            (_, Some("diff.tar")) => Some(Compression::None),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        }
    }

    /// A decoder for this compression over `r`.
    pub fn decoder<'a, R: BufRead + Send + 'a>(
        self,
        r: R,
    ) -> io::Result<Box<dyn Read + Send + 'a>> {
        Ok(match self {
            Compression::None => Box::new(r),
            Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(r)),
            Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(r)?),
        })
    }
}

/// What was measured of one layer while reading it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LayerStats {
    pub index: usize,
    /// Digest of the blob as stored (computed when the format does not name it).
    pub digest: Digest,
    pub diff_id: Digest,
    pub media_type: Option<String>,
    pub compression: Compression,
    pub compressed_size: u64,
    pub uncompressed_size: u64,
    /// Tar entries, whiteouts included.
    pub entries: usize,
}

/// All layers read and merged: their root filesystem (what `Deref` gives),
/// and what each layer was.
pub struct Layers {
    pub stats: Vec<LayerStats>,
    root: crate::fs::Rootfs,
}

impl std::ops::Deref for Layers {
    type Target = crate::fs::Rootfs;
    fn deref(&self) -> &crate::fs::Rootfs {
        &self.root
    }
}

impl Layers {
    /// Layer `i`'s uncompressed tar.
    pub fn tar(&self, i: usize) -> Section {
        self.root.data(i)
    }

    /// The merged root filesystem.
    pub fn rootfs(&self) -> &crate::fs::Rootfs {
        &self.root
    }
}

/// Copies what is read into an optional spool file.
struct Tee<R> {
    inner: R,
    spool: Option<BufWriter<std::fs::File>>,
}

impl<R: Read> Read for Tee<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(s) = &mut self.spool {
            s.write_all(&buf[..n])?;
        }
        Ok(n)
    }
}

struct ReadLayer {
    stats: LayerStats,
    staged: fs::Staged,
    data: Section,
}

/// Reads, verifies and merges every layer of `image`. Layers are read in
/// parallel (one thread per core); merging is in layer order.
pub fn read_layers(image: &Image, reporter: &dyn Reporter) -> Result<Layers, Error> {
    use rayon::prelude::*;
    let n = image.layers.len();
    // Layers after the lowest one that failed are not started: the first
    // error in layer order is reported, whatever the scheduling, and no
    // layer before it is skipped.
    let first_failed = AtomicUsize::new(usize::MAX);
    let results: Vec<Option<Result<ReadLayer, Error>>> = (0..n)
        .into_par_iter()
        .map(|i| {
            if i > first_failed.load(Ordering::Relaxed) {
                return None;
            }
            let r = read_one(image, i, reporter);
            if r.is_err() {
                first_failed.fetch_min(i, Ordering::Relaxed);
            }
            Some(r)
        })
        .collect();
    let mut tree = Tree::new();
    let mut stats = Vec::with_capacity(n);
    let mut data = Vec::with_capacity(n);
    // The first failure in layer order, so the message does not depend on scheduling.
    for (i, r) in results.into_iter().enumerate() {
        let Some(r) = r else { continue };
        let layer = r?;
        tree.apply_staged(layer.staged)
            .map_err(|e| layer_error(image, i, e.to_string()))?;
        stats.push(layer.stats);
        data.push(layer.data);
    }
    if stats.len() != n {
        // Only possible if a layer failed and stopped the others, which returned above.
        return Err(layer_error(image, stats.len(), "was not read".into()));
    }
    Ok(Layers {
        stats,
        root: crate::fs::Rootfs::new(tree, data),
    })
}

/// A tar owner id as Linux has them: 32 bits.
fn owner_id(v: u64, raw: &str, what: &str) -> Result<u32, String> {
    u32::try_from(v).map_err(|_| format!("tar entry '{raw}': {what} {v} does not fit in 32 bits"))
}

fn layer_error(image: &Image, i: usize, problem: String) -> Error {
    let blob = &image.layers[i];
    Error::Layer {
        location: image.container.describe(&blob.name),
        layer: i,
        digest: blob.digest.as_ref().unwrap_or(&blob.diff_id).to_string(),
        problem,
    }
}

fn read_one(image: &Image, i: usize, reporter: &dyn Reporter) -> Result<ReadLayer, Error> {
    let blob: &LayerBlob = &image.layers[i];
    let err = |p: String| layer_error(image, i, p);
    let (section, size) = image.container.open(&blob.name)?;
    if let Some(want) = blob.size {
        if want != size {
            return Err(Error::SizeMismatch {
                location: image.container.describe(&blob.name),
                expected: want,
                actual: size,
            });
        }
    }
    let short = blob
        .digest
        .as_ref()
        .unwrap_or(&blob.diff_id)
        .short()
        .to_string();
    reporter.begin(
        i,
        &format!("layer {}/{} {short}", i + 1, image.layers.len()),
        size,
    );
    let progress = ProgressReader::new(section, reporter, i);

    // Sniff first: a plain layer is hashed once (its digest is its diff_id).
    let mut magic = [0u8; 4];
    let peek = section_peek(&image.container, &blob.name, &mut magic)?;
    let compression = Compression::sniff(&magic[..peek]);
    let blob_reader = if compression == Compression::None {
        HashingReader::counting(progress)
    } else {
        HashingReader::new(progress)
    };
    let (spool, spool_file) = if compression == Compression::None {
        (None, None)
    } else {
        let f = tempfile::tempfile().map_err(|e| Error::io(std::env::temp_dir(), e))?;
        let w = BufWriter::with_capacity(
            256 << 10,
            f.try_clone()
                .map_err(|e| Error::io(std::env::temp_dir(), e))?,
        );
        (Some(w), Some(f))
    };
    let what = match compression {
        Compression::None => "reading the layer tar failed".to_string(),
        c => format!(
            "reading the layer failed (corrupt or truncated {} data?)",
            c.name()
        ),
    };
    // Hashes the tar for its diff_id, indexes it and spools it, as it streams by.
    let parse = |tar_stream: &mut (dyn Read + Send)| -> Result<_, Error> {
        let tee = Tee {
            inner: HashingReader::new(tar_stream),
            spool,
        };
        let mut archive = tar::Archive::new(tee);
        // Staged entry by entry: the layer's index is built as its tar streams by.
        let mut staged = fs::Staged::new(i);
        let mut count = 0usize;
        for entry in archive.entries().map_err(|e| err(format!("{what}: {e}")))? {
            let mut entry = entry.map_err(|e| err(format!("{what}: {e}")))?;
            count += 1;
            if let Some(e) = to_layer_entry(i, &mut entry).map_err(err)? {
                staged.push(e).map_err(|e| err(e.to_string()))?;
            }
        }
        // The tar ends at its zero blocks; read the rest so the digests cover every byte.
        let mut tee = archive.into_inner();
        io::copy(&mut tee, &mut io::sink()).map_err(|e| err(format!("{what}: {e}")))?;
        let Tee {
            inner: diff_reader,
            spool,
        } = tee;
        if let Some(mut s) = spool {
            s.flush().map_err(|e| Error::io(std::env::temp_dir(), e))?;
        }
        let (_, diff_id, uncompressed) = diff_reader.into_parts();
        let diff_id = diff_id.expect("the decoded stream is always hashed");
        Ok((staged, count, diff_id, uncompressed))
    };
    // A compressed layer streams through three threads: the blob read and
    // hashed, inflated, and the tar parsed (read_ahead.rs).
    let (parsed, blob_reader) = match compression {
        Compression::None => {
            let mut tar = BufReader::with_capacity(256 << 10, blob_reader);
            let parsed = parse(&mut tar);
            (parsed, tar.into_inner())
        }
        c => read_ahead(blob_reader, |blob| {
            let decoder = c
                .decoder(BufReader::with_capacity(256 << 10, blob))
                .map_err(|e| err(format!("{what}: {e}")))?;
            read_ahead(decoder, parse).0
        }),
    };
    let (staged, count, diff_id, uncompressed) = parsed?;
    let (blob_digest, compressed) = blob_reader
        .finish()
        .map_err(|e| err(format!("{what}: {e}")))?;
    reporter.end(i);
    let digest = blob_digest.unwrap_or_else(|| diff_id.clone());
    if compressed != size {
        return Err(err(format!(
            "blob is {size} bytes but only {compressed} were read"
        )));
    }
    if let Some(want) = &blob.digest {
        if want != &digest {
            return Err(Error::DigestMismatch {
                location: image.container.describe(&blob.name),
                expected: want.to_string(),
                actual: digest.to_string(),
            });
        }
    }
    if diff_id != blob.diff_id {
        return Err(Error::DigestMismatch {
            location: format!(
                "{} (uncompressed, config diff_id)",
                image.container.describe(&blob.name)
            ),
            expected: blob.diff_id.to_string(),
            actual: diff_id.to_string(),
        });
    }
    let data = match spool_file {
        Some(f) => Section::new(Arc::new(f), 0, uncompressed),
        None => image.container.open(&blob.name)?.0,
    };
    let stats = LayerStats {
        index: i,
        digest,
        diff_id,
        media_type: blob.media_type.clone(),
        compression,
        compressed_size: size,
        uncompressed_size: uncompressed,
        entries: count,
    };
    Ok(ReadLayer {
        stats,
        staged,
        data,
    })
}

fn section_peek(c: &super::Container, name: &str, magic: &mut [u8; 4]) -> Result<usize, Error> {
    let (mut s, _) = c.open(name)?;
    let mut n = 0;
    while n < magic.len() {
        let k = s
            .read(&mut magic[n..])
            .map_err(|e| Error::io(c.describe(name), e))?;
        if k == 0 {
            break;
        }
        n += k;
    }
    Ok(n)
}

fn to_layer_entry<R: Read>(
    layer: usize,
    entry: &mut tar::Entry<R>,
) -> Result<Option<LayerEntry>, String> {
    let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
    let Some(path) = fs::entry_path(&raw).map_err(|e| e.to_string())? else {
        return Ok(None); // the root directory itself
    };
    let (mut pax_uid, mut pax_gid, mut pax_mtime, mut xattrs) = (None, None, None, Vec::new());
    // PAX records override the ustar fields (POSIX pax format).
    if let Ok(Some(pax)) = entry.pax_extensions() {
        for ext in pax.flatten() {
            let Ok(key) = ext.key() else { continue };
            let value = ext.value_bytes();
            let num = || {
                std::str::from_utf8(value)
                    .ok()?
                    .split('.')
                    .next()?
                    .parse::<u64>()
                    .ok()
            };
            match key {
                "uid" => pax_uid = num(),
                "gid" => pax_gid = num(),
                "mtime" => pax_mtime = num(),
                k => {
                    if let Some(name) = k.strip_prefix("SCHILY.xattr.") {
                        xattrs.push((name.to_string(), value.to_vec()));
                    }
                }
            }
        }
    }
    let header = entry.header();
    let mut meta = Meta {
        mode: header
            .mode()
            .map_err(|e| format!("tar entry '{raw}': bad mode: {e}"))?
            & 0o7777,
        uid: owner_id(
            match pax_uid {
                Some(u) => u,
                None => header
                    .uid()
                    .map_err(|e| format!("tar entry '{raw}': bad uid: {e}"))?,
            },
            &raw,
            "uid",
        )?,
        gid: owner_id(
            match pax_gid {
                Some(g) => g,
                None => header
                    .gid()
                    .map_err(|e| format!("tar entry '{raw}': bad gid: {e}"))?,
            },
            &raw,
            "gid",
        )?,
        mtime: pax_mtime.unwrap_or_else(|| header.mtime().unwrap_or(0)),
        size: 0,
        xattrs: xattrs.into(),
    };
    let (dir, base) = match path.rsplit_once('/') {
        Some((d, b)) => (Some(d), b),
        None => (None, path.as_str()),
    };
    if let Some(rest) = base.strip_prefix(".wh.") {
        let join = |name: &str| dir.map_or(name.to_string(), |d| format!("{d}/{name}"));
        return Ok(match rest {
            ".wh..opq" => Some(LayerEntry {
                path: dir.unwrap_or("").to_string(),
                kind: EntryKind::Opaque,
                meta,
            }),
            // Other AUFS metadata (.wh..wh.plnk, .wh..wh.aufs) is not content.
            r if r.starts_with(".wh.") => None,
            r => Some(LayerEntry {
                path: join(r),
                kind: EntryKind::Whiteout,
                meta,
            }),
        });
    }
    use tar::EntryType as T;
    let link = || -> Result<String, String> {
        let l = entry
            .link_name_bytes()
            .ok_or_else(|| format!("tar entry '{raw}': link without a target"))?;
        Ok(String::from_utf8_lossy(&l).into_owned())
    };
    let dev = || {
        (
            header.device_major().ok().flatten().unwrap_or(0),
            header.device_minor().ok().flatten().unwrap_or(0),
        )
    };
    let kind = match header.entry_type() {
        T::Regular | T::Continuous => {
            meta.size = entry.size();
            EntryKind::Node(Kind::File {
                data: DataRef {
                    layer,
                    offset: entry.raw_file_position(),
                },
                hardlink: None,
            })
        }
        T::Directory => EntryKind::Node(Kind::Dir),
        T::Symlink => EntryKind::Node(Kind::Symlink(link()?)),
        T::Link => {
            let target = link()?;
            let t = fs::entry_path(&target)
                .map_err(|e| format!("hardlink '{raw}': {e}"))?
                .ok_or_else(|| format!("hardlink '{raw}' points to the root directory"))?;
            EntryKind::Hardlink(t)
        }
        T::Char => {
            let (a, b) = dev();
            EntryKind::Node(Kind::CharDevice(a, b))
        }
        T::Block => {
            let (a, b) = dev();
            EntryKind::Node(Kind::BlockDevice(a, b))
        }
        T::Fifo => EntryKind::Node(Kind::Fifo),
        T::GNUSparse => {
            return Err(format!(
                "tar entry '{raw}': GNU sparse files are not supported"
            ))
        }
        // Global PAX headers and vendor extensions carry no file.
        _ => return Ok(None),
    };
    Ok(Some(LayerEntry { path, kind, meta }))
}

#[cfg(test)]
mod tests {
    use super::Compression;

    #[test]
    fn media_types_and_magic() {
        assert_eq!(
            Compression::from_media_type("application/vnd.oci.image.layer.v1.tar+zstd"),
            Some(Compression::Zstd)
        );
        assert_eq!(
            Compression::from_media_type("application/vnd.docker.image.rootfs.diff.tar.gzip"),
            Some(Compression::Gzip)
        );
        assert_eq!(
            Compression::from_media_type("application/vnd.oci.image.layer.nondistributable.v1.tar"),
            Some(Compression::None)
        );
        assert_eq!(
            Compression::from_media_type("application/vnd.cncf.helm.chart.content.v1.tar+gzip"),
            None
        );
        assert_eq!(
            Compression::sniff(&[0x28, 0xb5, 0x2f, 0xfd]),
            Compression::Zstd
        );
        assert_eq!(Compression::sniff(b"usr/"), Compression::None);
    }
}
