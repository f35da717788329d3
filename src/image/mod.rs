//! Reading and writing container images: OCI layouts, oci-archives and
//! `docker save` archives (legacy and Docker >= 25), with every blob verified.

mod container;
pub use crate::digest;
mod layer;
mod reference;
pub mod write;

pub use container::{Container, Section};
pub use digest::Digest;
pub use layer::{read_layers, Compression, LayerStats, Layers};
pub use reference::{ImageRef, RefError, Transport};

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
    #[error("{0}")]
    Select(String),
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
    /// What the image's files live in, kept until it is dropped (a registry
    /// image's cache and layout).
    _keep: Vec<Box<dyn std::any::Any + Send + Sync>>,
}

impl Image {
    /// Keeps `x` alive as long as the image (what its container reads from).
    pub fn keep_alive(&mut self, x: Box<dyn std::any::Any + Send + Sync>) {
        self._keep.push(x);
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

/// `os/arch[/variant]` as users write it (`--platform linux/arm64/v8`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub arch: String,
    pub variant: Option<String>,
}

impl Platform {
    pub fn parse(s: &str) -> Result<Platform, RefError> {
        let parts: Vec<&str> = s.split('/').collect();
        match parts.as_slice() {
            [os, arch] | [os, arch, _] if !os.is_empty() && !arch.is_empty() => Ok(Platform {
                os: os.to_string(),
                arch: normalise_arch(arch).to_string(),
                variant: parts
                    .get(2)
                    .map(|v| v.to_string())
                    .filter(|v| !v.is_empty()),
            }),
            _ => Err(RefError(format!(
                "--platform '{s}': expected os/arch[/variant], e.g. linux/amd64"
            ))),
        }
    }

    /// The platform of the machine slim runs on, in GOARCH terms.
    pub fn host() -> Platform {
        Platform {
            os: "linux".into(),
            arch: normalise_arch(std::env::consts::ARCH).into(),
            variant: None,
        }
    }

