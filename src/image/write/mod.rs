//! What every destination writes: reproducible layer blobs from a [`Tree`]
//! (or copied, re-encoded, verified), the config, and the manifest naming
//! them. Where they go — an OCI layout, an archive, a registry — is
//! `crate::transport`'s.

use super::digest::HashingWriter;
use super::{Compression, Digest, Layers};
pub use crate::fs::Content;
use crate::fs::{DataRef, Kind, Tree};
use crate::progress::Reporter;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::Path;

use crate::media::{OCI_CONFIG as MEDIA_CONFIG, OCI_MANIFEST as MEDIA_MANIFEST};

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

mod config;
mod layer;

pub use config::*;
pub use layer::*;

/// An image's manifest made of `config` (bytes as they will be stored) and
/// `layers`, with `annotations`: its bytes and digest.
pub fn manifest(
    config: &[u8],
    layers: &[BuiltLayer],
    annotations: &[(String, String)],
) -> (Vec<u8>, Digest) {
    let mut ann = serde_json::Map::new();
    for (k, v) in annotations {
        ann.insert(k.clone(), Value::String(v.clone()));
    }
    let mut manifest = json!({
        "schemaVersion": 2,
        "mediaType": MEDIA_MANIFEST,
        "config": {"mediaType": MEDIA_CONFIG, "digest": Digest::of(config), "size": config.len()},
        "layers": layers.iter().map(|l| json!({
            "mediaType": l.media_type(), "digest": l.digest, "size": l.size,
        })).collect::<Vec<_>>(),
    });
    if !ann.is_empty() {
        manifest["annotations"] = Value::Object(ann);
    }
    let manifest = serde_json::to_vec(&manifest).expect("JSON values serialise");
    let digest = Digest::of(&manifest);
    (manifest, digest)
}

/// The configs and layers of `w` copied into `work` (hard-linked when they
/// are verified files of a directory), each checked against its digest.
pub fn copy_blobs(
    w: &super::Whole,
    work: &Path,
    reporter: &dyn crate::progress::Reporter,
) -> Result<Vec<BuiltLayer>, Error> {
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
    Ok(files)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_of_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }
}
