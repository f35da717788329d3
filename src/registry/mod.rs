//! Registries as a transport: `docker://HOST[:PORT]/REPO[:TAG|@sha256:…]`,
//! read and written daemonless over the OCI Distribution API (reqwest,
//! rustls). Pulling streams each blob once into a content-addressed cache
//! ([`cache`]), verifying its digest as it arrives, and presents the image as
//! an OCI layout over that cache, so everything after works as for a local
//! archive. Pushing uploads only what the registry lacks (or mounts it from
//! the source repository), then the manifest. The async runtime stays in
//! here: the rest of slim is synchronous.

pub mod auth;
pub mod cache;
mod client;
mod fault;
mod push;
pub mod retry;
mod session;
mod tls;

use crate::image::digest::Digest;
use crate::image::Platform;
use crate::progress::Reporter;
use serde_json::{json, Value};
use session::Session;
use std::path::{Path, PathBuf};

use crate::media::{is_index, ACCEPT};

pub use crate::reference::Remote;
pub use push::*;

/// How to reach registries: credentials, TLS, the blob cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub creds: Option<auth::Creds>,
    pub authfile: Option<PathBuf>,
    /// CA certificates (`*.crt`) to trust and a client certificate
    /// (`NAME.cert` + `NAME.key`); else the first of
    /// `~/.config/containers/certs.d/HOST`, `/etc/containers/certs.d/HOST`,
    /// `/etc/docker/certs.d/HOST` that exists.
    pub cert_dir: Option<PathBuf>,
    /// false: plain HTTP and unverified TLS are allowed.
    pub tls_verify: bool,
    /// Where the blob cache is; None for none (a temporary one per command).
    pub cache: Option<PathBuf>,
    /// How often and how patiently to try each request.
    pub retry: retry::Policy,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            creds: None,
            authfile: None,
            cert_dir: None,
            tls_verify: true,
            cache: Some(cache::Cache::default_dir()),
            retry: retry::Policy::default(),
        }
    }
}

/// What went wrong, in one line naming the registry and the way out.
/// Credentials never appear in it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Auth(String),
    #[error("{0}")]
    Registry(Failure),
    #[error("blob cache {path}: {message}")]
    Cache { path: String, message: String },
    #[error(transparent)]
    Image(#[from] crate::image::Error),
}

/// A registry that failed, or the way to it: where, while doing what, the
/// status it answered, why, and what to try — each its own field, so callers
/// and reports need not take the message apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The registry host or repository (`localhost:5000/app`).
    pub at: String,
    /// What slim was doing (`pulling the manifest`), when it matters.
    pub doing: Option<String>,
    /// The HTTP status the registry answered with, when it answered.
    pub status: Option<u16>,
    /// What went wrong.
    pub cause: String,
    /// What to try, when slim knows.
    pub hint: Option<String>,
    /// Requests made before giving up (more than one: retried).
    pub attempts: u32,
}

impl Failure {
    pub(crate) fn new(at: impl std::fmt::Display, cause: impl Into<String>) -> Failure {
        Failure {
            at: at.to_string(),
            doing: None,
            status: None,
            cause: cause.into(),
            hint: None,
            attempts: 1,
        }
    }

    pub(crate) fn doing(mut self, doing: &str) -> Failure {
        self.doing = Some(doing.to_string());
        self
    }

    pub(crate) fn hint(mut self, hint: impl Into<String>) -> Failure {
        self.hint = Some(hint.into());
        self
    }
}

/// `AT: DOING: CAUSE: HINT (gave up after N attempts)`, the parts it has.
impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: ", self.at)?;
        if let Some(d) = &self.doing {
            write!(f, "{d}: ")?;
        }
        f.write_str(&self.cause)?;
        if let Some(h) = &self.hint {
            write!(f, ": {h}")?;
        }
        if self.attempts > 1 {
            write!(f, " (gave up after {} attempts)", self.attempts)?;
        }
        Ok(())
    }
}

impl From<Failure> for Error {
    fn from(f: Failure) -> Error {
        Error::Registry(f)
    }
}

/// A failure at `at` (a host or repository) for `cause`.
pub(crate) fn fail(at: impl std::fmt::Display, cause: impl Into<String>) -> Error {
    Error::Registry(Failure::new(at, cause))
}