    pub fn matches(&self, os: &str, arch: &str, variant: Option<&str>) -> bool {
        self.os == os
            && self.arch == normalise_arch(arch)
            && match (&self.variant, variant) {
                (None, _) => true,
                (Some(w), Some(v)) => w == v,
                // arm64 images often omit the default variant.
                (Some(w), None) => w == "v8" && self.arch == "arm64",
            }
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.arch)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// Rust/uname architecture names to Go's GOARCH, which image indexes use.
fn normalise_arch(a: &str) -> &str {
    match a {
        "x86_64" | "x86-64" => "amd64",
        "aarch64" => "arm64",
        "x86" | "i386" | "i686" => "386",
        "powerpc64" => "ppc64",
        "powerpc64le" => "ppc64le",
        "riscv64gc" => "riscv64",
        "arm" | "armhf" | "armel" => "arm",
        a => a,
    }
}

/// `manifest.json` of a `docker save` archive.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerManifest {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
    #[serde(default)]
    layer_sources: Option<BTreeMap<String, DockerLayerSource>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DockerLayerSource {
    media_type: String,
    size: u64,
}

/// Opens an image: picks the manifest (by tag and platform), reads and
/// verifies the manifest and config. Layers are read by [`read_layers`].
/// The container an image reference names, what it holds, and a scratch file
/// (a decompressed outer archive) to keep while it is read.
type Opened = (Container, Transport, Option<tempfile::TempPath>);

fn open_container(reference: &ImageRef) -> Result<Opened, Error> {
    if reference.transport == Some(Transport::Docker) {
        return Err(Error::Select(format!(
            "{reference}: a registry image is pulled first (slim opens docker:// images through its registry client)"
        )));
    }
    let path = &reference.path;
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound if reference.transport.is_none() && looks_remote(path) => {
            Error::Select(format!(
                "{}: no such file; it looks like a registry reference: name it docker://{0}",
                path.display()
            ))
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
            return Err(Error::Select(format!("oci:{}: not a directory (use oci-archive: for a tar)", path.display())))
        }
        Some(Transport::OciArchive) if meta.is_dir() => {
            return Err(Error::Select(format!("oci-archive:{}: is a directory (use oci:)", path.display())))
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

/// An image index (or one manifest) with everything it reaches, to copy
/// whole (`slim copy --all`): every platform, attestations too.
pub struct Whole {
    pub container: Container,
    /// The descriptor of what is copied, as `index.json` lists it.
    pub top: serde_json::Value,
    /// Every manifest and index, the top one last and each after those it
    /// lists (the order a registry accepts them in): digest, bytes, media type.
    pub manifests: Vec<(Digest, Vec<u8>, String)>,
    /// Configs and layers: digest and size.
    pub blobs: Vec<(Digest, u64)>,
    /// Every blob was checked against its digest by this process already
    /// (slim's registry cache does on arrival and on reuse), and the files
    /// never change: a writer may link them instead of copying and hashing.
    pub verified: bool,
    _scratch: Option<tempfile::TempPath>,
    _keep: Vec<Box<dyn std::any::Any + Send + Sync>>,
}

impl Whole {
    pub fn keep_alive(&mut self, x: Box<dyn std::any::Any + Send + Sync>) {
        self._keep.push(x);
    }
}

impl Image {
    /// The image's manifest, config and layers as they are stored, for a
    /// copy that changes no blob (the manifest's bytes and digest kept).
    /// None for a docker-archive, which stores no manifest to keep.
    pub fn into_whole(self) -> Result<Option<Whole>, Error> {
        let Some(digest) = self.manifest_digest.clone() else {
            return Ok(None);
        };
        let bytes = read_blob(&self.container, &digest, None)?;
        let loc = self
            .container
            .describe(&format!("blobs/sha256/{}", digest.hex()));
        let v: serde_json::Value = parse_json(&bytes, loc, "manifest")?;
        let mt = v
            .get("mediaType")
            .and_then(|m| m.as_str())
            .unwrap_or(crate::media::OCI_MANIFEST)
            .to_string();
        let mut blobs = vec![(self.config_digest.clone(), self.config_raw.len() as u64)];
        for l in &self.layers {
            let (Some(d), Some(size)) = (&l.digest, l.size) else {
                return Ok(None);
            };
            if !blobs.iter().any(|(x, _)| x == d) {
                blobs.push((d.clone(), size));
            }
        }
        let top = serde_json::json!({"mediaType": mt, "digest": digest, "size": bytes.len()});
        Ok(Some(Whole {
            container: self.container,
            top,
            manifests: vec![(digest, bytes, mt)],
            blobs,
            verified: false,
            _scratch: self._scratch,
            _keep: self._keep,
        }))
    }
}

/// Opens the index (or manifest) an OCI layout or archive lists under the
/// reference's tag (or its only entry), and walks everything it reaches,
/// checking each manifest's digest.
pub fn open_whole(reference: &ImageRef) -> Result<Whole, Error> {
    let (c, transport, scratch) = open_container(reference)?;
    if transport == Transport::DockerArchive {
        return Err(Error::Select(format!(
            "{reference}: a docker-archive holds images, not an index: --all copies OCI \
             layouts, oci-archives and registry images"
        )));
    }
    let index_loc = c.describe("index.json");
    let index: serde_json::Value = parse_json(
        &c.read_small("index.json", MAX_JSON)?,
        index_loc.clone(),
        "index.json",
    )?;
    let entries: Vec<&serde_json::Value> = index
        .get("manifests")
        .and_then(|m| m.as_array())
        .map(|v| v.iter().collect())
        .unwrap_or_default();
    let tag_of = |e: &serde_json::Value| {
        e.pointer("/annotations/org.opencontainers.image.ref.name")
            .and_then(|t| t.as_str())
            .map(String::from)
    };
    let chosen: Vec<&serde_json::Value> = match &reference.tag {
        Some(t) => entries
            .iter()
            .copied()
            .filter(|e| tag_of(e).as_deref() == Some(t.as_str()))
            .collect(),
        None => entries.clone(),
    };
    let top = match chosen.as_slice() {
        [one] => (*one).clone(),
        _ => {
            let tags: Vec<String> = entries.iter().filter_map(|e| tag_of(e)).collect();
            return Err(Error::Select(format!(
                "{index_loc}: {} entries match; pick one with {}:{}:TAG (available: {})",
                chosen.len(),
                transport.name(),
                reference.path.display(),
                list_or_none(&tags)
            )));
        }
    };
    let mut whole = Whole {
        container: c,
        top: top.clone(),
        manifests: Vec::new(),
        blobs: Vec::new(),
        verified: false,
        _scratch: scratch,
        _keep: Vec::new(),
    };
    walk_whole(&mut whole, &top, 0)?;
    Ok(whole)
}

fn walk_whole(w: &mut Whole, desc: &serde_json::Value, depth: usize) -> Result<(), Error> {
    let loc = w.container.describe("index.json");
    if depth > 8 {
        return Err(Error::Invalid {
            location: loc,
            problem: "indexes nest too deeply".into(),
        });
    }
    let digest = parse_digest(
        desc.get("digest").and_then(|d| d.as_str()).unwrap_or(""),
        &loc,
    )?;
    let size = desc.get("size").and_then(|s| s.as_u64());
    let bytes = read_blob(&w.container, &digest, size)?;
    let mloc = w
        .container
        .describe(&format!("blobs/sha256/{}", digest.hex()));
    let v: serde_json::Value = parse_json(&bytes, mloc.clone(), "manifest")?;
    let mt = v
        .get("mediaType")
        .and_then(|m| m.as_str())
        .or_else(|| desc.get("mediaType").and_then(|m| m.as_str()))
        .unwrap_or(if v.get("manifests").is_some() {
            crate::media::OCI_INDEX
        } else {
            crate::media::OCI_MANIFEST
        })
        .to_string();
    if let Some(children) = v.get("manifests").and_then(|m| m.as_array()) {
        for c in children {
            walk_whole(w, c, depth + 1)?;
        }
    } else {
        let config = v.get("config").into_iter();
        let layers = v
            .get("layers")
            .and_then(|l| l.as_array())
            .into_iter()
            .flatten();
        for d in config.chain(layers) {
            let bd = parse_digest(
                d.get("digest").and_then(|x| x.as_str()).unwrap_or(""),
                &mloc,
            )?;
            let bs = d.get("size").and_then(|x| x.as_u64()).unwrap_or(0);
            let name = format!("blobs/sha256/{}", bd.hex());
            if !w.container.exists(&name) {
                return Err(Error::Missing {
                    what: format!("blob {bd}"),
                    location: w.container.describe(&name),
                });
            }
            if !w.blobs.iter().any(|(x, _)| *x == bd) {
                w.blobs.push((bd, bs));
            }
        }
    }
    if !w.manifests.iter().any(|(d, _, _)| *d == digest) {
        w.manifests.push((digest, bytes, mt));
    }
    Ok(())
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

fn open_docker(
    c: Container,
    reference: &ImageRef,
    platform: Option<&Platform>,
) -> Result<Image, Error> {
    let bytes = c.read_small("manifest.json", MAX_JSON)?;
    let loc = c.describe("manifest.json");
    let entries: Vec<DockerManifest> = parse_json(&bytes, loc.clone(), "docker manifest.json")?;
    let tags = |m: &DockerManifest| m.repo_tags.clone().unwrap_or_default();
    let all: Vec<String> = entries.iter().flat_map(tags).collect();
    let (entry, name) = match &reference.tag {
        // skopeo's syntax for "the Nth image": docker-archive:x.tar:@N
        Some(t) if t.starts_with('@') => {
            let n: usize = t[1..].parse().map_err(|_| Error::Select(format!("'{t}': expected @N, an image index")))?;
            let e = entries
                .get(n)
                .ok_or_else(|| Error::Select(format!("{loc}: no image @{n}: the archive holds {}", entries.len())))?;
            (e, tags(e).first().cloned())
        }
        Some(t) => {
            let hit = entries.iter().find(|m| tags(m).iter().any(|rt| ref_matches(rt, t)));
            let e = hit.ok_or_else(|| {
                Error::Select(format!("{loc}: no image tagged '{t}'; available: {}", list_or_none(&all)))
            })?;
            (e, Some(t.clone()))
        }
        None if entries.len() == 1 => (&entries[0], tags(&entries[0]).first().cloned()),
        None if entries.is_empty() => {
            return Err(Error::Invalid { location: loc, problem: "lists no image".into() })
        }
        None => {
            return Err(Error::Select(format!(
                "{loc}: the archive holds {} images; pick one with docker-archive:{}:REF (available: {}, or @0..@{})",
                entries.len(),
                reference.path.display(),
                list_or_none(&all),
                entries.len() - 1
            )))
        }
    };
    let config_digest = digest_from_name(&entry.config).ok_or_else(|| Error::Invalid {
        location: loc.clone(),
        problem: format!("config '{}' is not named by its digest", entry.config),
    })?;
    let (config_raw, config) = load_config(&c, &entry.config, &config_digest, None)?;
    check_platform(&config, platform, &c.describe(&entry.config))?;
    let diff_ids = diff_ids(&config, entry.layers.len(), &c.describe(&entry.config))?;
    let layers = entry
        .layers
        .iter()
        .zip(diff_ids)
        .map(|(name, diff_id)| {
            let digest = name
                .starts_with("blobs/sha256/")
                .then(|| digest_from_name(name))
                .flatten();
            let source = digest
                .as_ref()
                .and_then(|d| entry.layer_sources.as_ref()?.get(d.as_str()));
            LayerBlob {
                name: name.clone(),
                size: source.map(|s| s.size),
                media_type: source.map(|s| s.media_type.clone()),
                digest,
                diff_id,
            }
        })
        .collect();
    Ok(Image {
        reference: reference.clone(),
        transport: Transport::DockerArchive,
        container: c,
        manifest_digest: None,
        config_digest,
        config_raw,
        config,
        layers,
        name,
        _scratch: None,
        _keep: Vec::new(),
    })
}

/// `docker.io/library/x:1` matches `x:1`, `library/x:1` and itself.
fn ref_matches(repo_tag: &str, wanted: &str) -> bool {
    let norm = |s: &str| {
        let s = s.strip_prefix("docker.io/").unwrap_or(s);
        let s = s.strip_prefix("library/").unwrap_or(s);
        let has_tag = s.rsplit_once(':').is_some_and(|(_, t)| !t.contains('/'));
        if has_tag {
            s.to_string()
        } else {
            format!("{s}:latest")
        }
    };
    norm(repo_tag) == norm(wanted)
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
            return Err(Error::Select(format!(
                "{location}: the image is for {os}/{arch}, not {w}"
            )));
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

/// A manifest found while walking the index, with how to choose it.
struct Candidate {
    digest: Digest,
    size: u64,
    tag: Option<String>,
    platform: Option<EntryPlatform>,
}

/// An index entry's `os`, `architecture` and `variant`.
pub type EntryPlatform = (String, String, Option<String>);

/// The one platform chooser, for local indexes and registries alike: the
/// positions of the entries `want` (this machine's platform when None)
/// matches; when none does, a message naming `want` and the platforms there
/// are.
pub fn matching_platforms(
    entries: &[Option<EntryPlatform>],
    want: Option<&Platform>,
) -> Result<Vec<usize>, String> {
    let host = Platform::host();
    let want = want.unwrap_or(&host);
    let hits: Vec<usize> = entries
        .iter()
        .enumerate()
        .filter(|(_, p)| {
            p.as_ref()
                .is_some_and(|(os, arch, v)| want.matches(os, arch, v.as_deref()))
        })
        .map(|(i, _)| i)
        .collect();
    if !hits.is_empty() {
        return Ok(hits);
    }
    let avail: Vec<String> = entries
        .iter()
        .flatten()
        .map(|(os, arch, v)| match v {
            Some(v) => format!("{os}/{arch}/{v}"),
            None => format!("{os}/{arch}"),
        })
        .collect();
    Err(format!(
        "no image for platform {want}; available: {} (choose with --platform)",
        if avail.is_empty() {
            "none".to_string()
        } else {
            avail.join(", ")
        }
    ))
}

fn open_oci(
    c: Container,
    reference: &ImageRef,
    platform: Option<&Platform>,
) -> Result<Image, Error> {
    let index_loc = c.describe("index.json");
    let index: ImageIndex = parse_json(
        &c.read_small("index.json", MAX_JSON)?,
        index_loc.clone(),
        "index.json",
    )?;
    let mut found = Vec::new();
    walk_index(&c, &index, None, &mut found, 0)?;
    if let Some(t) = &reference.tag {
        let tags: Vec<String> = found.iter().filter_map(|f| f.tag.clone()).collect();
        found.retain(|f| {
            f.tag.as_deref() == Some(t) || f.tag.as_deref().is_some_and(|ft| ref_matches(ft, t))
        });
        if found.is_empty() {
            let mut tags = tags;
            tags.sort();
            tags.dedup();
            return Err(Error::Select(format!(
                "{index_loc}: no image tagged '{t}'; available: {}",
                list_or_none(&tags)
            )));
        }
    }
    if found.is_empty() {
        return Err(Error::Invalid {
            location: index_loc,
            problem: "lists no image manifest".into(),
        });
    }
    let with_platform = found.iter().any(|f| f.platform.is_some());
    if found.len() > 1 && with_platform {
        let platforms: Vec<_> = found.iter().map(|f| f.platform.clone()).collect();
        let hits = matching_platforms(&platforms, platform)
            .map_err(|m| Error::Select(format!("{index_loc}: {m}")))?;
        found = found
            .into_iter()
            .enumerate()
            .filter(|(i, _)| hits.contains(i))
            .map(|(_, f)| f)
            .collect();
    }
    // Identical digests reached twice (a tag on an index and on a manifest) are one image.
    found.sort_by(|a, b| a.digest.cmp(&b.digest));
    found.dedup_by(|a, b| a.digest == b.digest);
    if found.len() > 1 {
        let tags: Vec<String> = found
            .iter()
            .map(|f| f.tag.clone().unwrap_or_else(|| f.digest.to_string()))
            .collect();
        return Err(Error::Select(format!(
            "{index_loc}: the layout holds {} images; pick one with {}:{}:TAG (available: {})",
            found.len(),
            reference.transport.unwrap_or(Transport::Oci).name(),
            reference.path.display(),
            tags.join(", ")
        )));
    }
    let chosen = found.remove(0);
    let mloc = c.describe(&format!("blobs/sha256/{}", chosen.digest.hex()));
    let bytes = read_blob(&c, &chosen.digest, Some(chosen.size))?;
    let manifest: ImageManifest = parse_json(&bytes, mloc.clone(), "image manifest")?;
    match manifest.config().media_type() {
        MediaType::ImageConfig => {}
        MediaType::Other(s) if s == crate::media::DOCKER_CONFIG => {}
        other => {
            return Err(Error::MediaType {
                location: mloc,
                what: "the config (not a container image?)",
                media_type: other.to_string(),
            })
        }
    }
    let config_digest = parse_digest(manifest.config().digest().as_ref(), &mloc)?;
    let config_name = format!("blobs/sha256/{}", config_digest.hex());
    let (config_raw, config) = load_config(
        &c,
        &config_name,
        &config_digest,
        Some(manifest.config().size()),
    )?;
    if !with_platform {
        check_platform(&config, platform, &c.describe(&config_name))?;
    }
    let ids = diff_ids(&config, manifest.layers().len(), &c.describe(&config_name))?;
    let mut layers = Vec::new();
    for (d, diff_id) in manifest.layers().iter().zip(ids) {
        let mt = d.media_type().to_string();
        if Compression::from_media_type(&mt).is_none() {
            return Err(Error::MediaType {
                location: mloc,
                what: "a layer",
                media_type: mt,
            });
        }
        let digest = parse_digest(d.digest().as_ref(), &mloc)?;
        let name = format!("blobs/sha256/{}", digest.hex());
        if !c.exists(&name) {
            return Err(Error::Missing {
                what: format!("layer blob {digest}"),
                location: c.describe(&name),
            });
        }
        layers.push(LayerBlob {
            name,
            digest: Some(digest),
            size: Some(d.size()),
            media_type: Some(mt),
            diff_id,
        });
    }
    Ok(Image {
        reference: reference.clone(),
        transport: Transport::Oci,
        container: c,
        manifest_digest: Some(chosen.digest),
        config_digest,
        config_raw,
        config,
        layers,
        name: chosen.tag,
        _scratch: None,
        _keep: Vec::new(),
    })
}

/// Collects the image manifests an index reaches, through nested indexes.
fn walk_index(
    c: &Container,
    index: &ImageIndex,
    tag: Option<&str>,
    out: &mut Vec<Candidate>,
    depth: usize,
) -> Result<(), Error> {
    if depth > 8 {
        return Err(Error::Invalid {
            location: c.describe("index.json"),
            problem: "indexes nest too deeply".into(),
        });
    }
    for d in index.manifests() {
        let ann = d.annotations().as_ref();
        let get = |k: &str| ann.and_then(|a| a.get(k)).cloned();
        // BuildKit attaches attestations as manifests for platform unknown/unknown.
        if get("vnd.docker.reference.type").is_some() {
            continue;
        }
        let this_tag = get("org.opencontainers.image.ref.name")
            .or_else(|| get("io.containerd.image.name"))
            .or_else(|| tag.map(String::from));
        let digest = parse_digest(d.digest().as_ref(), &c.describe("index.json"))?;
        let mt = d.media_type().to_string();
        if matches!(d.media_type(), MediaType::ImageIndex) || mt == crate::media::DOCKER_LIST {
            let bytes = read_blob(c, &digest, Some(d.size()))?;
            let loc = c.describe(&format!("blobs/sha256/{}", digest.hex()));
            let nested: ImageIndex = parse_json(&bytes, loc, "image index")?;
            walk_index(c, &nested, this_tag.as_deref(), out, depth + 1)?;
        } else if matches!(d.media_type(), MediaType::ImageManifest)
            || mt == crate::media::DOCKER_MANIFEST
        {
            let platform = d.platform().as_ref().map(|p| {
                (
                    p.os().to_string(),
                    p.architecture().to_string(),
                    p.variant().clone(),
                )
            });
            out.push(Candidate {
                digest,
                size: d.size(),
                tag: this_tag,
                platform,
            });
        } else {
            return Err(Error::MediaType {
                location: c.describe("index.json"),
                what: "an index entry",
                media_type: mt,
            });
        }
    }
    Ok(())
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
