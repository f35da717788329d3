//! Credentials for a registry, looked up in skopeo's order: `--creds`,
//! `--authfile`, `REGISTRY_AUTH_FILE`, `$XDG_RUNTIME_DIR/containers/auth.json`,
//! `~/.config/containers/auth.json`, then Docker's `$DOCKER_CONFIG/config.json`
//! (or `~/.docker/config.json`) with its `credHelpers` and `credsStore`
//! (`docker-credential-NAME get`, the host on stdin, JSON out).

use super::Error;
use serde::Deserialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// A user name and secret. The secret is never printed (Debug hides it).
#[derive(Clone, PartialEq, Eq)]
pub struct Creds {
    pub user: String,
    pub secret: String,
    /// Where they came from, for messages: `--creds`, a file, a helper.
    pub origin: String,
}

impl std::fmt::Debug for Creds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Creds({} from {}, secret hidden)",
            self.user, self.origin
        )
    }
}

#[derive(Deserialize, Default)]
struct AuthFile {
    #[serde(default)]
    auths: HashMap<String, AuthEntry>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: HashMap<String, String>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
}

#[derive(Deserialize, Default)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

/// `--creds USER:PASS`.
pub fn parse_creds(s: &str) -> Result<Creds, Error> {
    match s.split_once(':') {
        Some((u, p)) if !u.is_empty() => Ok(Creds {
            user: u.to_string(),
            secret: p.to_string(),
            origin: "--creds".into(),
        }),
        _ => Err(Error::Usage(
            "--creds takes USER:PASSWORD (slim does not prompt for a password)".into(),
        )),
    }
}

/// The keys an auth file may list a registry under: `host[:port]`, with a
/// scheme, a `/v1/` or `/v2/` path; Docker Hub as `https://index.docker.io/v1/`.
fn keys_match(key: &str, host: &str) -> bool {
    let k = key
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let k = k.split('/').next().unwrap_or(k);
    let hub = |h: &str| matches!(h, "docker.io" | "index.docker.io" | "registry-1.docker.io");
    k == host || hub(k) && hub(host)
}

fn decode_auth(b64: &str) -> Option<(String, String)> {
    use base64::Engine;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (u, p) = text.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

/// Runs `docker-credential-NAME get` for `host`.
fn helper(name: &str, host: &str) -> Result<Option<Creds>, Error> {
    use std::io::Write;
    let prog = format!("docker-credential-{name}");
    let mut child = match std::process::Command::new(&prog)
        .arg("get")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            return Err(Error::Auth(format!(
                "{prog} (the credential helper your Docker config names for {host}): {e}"
            )))
        }
    };
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(host.as_bytes());
    }
    let out = child
        .wait_with_output()
        .map_err(|e| Error::Auth(format!("{prog}: {e}")))?;
    if !out.status.success() {
        // "credentials not found in native keychain": none for this host.
        return Ok(None);
    }
    #[derive(Deserialize)]
    struct Reply {
        #[serde(rename = "Username")]
        username: String,
        #[serde(rename = "Secret")]
        secret: String,
    }
    let r: Reply = serde_json::from_slice(&out.stdout)
        .map_err(|e| Error::Auth(format!("{prog} get: its answer is not JSON: {e}")))?;
    Ok(Some(Creds {
        user: r.username,
        secret: r.secret,
        origin: prog,
    }))
}

/// The credentials `path` holds for `host`; None when the file does not
/// exist or has no entry for it.
fn from_file(path: &Path, host: &str) -> Result<Option<Creds>, Error> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::Auth(format!("{}: {e}", path.display()))),
    };
    let f: AuthFile = serde_json::from_str(&text).map_err(|e| {
        Error::Auth(format!(
            "{}: not an auth file (JSON with \"auths\"): {e}",
            path.display()
        ))
    })?;
    if let Some((_, name)) = f.cred_helpers.iter().find(|(k, _)| keys_match(k, host)) {
        return helper(name, host);
    }
    for (k, e) in &f.auths {
        if !keys_match(k, host) {
            continue;
        }
        let pair = match (&e.auth, &e.username, &e.password) {
            (Some(a), _, _) if !a.is_empty() => decode_auth(a).ok_or_else(|| {
                Error::Auth(format!(
                    "{}: the \"auth\" of {k} is not base64 of USER:PASSWORD",
                    path.display()
                ))
            })?,
            (_, Some(u), Some(p)) => (u.clone(), p.clone()),
            _ => continue,
        };
        return Ok(Some(Creds {
            user: pair.0,
            secret: pair.1,
            origin: path.display().to_string(),
        }));
    }
    match &f.creds_store {
        Some(store) => helper(store, host),
        None => Ok(None),
    }
}

/// Where to look, in order, for the credentials of a registry.
pub struct Lookup {
    pub creds: Option<Creds>,
    /// `--authfile`, else `REGISTRY_AUTH_FILE`: the only file read when set.
    pub authfile: Option<PathBuf>,
}

impl Lookup {
    /// The files read when no auth file is named.
    fn default_files() -> Vec<PathBuf> {
        let env = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        let mut v = Vec::new();
        if let Some(x) = env("XDG_RUNTIME_DIR") {
            v.push(x.join("containers/auth.json"));
        }
        let home = env("HOME");
        if let Some(h) = &home {
            v.push(h.join(".config/containers/auth.json"));
        }
        match env("DOCKER_CONFIG") {
            Some(d) => v.push(d.join("config.json")),
            None => v.extend(home.map(|h| h.join(".docker/config.json"))),
        }
        v
    }

    /// The credentials for `host`, or None for anonymous access.
    pub fn find(&self, host: &str) -> Result<Option<Creds>, Error> {
        if let Some(c) = &self.creds {
            return Ok(Some(c.clone()));
        }
        let named = self.authfile.clone().or_else(|| {
            std::env::var_os("REGISTRY_AUTH_FILE")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        });
        if let Some(f) = named {
            if !f.is_file() {
                return Err(Error::Auth(format!("{}: no such auth file", f.display())));
            }
            return from_file(&f, host);
        }
        for f in Self::default_files() {
            if let Some(c) = from_file(&f, host)? {
                return Ok(Some(c));
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_file_keys_and_entries() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("auth.json");
        // "alice:s3cret" and "bob:Zq81-secret"
        std::fs::write(
            &f,
            r#"{"auths": {"https://index.docker.io/v1/": {"auth": "YWxpY2U6czNjcmV0"},
                "127.0.0.1:5000": {"auth": "Ym9iOlpxODEtc2VjcmV0"}}}"#,
        )
        .unwrap();
        let c = from_file(&f, "registry-1.docker.io").unwrap().unwrap();
        assert_eq!((c.user.as_str(), c.secret.as_str()), ("alice", "s3cret"));
        let c = from_file(&f, "127.0.0.1:5000").unwrap().unwrap();
        assert_eq!(c.user, "bob");
        assert!(from_file(&f, "127.0.0.1:5001").unwrap().is_none());
        assert!(
            !format!("{c:?}").contains("Zq81-secret"),
            "Debug hides the secret"
        );
        std::fs::write(&f, "not json").unwrap();
        assert!(from_file(&f, "x").is_err());
        assert!(parse_creds("u:p:q").unwrap().secret == "p:q");
        assert!(parse_creds("u").is_err());
    }
}
