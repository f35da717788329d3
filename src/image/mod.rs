//! The image model (an opened image: its manifest's layers, config and
//! where its blobs are), containers (a directory, an indexed tar), the
//! verified reading of blobs and layers, and what writers build. Which
//! transport a reference is, and its reader, are `crate::transport`'s.

mod container;
mod platform;
mod whole;
pub use crate::digest;
mod layer;
mod read_ahead;
mod reference;
pub mod write;

pub use container::{Container, Section};
pub use digest::Digest;
pub use layer::{read_layers, Compression, LayerStats, Layers};
pub use platform::{matching_platforms, other_platforms, EntryPlatform, Platform};
pub use reference::{ImageRef, RefError, Transport};
pub use whole::Whole;

use oci_spec::image::ImageConfiguration;
use std::io;
use std::path::Path;

/// Manifests, indexes and configs are small; anything bigger is corrupt.
pub(crate) const MAX_JSON: u64 = 16 << 20;

/// Why an image could not be read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io { path: String, source: io::Error },
    #[error("{path}: not a readable tar archive: {source}")]
    BadArchive { path: String, source: io::Error },
    #[error("{location}: {what} is missing")]
    Missing { what: String, location: String },
    #[error("{location}: {problem}")]
    Invalid { location: String, problem: String },
    #[error("{location}: digest mismatch: expected {expected}, content is {actual}")]
    DigestMismatch {
        location: String,
        expected: String,
        actual: String,
    },
    #[error("{location}: size mismatch: expected {expected} bytes, content is {actual} bytes")]
    SizeMismatch {
        location: String,
        expected: u64,
        actual: u64,
    },
    #[error("{location}: malformed {what}: {source}")]
    Json {
        location: String,
        what: &'static str,
        source: serde_json::Error,
    },
    #[error("{location}: unknown media type '{media_type}' for {what}")]
    MediaType {
        location: String,
        what: &'static str,
        media_type: String,
    },
    /// Not the one image the reference or platform asks for.
    #[error("{location}: {problem}")]
    Select { location: String, problem: String },
    #[error(transparent)]
    Ref(#[from] RefError),
    #[error("{location}: layer {layer} ({digest}): {problem}")]
    Layer {
        location: String,
        layer: usize,
        digest: String,
        problem: String,
    },
}

impl Error {
    pub(crate) fn select(location: impl std::fmt::Display, problem: String) -> Error {
        Error::Select {
            location: location.to_string(),
            problem,
        }
    }
    pub(crate) fn io(path: impl AsRef<Path>, source: io::Error) -> Error {
        Error::Io {
            path: path.as_ref().display().to_string(),
            source,
        }
    }
    pub(crate) fn bad_archive(path: &Path, source: io::Error) -> Error {
        Error::BadArchive {
            path: path.display().to_string(),
            source,
        }
    }
}

/// One layer of the chosen image, as listed by its manifest.
#[derive(Debug, Clone)]
pub struct LayerBlob {
    /// Member name in the container (`blobs/sha256/<hex>` or `<id>/layer.tar`).
    pub name: String,
    /// Digest of the blob as stored, when the format names it (OCI, Docker >= 25).
    pub digest: Option<Digest>,
    /// Size of the blob as stored, when the format names it.
    pub size: Option<u64>,
    pub media_type: Option<String>,
    /// sha256 of the uncompressed tar (config `rootfs.diff_ids`).
    pub diff_id: Digest,
}

/// An opened image: what its manifest and config say, not yet its layers.
pub struct Image {
    pub reference: ImageRef,
    pub transport: Transport,
    pub container: Container,
    /// The manifest's digest (OCI formats; docker archives carry none).
    pub manifest_digest: Option<Digest>,
    pub config_digest: Digest,
    /// The config exactly as stored, to be copied without re-serialising.
    pub config_raw: Vec<u8>,
    pub config: ImageConfiguration,
    pub layers: Vec<LayerBlob>,
    /// The repo:tag or tag the image was selected by or is named by.
    pub name: Option<String>,
    /// Temporary files (a decompressed outer archive), removed on drop.
    pub(crate) _scratch: Option<tempfile::TempPath>,
    /// What the image's files live in, released when it is dropped.
    pub(crate) backing: Option<Box<dyn Backing>>,
    /// The other platforms of the index this image was picked from as this
    /// machine's (no platform asked for); empty otherwise.
    pub other_platforms: Vec<String>,
}

/// What an opened image's files live in when the image does not own them
/// itself (a registry image: the layout slim pulled it into, over the blob
/// cache): kept as long as the image, released with it.
pub trait Backing: Send + Sync {}
impl<T: Send + Sync> Backing for T {}

impl Image {
    /// Makes `b` live as long as the image (what its container reads from).
    pub fn backed_by(&mut self, b: impl Backing + 'static) {
        self.backing = Some(Box::new(b));
    }