/// The TLS alerts a server sends when it wants a client certificate it did
/// not get, or does not accept the one it got (Go's and OpenSSL's servers).
const CLIENT_CERT_ALERTS: [&str; 5] = [
    "alert: badcertificate",
    "alert: certificaterequired",
    "alert: unknownca",
    "alert: certificateunknown",
    "alert: accessdenied",
];

pub(crate) fn client_cert_alert(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    CLIENT_CERT_ALERTS.iter().any(|a| t.contains(a))
}

pub(crate) fn transport_error(
    host: &str,
    text: &str,
    doing: &str,
    client_cert: Option<&Path>,
) -> Error {
    let t = text.to_ascii_lowercase();
    let f = Failure::new(host, text).doing(doing);
    Error::Registry(if client_cert_alert(text) {
        match client_cert {
            None => Failure {
                cause: format!("the registry asks for a TLS client certificate ({text})"),
                ..f
            }
            .hint(format!(
                "put it as NAME.cert with its key NAME.key in --cert-dir DIR \
                 (or /etc/containers/certs.d/{host})"
            )),
            Some(c) => Failure {
                cause: format!(
                    "the registry refused the client certificate {} ({text})",
                    c.display()
                ),
                ..f
            }
            .hint("is it issued by a CA the registry trusts, for client use, and not expired?"),
        }
    } else if t.contains("certificate")
        || t.contains("unknownissuer")
        || t.contains("tls") && t.contains("invalid")
    {
        Failure {
            cause: format!("TLS certificate problem ({text})"),
            ..f
        }
        .hint(
            "trust the registry's CA with --cert-dir DIR (its *.crt), or for a test registry \
             --tls-verify=false",
        )
    } else if t.contains("connection refused") {
        Failure {
            cause: "connection refused".into(),
            ..f
        }
        .hint("is the registry running, and is the port right?")
    } else if t.contains("dns error") || t.contains("failed to lookup") {
        Failure {
            cause: "cannot resolve the host name".into(),
            ..f
        }
    } else if t.contains("http")
        && (t.contains("wrong version")
            || t.contains("corrupt message")
            || t.contains("invalidcontenttype"))
    {
        Failure {
            cause: format!("the registry does not speak TLS ({text})"),
            ..f
        }
        .hint("for a plain-HTTP registry pass --tls-verify=false")
    } else {
        f
    })
}

/// The media type a manifest says it is (or an index, by its shape).
fn media_type(v: &Value) -> String {
    match v.get("mediaType").and_then(Value::as_str) {
        Some(m) => m.to_string(),
        None if v.get("manifests").is_some() => crate::media::OCI_INDEX.to_string(),
        None => crate::media::OCI_MANIFEST.to_string(),
    }
}

/// A descriptor's digest and size.
fn descriptor(v: &Value, what: &str, repo: &str) -> Result<(Digest, u64), Error> {
    let d = v
        .get("digest")
        .and_then(Value::as_str)
        .and_then(Digest::parse);
    let s = v.get("size").and_then(Value::as_u64);
    match (d, s) {
        (Some(d), Some(s)) => Ok((d, s)),
        _ => Err(fail(repo, format!("{what} has no sha256 digest and size"))),
    }
}

/// The index entry for `want` (else this machine's platform): attestations
/// skipped, the rest matched by os/arch/variant. An index of one entry that
/// names no platform is that entry, unless a platform was asked for (as for
/// a local layout: its config's platform is then checked).
fn choose(index: &Value, want: Option<&Platform>, repo: &str) -> Result<Value, Error> {
    let entries = images(index);
    if let [only] = entries.as_slice() {
        if want.is_none() && only.get("platform").is_none() {
            return Ok((*only).clone());
        }
    }
    let platform_of = |e: &Value| {
        let p = e.get("platform")?;
        Some((
            p.get("os")?.as_str()?.to_string(),
            p.get("architecture")?.as_str()?.to_string(),
            p.get("variant").and_then(Value::as_str).map(String::from),
        ))
    };
    let platforms: Vec<_> = entries.iter().map(|e| platform_of(e)).collect();
    match crate::image::matching_platforms(&platforms, want) {
        Ok(hits) => Ok(entries[hits[0]].clone()),
        Err(m) => Err(fail(repo, m)),
    }
}

/// An image pulled into the cache, laid out as an OCI layout directory whose
/// `index.json` names its manifest and whose `blobs` are the cache's.
pub struct Pulled {
    pub layout: tempfile::TempDir,
    pub manifest_digest: Digest,
    /// Blobs downloaded (the rest were in the cache, verified).
    pub downloaded: usize,
    _cache: cache::Cache,
}

