//! The OCI Distribution API over HTTP (reqwest, rustls): authentication as
//! Docker's client does it (the `/v2/` challenge, Basic credentials, Bearer
//! tokens per scope from the realm it names), and every request through one
//! place that applies the retry policy ([`super::retry`]) and keeps the
//! status, the registry's error codes and `Retry-After` of what failed.

use super::fault::*;
pub use super::fault::{Failed, Fault};
use super::retry::{self, Policy};
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, WWW_AUTHENTICATE};
use reqwest::{Method, Response};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// How a registry asks to be authenticated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
enum Challenge {
    #[default]
    None,
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
        /// The scope the challenge names, when it names one.
        scope: Option<String>,
    },
}

/// Parses `WWW-Authenticate: Bearer realm="…",service="…",scope="…"` (or Basic).
fn parse_challenge(v: &str) -> Challenge {
    let v = v.trim();
    let (scheme, rest) = v.split_once(' ').unwrap_or((v, ""));
    if scheme.eq_ignore_ascii_case("basic") {
        return Challenge::Basic;
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Challenge::None;
    }
    let mut params = HashMap::new();
    let mut s = rest.trim();
    while !s.is_empty() {
        let Some((k, after)) = s.split_once('=') else {
            break;
        };
        let k = k.trim().trim_start_matches(',').trim().to_ascii_lowercase();
        let (value, next) = if let Some(q) = after.strip_prefix('"') {
            match q.find('"') {
                Some(end) => (q[..end].to_string(), &q[end + 1..]),
                None => (q.to_string(), ""),
            }
        } else {
            match after.find(',') {
                Some(end) => (after[..end].trim().to_string(), &after[end..]),
                None => (after.trim().to_string(), ""),
            }
        };
        params.insert(k, value);
        s = next.trim_start_matches(|c: char| c == ',' || c.is_whitespace());
    }
    match params.remove("realm") {
        Some(realm) => Challenge::Bearer {
            realm,
            service: params.remove("service"),
            scope: params.remove("scope"),
        },
        None => Challenge::None,
    }
}

/// A request to build (again for each attempt).
pub struct Request {
    pub method: Method,
    pub url: String,
    pub headers: Vec<(reqwest::header::HeaderName, HeaderValue)>,
    pub body: Option<reqwest::Body>,
}

impl Request {
    pub fn new(method: Method, url: String) -> Request {
        Request {
            method,
            url,
            headers: Vec::new(),
            body: None,
        }
    }

    pub fn header(mut self, k: reqwest::header::HeaderName, v: &str) -> Request {
        if let Ok(v) = HeaderValue::from_str(v) {
            self.headers.push((k, v));
        }
        self
    }

    pub fn body(mut self, b: reqwest::Body) -> Request {
        self.body = Some(b);
        self
    }
}

/// What one request needs besides itself.
pub struct Call<'a> {
    /// For messages: `pulling blob sha256:…`.
    pub what: &'a str,
    /// The token scopes it needs (`repository:NAME:pull[,push]`).
    pub scopes: &'a [String],
    /// Statuses that are an answer, not a fault.
    pub ok: &'a [u16],
}

/// One registry, over one protocol, with credentials.
pub struct Client {
    http: reqwest::Client,
    /// `https://HOST[:PORT]` or `http://…`.
    pub base: String,
    /// For messages.
    pub host: String,
    creds: Option<(String, String)>,
    challenge: Mutex<Challenge>,
    /// Bearer tokens by the scopes they were asked for.
    tokens: Mutex<HashMap<String, String>>,
    pub policy: Policy,
}

/// The TLS and timeout settings of a client.
pub struct Setup<'a> {
    pub accept_invalid_certs: bool,
    /// PEM texts.
    pub roots: &'a [Vec<u8>],
    pub identity_pem: Option<&'a [u8]>,
    pub policy: Policy,
}

/// Says one line on stderr, above any progress bars.
pub fn note(line: &str) {
    crate::progress::note(line);
}

