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

pub mod blocks;
mod config;
mod layer;

pub use config::*;
pub use layer::*;

/// An image's manifest made of `config` (bytes as they will be stored) and
/// `layers`, with `annotations`: its bytes and digest. Built as oci-spec's
/// typed manifest, serialised with its keys sorted (oci-spec keeps
/// annotations in a HashMap, whose order would change run to run).
pub fn manifest(
    config: &[u8],
    layers: &[BuiltLayer],
    annotations: &[(String, String)],
) -> (Vec<u8>, Digest) {
    use oci_spec::image::{DescriptorBuilder, ImageManifestBuilder, MediaType};
    let descriptor = |media_type: &str, digest: &Digest, size: u64| {
        DescriptorBuilder::default()
            .media_type(MediaType::from(media_type))
            .digest(
                digest
                    .as_str()
                    .parse::<oci_spec::image::Digest>()
                    .expect("a sha256 digest is an OCI digest"),
            )
            .size(size)
            .build()
            .expect("every field of a descriptor is set")
    };
    let mut m = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::from(MEDIA_MANIFEST))
        .config(descriptor(
            MEDIA_CONFIG,
            &Digest::of(config),
            config.len() as u64,
        ))
        .layers(
            layers
                .iter()
                .map(|l| descriptor(l.media_type(), &l.digest, l.size))
                .collect::<Vec<_>>(),
        )
        .build()
        .expect("every field of a manifest is set");
    if !annotations.is_empty() {
        m.set_annotations(Some(annotations.iter().cloned().collect()));
    }
    let v: Value = serde_json::to_value(&m).expect("a manifest serialises");
    let manifest = serde_json::to_vec(&v).expect("JSON values serialise");
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
    fn the_manifest_is_the_image_spec_json_with_sorted_keys() {
        let d = tempfile::tempdir().unwrap();
        let mut w = BlobWriter::new(d.path(), Compression::Gzip).unwrap();
        w.write_all(b"layer").unwrap();
        let layer = w.finish().unwrap();
        let ann = [
            (
                "org.opencontainers.image.base.name".to_string(),
                "b".to_string(),
            ),
            (
                "org.opencontainers.image.base.digest".to_string(),
                "a".to_string(),
            ),
        ];
        let (bytes, digest) = manifest(b"{}", std::slice::from_ref(&layer), &ann);
        let want = json!({
            "schemaVersion": 2,
            "mediaType": MEDIA_MANIFEST,
            "config": {"mediaType": MEDIA_CONFIG, "digest": Digest::of(b"{}"), "size": 2},
            "layers": [{"mediaType": crate::media::OCI_LAYER_GZIP, "digest": layer.digest, "size": layer.size}],
            "annotations": {"org.opencontainers.image.base.digest": "a", "org.opencontainers.image.base.name": "b"},
        });
        // The same bytes as before the typed builder: digests of written images are unchanged.
        assert_eq!(bytes, serde_json::to_vec(&want).unwrap());
        assert_eq!(digest, Digest::of(&bytes));
        let typed: oci_spec::image::ImageManifest = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(typed.layers().len(), 1);
    }

    #[test]
    fn rfc3339_of_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }
}
