//! The media types slim reads and writes, in one table: OCI's and Docker's
//! (Distribution schema 2) manifests, indexes, configs and layers.

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
/// The prefix of every OCI layer type (`…v1.tar`, `…nondistributable.v1.tar+gzip`).
pub const OCI_LAYER_PREFIX: &str = "application/vnd.oci.image.layer.";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// The prefix of Docker's layer types (`…rootfs.diff.tar.gzip`).
pub const DOCKER_LAYER_PREFIX: &str = "application/vnd.docker.image.rootfs.";

/// What a registry is asked for a manifest: every kind slim reads.
pub const ACCEPT: [&str; 4] = [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST];

/// An index (OCI) or manifest list (Docker): entries per platform.
pub fn is_index(mt: &str) -> bool {
    mt == OCI_INDEX || mt == DOCKER_LIST
}