impl Client {
    pub fn new(
        base: String,
        host: &str,
        creds: Option<(String, String)>,
        setup: &Setup,
    ) -> Result<Client, reqwest::Error> {
        let mut b = reqwest::Client::builder()
            .danger_accept_invalid_certs(setup.accept_invalid_certs)
            .read_timeout(setup.policy.timeout)
            .connect_timeout(setup.policy.timeout.min(Duration::from_secs(30)))
            .user_agent(concat!("slim/", env!("CARGO_PKG_VERSION")));
        let mut roots = Vec::new();
        for pem in setup.roots {
            roots.push(reqwest::Certificate::from_pem(pem)?);
        }
        b = b.tls_certs_merge(roots);
        if let Some(pem) = setup.identity_pem {
            b = b.identity(reqwest::Identity::from_pem(pem)?);
        }
        Ok(Client {
            http: b.build()?,
            base,
            host: host.to_string(),
            creds,
            challenge: Mutex::new(Challenge::None),
            tokens: Mutex::new(HashMap::new()),
            policy: setup.policy,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `GET /v2/` once: whether the registry answers over this protocol,
    /// and how it wants to be authenticated.
    pub async fn ping(&self) -> Result<(), Fault> {
        let r = self
            .http
            .get(self.url("/v2/"))
            .send()
            .await
            .map_err(|e| Fault::from_reqwest(&e))?;
        let code = r.status().as_u16();
        if code == 401 {
            let c = r
                .headers()
                .get(WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .map(parse_challenge)
                .unwrap_or_default();
            *self.challenge.lock().expect("not poisoned") = c;
            return Ok(());
        }
        if retry::transient_status(code) {
            return Err(fault_of(r, false).await);
        }
        Ok(())
    }

    /// Gets the token for `scopes` now (when the registry wants Bearer
    /// tokens), so that refused credentials are said before any work.
    pub async fn authenticate(&self, scopes: &[String]) -> Result<(), Failed> {
        let c = self.challenge.lock().expect("not poisoned").clone();
        if let Challenge::Bearer { realm, service, .. } = c {
            self.token(&realm, service.as_deref(), scopes).await?;
        }
        Ok(())
    }

    /// A Bearer token for `scopes` from `realm` (cached).
    async fn token(
        &self,
        realm: &str,
        service: Option<&str>,
        scopes: &[String],
    ) -> Result<String, Failed> {
        let key = scopes.join(" ");
        if let Some(t) = self.tokens.lock().expect("not poisoned").get(&key) {
            return Ok(t.clone());
        }
        let mut url = reqwest::Url::parse(realm).map_err(|e| Failed {
            fault: Fault::Protocol(format!("the token realm '{realm}' is not a URL: {e}")),
            attempts: 1,
        })?;
        {
            let mut q = url.query_pairs_mut();
            if let Some(s) = service {
                q.append_pair("service", s);
            }
            for s in scopes {
                q.append_pair("scope", s);
            }
        }
        let url = url.to_string();
        let r = self
            .send_with(
                &Call {
                    what: "getting a token",
                    scopes: &[],
                    ok: &[200],
                },
                true,
                || {
                    let mut r = Request::new(Method::GET, url.clone());
                    if let Some((u, p)) = &self.creds {
                        r = r.header(AUTHORIZATION, &basic(u, p));
                    }
                    r
                },
            )
            .await?;
        let body = r.bytes().await.map_err(|e| Failed {
            fault: Fault::from_reqwest(&e),
            attempts: 1,
        })?;
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        let token = v
            .get("token")
            .or_else(|| v.get("access_token"))
            .and_then(|t| t.as_str())
            .filter(|t| !t.is_empty())
            .ok_or_else(|| Failed {
                fault: Fault::Protocol("the token server's answer holds no token".into()),
                attempts: 1,
            })?
            .to_string();
        self.tokens
            .lock()
            .expect("not poisoned")
            .insert(key, token.clone());
        Ok(token)
    }

    /// The Authorization header for `scopes`, as far as known now.
    async fn authorization(&self, scopes: &[String]) -> Result<Option<String>, Failed> {
        let c = self.challenge.lock().expect("not poisoned").clone();
        Ok(match c {
            Challenge::None => None,
            Challenge::Basic => self.creds.as_ref().map(|(u, p)| basic(u, p)),
            Challenge::Bearer { realm, service, .. } if !scopes.is_empty() => Some(format!(
                "Bearer {}",
                Box::pin(self.token(&realm, service.as_deref(), scopes)).await?
            )),
            Challenge::Bearer { .. } => None,
        })
    }

    /// Sends a request with its credentials, retried by the policy; the
    /// response when its status is one of `call.ok`.
    pub async fn send(
        &self,
        call: &Call<'_>,
        make: impl Fn() -> Request,
    ) -> Result<Response, Failed> {
        self.send_with(call, false, make).await
    }

    /// Sends a request once (with its credentials): for the steps whose
    /// retry is more than sending them again (a resumed download, a new
    /// upload session).
    pub async fn send_once(
        &self,
        call: &Call<'_>,
        make: impl Fn() -> Request,
    ) -> Result<Response, Fault> {
        self.once(call, false, &make).await
    }

    /// Sends a request and reads its body (up to `limit` bytes), both
    /// retried by the policy.
    pub async fn fetch_small(
        &self,
        call: &Call<'_>,
        make: impl Fn() -> Request,
        limit: usize,
    ) -> Result<(HeaderMap, Vec<u8>), Failed> {
        let attempts = self.policy.attempts();
        let mut attempt = 1;
        loop {
            let fault = match self.once(call, false, &make).await {
                Ok(r) => {
                    let h = r.headers().clone();
                    match read_capped(r, limit).await {
                        Ok(b) => return Ok((h, b)),
                        Err(f) => f,
                    }
                }
                Err(f) => f,
            };
            if !fault.transient() || attempt >= attempts {
                return Err(Failed {
                    fault,
                    attempts: attempt,
                });
            }
            self.pause(call, &fault, attempt).await;
            attempt += 1;
        }
    }

    /// Says that attempt `attempt` failed with `fault` and waits as the
    /// policy says before the next.
    pub async fn pause(&self, call: &Call<'_>, fault: &Fault, attempt: u32) {
        let wait = self.policy.wait(attempt, fault.retry_after());
        note(&format!(
            "slim: retry: {}: {}: {}; trying again in {} (attempt {} of {})",
            self.host,
            call.what,
            fault.brief(),
            retry::show(wait),
            attempt + 1,
            self.policy.attempts()
        ));
        tokio::time::sleep(wait).await;
    }

    async fn send_with(
        &self,
        call: &Call<'_>,
        token_request: bool,
        make: impl Fn() -> Request,
    ) -> Result<Response, Failed> {
        let attempts = self.policy.attempts();
        let mut attempt = 1;
        loop {
            let fault = match self.once(call, token_request, &make).await {
                Ok(r) => return Ok(r),
                Err(f) => f,
            };
            if !fault.transient() || attempt >= attempts {
                return Err(Failed {
                    fault,
                    attempts: attempt,
                });
            }
            self.pause(call, &fault, attempt).await;
            attempt += 1;
        }
    }

    /// One attempt: a 401 that names a new challenge or scope gets its
    /// credentials and is sent once more.
    async fn once(
        &self,
        call: &Call<'_>,
        token_request: bool,
        make: &impl Fn() -> Request,
    ) -> Result<Response, Fault> {
        let mut scopes = call.scopes.to_vec();
        for round in 0..2 {
            let auth = if token_request {
                None
            } else {
                self.authorization(&scopes).await.map_err(|f| f.fault)?
            };
            let req = make();
            let mut b = self.http.request(req.method, &req.url);
            for (k, v) in req.headers {
                b = b.header(k, v);
            }
            if let Some(a) = auth {
                b = b.header(AUTHORIZATION, a);
            }
            if let Some(body) = req.body {
                b = b.body(body);
            }
            let r = b.send().await.map_err(|e| Fault::from_reqwest(&e))?;
            let code = r.status().as_u16();
            if call.ok.contains(&code) {
                return Ok(r);
            }
            if code == 401 && round == 0 && !token_request {
                let c = r
                    .headers()
                    .get(WWW_AUTHENTICATE)
                    .and_then(|v| v.to_str().ok())
                    .map(parse_challenge)
                    .unwrap_or_default();
                let changed = {
                    let mut cur = self.challenge.lock().expect("not poisoned");
                    let changed = *cur != c;
                    if c != Challenge::None {
                        *cur = c.clone();
                    }
                    changed
                };
                let again = match &c {
                    // Credentials not sent yet: send them.
                    Challenge::Basic => self.creds.is_some() && changed,
                    Challenge::Bearer { scope, .. } => {
                        if let Some(s) = scope {
                            for s in s.split(' ') {
                                if !scopes.iter().any(|x| x == s) {
                                    scopes.push(s.to_string());
                                }
                            }
                        }
                        // A token we hold was refused (expired, or for less): ask again.
                        self.tokens
                            .lock()
                            .expect("not poisoned")
                            .remove(&scopes.join(" "));
                        true
                    }
                    Challenge::None => false,
                };
                if again {
                    continue;
                }
            }
            return Err(fault_of(r, token_request).await);
        }
        unreachable!("the loop returns")
    }
}

fn basic(user: &str, pass: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
    )
}

/// The body, up to `limit` bytes (None when longer).
pub async fn read_capped(mut r: Response, limit: usize) -> Result<Vec<u8>, Fault> {
    let mut v = Vec::new();
    while let Some(c) = r.chunk().await.map_err(|e| Fault::from_reqwest(&e))? {
        if v.len() + c.len() > limit {
            return Err(Fault::Protocol(format!(
                "an answer longer than {limit} bytes"
            )));
        }
        v.extend_from_slice(&c);
    }
    Ok(v)
}

/// A header's text.
pub fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_as_registries_send_them() {
        assert_eq!(
            parse_challenge(
                r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull""#
            ),
            Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:library/nginx:pull".into()),
            }
        );
        assert_eq!(
            parse_challenge(r#"Bearer realm=https://t.example/token, service="s""#),
            Challenge::Bearer {
                realm: "https://t.example/token".into(),
                service: Some("s".into()),
                scope: None,
            }
        );
        assert_eq!(
            parse_challenge(r#"Basic realm="Registry""#),
            Challenge::Basic
        );
        assert_eq!(parse_challenge("Negotiate"), Challenge::None);
    }

    #[test]
    fn error_envelopes_and_plain_bodies() {
        let (c, m) = envelope(
            br#"{"errors":[{"code":"TOOMANYREQUESTS","message":"You have reached your pull rate limit."}]}"#,
        );
        assert_eq!(c, ["TOOMANYREQUESTS"]);
        assert_eq!(m, "You have reached your pull rate limit.");
        let (c, m) = envelope(b"\n<html>503 Service Unavailable</html>\n");
        assert!(c.is_empty());
        assert_eq!(m, "<html>503 Service Unavailable</html>");
    }
}