fn open_cache(opts: &Options) -> Result<cache::Cache, Error> {
    cache::Cache::open(opts.cache.as_deref()).map_err(|e| Error::Cache {
        path: opts
            .cache
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "(temporary)".into()),
        message: e.to_string(),
    })
}

fn put(cache: &cache::Cache, d: &Digest, b: &[u8]) -> Result<(), Error> {
    cache.put(d, b).map_err(|m| Error::Cache {
        path: cache.root().display().to_string(),
        message: m.to_string(),
    })
}

/// A manifest's config and layers.
fn blobs_of(manifest: &Value, repo: &str) -> Result<Vec<(Digest, u64)>, Error> {
    let mut blobs = vec![descriptor(
        manifest.get("config").unwrap_or(&Value::Null),
        "the config",
        repo,
    )?];
    for l in manifest
        .get("layers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        blobs.push(descriptor(l, "a layer", repo)?);
    }
    Ok(blobs)
}

fn parse_manifest(bytes: &[u8], digest: &Digest, repo: &str) -> Result<(Value, String), Error> {
    let v: Value = serde_json::from_slice(bytes)
        .map_err(|e| fail(repo, format!("the manifest {digest} is not JSON: {e}")))?;
    let mt = media_type(&v);
    if !is_index(&mt) && mt != crate::media::OCI_MANIFEST && mt != crate::media::DOCKER_MANIFEST {
        return Err(fail(
            repo,
            format!("{digest} is a {mt}, not a container image manifest or index"),
        ));
    }
    Ok((v, mt))
}

impl Session {
    /// The manifest an index entry names, its size checked.
    fn child(&self, entry: &Value, doing: &str) -> Result<(Vec<u8>, Digest), Error> {
        let repo = self.remote.repo();
        let (child, size) = descriptor(entry, "an index entry", &repo)?;
        let (b, d) = self.manifest(child.as_str(), doing)?;
        if b.len() as u64 != size {
            return Err(fail(
                &repo,
                format!("manifest {d} is {} bytes, its index says {size}", b.len()),
            ));
        }
        Ok((b, d))
    }

    /// Downloads `blobs` (four at a time) into the cache; returns how many
    /// were not there already.
    fn fetch_all(
        &self,
        cache: &cache::Cache,
        blobs: &[(Digest, u64)],
        reporter: &dyn Reporter,
    ) -> Result<usize, Error> {
        let fetched = self.rt.block_on(async {
            use futures_util::{StreamExt, TryStreamExt};
            futures_util::stream::iter(blobs.iter().enumerate())
                .map(|(i, (d, size))| self.fetch(cache, d, *size, reporter, i))
                .buffer_unordered(4)
                .try_collect::<Vec<bool>>()
                .await
        })?;
        Ok(fetched.into_iter().filter(|d| *d).count())
    }

    /// Every manifest and blob an index (or manifest) reaches, manifests into
    /// the cache as they come.
    fn walk(
        &self,
        cache: &cache::Cache,
        bytes: &[u8],
        digest: &Digest,
        depth: usize,
        blobs: &mut Vec<(Digest, u64)>,
    ) -> Result<(), Error> {
        let repo = self.remote.repo();
        put(cache, digest, bytes)?;
        let (v, mt) = parse_manifest(bytes, digest, &repo)?;
        if !is_index(&mt) {
            for b in blobs_of(&v, &repo)? {
                if !blobs.contains(&b) {
                    blobs.push(b);
                }
            }
            return Ok(());
        }
        if depth > 8 {
            return Err(fail(&repo, "indexes nest too deeply"));
        }
        for e in v
            .get("manifests")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let (b, d) = self.child(e, "pulling the index's manifests")?;
            self.walk(cache, &b, &d, depth + 1, blobs)?;
        }
        Ok(())
    }
}

