//! Registries that fail: a fault-injecting proxy (tests/common/proxy.rs) in
//! front of a loopback registry does one fault per test — a body cut short,
//! 503 on every third request, 429 with Retry-After, a stall longer than
//! `--timeout`, a registry that ignores `Range`, connections refused while it
//! starts, a 503 that never clears. Each pull must give the blobs a pull
//! without faults gives, each push an image skopeo reads whole, with as many
//! attempts as the policy says.

mod common;
use common::proxy::{Faults, Proxy, Seen};
use common::registry::*;
use common::*;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// The blobs in a slim cache directory.
fn cached(cache: &Path) -> BTreeSet<String> {
    std::fs::read_dir(cache.join("slim/blobs/sha256"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Pulls `url` into a new cache with `extra` options: the output and the blobs.
fn pull(url: &str, extra: &[&str]) -> (Output, BTreeSet<String>, tempfile::TempDir) {
    let cache = tempfile::tempdir().unwrap();
    let mut args = strs(&[
        "ls",
        "-q",
        url,
        "--tls-verify=false",
        "--retry-delay",
        "100ms",
    ]);
    args.extend(strs(extra));
    let o = slim_in(cache.path(), &args);
    let blobs = cached(cache.path());
    (o, blobs, cache)
}

fn retries(o: &Output) -> usize {
    stderr(o)
        .lines()
        .filter(|l| l.starts_with("slim: retry:"))
        .count()
}

fn count(seen: &[Seen], action: &str) -> usize {
    seen.iter().filter(|s| s.action == action).count()
}

/// An oci-archive of a small image whose two layers are 3 MiB each
/// (compressed too): big enough to cut, quick to move.
fn archive(dir: &Path) -> std::path::PathBuf {
    let layer = |name: &str, seed| {
        let data = noise(3 << 20, seed);
        (tar_of(&[E::Dir("data"), E::File(name, &data)]), Comp::Gzip)
    };
    let img = Img::new(vec![layer("data/a", 1), layer("data/b", 2)]);
    let layout = dir.join("layout");
    oci_layout(&layout, &img, "1");
    let out = dir.join("image.oci.tar");
    tar_dir(&layout, &out);
    out
}

/// A registry with the small image as t/nginx:1, the image's archive, and
/// the blobs a pull without faults caches.
fn setup() -> (Registry, BTreeSet<String>) {
    let dir = tempfile::tempdir().unwrap();
    let reg = Registry::serving(Kind::Plain, &archive(dir.path()), "t/nginx:1");
    let (o, blobs, _c) = pull(&reg.url("t/nginx:1"), &[]);
    ok(o);
    assert_eq!(blobs.len(), 4, "{blobs:?}");
    (reg, blobs)
}

/// Pushes the small image through `proxy` as `repo`; checks skopeo reads
/// it whole from the registry itself.
fn push_through(proxy: &Proxy, reg: &Registry, repo: &str) -> Output {
    let cache = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let args = strs(&[
        "copy",
        "-q",
        &archive(dir.path()).display().to_string(),
        &proxy.url(repo),
        "--tls-verify=false",
        "--retry-delay",
        "100ms",
    ]);
    let o = ok(slim_in(cache.path(), &args));
    let out = tempfile::tempdir().unwrap();
    let c = Command::new("skopeo")
        .args(["copy", "-q", "--src-tls-verify=false", &reg.url(repo)])
        .arg(format!("oci:{}:x", out.path().display()))
        .output()
        .unwrap();
    assert!(c.status.success(), "skopeo copy: {}", stderr(&c));
    o
}

#[test]
fn a_cut_download_resumes_where_it_stopped() {
    let (reg, want) = setup();
    let proxy = Proxy::start(
        &reg.addr,
        Faults {
            cut: Some((1, 1 << 20)),
            ..Default::default()
        },
    );
    let (o, got, _c) = pull(&proxy.url("t/nginx:1"), &[]);
    let o = ok(o);
    assert_eq!(got, want);
    let seen = proxy.seen();
    assert_eq!(count(&seen, "cut"), 1, "{seen:?}");
    // The next request for that blob asks for the rest.
    let cut = seen.iter().find(|s| s.action == "cut").unwrap();
    let again: Vec<&Seen> = seen
        .iter()
        .filter(|s| s.path == cut.path && s.action != "cut")
        .collect();
    assert_eq!(again.len(), 1, "{seen:?}");
    assert_eq!(again[0].range.as_deref(), Some("bytes=1048576-"));
    assert_eq!(retries(&o), 1, "{}", stderr(&o));
}

#[test]
fn a_registry_that_ignores_range_gets_the_blob_again_from_the_start() {
    let (reg, want) = setup();
    let proxy = Proxy::start(
        &reg.addr,
        Faults {
            cut: Some((1, 1 << 20)),
            ignore_range: true,
            ..Default::default()
        },
    );
    let (o, got, _c) = pull(&proxy.url("t/nginx:1"), &[]);
    let o = ok(o);
    assert_eq!(got, want);
    assert!(
        stderr(&o).contains("does not resume downloads"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn every_third_request_503_pull_and_push_both_finish() {
    let (reg, want) = setup();
    let proxy = Proxy::start(
        &reg.addr,
        Faults {
            every: Some((3, 503)),
            ..Default::default()
        },
    );
    let (o, got, _c) = pull(&proxy.url("t/nginx:1"), &[]);
    let o = ok(o);
    assert_eq!(got, want);
    let injected = count(&proxy.seen(), "503");
    assert!(injected >= 1);
    // One retry per 503, no more.
    assert_eq!(retries(&o), injected, "{}", stderr(&o));
    let before = count(&proxy.seen(), "503");
    let o = push_through(&proxy, &reg, "t/p503:1");
    assert_eq!(retries(&o), count(&proxy.seen(), "503") - before);
    assert!(reg.inspect("t/p503:1")["Digest"].is_string());
}

#[test]
fn a_rate_limit_is_waited_out_as_retry_after_says() {
    let (reg, want) = setup();
    let proxy = Proxy::start(
        &reg.addr,
        Faults {
            too_many: Some((2, 1)),
            ..Default::default()
        },
    );
    let t = Instant::now();
    let (o, got, _c) = pull(&proxy.url("t/nginx:1"), &[]);
    let o = ok(o);
    assert_eq!(got, want);
    // --retry-delay is 100ms, but the registry asked for 1s, twice.
    assert!(t.elapsed() >= Duration::from_secs(2), "{:?}", t.elapsed());
    assert_eq!(retries(&o), 2);
    assert!(
        stderr(&o).contains("429 Too Many Requests"),
        "{}",
        stderr(&o)
    );
    let proxy = Proxy::start(
        &reg.addr,
        Faults {
            too_many: Some((2, 1)),
            ..Default::default()
        },
    );
    push_through(&proxy, &reg, "t/p429:1");
}

#[test]
fn a_stalled_download_times_out_and_resumes() {
    let (reg, want) = setup();
    let proxy = Proxy::start(
        &reg.addr,
        Faults {
            stall: Some((1, 256 << 10, Duration::from_secs(20))),
            ..Default::default()
        },
    );
    let t = Instant::now();
    let (o, got, _c) = pull(&proxy.url("t/nginx:1"), &["--timeout", "1s"]);
    let o = ok(o);
    assert_eq!(got, want);
    assert!(t.elapsed() < Duration::from_secs(15), "{:?}", t.elapsed());
    assert_eq!(retries(&o), 1, "{}", stderr(&o));
    assert!(stderr(&o).contains("--timeout"), "{}", stderr(&o));
    let seen = proxy.seen();
    assert!(
        seen.iter()
            .any(|s| s.range.as_deref() == Some("bytes=262144-")),
        "{seen:?}"
    );
}

#[test]
fn a_registry_still_starting_is_waited_for() {
    let (reg, want) = setup();
    let proxy = Proxy::start(
        &reg.addr,
        Faults {
            refuse_for: Some(Duration::from_secs(2)),
            ..Default::default()
        },
    );
    // 100ms, 200ms, 400ms, 800ms, 1.6s: five retries cover two seconds.
    let (o, got, _c) = pull(&proxy.url("t/nginx:1"), &["--retry-times", "6"]);
    let o = ok(o);
    assert_eq!(got, want);
    assert!(retries(&o) >= 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("connection refused"), "{}", stderr(&o));
}

#[test]
fn a_fault_that_never_clears_fails_after_the_policys_attempts() {
    let (reg, _) = setup();
    let proxy = Proxy::start(
        &reg.addr,
        Faults {
            always: Some(503),
            ..Default::default()
        },
    );
    let t = Instant::now();
    let (o, got, _c) = pull(&proxy.url("t/nginx:1"), &["--retry-times", "2"]);
    let took = t.elapsed();
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    let last = err.lines().last().unwrap();
    assert!(last.starts_with("slim: error: "), "{err}");
    for want in [
        "t/nginx",
        "503 Service Unavailable",
        "gave up after 3 attempts",
    ] {
        assert!(last.contains(want), "{want}: {err}");
    }
    assert_eq!(err.lines().count(), 3, "two retries and the error: {err}");
    assert!(got.is_empty(), "{got:?}");
    assert_eq!(proxy.seen().len(), 3);
    assert_eq!(retries(&o), 2);
    // Waits of 100ms and 200ms, a quarter more at most: well under a second.
    assert!(took < Duration::from_secs(3), "{took:?}");
}

#[test]
fn a_push_cut_off_at_any_point_finishes_when_run_again_sending_only_what_is_missing() {
    let (reg, _) = setup();
    let dir = tempfile::tempdir().unwrap();
    let src = archive(dir.path()).display().to_string();
    let push = |proxy: &Proxy, repo: &str| {
        let cache = tempfile::tempdir().unwrap();
        let args = strs(&[
            "copy",
            "-q",
            "--json",
            &src,
            &proxy.url(repo),
            "--tls-verify=false",
            "--retry-times",
            "0",
        ]);
        slim_in(cache.path(), &args)
    };
    // A push is: the ping, then for each of three blobs a HEAD, a POST and a
    // PUT, then the manifest. The registry goes down after k requests.
    let mut partial = std::collections::BTreeSet::new();
    for k in [2, 4, 7, 10] {
        let repo = format!("t/cut{k}:1");
        let down = Proxy::start(
            &reg.addr,
            Faults {
                down_after: Some(k),
                ..Default::default()
            },
        );
        let o = push(&down, &repo);
        assert_eq!(o.status.code(), Some(2), "k={k}: {}", stderr(&o));
        let sent = down
            .seen()
            .iter()
            .filter(|s| s.method == "PUT" && s.action == "forward")
            .count();
        partial.insert(sent);
        // No tag until the manifest is in.
        let tag = Command::new("skopeo")
            .args(["inspect", "--raw", "--tls-verify=false", &reg.url(&repo)])
            .output()
            .unwrap();
        assert!(!tag.status.success(), "k={k}: a tag after a failed push");
        let up = Proxy::start(&reg.addr, Faults::default());
        let o = ok(push(&up, &repo));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let p = &v["pushed"];
        assert_eq!(
            (
                p["uploaded"].as_u64().unwrap(),
                p["reused"].as_u64().unwrap()
            ),
            (3 - sent as u64, sent as u64),
            "k={k}: {v}"
        );
        let out = tempfile::tempdir().unwrap();
        let c = Command::new("skopeo")
            .args(["copy", "-q", "--src-tls-verify=false", &reg.url(&repo)])
            .arg(format!("oci:{}:x", out.path().display()))
            .output()
            .unwrap();
        assert!(c.status.success(), "k={k}: skopeo copy: {}", stderr(&c));
    }
    assert!(partial.len() >= 3, "cut at different points: {partial:?}");
}

#[test]
fn ctrl_c_during_a_retry_wait_leaves_nothing_behind() {
    let (reg, _) = setup();
    let proxy = Proxy::start(
        &reg.addr,
        Faults {
            cut: Some((1, 1 << 20)),
            ..Default::default()
        },
    );
    let cache = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_slim"))
        .args(["ls", "-q", &proxy.url("t/nginx:1"), "--tls-verify=false"])
        .args(["--retry-delay", "30s"])
        .env("XDG_CACHE_HOME", cache.path())
        .env("HOME", cache.path())
        .env("TMPDIR", tmp.path())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the cut (the retry wait has begun), then interrupt.
    let deadline = Instant::now() + Duration::from_secs(60);
    while count(&proxy.seen(), "cut") == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    kill(child.id(), 2);
    let o = child.wait_with_output().unwrap();
    assert_eq!(
        o.status.code(),
        None,
        "killed by the signal, as a shell expects"
    );
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().flatten().collect();
    assert!(left.is_empty(), "{left:?}");
    let partial: Vec<_> = std::fs::read_dir(cache.path().join("slim/blobs/sha256"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(partial.is_empty(), "{partial:?}");
}

/// Sends signal `sig` to `pid` (kill(1), no libc in the tests).
fn kill(pid: u32, sig: i32) {
    let s = Command::new("kill")
        .args([format!("-{sig}"), pid.to_string()])
        .status()
        .unwrap();
    assert!(s.success());
}
