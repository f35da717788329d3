//! Loopback registries for the tests: Debian's docker-registry (CNCF
//! distribution 2.8) plain, with TLS and basic auth, with client
//! certificates, or with a bearer-token server run here; skopeo to put
//! images there and read them back.

use super::*;
use serde_json::Value;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

pub const USER: &str = "slimtest";
pub const PASS: &str = "pw-Zq81xK";

/// How a test registry is reached.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    /// Plain HTTP, anonymous.
    Plain,
    /// TLS from a CA made here, htpasswd basic auth for USER:PASS.
    Basic,
    /// TLS that requires a client certificate from that CA; no other auth.
    ClientCert,
    /// TLS, and bearer tokens from a token server the test runs (USER:PASS
    /// at the token endpoint), as Docker Hub and most registries do.
    Token,
}

pub struct Registry {
    pub dir: tempfile::TempDir,
    pub child: Child,
    pub addr: String,
    pub kind: Kind,
    /// The CA directory (`ca.crt`) for a TLS registry.
    pub certs: Option<PathBuf>,
    /// For [`Kind::ClientCert`]: `ca.crt` with `client.cert` and `client.key`.
    pub client: Option<PathBuf>,
    pub token: Option<TokenServer>,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn openssl(args: &[&str], paths: &[(&str, &Path)]) {
    need("openssl");
    let mut c = Command::new("openssl");
    c.args(args);
    for (flag, p) in paths {
        c.arg(flag).arg(p);
    }
    run_ok(&mut c);
}

/// A CA in `d`: `ca.key` and `DIR/ca.crt`; returns DIR.
pub fn make_ca(d: &Path, dir: &str, cn: &str) -> PathBuf {
    let ca = d.join(dir);
    std::fs::create_dir(&ca).unwrap();
    openssl(
        &[
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ],
        &[
            ("-subj", Path::new(&format!("/CN={cn}"))),
            ("-keyout", &d.join(format!("{dir}.key"))),
            ("-out", &ca.join("ca.crt")),
        ],
    );
    ca
}

/// A key `KEY` and a certificate `CERT` for `cn` with extensions `ext`,
/// issued by the CA `make_ca` made in `d` as `ca`.
pub fn issue(d: &Path, ca: &str, cn: &str, ext: &str, key: &Path, cert: &Path) {
    let csr = d.join("req.csr");
    let extfile = d.join("req.ext");
    std::fs::write(&extfile, ext).unwrap();
    openssl(
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ],
        &[
            ("-subj", Path::new(&format!("/CN={cn}"))),
            ("-keyout", key),
            ("-out", &csr),
        ],
    );
    openssl(
        &["x509", "-req", "-days", "2", "-CAcreateserial"],
        &[
            ("-in", &csr),
            ("-CA", &d.join(ca).join("ca.crt")),
            ("-CAkey", &d.join(format!("{ca}.key"))),
            ("-extfile", &extfile),
            ("-out", cert),
        ],
    );
}

/// A directory for `--cert-dir` in `d`: the registry's `ca.crt`, and the
/// client pair `NAME.cert` + `NAME.key` issued by the CA `ca`.
pub fn cert_dir(d: &Path, name: &str, ca: &str) -> PathBuf {
    let c = d.join(name);
    std::fs::create_dir(&c).unwrap();
    std::fs::copy(d.join("ca/ca.crt"), c.join("ca.crt")).unwrap();
    issue(
        d,
        ca,
        name,
        "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n",
        &c.join(format!("{name}.key")),
        &c.join(format!("{name}.cert")),
    );
    c
}

impl Registry {
    /// A registry of `kind` on a free loopback port.
    pub fn start(kind: Kind) -> Registry {
        Registry::start_with(kind, "")
    }