/// An OCI layout over the cache whose index.json names one manifest or index.
fn layout_over(
    cache: &cache::Cache,
    mut desc: Value,
    tag: Option<&str>,
) -> Result<tempfile::TempDir, Error> {
    let layout = crate::tmp::dir_in(&std::env::temp_dir()).map_err(|e| Error::Cache {
        path: std::env::temp_dir().display().to_string(),
        message: e.to_string(),
    })?;
    if let Some(t) = tag {
        desc["annotations"] = json!({"org.opencontainers.image.ref.name": t});
    }
    let io = |e: std::io::Error| Error::Cache {
        path: layout.path().display().to_string(),
        message: e.to_string(),
    };
    std::fs::write(
        layout.path().join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .map_err(io)?;
    std::fs::write(
        layout.path().join("index.json"),
        serde_json::to_vec(
            &json!({"schemaVersion": 2, "mediaType": crate::media::OCI_INDEX, "manifests": [desc]}),
        )
        .expect("JSON"),
    )
    .map_err(io)?;
    std::os::unix::fs::symlink(cache.root().join("blobs"), layout.path().join("blobs"))
        .map_err(io)?;
    Ok(layout)
}

/// Pulls the image `remote` names (the one for `platform` of an index):
/// manifests, config and layers, each verified, into the cache.
pub fn pull(
    remote: &Remote,
    platform: Option<&Platform>,
    opts: &Options,
    reporter: &dyn Reporter,
) -> Result<Pulled, Error> {
    let s = Session::connect(remote, opts, false)?;
    let cache = open_cache(opts)?;
    let (bytes, digest) = s.manifest(&remote.reference(), "pulling the manifest")?;
    pull_from(&s, cache, bytes, digest, platform, reporter)
}

/// Pulls what `remote` names for the platforms `wanted` (every one when
/// empty): when its index lists more than one of them, the whole index
/// (as [`pull_all`]), else the one image (as [`pull`]).
pub fn pull_platforms(
    remote: &Remote,
    wanted: &[Platform],
    opts: &Options,
    reporter: &dyn Reporter,
) -> Result<Pulled, Error> {
    let s = Session::connect(remote, opts, false)?;
    let repo = remote.repo();
    let cache = open_cache(opts)?;
    let (bytes, digest) = s.manifest(&remote.reference(), "pulling the manifest")?;
    let (v, mt) = parse_manifest(&bytes, &digest, &repo)?;
    if is_index(&mt) && images_for(&v, wanted) > 1 {
        let mut blobs = Vec::new();
        s.walk(&cache, &bytes, &digest, 0, &mut blobs)?;
        let downloaded = s.fetch_all(&cache, &blobs, reporter)?;
        return Pulled::over(cache, &mt, digest, bytes.len(), remote, downloaded);
    }
    let one = match wanted {
        [p] => Some(p),
        _ => None,
    };
    if is_index(&mt) && one.is_none() && images_for(&v, wanted) == 1 {
        // The index's only image, whatever this machine is.
        let only = images(&v).into_iter().next().cloned();
        if let Some(e) = only {
            let (bytes, digest) = s.child(&e, "pulling the platform's manifest")?;
            put(&cache, &digest, &bytes)?;
            return pull_from(&s, cache, bytes, digest, None, reporter);
        }
    }
    pull_from(&s, cache, bytes, digest, one, reporter)
}

/// An index's entries that are images (not BuildKit's attestations).
fn images(index: &Value) -> Vec<&Value> {
    index
        .get("manifests")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|e| {
            e.pointer("/annotations/vnd.docker.reference.type")
                .is_none()
                && e.pointer("/platform/os").and_then(Value::as_str) != Some("unknown")
        })
        .collect()
}

/// How many images of `index` the platforms `wanted` (all when empty) name.
fn images_for(index: &Value, wanted: &[Platform]) -> usize {
    images(index)
        .into_iter()
        .filter(|e| {
            let p = |k: &str| e.pointer(&format!("/platform/{k}")).and_then(Value::as_str);
            wanted.is_empty()
                || wanted.iter().any(|w| {
                    w.matches(
                        p("os").unwrap_or(""),
                        p("architecture").unwrap_or(""),
                        p("variant"),
                    )
                })
        })
        .count()
}

