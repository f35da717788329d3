//! Registries (`docker://HOST/REPO[:TAG|@DIGEST]`) as a source and a
//! destination, over `crate::registry`'s Distribution client: a pulled
//! image is an OCI layout over the blob cache; a push uploads what the
//! registry lacks (or mounts it from the repository read), then tags.

use super::*;
use crate::reference::Remote;
use crate::registry::{Blob as PushBlob, BlobData};

/// A registry destination.
pub(super) struct Registry<'a>(pub &'a Output);

impl Registry<'_> {
    fn remote(&self) -> Result<Remote, Error> {
        self.0.remote().ok_or_else(|| {
            WriteError::Dest(format!("{}: not a registry image", self.0.path.display())).into()
        })
    }

    /// Pushes `blobs`, then `below` by digest, then `top` under the tag.
    fn push(
        &self,
        blobs: &[PushBlob],
        below: &[crate::registry::Manifest],
        top: crate::registry::Manifest,
        reporter: &dyn Reporter,
    ) -> Result<Committed, Error> {
        let pushed = crate::registry::push_with(
            &self.remote()?,
            &self.0.registry,
            blobs,
            below,
            top,
            self.0.mount_from.as_ref(),
            reporter,
        )?;
        Ok(Committed {
            pushed: Some(pushed),
            other_tags: Vec::new(),
        })
    }
}

/// A blob file to push.
fn file_blob(l: &BuiltLayer) -> PushBlob<'_> {
    PushBlob {
        digest: l.digest.clone(),
        size: l.size,
        data: BlobData::File(l.file.path()),
    }
}

impl Destination for Registry<'_> {
    fn output(&self) -> &Output {
        self.0
    }

    /// The registry answers and the credentials let us push, before any work.
    fn check(&self) -> Result<(), Error> {
        Ok(crate::registry::check_push(
            &self.remote()?,
            &self.0.registry,
        )?)
    }

    /// A registry was checked before the image was read, and the push
    /// authenticates again: no third round trip here.
    fn work_dir(&self) -> Result<tempfile::TempDir, Error> {
        let parent = std::env::temp_dir();
        crate::tmp::dir_in(&parent).map_err(|e| io_err(&parent)(e).into())
    }

    fn put_image(
        &self,
        image: Manifested,
        _: u64,
        reporter: &dyn Reporter,
    ) -> Result<Committed, Error> {
        let config = PushBlob {
            digest: image.config_digest.clone(),
            size: image.config.len() as u64,
            data: BlobData::Bytes(image.config),
        };
        let blobs: Vec<PushBlob> = std::iter::once(config)
            .chain(image.layers.iter().map(file_blob))
            .collect();
        self.push(
            &blobs,
            &[],
            (&image.manifest, crate::media::OCI_MANIFEST),
            reporter,
        )
    }

    fn put_whole(
        &self,
        _: &serde_json::Value,
        manifests: &[ManifestBlob],
        files: Vec<BuiltLayer>,
        _: u64,
        reporter: &dyn Reporter,
    ) -> Result<Committed, Error> {
        let blobs: Vec<PushBlob> = files.iter().map(file_blob).collect();
        let Some(((_, top, top_type), below)) = manifests.split_last() else {
            return Err(WriteError::Dest("nothing to copy".into()).into());
        };
        let below: Vec<crate::registry::Manifest> = below
            .iter()
            .map(|(_, b, mt)| (b.as_slice(), mt.as_str()))
            .collect();
        self.push(&blobs, &below, (top, top_type), reporter)
    }
}

/// Pulls `remote` (the image for `platform` of an index) and opens it; the
/// image says what was asked for (`reference`), not the layout it lives in.
pub(super) fn open(
    reference: &ImageRef,
    remote: &Remote,
    platform: Option<&Platform>,
    opts: &crate::registry::Options,
    reporter: &dyn Reporter,
) -> Result<Image, Error> {
    let mut pulled = crate::registry::pull(remote, platform, opts, reporter)?;
    let mut image = super::local::open(&pulled.layout_ref(), platform).map_err(|e| match e {
        // The layout is slim's own temporary one: name the registry's image instead.
        crate::image::Error::Select { problem, .. } => {
            crate::image::Error::select(remote.name(), problem).into()
        }
        e => Error::Image(e),
    })?;
    image.reference = reference.clone();
    image.transport = Transport::Docker;
    image.name = Some(remote.name());
    image.other_platforms = std::mem::take(&mut pulled.other_platforms);
    image.backed_by(pulled);
    Ok(image)
}

/// Pulls `remote` whole (every platform, attestations too) and opens it.
pub(super) fn open_whole(
    remote: &Remote,
    opts: &crate::registry::Options,
    reporter: &dyn Reporter,
) -> Result<Whole, Error> {
    let pulled = crate::registry::pull_all(remote, opts, reporter)?;
    let mut w = super::local::open_whole(&pulled.layout_ref())?;
    w.backed_by(pulled);
    // The cache checked every blob on arrival (or on reuse).
    w.verified = true;
    Ok(w)
}
