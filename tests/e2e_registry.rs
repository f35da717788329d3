//! Registries: `docker://` read and written against loopback registries the
//! tests start (Debian's docker-registry, CNCF distribution 2.8): one plain
//! HTTP, one with TLS from a CA made here and htpasswd basic auth. Images get
//! there with skopeo and come back with skopeo; what slim reads must equal the
//! same image read from an archive.

mod common;
use common::registry::*;
use common::*;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

#[test]
#[ignore = "needs the fixture images: scripts/test builds them and runs this"]
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
#[ignore = "needs the fixture images: scripts/test builds them and runs this"]
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
#[ignore = "needs the fixture images: scripts/test builds them and runs this"]
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
    // A plain copy of one platform keeps that platform's manifest bytes: to a
    // layout and to another repository, its digest is the index entry's.
    let arm_digest = manifests[1]["digest"].as_str().unwrap().to_string();
    let one = |dest: String| -> Value {
        let mut args = strs(&["copy", "-q", "--json", "--platform", "linux/arm64"]);
        args.extend([reg.url("t/multi:1"), dest]);
        args.extend(reg.slim_opts());
        serde_json::from_slice(&ok(slim_in(cache.path(), &args)).stdout).unwrap()
    };
    let w = one(format!("oci:{}:arm", mirror.display()));
    assert_eq!(w["manifest_digest"], arm_digest.as_str(), "{w}");
    let w = one(reg.url("t/arm:1"));
    assert_eq!(w["manifest_digest"], arm_digest.as_str(), "{w}");
    let o = Command::new("skopeo")
        .args([
            "inspect",
            "--raw",
            "--tls-verify=false",
            &reg.url("t/arm:1"),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(format!("sha256:{}", sha256_hex(&o.stdout)), arm_digest);
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
#[ignore = "needs the fixture images: scripts/test builds them and runs this"]
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
#[ignore = "needs the fixture images: scripts/test builds them and runs this"]
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
#[ignore = "needs the fixture images: scripts/test builds them and runs this"]
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
#[ignore = "needs the fixture images: scripts/test builds them and runs this"]
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
#[ignore = "needs the fixture images: scripts/test builds them and runs this"]
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
