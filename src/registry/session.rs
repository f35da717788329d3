//! A connection to one repository of a registry: the protocol that answers,
//! the credentials it accepted, and each Distribution operation slim uses
//! (manifests, blobs with resumed downloads, uploads, mounts), every one
//! under the retry policy, every failure one line naming the registry, the
//! repository and the way out.

use super::client::{self, Call, Client, Failed, Fault, Request};
use super::{auth, cache, fail, tls, Error, Failure, Options, Remote};
use crate::image::digest::Digest;
use crate::progress::Reporter;
use reqwest::header::{ACCEPT, CONTENT_LENGTH, CONTENT_TYPE, LOCATION, RANGE};
use reqwest::Method;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Manifests and configs are small; a registry that sends more is refused.
pub const MAX_JSON: usize = 16 << 20;

pub(super) struct Session {
    pub rt: tokio::runtime::Runtime,
    client: Client,
    pub remote: Remote,
    /// `repository:NAME:pull` (or `pull,push`).
    scopes: Vec<String>,
    /// Where the credentials came from, when there are any.
    creds_from: Option<String>,
    secret: Option<String>,
    /// The client certificate presented, when there is one.
    client_cert: Option<PathBuf>,
}

impl Session {
    /// Finds the protocol the registry answers on (HTTPS; plain HTTP too
    /// with `--tls-verify=false`), retrying while it does not answer yet,
    /// and gets the credentials for pulling (and pushing).
    pub fn connect(remote: &Remote, opts: &Options, push: bool) -> Result<Session, Error> {
        // rustls needs one crypto provider for the process; a second install is a no-op error.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let lookup = auth::Lookup {
            creds: opts.creds.clone(),
            authfile: opts.authfile.clone(),
        };
        let creds = lookup.find(&remote.registry)?;
        let tls = tls::load(&remote.registry, opts.cert_dir.as_deref())?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| {
                fail(
                    &remote.registry,
                    format!("starting the network runtime: {e}"),
                )
            })?;
        let schemes: &[&str] = if opts.tls_verify {
            &["https"]
        } else {
            &["https", "http"]
        };
        let setup = client::Setup {
            accept_invalid_certs: !opts.tls_verify,
            roots: &tls.roots,
            identity_pem: tls.identity.as_deref(),
            policy: opts.retry,
        };
        let mut clients = Vec::new();
        for scheme in schemes {
            let c = Client::new(
                format!("{scheme}://{}", remote.api_host()),
                &remote.registry,
                creds.as_ref().map(|c| (c.user.clone(), c.secret.clone())),
                &setup,
            )
            .map_err(|e| {
                let e = super::fault::chain(&e);
                Error::Usage(match &tls.identity_from {
                    Some(c) => format!(
                        "{}: the client certificate {} or its key is not usable: {e}",
                        remote.registry,
                        c.display(),
                    ),
                    None => format!("{}: TLS setup: {e}", remote.registry),
                })
            })?;
            clients.push(c);
        }
        let mut scope = format!("repository:{}:pull", remote.repository);
        if push {
            scope.push_str(",push");
        }
        let mut session = Session {
            rt,
            client: clients.remove(0),
            remote: remote.clone(),
            scopes: vec![scope],
            creds_from: creds.as_ref().map(|c| c.origin.clone()),
            secret: creds.as_ref().map(|c| c.secret.clone()),
            client_cert: tls.identity_from.clone(),
        };
        let plain = clients.pop();
        let call = Call {
            what: "connecting",
            scopes: &[],
            ok: &[],
        };
        let attempts = opts.retry.attempts();
        let mut attempt = 1;
        loop {
            let fault = match session.rt.block_on(session.client.ping()) {
                Ok(()) => break,
                // --tls-verify=false: a server that does not speak TLS speaks HTTP
                // (one that asked for a client certificate does speak TLS).
                Err(f @ Fault::Transport { .. }) if plain.is_some() => {
                    let Fault::Transport { text, .. } = &f else {
                        unreachable!()
                    };
                    if super::client_cert_alert(text) {
                        f
                    } else {
                        let p = plain.as_ref().expect("checked");
                        match session.rt.block_on(p.ping()) {
                            Ok(()) => {
                                session.client = plain.expect("checked");
                                break;
                            }
                            Err(f) => f,
                        }
                    }
                }
                Err(f) => f,
            };
            if !fault.transient() || attempt >= attempts {
                return Err(session.error(
                    Failed {
                        fault,
                        attempts: attempt,
                    },
                    "connecting",
                ));
            }
            session
                .rt
                .block_on(session.client.pause(&call, &fault, attempt));
            attempt += 1;
        }
        let scopes = session.scopes.clone();
        session
            .rt
            .block_on(session.client.authenticate(&scopes))
            .map_err(|f| session.error(f, "connecting"))?;
        Ok(session)
    }

    fn call<'a>(&'a self, what: &'a str, ok: &'a [u16]) -> Call<'a> {
        Call {
            what,
            scopes: &self.scopes,
            ok,
        }
    }

    fn path(&self, tail: &str) -> String {
        self.client
            .url(&format!("/v2/{}/{tail}", self.remote.repository))
    }

    /// One line for what failed while `doing`, naming the registry, the
    /// repository and the fix; the number of attempts when more than one.
    pub fn error(&self, f: Failed, doing: &str) -> Error {
        let host = &self.remote.registry;
        let repo = self.remote.repo();
        let status = match &f.fault {
            Fault::Status { code, .. } => Some(*code),
            _ => None,
        };
        let at = |cause: String| Failure {
            status,
            attempts: f.attempts,
            ..Failure::new(&repo, cause).doing(doing)
        };
        let unauthorized = || {
            match &self.creds_from {
            Some(from) => at(format!("the registry refused the credentials from {from} (401/403 unauthorized)"))
                .hint(format!(
                    "check the user and password, or the account's access to {}",
                    self.remote.repository
                )),
            None => at("unauthorized (401)".into()).hint(format!(
                "log in (`skopeo login {host}`, `docker login {host}`) or pass --creds USER:PASSWORD"
            )),
        }
        };
        let what = match (&self.remote.tag, &self.remote.digest) {
            (_, Some(d)) => format!("manifest {d}"),
            (Some(t), None) => format!("tag '{t}'"),
            (None, None) => "the image".into(),
        };
        let not_found = || {
            at(format!(
                "not found (404): no {what} in {}",
                self.remote.repository
            ))
            .hint("check the repository, tag or digest")
        };
        Error::Registry(match &f.fault {
            Fault::Status {
                code, codes, token, ..
            } => {
                let has = |c: &[&str]| codes.iter().any(|x| c.contains(&x.as_str()));
                if matches!(code, 401 | 403) || has(&["UNAUTHORIZED", "DENIED"]) {
                    unauthorized()
                } else if *code == 405 {
                    at("the registry refuses writes (405 Method not allowed)".into())
                        .hint("it is read-only, or a mirror that only serves pulls")
                } else if *code == 404 || has(&["MANIFEST_UNKNOWN", "NAME_UNKNOWN", "BLOB_UNKNOWN"])
                {
                    not_found()
                } else {
                    at(format!(
                        "{}{}",
                        if *token {
                            "the token server answered "
                        } else {
                            ""
                        },
                        self.scrub(f.fault.brief())
                    ))
                }
            }
            Fault::Transport { text, .. } => {
                let e = super::transport_error(
                    self.remote.api_host(),
                    &self.scrub(text.clone()),
                    doing,
                    self.client_cert.as_deref(),
                );
                match e {
                    Error::Registry(g) => Failure {
                        attempts: f.attempts,
                        ..g
                    },
                    e => return e,
                }
            }
            Fault::Protocol(m) => at(m.clone()),
        })
    }

    /// The text with the secret, should a server echo it, replaced.
    fn scrub(&self, s: String) -> String {
        match &self.secret {
            Some(p) if p.len() >= 3 => s.replace(p.as_str(), "***"),
            _ => s,
        }
    }

    /// The manifest named by `reference` (a tag or a digest), its bytes
    /// checked against the digest asked for or the one the registry states.
    pub fn manifest(&self, reference: &str, doing: &str) -> Result<(Vec<u8>, Digest), Error> {
        let url = self.path(&format!("manifests/{reference}"));
        let accept = super::ACCEPT.join(", ");
        let (headers, bytes) = self
            .rt
            .block_on(self.client.fetch_small(
                &self.call(doing, &[200]),
                || Request::new(Method::GET, url.clone()).header(ACCEPT, &accept),
                MAX_JSON,
            ))
            .map_err(|f| self.error(f, doing))?;
        let got = Digest::of(&bytes);
        let want = Digest::parse(reference).map(|d| d.to_string()).or_else(|| {
            client::header(&headers, "docker-content-digest")
                .filter(|h| h.starts_with("sha256:"))
                .map(String::from)
        });
        if let Some(w) = want {
            if w != got.as_str() {
                return Err(fail(
                    self.remote.repo(),
                    format!("the manifest arrived with digest {got}, not {w}: refusing it"),
                ));
            }
        }
        Ok((bytes, got))
    }

    /// Downloads blob `d` into the cache unless a verified copy is there;
    /// reports its bytes as task `task`. A download cut short resumes where
    /// it stopped (`Range`), its hash continuing; from the start when the
    /// registry ignores the range.
    pub async fn fetch(
        &self,
        cache: &cache::Cache,
        d: &Digest,
        size: u64,
        reporter: &dyn Reporter,
        task: usize,
    ) -> Result<bool, Error> {
        if cache.verified(d, Some(size)) {
            return Ok(false);
        }
        let repo = self.remote.repo();
        let cache_err = |m: String| Error::Cache {
            path: cache.root().display().to_string(),
            message: m,
        };
        let doing = format!("pulling blob {d}");
        reporter.begin(task, &format!("pull {}", d.short()), size);
        let mut w = cache.incoming(d).map_err(|e| cache_err(e.to_string()))?;
        let url = self.path(&format!("blobs/{d}"));
        let attempts = self.client.policy.attempts();
        let mut attempt = 1;
        let mut told = 0u64;
        loop {
            let offset = w.written();
            let call = self.call(&doing, &[200, 206]);
            let got = async {
                let mut r = self
                    .client
                    .send_once(&call, || {
                        let r = Request::new(Method::GET, url.clone());
                        match offset {
                            0 => r,
                            n => r.header(RANGE, &format!("bytes={n}-")),
                        }
                    })
                    .await?;
                let resumed = r.status().as_u16() == 206
                    && client::header(r.headers(), "content-range")
                        .is_some_and(|c| c.starts_with(&format!("bytes {offset}-")));
                if offset > 0 && !resumed {
                    client::note(&format!(
                        "slim: retry: {}: {doing}: the registry does not resume downloads (Range); \
                         starting the blob again",
                        self.remote.registry
                    ));
                    w.restart().map_err(|e| Fault::Protocol(e.to_string()))?;
                }
                while let Some(chunk) = r.chunk().await.map_err(|e| Fault::from_reqwest(&e))? {
                    if w.written() + chunk.len() as u64 > size {
                        return Err(Fault::Protocol(format!(
                            "blob {d} is longer than the {size} bytes its manifest says: refusing it"
                        )));
                    }
                    w.write_all(&chunk)
                        .map_err(|e| Fault::Protocol(format!("writing the cache: {e}")))?;
                    if w.written() > told {
                        reporter.advance(task, w.written() - told);
                        told = w.written();
                    }
                }
                if w.written() < size {
                    return Err(Fault::Transport {
                        text: format!(
                            "the connection ended after {} of {size} bytes",
                            w.written()
                        ),
                        transient: true,
                    });
                }
                Ok(())
            }
            .await;
            match got {
                Ok(()) => break,
                Err(Fault::Protocol(m)) => {
                    return Err(fail(&repo, m));
                }
                Err(f) if f.transient() && attempt < attempts => {
                    self.client.pause(&call, &f, attempt).await;
                    attempt += 1;
                }
                Err(fault) => {
                    return Err(self.error(
                        Failed {
                            fault,
                            attempts: attempt,
                        },
                        &doing,
                    ));
                }
            }
        }
        w.finish().map_err(|e| fail(&repo, e.to_string()))?;
        reporter.end(task);
        Ok(true)
    }

    /// Whether the repository has blob `d`.
    pub fn blob_exists(&self, d: &str, doing: &str) -> Result<bool, Error> {
        let url = self.path(&format!("blobs/{d}"));
        let r = self
            .rt
            .block_on(self.client.send(&self.call(doing, &[200, 404]), || {
                Request::new(Method::HEAD, url.clone())
            }))
            .map_err(|f| self.error(f, doing))?;
        Ok(r.status().as_u16() == 200)
    }

    /// Asks the registry to mount blob `d` from repository `from`; whether it did.
    pub fn mount(&self, d: &str, from: &str) -> bool {
        let url = self.path(&format!("blobs/uploads/?mount={d}&from={from}"));
        let mut scopes = self.scopes.clone();
        scopes.push(format!("repository:{from}:pull"));
        let call = Call {
            what: "mounting a blob",
            scopes: &scopes,
            ok: &[201, 202],
        };
        self.rt
            .block_on(
                self.client
                    .send(&call, || Request::new(Method::POST, url.clone())),
            )
            .is_ok_and(|r| r.status().as_u16() == 201)
    }

    /// Uploads one blob (POST a session, PUT the bytes); a failed upload
    /// starts a new session. `body` gives the bytes for each attempt.
    pub fn upload(
        &self,
        d: &Digest,
        size: u64,
        body: &dyn Fn() -> Result<reqwest::Body, Error>,
        doing: &str,
    ) -> Result<(), Error> {
        let start = self.path("blobs/uploads/");
        let attempts = self.client.policy.attempts();
        let mut attempt = 1;
        loop {
            let call = self.call(doing, &[202]);
            let tried = self.rt.block_on(async {
                let r = self
                    .client
                    .send_once(&call, || Request::new(Method::POST, start.clone()))
                    .await?;
                let location = client::header(r.headers(), LOCATION.as_str())
                    .ok_or_else(|| {
                        Fault::Protocol("the registry gave no Location for the upload".into())
                    })?
                    .to_string();
                let mut put = if location.starts_with("http://") || location.starts_with("https://")
                {
                    location
                } else {
                    self.client.url(&location)
                };
                put.push(if put.contains('?') { '&' } else { '?' });
                put.push_str(&format!("digest={d}"));
                // Opened here so that a file that cannot be read is said as such.
                drop(body().map_err(|e| Fault::Protocol(e.to_string()))?);
                let call = self.call(doing, &[201, 204]);
                self.client
                    .send_once(&call, || {
                        let r = Request::new(Method::PUT, put.clone())
                            .header(CONTENT_TYPE, "application/octet-stream")
                            .header(CONTENT_LENGTH, &size.to_string());
                        match body() {
                            Ok(b) => r.body(b),
                            Err(_) => r,
                        }
                    })
                    .await
                    .map(|_| ())
            });
            match tried {
                Ok(()) => return Ok(()),
                Err(f) if f.transient() && attempt < attempts => {
                    self.rt.block_on(self.client.pause(&call, &f, attempt));
                    attempt += 1;
                }
                Err(fault) => {
                    return Err(self.error(
                        Failed {
                            fault,
                            attempts: attempt,
                        },
                        doing,
                    ))
                }
            }
        }
    }

    /// PUTs a manifest (an index) under `reference`. Sending the same bytes
    /// again is safe (same digest, same tag), so it is retried.
    pub fn put_manifest(
        &self,
        reference: &str,
        bytes: &[u8],
        media_type: &str,
        doing: &str,
    ) -> Result<(), Error> {
        let url = self.path(&format!("manifests/{reference}"));
        self.rt
            .block_on(self.client.send(&self.call(doing, &[200, 201, 202]), || {
                Request::new(Method::PUT, url.clone())
                    .header(CONTENT_TYPE, media_type)
                    .body(reqwest::Body::from(bytes.to_vec()))
            }))
            .map(|_| ())
            .map_err(|f| self.error(f, doing))
    }
}

/// The bytes of a file as a request body, streamed in 1 MiB reads (never
/// held whole); `sent` counts them.
pub fn file_body(
    path: &Path,
    sent: std::sync::Arc<std::sync::atomic::AtomicU64>,
) -> std::io::Result<reqwest::Body> {
    use std::io::Read;
    let file = std::fs::File::open(path)?;
    let stream = futures_util::stream::unfold(file, move |mut f| {
        let sent = sent.clone();
        async move {
            let mut buf = vec![0u8; 1 << 20];
            match f.read(&mut buf) {
                Ok(0) => None,
                Ok(n) => {
                    buf.truncate(n);
                    sent.fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
                    Some((Ok::<_, std::io::Error>(bytes::Bytes::from(buf)), f))
                }
                Err(e) => Some((Err(e), f)),
            }
        }
    });
    Ok(reqwest::Body::wrap_stream(stream))
}
