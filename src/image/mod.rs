//! Reading and writing container images: OCI layouts, oci-archives and
//! `docker save` archives (legacy and Docker >= 25), with every blob verified.

mod container;
mod docker;
mod oci;
mod platform;
mod whole;
pub use crate::digest;
mod layer;
mod reference;
pub mod write;

pub use container::{Container, Section};
pub use digest::Digest;
use docker::*;
pub use layer::{read_layers, Compression, LayerStats, Layers};
use oci::*;
pub use platform::{matching_platforms, EntryPlatform, Platform};
pub use reference::{ImageRef, RefError, Transport};
pub use whole::{open_whole, Whole};

use oci_spec::image::{ImageConfiguration, ImageIndex, ImageManifest, MediaType};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::io;
use std::path::Path;

/// Manifests, indexes and configs are small; anything bigger is corrupt.
const MAX_JSON: u64 = 16 << 20;

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
    _scratch: Option<tempfile::TempPath>,
    /// What the image's files live in, released when it is dropped.
    backing: Option<Box<dyn Backing>>,
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

/// Opens an image: picks the manifest (by tag and platform), reads and
/// verifies the manifest and config. Layers are read by [`read_layers`].
/// The container an image reference names, what it holds, and a scratch file
/// (a decompressed outer archive) to keep while it is read.
type Opened = (Container, Transport, Option<tempfile::TempPath>);

fn open_container(reference: &ImageRef) -> Result<Opened, Error> {
    if reference.transport == Some(Transport::Docker) {
        return Err(Error::select(reference, "a registry image is pulled first (slim opens docker:// images through its registry client)".to_string()));
    }
    let path = &reference.path;
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound if reference.transport.is_none() && looks_remote(path) => {
            Error::select(
                path.display(),
                format!(
                    "no such file; it looks like a registry reference: name it docker://{}",
                    path.display()
                ),
            )
        }
        _ => Error::io(path, e),
    })?;
    let mut scratch = None;
    let not_tar = |what: &str| Error::Invalid {
        location: path.display().to_string(),
        problem: format!(
            "{what} is not a tar archive; an image is a `docker save` tar, an oci-archive \
             or an OCI layout directory"
        ),
    };
    let container = if meta.is_dir() {
        Container::Dir(path.clone())
    } else {
        match decompress_outer(path)? {
            Some((tmp, codec)) => {
                let c = Container::open_tar(&tmp).map_err(|e| match e {
                    Error::BadArchive { .. } => {
                        not_tar(&format!("the {} data it holds", codec.name()))
                    }
                    e => e,
                })?;
                scratch = Some(tmp);
                c
            }
            None => Container::open_tar(path).map_err(|e| match e {
                Error::BadArchive { source, .. }
                    if source.kind() != io::ErrorKind::UnexpectedEof =>
                {
                    not_tar("it")
                }
                e => e,
            })?,
        }
    };
    let has_docker = container.exists("manifest.json");
    let has_oci = container.exists("oci-layout") && container.exists("index.json");
    let transport = match reference.transport {
        Some(Transport::Oci) if !meta.is_dir() => {
            return Err(Error::select(format_args!("oci:{}", path.display()), "not a directory (use oci-archive: for a tar)".into()))
        }
        Some(Transport::OciArchive) if meta.is_dir() => {
            return Err(Error::select(format_args!("oci-archive:{}", path.display()), "is a directory (use oci:)".into()))
        }
        Some(t @ (Transport::Oci | Transport::OciArchive)) if has_oci => t,
        Some(Transport::DockerArchive) if has_docker => Transport::DockerArchive,
        Some(t) => {
            let want = if t == Transport::DockerArchive { "manifest.json" } else { "oci-layout and index.json" };
            return Err(Error::Invalid {
                location: path.display().to_string(),
                problem: format!("not a {} image: no {want}", t.name()),
            });
        }
        // Docker >= 25 archives are both; their manifest.json names the image directly.
        None if has_docker => Transport::DockerArchive,
        None if has_oci => {
            if meta.is_dir() {
                Transport::Oci
            } else {
                Transport::OciArchive
            }
        }
        None => {
            return Err(Error::Invalid {
                location: path.display().to_string(),
                problem: "not an image: neither manifest.json (docker save) nor oci-layout + index.json (OCI) found"
                    .into(),
            })
        }
    };
    Ok((container, transport, scratch))
}

