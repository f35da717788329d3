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

struct Registry {
    dir: tempfile::TempDir,
    child: Child,
    addr: String,
    /// The CA directory (`ca.crt`) for a TLS registry.
    certs: Option<PathBuf>,
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

impl Registry {
    /// A registry on a free loopback port; with `secure`, TLS (a CA made
    /// here, in `certs`) and htpasswd basic auth for USER:PASS.
    fn start(secure: bool) -> Registry {
        Registry::start_with(secure, "")
    }

    /// As [`Registry::start`], with `storage` added to the storage section.
    fn start_with(secure: bool, storage: &str) -> Registry {
        need("docker-registry");
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let mut extra = String::new();
        let mut certs = None;
        if secure {
            need("openssl");
            need("htpasswd");
            let ca = d.join("ca");
            std::fs::create_dir(&ca).unwrap();
            run_ok(
                Command::new("openssl")
                    .args([
                        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    ])
                    .args(["-subj", "/CN=slim test CA", "-keyout"])
                    .arg(d.join("ca.key"))
                    .arg("-out")
                    .arg(ca.join("ca.crt")),
            );
            run_ok(
                Command::new("openssl")
                    .args([
                        "req",
                        "-newkey",
                        "rsa:2048",
                        "-nodes",
                        "-subj",
                        "/CN=127.0.0.1",
                    ])
                    .arg("-keyout")
                    .arg(d.join("server.key"))
                    .arg("-out")
                    .arg(d.join("server.csr")),
            );
            std::fs::write(
                d.join("ext"),
                "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
            )
            .unwrap();
            run_ok(
                Command::new("openssl")
                    .args(["x509", "-req", "-days", "2", "-CAcreateserial", "-in"])
                    .arg(d.join("server.csr"))
                    .arg("-CA")
                    .arg(ca.join("ca.crt"))
                    .arg("-CAkey")
                    .arg(d.join("ca.key"))
                    .arg("-extfile")
                    .arg(d.join("ext"))
                    .arg("-out")
                    .arg(d.join("server.crt")),
            );
            let o = Command::new("htpasswd")
                .args(["-Bbn", USER, PASS])
                .output()
                .unwrap();
            std::fs::write(d.join("htpasswd"), o.stdout).unwrap();
            extra = format!(
                "  tls:\n    certificate: {0}/server.crt\n    key: {0}/server.key\n\
                 auth:\n  htpasswd:\n    realm: slim-test\n    path: {0}/htpasswd\n",
                d.display()
            );
            certs = Some(ca);
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
            certs,
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
    fn serving(secure: bool, archive: &Path, repo: &str) -> Registry {
        let r = Registry::start(secure);
        r.push(&format!("oci-archive:{}", archive.display()), repo, false);
        r
    }

    /// skopeo's options to reach it.
    fn skopeo_opts(&self, dir: &str) -> Vec<String> {
        match &self.certs {
            Some(c) => vec![
                format!("--{dir}-cert-dir={}", c.display()),
                format!("--{dir}-creds={USER}:{PASS}"),
            ],
            None => vec![format!("--{dir}-tls-verify=false")],
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

    /// slim's options to reach it (anonymous for the secure one).
    fn slim_opts(&self) -> Vec<String> {
        match &self.certs {
            Some(c) => vec![format!("--cert-dir={}", c.display())],
            None => vec!["--tls-verify=false".into()],
        }
    }

    /// Blob downloads the registry served so far for `repo`.
    fn blob_gets(&self, repo: &str) -> usize {
        let log = std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default();
        let needle = format!("\"GET /v2/{repo}/blobs/");
        log.lines().filter(|l| l.contains(&needle)).count()
    }
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
    let reg = Registry::serving(false, &nginx, "t/nginx:1");
    let cache = tempfile::tempdir().unwrap();
    let mut args = strs(&["analyze", "--format", "json", "-q"]);
    args.push(reg.url("t/nginx:1"));
    args.extend(reg.slim_opts());
    let remote = ok(slim_in(cache.path(), &args));
    let first = reg.blob_gets("t/nginx");
    assert_eq!(first, 2, "config and one layer, each once");
    let local = ok(slim(&[
        "analyze",
        "--format",
        "json",
        "-q",
        &nginx.display().to_string(),
    ]));
    let (r, l): (Value, Value) = (
        serde_json::from_slice(&remote.stdout).unwrap(),
        serde_json::from_slice(&local.stdout).unwrap(),
    );
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
    let reg = Registry::serving(false, &curl, "t/curl:8");
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
    let reg = Registry::start(false);
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
    let reg = Registry::start(false);
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
    let reg = Registry::serving(true, &nginx, "t/nginx:1");
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
    let reg = Registry::serving(false, &nginx, "t/nginx:1");
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
    // Nothing listening.
    let closed = format!("docker://127.0.0.1:{}/t/x:1", free_port());
    fails_with(
        &run(closed, &["--tls-verify=false"]),
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
        false,
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
