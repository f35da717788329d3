//! Registries: `docker://` read and written against loopback registries the
//! tests start (Debian's docker-registry, CNCF distribution 2.8): one plain
//! HTTP, one with TLS from a CA made here and htpasswd basic auth. Images get
//! there with skopeo and come back with skopeo; what slim reads must equal the
//! same image read from an archive.

mod common;
use common::*;
use serde_json::Value;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

const USER: &str = "slimtest";
const PASS: &str = "pw-Zq81xK";

/// How a test registry is reached.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
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

struct Registry {
    dir: tempfile::TempDir,
    child: Child,
    addr: String,
    kind: Kind,
    /// The CA directory (`ca.crt`) for a TLS registry.
    certs: Option<PathBuf>,
    /// For [`Kind::ClientCert`]: `ca.crt` with `client.cert` and `client.key`.
    client: Option<PathBuf>,
    token: Option<TokenServer>,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn openssl(args: &[&str], paths: &[(&str, &Path)]) {
    need("openssl");
    let mut c = Command::new("openssl");
    c.args(args);
    for (flag, p) in paths {
        c.arg(flag).arg(p);
    }
    run_ok(&mut c);
}

/// A CA in `d`: `ca.key` and `DIR/ca.crt`; returns DIR.
fn make_ca(d: &Path, dir: &str, cn: &str) -> PathBuf {
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
fn issue(d: &Path, ca: &str, cn: &str, ext: &str, key: &Path, cert: &Path) {
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
fn cert_dir(d: &Path, name: &str, ca: &str) -> PathBuf {
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
    fn start(kind: Kind) -> Registry {
        Registry::start_with(kind, "")
    }

    /// As [`Registry::start`], with `storage` added to the storage section.
    fn start_with(kind: Kind, storage: &str) -> Registry {
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

    fn url(&self, repo: &str) -> String {
        format!("docker://{}/{repo}", self.addr)
    }

    /// A registry holding fixture archive `archive` as `repo`.
    fn serving(kind: Kind, archive: &Path, repo: &str) -> Registry {
        let r = Registry::start(kind);
        r.push(&format!("oci-archive:{}", archive.display()), repo, false);
        r
    }

    /// skopeo's options to reach it, authenticated.
    fn skopeo_opts(&self, dir: &str) -> Vec<String> {
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
    fn push(&self, src: &str, repo: &str, all: bool) {
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
    fn inspect(&self, repo: &str) -> Value {
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
    fn slim_opts(&self) -> Vec<String> {
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
    fn blob_gets(&self, repo: &str) -> usize {
        let log = std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default();
        let needle = format!("\"GET /v2/{repo}/blobs/");
        log.lines().filter(|l| l.contains(&needle)).count()
    }
}

const TOKEN_SERVICE: &str = "slim-test-registry";
const TOKEN_ISSUER: &str = "slim-test-token-issuer";

/// A Docker token server (distribution's token auth spec) on a loopback
/// port: `GET /token?service=…&scope=…` with USER:PASS as basic auth gets a
/// JWT granting every scope asked for, signed RS256 by openssl with a key
/// whose self-signed certificate the registry trusts (`x5c` in the header).
/// Without credentials it grants pull on `pub/…` only; with wrong ones it
/// answers 401.
/// It serves for 15 minutes at most and stops when dropped.
struct TokenServer {
    addr: String,
    cert: PathBuf,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// `USER scope…` (or `- scope…` anonymous) for each request served.
    seen: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

fn b64url(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

fn percent_decode(s: &str) -> String {
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
    fn start(d: &Path) -> TokenServer {
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

    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

/// Answers one token request on `conn`.
fn serve_token(
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
fn slim_in(cache: &Path, args: &[String]) -> Output {
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

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn fixture(name: &str) -> PathBuf {
    let p = fixtures().join(format!("{name}.oci.tar"));
    require_fixture(&p, "fixtures/make-fixtures.sh");
    p
}

/// The analyze JSON slim printed in `remote`, and that of `archive`.
fn with_archive_analysis(remote: &Output, archive: &Path) -> (Value, Value) {
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
fn comparable(mut v: Value) -> Value {
    for k in ["reference", "transport", "name"] {
        v.as_object_mut().unwrap().remove(k);
    }
    v
}

#[test]
fn pulled_images_equal_the_archive_and_a_second_command_downloads_nothing() {
    let nginx = fixture("nginx");
    let reg = Registry::serving(Kind::Plain, &nginx, "t/nginx:1");
    let cache = tempfile::tempdir().unwrap();
    let mut args = strs(&["analyze", "--format", "json", "-q"]);
    args.push(reg.url("t/nginx:1"));
    args.extend(reg.slim_opts());
    let remote = ok(slim_in(cache.path(), &args));
    let first = reg.blob_gets("t/nginx");
    assert_eq!(first, 2, "config and one layer, each once");
    let (r, l) = with_archive_analysis(&remote, &nginx);
    assert_eq!(r["reference"], reg.url("t/nginx:1"));
    assert_eq!(r["transport"], "docker");
    assert_eq!(r["manifest_digest"], l["manifest_digest"]);
    assert!(
        comparable(r) == comparable(l),
        "analyze of the registry image differs from the archive's"
    );
    // The SBOM too; a second command downloads nothing (the cache, verified).
    let mut args = strs(&["sbom", "-q"]);
    args.push(reg.url("t/nginx:1"));
    args.extend(reg.slim_opts());
    let sbom: Value = serde_json::from_slice(&ok(slim_in(cache.path(), &args)).stdout).unwrap();
    assert_eq!(
        reg.blob_gets("t/nginx"),
        first,
        "the second command downloaded blobs"
    );
    let local: Value =
        serde_json::from_slice(&ok(slim(&["sbom", "-q", &nginx.display().to_string()])).stdout)
            .unwrap();
    let pkgs = |v: &Value| -> Vec<Value> { v["packages"].as_array().unwrap()[1..].to_vec() };
    assert!(pkgs(&sbom) == pkgs(&local), "SBOM packages differ");
    // A corrupted cache blob is not trusted: fetched again.
    let blobs = cache.path().join("slim/blobs/sha256");
    let layer = std::fs::read_dir(&blobs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .max_by_key(|p| p.metadata().unwrap().len())
        .unwrap();
    let mut bytes = std::fs::read(&layer).unwrap();
    bytes[1000] ^= 0xff;
    std::fs::write(&layer, bytes).unwrap();
    ok(slim_in(cache.path(), &args));
    assert_eq!(
        reg.blob_gets("t/nginx"),
        first + 1,
        "the corrupted layer is downloaded again"
    );
}

#[test]
fn rewrite_pushes_an_image_skopeo_accepts_and_that_runs_pulled_back() {
    let curl = fixture("curl");
    let reg = Registry::serving(Kind::Plain, &curl, "t/curl:8");
    let cache = tempfile::tempdir().unwrap();
    let mut args = strs(&["rewrite", "-q", "--to", "distroless", "--format", "json"]);
    args.push(reg.url("t/curl:8"));
    args.extend(["-o".into(), reg.url("t/curl:8-slim")]);
    args.extend(reg.slim_opts());
    let out = ok(slim_in(cache.path(), &args));
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    let digest = plan["written"]["manifest_digest"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        plan["written"]["pushed"]["uploaded"], 2,
        "{}",
        plan["written"]
    );
    // skopeo reads it, with the digest slim printed.
    let o = Command::new("skopeo")
        .args(["inspect", "--tls-verify=false", &reg.url("t/curl:8-slim")])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let inspect: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(inspect["Digest"], digest);
    assert_eq!(inspect["Layers"].as_array().unwrap().len(), 1);
    // Pulled back by skopeo, it runs under runc.
    let back = cache.path().join("back.tar");
    run_ok(
        Command::new("skopeo")
            .args(["--insecure-policy", "copy", "-q", "--src-tls-verify=false"])
            .arg(reg.url("t/curl:8-slim"))
            .arg(format!("oci-archive:{}", back.display())),
    );
    let (ran, said) = run_image_with(&back, &["--version"]);
    assert!(ran && said.contains("curl 7.88"), "{said}");
    // The source tag is untouched.
    let o = Command::new("skopeo")
        .args(["inspect", "--tls-verify=false", &reg.url("t/curl:8")])
        .output()
        .unwrap();
    let src: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(src["Layers"].as_array().unwrap().len(), 2);
    assert_ne!(src["Digest"], digest);
}

#[test]
fn a_second_push_uploads_nothing_and_another_repository_mounts() {
    let nginx = fixture("nginx");
    let reg = Registry::start(Kind::Plain);
    let cache = tempfile::tempdir().unwrap();
    let pushed = |dest: &str, src: &str| -> Value {
        let mut args = strs(&["copy", "-q", "--json"]);
        args.push(src.to_string());
        args.push(reg.url(dest));
        args.extend(reg.slim_opts());
        serde_json::from_slice(&ok(slim_in(cache.path(), &args)).stdout).unwrap()
    };
    let src = nginx.display().to_string();
    let first = pushed("t/a:1", &src);
    assert_eq!(first["pushed"]["uploaded"], 2, "{first}");
    let again = pushed("t/a:1", &src);
    assert_eq!(
        (&again["pushed"]["uploaded"], &again["pushed"]["reused"]),
        (&Value::from(0), &Value::from(2)),
        "{again}"
    );
    assert_eq!(first["manifest_digest"], again["manifest_digest"]);
    // From a repository of the same registry to another: mounted, not sent.
    let mounted = pushed("t/b:1", &reg.url("t/a:1"));
    assert_eq!(
        (
            &mounted["pushed"]["uploaded"],
            &mounted["pushed"]["mounted"]
        ),
        (&Value::from(0), &Value::from(2)),
        "{mounted}"
    );
}

#[test]
fn a_multi_platform_index_is_pulled_by_platform() {
    let d = tempfile::tempdir().unwrap();
    let layout = d.path().join("multi");
    std::fs::create_dir(&layout).unwrap();
    let mut manifests = Vec::new();
    for (arch, file) in [("amd64", "etc/amd64-only"), ("arm64", "etc/arm64-only")] {
        let mut img = Img::new(vec![(tar_of(&[E::File(file, b"x")]), Comp::Gzip)]);
        img.arch = arch.into();
        let mut desc = put_image(&layout, &img);
        desc["platform"] = serde_json::json!({"os": "linux", "architecture": arch});
        manifests.push(desc);
    }
    // One tagged index holding both, as `docker buildx` pushes them.
    let inner = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": manifests,
    }))
    .unwrap();
    let mut desc = put_blob(&layout, "application/vnd.oci.image.index.v1+json", &inner);
    desc["annotations"] = serde_json::json!({"org.opencontainers.image.ref.name": "1"});
    write_index(&layout, vec![desc]);
    let reg = Registry::start(Kind::Plain);
    reg.push(&format!("oci:{}:1", layout.display()), "t/multi:1", true);
    let cache = tempfile::tempdir().unwrap();
    let ls = |platform: Option<&str>| {
        let mut args = strs(&["ls", "-q"]);
        args.push(reg.url("t/multi:1"));
        args.extend(reg.slim_opts());
        if let Some(p) = platform {
            args.extend(["--platform".into(), p.into()]);
        }
        slim_in(cache.path(), &args)
    };
    let arm = stdout(&ok(ls(Some("linux/arm64"))));
    assert!(
        arm.contains("arm64-only") && !arm.contains("amd64-only"),
        "{arm}"
    );
    let amd = stdout(&ok(ls(Some("linux/amd64"))));
    assert!(
        amd.contains("amd64-only") && !amd.contains("arm64-only"),
        "{amd}"
    );
    // copy --all keeps the whole index, digests unchanged: out to a layout, back to
    // another repository, and skopeo sees the same index with both platforms.
    let index_digest = |url: &str| {
        let o = Command::new("skopeo")
            .args(["inspect", "--raw", "--tls-verify=false", url])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v["manifests"].as_array().unwrap().len(), 2, "{v}");
        sha256_hex(&o.stdout)
    };
    let want = index_digest(&reg.url("t/multi:1"));
    let mirror = d.path().join("mirror");
    let copy = |src: String, dest: String| {
        let mut args = strs(&["copy", "-q", "--all", "--json"]);
        args.extend([src, dest]);
        args.extend(reg.slim_opts());
        let v: Value = serde_json::from_slice(&ok(slim_in(cache.path(), &args)).stdout).unwrap();
        v
    };
    let w = copy(reg.url("t/multi:1"), format!("oci:{}:m", mirror.display()));
    assert_eq!(w["digest"], format!("sha256:{want}"));
    assert_eq!(
        (&w["manifests"], &w["blobs"]),
        (&Value::from(3), &Value::from(4)),
        "{w}"
    );
    let w = copy(format!("oci:{}:m", mirror.display()), reg.url("t/multi2:1"));
    assert_eq!(w["pushed"]["uploaded"], 4, "{w}");
    assert_eq!(index_digest(&reg.url("t/multi2:1")), want);
    let o = Command::new("skopeo")
        .args([
            "copy",
            "-q",
            "--all",
            "--src-tls-verify=false",
            "--insecure-policy",
        ])
        .arg(reg.url("t/multi2:1"))
        .arg(format!("oci:{}:back", d.path().join("back").display()))
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "skopeo pulls the copied index: {}",
        stderr(&o)
    );
    let o = ls(Some("linux/s390x"));
    fails_with(
        &o,
        &[
            "no image for platform linux/s390x",
            "linux/amd64, linux/arm64",
            "--platform",
        ],
    );
}

#[test]
fn tls_and_basic_auth_with_every_way_to_give_credentials_and_none_printed() {
    let nginx = fixture("nginx");
    let reg = Registry::serving(Kind::Basic, &nginx, "t/nginx:1");
    let cache = tempfile::tempdir().unwrap();
    let certs = reg.certs.clone().unwrap();
    let ls = |extra: &[String], env: &[(&str, &Path)]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_slim"));
        c.args(["ls", "-q"])
            .arg(reg.url("t/nginx:1"))
            .args(extra)
            .env("XDG_CACHE_HOME", cache.path())
            .env("HOME", cache.path())
            .env_remove("REGISTRY_AUTH_FILE")
            .env_remove("DOCKER_CONFIG")
            .env_remove("XDG_RUNTIME_DIR");
        for (k, v) in env {
            c.env(k, v);
        }
        let o = c.output().unwrap();
        let all = format!("{}{}", stdout(&o), stderr(&o));
        assert!(!all.contains(PASS), "the password was printed: {all}");
        o
    };
    let cert_dir = format!("--cert-dir={}", certs.display());
    // A CA slim does not know.
    fails_with(&ls(&[], &[]), &[&reg.addr, "TLS certificate", "--cert-dir"]);
    // Trusted, but anonymous: 401 and how to log in.
    fails_with(
        &ls(std::slice::from_ref(&cert_dir), &[]),
        &["t/nginx", "unauthorized (401)", "--creds"],
    );
    // Wrong password.
    fails_with(
        &ls(
            &[cert_dir.clone(), format!("--creds={USER}:not-{PASS}")],
            &[],
        ),
        &["refused the credentials from --creds"],
    );
    let good = |o: Output| assert!(stdout(&ok(o)).contains("usr/sbin/nginx"));
    good(ls(
        &[cert_dir.clone(), format!("--creds={USER}:{PASS}")],
        &[],
    ));
    // --tls-verify=false: any certificate.
    good(ls(
        &[
            "--tls-verify=false".into(),
            format!("--creds={USER}:{PASS}"),
        ],
        &[],
    ));
    // An auth file, named or by REGISTRY_AUTH_FILE.
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASS}"));
    let auth = cache.path().join("auth.json");
    std::fs::write(
        &auth,
        format!(r#"{{"auths": {{"{}": {{"auth": "{b64}"}}}}}}"#, reg.addr),
    )
    .unwrap();
    good(ls(
        &[cert_dir.clone(), format!("--authfile={}", auth.display())],
        &[],
    ));
    good(ls(
        std::slice::from_ref(&cert_dir),
        &[("REGISTRY_AUTH_FILE", &auth)],
    ));
    // Docker's config with a credential helper.
    let helpers = cache.path().join("bin");
    std::fs::create_dir(&helpers).unwrap();
    let helper = helpers.join("docker-credential-slimtest");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\nread host\n[ \"$host\" = \"{}\" ] || exit 1\necho '{{\"Username\": \"{USER}\", \"Secret\": \"{PASS}\"}}'\n",
            reg.addr
        ),
    )
    .unwrap();
    std::fs::set_permissions(&helper, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let docker = cache.path().join("docker");
    std::fs::create_dir(&docker).unwrap();
    std::fs::write(
        docker.join("config.json"),
        format!(r#"{{"credHelpers": {{"{}": "slimtest"}}}}"#, reg.addr),
    )
    .unwrap();
    let path = format!("{}:{}", helpers.display(), std::env::var("PATH").unwrap());
    good(ls(
        std::slice::from_ref(&cert_dir),
        &[("DOCKER_CONFIG", &docker), ("PATH", Path::new(&path))],
    ));
    // And a push there, authenticated, whose JSON names no secret.
    let mut args = strs(&["rewrite", "-q", "--to", "distroless", "--format", "json"]);
    args.push(reg.url("t/nginx:1"));
    args.extend(["-o".into(), reg.url("t/nginx:slim")]);
    args.extend([cert_dir.clone(), format!("--creds={USER}:{PASS}")]);
    let o = ok(slim_in(cache.path(), &args));
    assert!(!stdout(&o).contains(PASS) && !stderr(&o).contains(PASS));
    // Pushing anonymously is refused before any work, with no tag left behind.
    let mut args = strs(&["copy", "-q"]);
    args.push(nginx.display().to_string());
    args.push(reg.url("t/anon:1"));
    args.push(cert_dir.clone());
    fails_with(
        &slim_in(cache.path(), &args),
        &["unauthorized (401)", "--creds"],
    );
}

#[test]
fn registry_errors_are_one_line_naming_the_registry_and_the_fix() {
    let nginx = fixture("nginx");
    let reg = Registry::serving(Kind::Plain, &nginx, "t/nginx:1");
    let cache = tempfile::tempdir().unwrap();
    let run = |image: String, extra: &[&str]| {
        let mut args = strs(&["ls", "-q"]);
        args.push(image);
        args.extend(strs(extra));
        slim_in(cache.path(), &args)
    };
    // A plain-HTTP registry without --tls-verify=false.
    fails_with(
        &run(reg.url("t/nginx:1"), &[]),
        &[&reg.addr, "does not speak TLS", "--tls-verify=false"],
    );
    // An unknown tag, an unknown repository.
    fails_with(
        &run(reg.url("t/nginx:2"), &["--tls-verify=false"]),
        &["t/nginx", "not found (404)", "tag '2'"],
    );
    fails_with(
        &run(reg.url("t/none:1"), &["--tls-verify=false"]),
        &["t/none", "not found (404)"],
    );
    // Nothing listening (not tried again: --retry-times 0).
    let closed = format!("docker://127.0.0.1:{}/t/x:1", free_port());
    fails_with(
        &run(closed, &["--tls-verify=false", "--retry-times", "0"]),
        &["connection refused", "is the registry running"],
    );
    // A bad reference.
    fails_with(&run("docker://Example.org/UP".into(), &[]), &["lowercase"]);
    // A blob the registry serves with other bytes than its digest: refused.
    let blobs = reg.dir.path().join("data/docker/registry/v2/blobs/sha256");
    let mut datas = Vec::new();
    for a in std::fs::read_dir(&blobs).unwrap() {
        for b in std::fs::read_dir(a.unwrap().path()).unwrap() {
            datas.push(b.unwrap().path().join("data"));
        }
    }
    let layer = datas
        .into_iter()
        .max_by_key(|p| p.metadata().unwrap().len())
        .unwrap();
    let mut bytes = std::fs::read(&layer).unwrap();
    bytes[5000] ^= 0xff;
    std::fs::write(&layer, bytes).unwrap();
    let o = run(reg.url("t/nginx:1"), &["--tls-verify=false", "--no-cache"]);
    fails_with(&o, &["t/nginx", "arrived with digest", "refusing it"]);
    assert_eq!(stderr(&o).trim().lines().count(), 1, "{}", stderr(&o));
}

#[test]
fn a_push_that_fails_leaves_no_tag_behind() {
    let nginx = fixture("nginx");
    // A registry in read-only maintenance mode: it answers, serves nothing, and
    // refuses uploads.
    let reg = Registry::start_with(
        Kind::Plain,
        "  maintenance:\n    readonly:\n      enabled: true\n",
    );
    let cache = tempfile::tempdir().unwrap();
    let mut args = strs(&["copy", "-q"]);
    args.push(nginx.display().to_string());
    args.push(reg.url("t/ro:1"));
    args.extend(reg.slim_opts());
    let o = slim_in(cache.path(), &args);
    fails_with(&o, &["t/ro", "refuses writes (405", "pushing blob"]);
    let o = Command::new("skopeo")
        .args(["inspect", "--tls-verify=false", &reg.url("t/ro:1")])
        .output()
        .unwrap();
    assert!(!o.status.success(), "a tag was left: {}", stdout(&o));
}

#[test]
fn a_registry_that_requires_a_client_certificate_gets_the_one_in_cert_dir() {
    let nginx = fixture("nginx");
    let reg = Registry::serving(Kind::ClientCert, &nginx, "t/nginx:1");
    let cache = tempfile::tempdir().unwrap();
    let ca_only = format!("--cert-dir={}", reg.certs.as_ref().unwrap().display());
    let ls = |extra: &[String]| {
        let mut args = strs(&["ls", "-q"]);
        args.push(reg.url("t/nginx:1"));
        args.extend(extra.iter().cloned());
        slim_in(cache.path(), &args)
    };
    // The CA alone: the registry wants a client certificate, and slim says how.
    fails_with(
        &ls(std::slice::from_ref(&ca_only)),
        &[
            &reg.addr,
            "asks for a TLS client certificate",
            "NAME.cert",
            "--cert-dir",
        ],
    );
    // With the pair, as skopeo reads the directory.
    let listing = stdout(&ok(ls(&reg.slim_opts())));
    assert!(listing.contains("usr/sbin/nginx"), "{listing}");
    // The default directory (~/.config/containers/certs.d/HOST) serves as --cert-dir.
    let default = cache
        .path()
        .join(".config/containers/certs.d")
        .join(&reg.addr);
    std::fs::create_dir_all(&default).unwrap();
    for f in ["ca.crt", "client.cert", "client.key"] {
        std::fs::copy(reg.client.as_ref().unwrap().join(f), default.join(f)).unwrap();
    }
    assert_eq!(stdout(&ok(ls(&[]))), listing);
    std::fs::remove_dir_all(cache.path().join(".config")).unwrap();
    // A rewrite pushed back through the same certificate: skopeo reads it.
    let mut args = strs(&["rewrite", "-q", "--to", "distroless", "--format", "json"]);
    args.push(reg.url("t/nginx:1"));
    args.extend(["-o".into(), reg.url("t/nginx:slim")]);
    args.extend(reg.slim_opts());
    let plan: Value = serde_json::from_slice(&ok(slim_in(cache.path(), &args)).stdout).unwrap();
    let inspect = reg.inspect("t/nginx:slim");
    assert_eq!(inspect["Digest"], plan["written"]["manifest_digest"]);
    // A certificate from a CA the registry does not trust: refused, named.
    let d = reg.dir.path();
    make_ca(d, "other", "another CA");
    let stranger = cert_dir(d, "stranger", "other");
    let me = stranger.join("stranger.cert").display().to_string();
    fails_with(
        &ls(&[format!("--cert-dir={}", stranger.display())]),
        &["refused the client certificate", &me],
    );
    // A key that is not the certificate's: named before any connection.
    std::fs::copy(
        reg.client.as_ref().unwrap().join("client.key"),
        stranger.join("stranger.key"),
    )
    .unwrap();
    fails_with(
        &ls(&[format!("--cert-dir={}", stranger.display())]),
        &[&me, "or its key is not usable"],
    );
}

#[test]
fn bearer_token_auth_with_credentials_at_the_token_endpoint() {
    let nginx = fixture("nginx");
    let reg = Registry::serving(Kind::Token, &nginx, "t/nginx:1");
    let token = reg.token.as_ref().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let run = |args: Vec<String>| {
        let o = slim_in(cache.path(), &args);
        let all = format!("{}{}", stdout(&o), stderr(&o));
        assert!(!all.contains(PASS), "the password was printed: {all}");
        o
    };
    let with = |verb: &[&str], extra: &[String]| {
        let mut args = strs(verb);
        args.push(reg.url("t/nginx:1"));
        args.extend(reg.slim_opts());
        args.extend(extra.iter().cloned());
        args
    };
    let creds = format!("--creds={USER}:{PASS}");
    // Anonymous: the token server grants nothing, the registry says 401.
    fails_with(
        &run(with(&["ls", "-q"], &[])),
        &["t/nginx", "unauthorized (401)", "--creds"],
    );
    // Anonymous where allowed: a public repository is read with an anonymous
    // token, and pushing there is refused before any work.
    reg.push(
        &format!("oci-archive:{}", nginx.display()),
        "pub/nginx:1",
        false,
    );
    let mut args = strs(&["ls", "-q"]);
    args.push(reg.url("pub/nginx:1"));
    args.extend(reg.slim_opts());
    assert!(stdout(&ok(run(args))).contains("usr/sbin/nginx"));
    assert!(
        token
            .seen()
            .iter()
            .any(|l| l == "- repository:pub/nginx:pull"),
        "{:?}",
        token.seen()
    );
    let mut args = strs(&["copy", "-q"]);
    args.push(nginx.display().to_string());
    args.push(reg.url("pub/nginx:2"));
    args.extend(reg.slim_opts());
    fails_with(&run(args), &["pub/nginx", "unauthorized (401)", "--creds"]);
    // A wrong password is refused at the token endpoint.
    fails_with(
        &run(with(&["ls", "-q"], &[format!("--creds={USER}:x{PASS}")])),
        &["refused the credentials from --creds"],
    );
    // With credentials: the image, equal to the archive's.
    let remote = ok(run(with(
        &["analyze", "--format", "json", "-q"],
        std::slice::from_ref(&creds),
    )));
    let (r, l) = with_archive_analysis(&remote, &nginx);
    assert!(
        comparable(r) == comparable(l),
        "analyze differs from the archive's"
    );
    // The token server saw the user and a pull scope for the repository.
    let seen = token.seen();
    assert!(
        seen.iter()
            .any(|l| l.starts_with(USER) && l.contains("repository:t/nginx:pull")),
        "{seen:?}"
    );
    // A push to another repository gets a push token; skopeo reads the result.
    let mut args = with(
        &["rewrite", "-q", "--to", "distroless", "--format", "json"],
        std::slice::from_ref(&creds),
    );
    args.extend(["-o".into(), reg.url("t/slim:1")]);
    let plan: Value = serde_json::from_slice(&ok(run(args)).stdout).unwrap();
    assert_eq!(
        reg.inspect("t/slim:1")["Digest"],
        plan["written"]["manifest_digest"]
    );
    assert!(
        token
            .seen()
            .iter()
            .any(|l| l.starts_with(USER) && l.contains("repository:t/slim:pull,push")),
        "{:?}",
        token.seen()
    );
    // A copy to another repository of the same registry: its push token names
    // only the destination, so the registry refuses the mount and the blobs
    // are sent instead; every one gets there.
    let mut args = strs(&["copy", "-q", "--json"]);
    args.push(reg.url("t/nginx:1"));
    args.push(reg.url("t/copy:1"));
    args.extend(reg.slim_opts());
    args.push(creds.clone());
    let w: Value = serde_json::from_slice(&ok(run(args)).stdout).unwrap();
    let p = &w["pushed"];
    assert_eq!(
        p["uploaded"].as_u64().unwrap() + p["mounted"].as_u64().unwrap(),
        2,
        "{w}"
    );
    assert_eq!(reg.inspect("t/copy:1")["Digest"], w["manifest_digest"]);
}
