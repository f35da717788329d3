//! Where images come from and where they go, one module per transport (as
//! containers/image has an ImageSource and an ImageDestination per
//! transport): an OCI layout ([`oci`]), an oci-archive ([`oci_archive`]), a
//! `docker save` archive ([`docker_archive`]) and a registry ([`docker`]).
//! [`open`] reads any reference ([`local`] tells which transport a path
//! holds and reads it with that transport's reader); an [`Output`]'s [`Output::destination`]
//! checks before any work, puts blobs and manifests, and commits: local
//! writes happen under a temporary name renamed at the end, so a failure
//! leaves nothing behind; a push tags nothing until every blob is there.
//!
//! Below this module nothing knows the transports apart: `image` reads
//! containers and builds blobs, `registry` speaks the Distribution API.

mod archive;
pub mod docker;
mod docker_archive;
mod index;
pub mod local;
mod oci;
mod oci_archive;
mod output;

pub use crate::image::write::Error as WriteError;
pub use crate::registry::Pushed;
pub use index::*;
pub use oci::LOCK_FILE;
pub use output::*;

use crate::image::write::{self, BuiltLayer};
use crate::image::{Compression, Digest, Image, ImageRef, Platform, Transport, Whole};
use crate::progress::Reporter;
use std::io;
use std::path::{Path, PathBuf};

/// Why an image could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Write(#[from] WriteError),
    #[error(transparent)]
    Registry(#[from] crate::registry::Error),
    #[error(transparent)]
    Image(#[from] crate::image::Error),
}

/// Reads the image `reference` names (a registry's through `opts`), the
/// one for `platform` when it is an index.
pub fn open(
    reference: &ImageRef,
    platform: Option<&Platform>,
    opts: &crate::registry::Options,
    reporter: &dyn Reporter,
) -> Result<Image, Error> {
    match reference.as_remote() {
        Some(remote) => docker::open(reference, &remote, platform, opts, reporter),
        None => Ok(local::open(reference, platform)?),
    }
}

/// Reads the index (or manifest) `reference` names with everything it reaches, to copy whole.
pub fn open_whole(
    reference: &ImageRef,
    opts: &crate::registry::Options,
    reporter: &dyn Reporter,
) -> Result<Whole, Error> {
    match reference.as_remote() {
        Some(remote) => docker::open_whole(&remote, opts, reporter),
        None => Ok(local::open_whole(reference)?),
    }
}

/// An image ready to be put: its config and layers, and the manifest naming them.
pub struct Manifested<'a> {
    pub config: &'a [u8],
    pub config_digest: Digest,
    pub layers: Vec<BuiltLayer>,
    pub manifest: Vec<u8>,
    pub manifest_digest: Digest,
}

/// A manifest or index as stored: digest, bytes, media type.
pub type ManifestBlob = (Digest, Vec<u8>, String);

/// What a destination did besides storing the image.
#[derive(Debug, Default)]
pub struct Committed {
    /// For a registry: what was uploaded, mounted, and already there.
    pub pushed: Option<Pushed>,
    /// The other tags of the OCI layout or oci-archive written into, kept.
    pub other_tags: Vec<String>,
}