pub fn open(reference: &ImageRef, platform: Option<&Platform>) -> Result<Image, Error> {
    let (container, transport, scratch) = open_container(reference)?;
    let mut image = match transport {
        Transport::DockerArchive => open_docker(container, reference, platform)?,
        _ => open_oci(container, reference, platform)?,
    };
    image.transport = transport;
    image._scratch = scratch;
    Ok(image)
}

/// `docker save | gzip > x.tar.gz` is common: decompress such an outer
/// archive to a temporary file so its members can be read in place.
fn decompress_outer(path: &Path) -> Result<Option<(tempfile::TempPath, Compression)>, Error> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut magic = [0u8; 4];
    let n = f.read(&mut magic).map_err(|e| Error::io(path, e))?;
    let codec = Compression::sniff(&magic[..n]);
    if codec == Compression::None {
        return Ok(None);
    }
    let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    // What a killed run spooled there before.
    crate::tmp::sweep(&std::env::temp_dir());
    let mut tmp = crate::tmp::file_in(&std::env::temp_dir())
        .map_err(|e| Error::io(std::env::temp_dir(), e))?;
    let mut r = codec
        .decoder(io::BufReader::new(f))
        .map_err(|e| Error::io(path, e))?;
    io::copy(&mut r, tmp.as_file_mut()).map_err(|e| Error::Invalid {
        location: path.display().to_string(),
        problem: format!("corrupt {} data: {e}", codec.name()),
    })?;
    Ok(Some((tmp.into_temp_path(), codec)))
}

/// `nginx:latest`, `ghcr.io/org/app:1.2`, `localhost:5000/x@sha256:…`: a name
/// users type for a registry image, given where a file was expected.
fn looks_remote(p: &Path) -> bool {
    let s = p.to_string_lossy();
    if s.starts_with('/') || s.starts_with('.') || s.ends_with(".tar") || s.ends_with(".tar.gz") {
        return false;
    }
    let first = s.split('/').next().unwrap_or_default();
    let tagged = s
        .rsplit('/')
        .next()
        .is_some_and(|last| last.contains(':') || last.contains('@'));
    tagged || first.contains('.') && s.contains('/')
}

fn parse_json<T: serde::de::DeserializeOwned>(
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
fn read_blob(c: &Container, digest: &Digest, size: Option<u64>) -> Result<Vec<u8>, Error> {
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

fn verify(bytes: &[u8], digest: &Digest, size: Option<u64>, location: String) -> Result<(), Error> {
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

fn parse_digest(s: &str, location: &str) -> Result<Digest, Error> {
    Digest::parse(s).ok_or_else(|| Error::Invalid {
        location: location.to_string(),
        problem: format!("'{s}' is not a sha256 digest"),
    })
}

/// The digest named by a `blobs/sha256/<hex>` or `<hex>.json` member name, if any.
fn digest_from_name(name: &str) -> Option<Digest> {
    let base = name.rsplit('/').next()?;
    let hex = base.strip_suffix(".json").unwrap_or(base);
    let hex = if name.contains("blobs/sha256/") || base.ends_with(".json") {
        hex
    } else {
        return None;
    };
    Digest::parse(&format!("sha256:{hex}"))
}

fn load_config(
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

fn list_or_none(v: &[String]) -> String {
    if v.is_empty() {
        "none tagged".into()
    } else {
        v.join(", ")
    }
}

fn check_platform(
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

fn diff_ids(
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
    fn docker_refs_match_with_and_without_registry_prefix() {
        assert!(ref_matches("docker.io/library/nginx:1", "nginx:1"));
        assert!(ref_matches("docker.io/slim-test/x:t", "slim-test/x:t"));
        assert!(ref_matches("x", "x:latest"));
        assert!(!ref_matches("x:1", "x:2"));
    }

    #[test]
    fn digest_names() {
        let h = "a".repeat(64);
        assert!(digest_from_name(&format!("blobs/sha256/{h}")).is_some());
        assert!(digest_from_name(&format!("{h}.json")).is_some());
        assert!(digest_from_name(&format!("{h}/layer.tar")).is_none());
    }
}