/// Pulls the image `bytes` (`digest`) is, or the one for `platform` of it
/// when it is an index.
fn pull_from(
    s: &Session,
    cache: cache::Cache,
    mut bytes: Vec<u8>,
    mut digest: Digest,
    platform: Option<&Platform>,
    reporter: &dyn Reporter,
) -> Result<Pulled, Error> {
    let remote = &s.remote;
    let repo = remote.repo();
    let mut depth = 0;
    let (manifest, mt) = loop {
        put(&cache, &digest, &bytes)?;
        let (v, mt) = parse_manifest(&bytes, &digest, &repo)?;
        if !is_index(&mt) {
            break (v, mt);
        }
        depth += 1;
        if depth > 8 {
            return Err(fail(&repo, "indexes nest too deeply"));
        }
        let entry = choose(&v, platform, &repo)?;
        (bytes, digest) = s.child(&entry, "pulling the platform's manifest")?;
    };
    let downloaded = s.fetch_all(&cache, &blobs_of(&manifest, &repo)?, reporter)?;
    Pulled::over(cache, &mt, digest, bytes.len(), remote, downloaded)
}

/// Pulls everything `remote` names: an index with every manifest it lists
/// (all platforms, attestations too) and their blobs, for `copy --all`.
pub fn pull_all(remote: &Remote, opts: &Options, reporter: &dyn Reporter) -> Result<Pulled, Error> {
    let s = Session::connect(remote, opts, false)?;
    let repo = remote.repo();
    let cache = open_cache(opts)?;
    let (bytes, digest) = s.manifest(&remote.reference(), "pulling the manifest")?;
    let mut blobs = Vec::new();
    s.walk(&cache, &bytes, &digest, 0, &mut blobs)?;
    let (_, mt) = parse_manifest(&bytes, &digest, &repo)?;
    let downloaded = s.fetch_all(&cache, &blobs, reporter)?;
    Pulled::over(cache, &mt, digest, bytes.len(), remote, downloaded)
}

impl Pulled {
    /// The layout over `cache` naming the manifest (or index) `digest`.
    fn over(
        cache: cache::Cache,
        media_type: &str,
        digest: Digest,
        size: usize,
        remote: &Remote,
        downloaded: usize,
    ) -> Result<Pulled, Error> {
        let desc = json!({"mediaType": media_type, "digest": digest, "size": size});
        let layout = layout_over(&cache, desc, remote.tag.as_deref())?;
        Ok(Pulled {
            layout,
            manifest_digest: digest,
            downloaded,
            _cache: cache,
        })
    }

    /// The reference of the pulled layout, to open it as an OCI layout.
    pub fn layout_ref(&self) -> crate::image::ImageRef {
        crate::image::ImageRef {
            transport: Some(crate::image::Transport::Oci),
            path: self.layout.path().to_path_buf(),
            tag: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_reads_as_one_line_of_its_parts() {
        let f = Failure {
            status: Some(401),
            attempts: 3,
            ..Failure::new("reg:5000/app", "unauthorized (401)")
                .doing("pulling the manifest")
                .hint("log in")
        };
        assert_eq!(
            f.to_string(),
            "reg:5000/app: pulling the manifest: unauthorized (401): log in (gave up after 3 attempts)"
        );
        assert_eq!(Failure::new("h", "down").to_string(), "h: down");
        let e = transport_error(
            "h:1",
            "tcp connect error: Connection refused",
            "checking access",
            None,
        );
        let Error::Registry(f) = e else { panic!("{e}") };
        assert_eq!(
            (f.cause.as_str(), f.doing.as_deref()),
            ("connection refused", Some("checking access"))
        );
        assert!(f.hint.unwrap().contains("is the registry running"));
    }

    #[test]
    fn index_entries_by_platform() {
        let idx = json!({"manifests": [
            {"digest": "sha256:1", "size": 1, "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
            {"digest": "sha256:2", "size": 1, "platform": {"os": "linux", "architecture": "amd64"}},
            {"digest": "sha256:3", "size": 1, "platform": {"os": "unknown", "architecture": "unknown"},
             "annotations": {"vnd.docker.reference.type": "attestation-manifest"}},
        ]});
        let arm = Platform::parse("linux/arm64").unwrap();
        assert_eq!(choose(&idx, Some(&arm), "r").unwrap()["digest"], "sha256:1");
        let s390 = Platform::parse("linux/s390x").unwrap();
        let e = choose(&idx, Some(&s390), "r").unwrap_err().to_string();
        assert!(e.contains("linux/arm64/v8, linux/amd64"), "{e}");
        // One entry without a platform: that one, unless a platform is asked for.
        let one = json!({"manifests": [{"digest": "sha256:9", "size": 1}]});
        assert_eq!(choose(&one, None, "r").unwrap()["digest"], "sha256:9");
        assert!(choose(&one, Some(&arm), "r").is_err());
    }
}