/// Where an image is written: one per transport.
pub trait Destination {
    /// The output this writes.
    fn output(&self) -> &Output;
    /// Checks, before any work, that an image can be written here (for a
    /// path: its directory exists, what is there may be replaced).
    fn check(&self) -> Result<(), Error> {
        Ok(self.output().check_local()?)
    }
    /// A directory for blobs on their way (beside a local destination, so
    /// they are renamed into place, not copied). Checks the destination first.
    fn work_dir(&self) -> Result<tempfile::TempDir, Error> {
        let out = self.output();
        out.check_local()?;
        let parent = parent_dir(&out.path);
        crate::tmp::dir_in(&parent).map_err(|e| {
            Error::Write(WriteError::Dest(format!(
                "{}: cannot write into {}: {e}",
                out.path.display(),
                parent.display()
            )))
        })
    }
    /// The layer compression this destination stores, given the one asked
    /// for (None: whatever the layers have).
    fn compression(&self, wanted: Option<Compression>) -> Option<Compression> {
        wanted
    }
    /// Whether it stores the manifest (a docker-archive does not: it cannot
    /// keep a source's manifest bytes, and writes no manifest digest).
    fn stores_manifest(&self) -> bool {
        true
    }
    /// Checks, before any work, that an index (`copy --all`) can be written here.
    fn check_whole(&self) -> Result<(), Error> {
        self.check()
    }
    /// Puts one image, under the output's tag.
    fn put_image(
        &self,
        image: Manifested,
        mtime: u64,
        reporter: &dyn Reporter,
    ) -> Result<Committed, Error>;
    /// Puts an index (or manifest) `top` and everything it reaches:
    /// `manifests` (each after those it lists, `top`'s last) and `files`,
    /// their configs and layers.
    fn put_whole(
        &self,
        top: &serde_json::Value,
        manifests: &[ManifestBlob],
        files: Vec<BuiltLayer>,
        mtime: u64,
        reporter: &dyn Reporter,
    ) -> Result<Committed, Error>;
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

/// Writes an image made of `config` (bytes as they will be stored) and `layers` to `out`.
pub fn write_image(
    out: &Output,
    config: &[u8],
    layers: Vec<BuiltLayer>,
    annotations: &[(String, String)],
    mtime: u64,
    reporter: &dyn Reporter,
) -> Result<Written, Error> {
    let (manifest, manifest_digest) = write::manifest(config, &layers, annotations);
    let config_digest = Digest::of(config);
    let layer_digests = layers.iter().map(|l| l.digest.clone()).collect();
    let dest = out.destination();
    let stores_manifest = dest.stores_manifest();
    let committed = dest.put_image(
        Manifested {
            config,
            config_digest: config_digest.clone(),
            layers,
            manifest,
            manifest_digest: manifest_digest.clone(),
        },
        mtime,
        reporter,
    )?;
    Ok(Written {
        path: out.path.clone(),
        transport: out.transport,
        manifest_digest: stores_manifest.then_some(manifest_digest),
        config_digest,
        layers: layer_digests,
        pushed: committed.pushed,
        other_tags: committed.other_tags,
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
    w: &Whole,
    work: &Path,
    mtime: u64,
    reporter: &dyn Reporter,
) -> Result<WrittenWhole, Error> {
    let dest = out.destination();
    let files = write::copy_blobs(w, work, reporter)?;
    let (top_digest, _, _) = w
        .manifests
        .last()
        .ok_or_else(|| WriteError::Dest("nothing to copy".into()))?;
    let digest = top_digest.clone();
    let committed = dest.put_whole(&w.top, &w.manifests, files, mtime, reporter)?;
    Ok(WrittenWhole {
        location: out.location(),
        transport: out.transport,
        digest,
        manifests: w.manifests.len(),
        blobs: w.blobs.len(),
        pushed: committed.pushed,
        other_tags: committed.other_tags,
    })
}

/// The index entry of an image or index written to a local layout or
/// archive: `top` (its media type, digest and size) with the output's tag as its ref name.
fn entry(out: &Output, top: &serde_json::Value) -> serde_json::Value {
    let mut desc = top.clone();
    if let Some(obj) = desc.as_object_mut() {
        obj.remove("annotations");
    }
    if let Some(t) = &out.tag {
        desc["annotations"] = serde_json::json!({"org.opencontainers.image.ref.name": t});
    }
    desc
}

/// The descriptor of a manifest just built.
fn manifest_desc(image: &Manifested) -> serde_json::Value {
    serde_json::json!({
        "mediaType": crate::media::OCI_MANIFEST,
        "digest": image.manifest_digest,
        "size": image.manifest.len(),
    })
}

/// A blob of a local destination: what a layout or archive holds under a name.
enum Blob {
    Dir,
    Bytes(Vec<u8>),
    File(tempfile::NamedTempFile),
    /// A member of the archive being replaced, copied as it is.
    Old(crate::image::Section),
}

/// The blobs of an image: config, manifest and layers, by name.
fn image_blobs(image: Manifested) -> Vec<(String, Blob)> {
    let mut blobs = vec![
        (
            blob_name(&image.config_digest),
            Blob::Bytes(image.config.to_vec()),
        ),
        (
            blob_name(&image.manifest_digest),
            Blob::Bytes(image.manifest),
        ),
    ];
    for l in image.layers {
        blobs.push((blob_name(&l.digest), Blob::File(l.file)));
    }
    blobs.sort_by(|a, b| a.0.cmp(&b.0));
    blobs.dedup_by(|a, b| a.0 == b.0);
    blobs
}

/// The blobs of a whole index: its manifests and `files`, by name.
fn whole_blobs(manifests: &[ManifestBlob], files: Vec<BuiltLayer>) -> Vec<(String, Blob)> {
    let mut v: Vec<(String, Blob)> = manifests
        .iter()
        .map(|(d, b, _)| (blob_name(d), Blob::Bytes(b.clone())))
        .collect();
    v.extend(
        files
            .into_iter()
            .map(|f| (blob_name(&f.digest), Blob::File(f.file))),
    );
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v.dedup_by(|a, b| a.0 == b.0);
    v
}

fn blob_name(d: &Digest) -> String {
    format!("blobs/sha256/{}", d.hex())
}

fn parent_dir(p: &Path) -> PathBuf {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn io_err(path: &Path) -> impl Fn(io::Error) -> WriteError + '_ {
    move |source| WriteError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// What a destination that keeps an index of tags (a layout, an
/// oci-archive) does with an image or index: `write(entry, blobs)` puts the
/// index entry of `top` under the output's tag and returns the other tags.
fn put_tagged(
    out: &Output,
    top: &serde_json::Value,
    blobs: Vec<(String, Blob)>,
    write: impl FnOnce(serde_json::Value, Vec<(String, Blob)>) -> Result<Vec<String>, WriteError>,
) -> Result<Committed, Error> {
    Ok(Committed {
        pushed: None,
        other_tags: write(entry(out, top), blobs)?,
    })
}