    /// `os/arch[/variant]` from the config.
    pub fn platform(&self) -> String {
        let mut s = format!("{}/{}", self.config.os(), self.config.architecture());
        if let Some(v) = self.config.variant() {
            s.push('/');
            s.push_str(v);
        }
        s
    }
}

pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    location: String,
    what: &'static str,
) -> Result<T, Error> {
    serde_json::from_slice(bytes).map_err(|source| Error::Json {
        location,
        what,
        source,
    })
}

/// Reads a blob named by digest and checks its digest (and size, when known).
pub(crate) fn read_blob(
    c: &Container,
    digest: &Digest,
    size: Option<u64>,
) -> Result<Vec<u8>, Error> {
    let name = format!("blobs/sha256/{}", digest.hex());
    if !c.exists(&name) {
        return Err(Error::Missing {
            what: format!("blob {digest}"),
            location: c.describe(&name),
        });
    }
    let bytes = c.read_small(&name, MAX_JSON)?;
    verify(&bytes, digest, size, c.describe(&name))?;
    Ok(bytes)
}

pub(crate) fn verify(
    bytes: &[u8],
    digest: &Digest,
    size: Option<u64>,
    location: String,
) -> Result<(), Error> {
    if let Some(size) = size {
        if bytes.len() as u64 != size {
            return Err(Error::SizeMismatch {
                location,
                expected: size,
                actual: bytes.len() as u64,
            });
        }
    }
    let actual = Digest::of(bytes);
    if &actual != digest {
        return Err(Error::DigestMismatch {
            location,
            expected: digest.to_string(),
            actual: actual.to_string(),
        });
    }
    Ok(())
}

pub(crate) fn parse_digest(s: &str, location: &str) -> Result<Digest, Error> {
    Digest::parse(s).ok_or_else(|| Error::Invalid {
        location: location.to_string(),
        problem: format!("'{s}' is not a sha256 digest"),
    })
}

/// The digest named by a `blobs/sha256/<hex>` or `<hex>.json` member name, if any.
pub(crate) fn digest_from_name(name: &str) -> Option<Digest> {
    let base = name.rsplit('/').next()?;
    let hex = base.strip_suffix(".json").unwrap_or(base);
    let hex = if name.contains("blobs/sha256/") || base.ends_with(".json") {
        hex
    } else {
        return None;
    };
    Digest::parse(&format!("sha256:{hex}"))
}

pub(crate) fn load_config(
    c: &Container,
    name: &str,
    digest: &Digest,
    size: Option<u64>,
) -> Result<(Vec<u8>, ImageConfiguration), Error> {
    let bytes = if name.starts_with("blobs/") {
        read_blob(c, digest, size)?
    } else {
        let b = c.read_small(name, MAX_JSON)?;
        verify(&b, digest, size, c.describe(name))?;
        b
    };
    let config: ImageConfiguration = parse_json(&bytes, c.describe(name), "image config")?;
    Ok((bytes, config))
}

pub(crate) fn list_or_none(v: &[String]) -> String {
    if v.is_empty() {
        "none tagged".into()
    } else {
        v.join(", ")
    }
}

pub(crate) fn check_platform(
    config: &ImageConfiguration,
    wanted: Option<&Platform>,
    location: &str,
) -> Result<(), Error> {
    if let Some(w) = wanted {
        let (os, arch) = (config.os().to_string(), config.architecture().to_string());
        if !w.matches(&os, &arch, config.variant().as_deref()) {
            return Err(Error::select(
                location,
                format!("the image is for {os}/{arch}, not {w}"),
            ));
        }
    }
    Ok(())
}

pub(crate) fn diff_ids(
    config: &ImageConfiguration,
    layers: usize,
    location: &str,
) -> Result<Vec<Digest>, Error> {
    let ids = config.rootfs().diff_ids();
    if ids.len() != layers {
        return Err(Error::Invalid {
            location: location.to_string(),
            problem: format!(
                "config lists {} diff_ids but the manifest has {layers} layers",
                ids.len()
            ),
        });
    }
    ids.iter().map(|d| parse_digest(d, location)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_parsing_and_matching() {
        let p = Platform::parse("linux/aarch64").unwrap();
        assert_eq!(p.arch, "arm64");
        assert!(p.matches("linux", "arm64", Some("v8")));
        let v8 = Platform::parse("linux/arm64/v8").unwrap();
        assert!(v8.matches("linux", "arm64", None));
        assert!(!v8.matches("linux", "amd64", None));
        assert!(Platform::parse("linux").is_err());
    }

    #[test]
    fn digest_names() {
        let h = "a".repeat(64);
        assert!(digest_from_name(&format!("blobs/sha256/{h}")).is_some());
        assert!(digest_from_name(&format!("{h}.json")).is_some());
        assert!(digest_from_name(&format!("{h}/layer.tar")).is_none());
    }
}
