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
mod pull;
mod push;
pub mod retry;
mod session;
mod tls;

use crate::image::digest::Digest;
use crate::image::Platform;
use crate::progress::Reporter;
pub use pull::*;
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
        assert_eq!(
            choose(&idx, Some(&arm), "r").unwrap().0["digest"],
            "sha256:1"
        );
        let s390 = Platform::parse("linux/s390x").unwrap();
        let e = choose(&idx, Some(&s390), "r").unwrap_err().to_string();
        assert!(e.contains("linux/arm64/v8, linux/amd64"), "{e}");
        // One entry without a platform: that one, unless a platform is asked for.
        let one = json!({"manifests": [{"digest": "sha256:9", "size": 1}]});
        assert_eq!(choose(&one, None, "r").unwrap().0["digest"], "sha256:9");
        assert!(choose(&one, Some(&arm), "r").is_err());
        // Picked for this machine: the others are named, the attestation is not.
        let (picked, others) = choose(&idx, None, "r").unwrap();
        let host = crate::image::Platform::host().to_string();
        let all = ["linux/arm64/v8", "linux/amd64"];
        if all.iter().any(|p| p.starts_with(&host)) {
            assert_eq!(others.len(), 1, "{picked} {others:?}");
            assert!(!others.iter().any(|o| o.contains("unknown")));
        }
        assert!(choose(&idx, Some(&arm), "r").unwrap().1.is_empty());
    }
}
