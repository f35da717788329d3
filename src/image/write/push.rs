//! What writing needs of a registry: the `Pusher` trait `crate::registry`
//! implements, and the blobs and manifests it is given.

use super::*;

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