    /// As [`Registry::start`], with `storage` added to the storage section.
    pub fn start_with(kind: Kind, storage: &str) -> Registry {
        need("docker-registry");
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let mut extra = String::new();
        let (mut certs, mut client, mut token) = (None, None, None);
        if kind != Kind::Plain {
            let ca = make_ca(d, "ca", "slim test CA");
            issue(
                d,
                "ca",
                "127.0.0.1",
                "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
                &d.join("server.key"),
                &d.join("server.crt"),
            );
            extra = format!(
                "  tls:\n    certificate: {0}/server.crt\n    key: {0}/server.key\n",
                d.display()
            );
            certs = Some(ca);
        }
        match kind {
            Kind::Plain => {}
            Kind::Basic => {
                need("htpasswd");
                let o = Command::new("htpasswd")
                    .args(["-Bbn", USER, PASS])
                    .output()
                    .unwrap();
                std::fs::write(d.join("htpasswd"), o.stdout).unwrap();
                extra += &format!(
                    "auth:\n  htpasswd:\n    realm: slim-test\n    path: {}/htpasswd\n",
                    d.display()
                );
            }
            Kind::ClientCert => {
                extra += &format!("    clientcas:\n      - {}/ca/ca.crt\n", d.display());
                client = Some(cert_dir(d, "client", "ca"));
            }
            Kind::Token => {
                let t = TokenServer::start(d);
                extra += &format!(
                    "auth:\n  token:\n    realm: http://{}/token\n    service: {TOKEN_SERVICE}\n    \
                     issuer: {TOKEN_ISSUER}\n    rootcertbundle: {}\n",
                    t.addr,
                    t.cert.display()
                );
                token = Some(t);
            }
        }
        let config = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}/data\n  delete:\n    enabled: true\n{storage}\
             http:\n  addr: {addr}\n  secret: loopback-test-only\n{extra}",
            d.display()
        );
        std::fs::write(d.join("config.yml"), config).unwrap();
        let log = std::fs::File::create(d.join("registry.log")).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(d.join("config.yml"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let r = Registry {
            dir,
            child,
            addr,
            kind,
            certs,
            client,
            token,
        };
        for _ in 0..200 {
            if TcpStream::connect(&r.addr).is_ok() {
                return r;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!(
            "registry did not start: {}",
            std::fs::read_to_string(r.dir.path().join("registry.log")).unwrap_or_default()
        );
    }

    pub fn url(&self, repo: &str) -> String {
        format!("docker://{}/{repo}", self.addr)
    }

    /// A registry holding fixture archive `archive` as `repo`.
    pub fn serving(kind: Kind, archive: &Path, repo: &str) -> Registry {
        let r = Registry::start(kind);
        r.push(&format!("oci-archive:{}", archive.display()), repo, false);
        r
    }

    /// skopeo's options to reach it, authenticated.
    pub fn skopeo_opts(&self, dir: &str) -> Vec<String> {
        let cert_dir = |c: &Path| format!("--{dir}-cert-dir={}", c.display());
        match self.kind {
            Kind::Plain => vec![format!("--{dir}-tls-verify=false")],
            Kind::ClientCert => vec![cert_dir(self.client.as_deref().unwrap())],
            Kind::Basic | Kind::Token => vec![
                cert_dir(self.certs.as_deref().unwrap()),
                format!("--{dir}-creds={USER}:{PASS}"),
            ],
        }
    }

    /// Copies `src` (a skopeo reference) to `repo` in this registry.
    pub fn push(&self, src: &str, repo: &str, all: bool) {
        need("skopeo");
        let mut c = Command::new("skopeo");
        c.args(["--insecure-policy", "copy", "-q"]);
        if all {
            c.arg("--all");
        }
        c.args(self.skopeo_opts("dest"))
            .arg(src)
            .arg(self.url(repo));
        run_ok(&mut c);
    }

    /// skopeo inspect of `repo` (authenticated), as JSON.
    pub fn inspect(&self, repo: &str) -> Value {
        let mut c = Command::new("skopeo");
        c.arg("inspect");
        for o in self.skopeo_opts("src") {
            // inspect takes the options without the src- prefix.
            c.arg(o.replacen("--src-", "--", 1));
        }
        let o = c.arg(self.url(repo)).output().unwrap();
        assert!(o.status.success(), "skopeo inspect: {}", stderr(&o));
        serde_json::from_slice(&o.stdout).unwrap()
    }

    /// slim's options to reach it (anonymous for the secure ones with a password).
    pub fn slim_opts(&self) -> Vec<String> {
        match self.kind {
            Kind::Plain => vec!["--tls-verify=false".into()],
            Kind::ClientCert => vec![format!(
                "--cert-dir={}",
                self.client.as_ref().unwrap().display()
            )],
            Kind::Basic | Kind::Token => vec![format!(
                "--cert-dir={}",
                self.certs.as_ref().unwrap().display()
            )],
        }
    }

    /// Blob downloads the registry served so far for `repo`.
    pub fn blob_gets(&self, repo: &str) -> usize {
        let log = std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default();
        let needle = format!("\"GET /v2/{repo}/blobs/");
        log.lines().filter(|l| l.contains(&needle)).count()
    }
}

pub const TOKEN_SERVICE: &str = "slim-test-registry";
pub const TOKEN_ISSUER: &str = "slim-test-token-issuer";

/// A Docker token server (distribution's token auth spec) on a loopback
/// port: `GET /token?service=…&scope=…` with USER:PASS as basic auth gets a
/// JWT granting every scope asked for, signed RS256 by openssl with a key
/// whose self-signed certificate the registry trusts (`x5c` in the header).
/// Without credentials it grants pull on `pub/…` only; with wrong ones it
/// answers 401.
/// It serves for 15 minutes at most and stops when dropped.
pub struct TokenServer {
    pub addr: String,
    pub cert: PathBuf,
    pub stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// `USER scope…` (or `- scope…` anonymous) for each request served.
    pub seen: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

pub fn b64url(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap_or(b'?'));
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl TokenServer {
    pub fn start(d: &Path) -> TokenServer {
        let key = d.join("token.key");
        let cert = d.join("token.crt");
        openssl(
            &[
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            ],
            &[
                ("-subj", Path::new("/CN=slim test token signer")),
                ("-keyout", &key),
                ("-out", &cert),
            ],
        );
        let der = Command::new("openssl")
            .args(["x509", "-outform", "DER", "-in"])
            .arg(&cert)
            .output()
            .unwrap();
        assert!(der.status.success());
        let x5c = {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.encode(&der.stdout)
        };
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (stop2, seen2) = (stop.clone(), seen.clone());
        std::thread::spawn(move || {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(900);
            while !stop2.load(std::sync::atomic::Ordering::SeqCst)
                && std::time::Instant::now() < deadline
            {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let _ = serve_token(conn, &key, &x5c, &seen2);
                    }
                    Err(_) => std::thread::sleep(std::time::Duration::from_millis(20)),
                }
            }
        });
        TokenServer {
            addr,
            cert,
            stop,
            seen,
        }
    }

    pub fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

/// Answers one token request on `conn`.
pub fn serve_token(
    mut conn: TcpStream,
    key: &Path,
    x5c: &str,
    seen: &std::sync::Mutex<Vec<String>>,
) -> std::io::Result<()> {
    use std::io::{BufRead, BufReader, Write};
    conn.set_nonblocking(false)?;
    conn.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let target = line
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_string();
    let mut authorization = None;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.eq_ignore_ascii_case("authorization") {
                authorization = Some(v.trim().to_string());
            }
        }
    }
    let query = target.split_once('?').map(|x| x.1).unwrap_or_default();
    let mut scopes = Vec::new();
    for kv in query.split('&') {
        if let Some(("scope", v)) = kv.split_once('=') {
            scopes.extend(percent_decode(v).split(' ').map(String::from));
        }
    }
    let user = match authorization
        .as_deref()
        .and_then(|a| a.strip_prefix("Basic "))
    {
        None => None,
        Some(b) => {
            use base64::Engine;
            let up = base64::engine::general_purpose::STANDARD
                .decode(b)
                .unwrap_or_default();
            if up != format!("{USER}:{PASS}").as_bytes() {
                seen.lock()
                    .unwrap()
                    .push(format!("refused {}", scopes.join(" ")));
                let body = r#"{"details":"incorrect username or password"}"#;
                return write!(
                    conn,
                    "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
            Some(USER)
        }
    };
    seen.lock()
        .unwrap()
        .push(format!("{} {}", user.unwrap_or("-"), scopes.join(" ")));
    // Each scope is `repository:NAME:ACTION[,ACTION]`. Anonymous requests
    // get pull on public repositories (`pub/…`), as Docker Hub's, and nothing else.
    let access: Vec<Value> = scopes
        .iter()
        .filter_map(|sc| {
            let (kind, rest) = sc.split_once(':')?;
            let (name, actions) = rest.rsplit_once(':')?;
            let actions: Vec<&str> = actions
                .split(',')
                .filter(|a| user.is_some() || (name.starts_with("pub/") && *a == "pull"))
                .collect();
            Some(serde_json::json!({"type": kind, "name": name, "actions": actions}))
        })
        .collect();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let header = serde_json::json!({"typ": "JWT", "alg": "RS256", "x5c": [x5c]});
    let claims = serde_json::json!({
        "iss": TOKEN_ISSUER, "sub": user.unwrap_or(""), "aud": TOKEN_SERVICE,
        "exp": now + 600, "nbf": now - 10, "iat": now - 10,
        "jti": format!("{now}-{}", seen.lock().unwrap().len()),
        "access": access,
    });
    let signing_input = format!(
        "{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(claims.to_string().as_bytes())
    );
    let mut sign = Command::new("openssl")
        .args(["dgst", "-sha256", "-sign"])
        .arg(key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    sign.stdin
        .take()
        .unwrap()
        .write_all(signing_input.as_bytes())?;
    let sig = sign.wait_with_output()?.stdout;
    let jwt = format!("{signing_input}.{}", b64url(&sig));
    let body =
        serde_json::json!({"token": jwt, "access_token": jwt, "expires_in": 600}).to_string();
    write!(
        conn,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// slim with `args`, a private blob cache, and no auth files of the user's.
pub fn slim_in(cache: &Path, args: &[String]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_slim"))
        .args(args)
        .env("XDG_CACHE_HOME", cache)
        .env("HOME", cache)
        .env_remove("REGISTRY_AUTH_FILE")
        .env_remove("DOCKER_CONFIG")
        .env_remove("XDG_RUNTIME_DIR")
        .output()
        .unwrap()
}

pub fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

pub fn fixture(name: &str) -> PathBuf {
    let p = fixtures().join(format!("{name}.oci.tar"));
    require_fixture(&p, "fixtures/make-fixtures.sh");
    p
}

/// The analyze JSON slim printed in `remote`, and that of `archive`.
pub fn with_archive_analysis(remote: &Output, archive: &Path) -> (Value, Value) {
    let local = ok(slim(&[
        "analyze",
        "--format",
        "json",
        "-q",
        &archive.display().to_string(),
    ]));
    (
        serde_json::from_slice(&remote.stdout).unwrap(),
        serde_json::from_slice(&local.stdout).unwrap(),
    )
}

/// An analyze report without what names where it was read from.
pub fn comparable(mut v: Value) -> Value {
    for k in ["reference", "transport", "name"] {
        v.as_object_mut().unwrap().remove(k);
    }
    v
}
