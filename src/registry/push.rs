//! Pushing: each blob the registry lacks uploaded (or mounted from the
//! source repository), then the manifests, the tagged one last.

use super::*;

/// A blob to push: its digest, size and where its bytes are.
pub struct Blob<'a> {
    pub digest: Digest,
    pub size: u64,
    pub data: BlobData<'a>,
}

pub enum BlobData<'a> {
    /// A file (a layer), streamed.
    File(&'a Path),
    /// Bytes in memory (a config).
    Bytes(&'a [u8]),
}

/// What a push did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Pushed {
    pub manifest_digest: Digest,
    /// Blobs sent, mounted from another repository, and already there.
    pub uploaded: usize,
    pub mounted: usize,
    pub reused: usize,
}

/// A manifest or index to push by digest before the tagged one: bytes and media type.
pub type Manifest<'a> = (&'a [u8], &'a str);

/// Checks that `dest` can be pushed to (the registry answers, the
/// credentials are accepted), before any work.
pub fn check_push(dest: &Remote, opts: &Options) -> Result<(), Error> {
    let s = Session::connect(dest, opts, true)?;
    // A registry that wants credentials may still answer /v2/ to anyone:
    // ask it something that needs them.
    let none = format!("sha256:{}", "0".repeat(64));
    s.blob_exists(&none, "checking access")?;
    Ok(())
}

/// Pushes an image: each blob the registry lacks (mounted from `mount_from`,
/// a repository of the same registry, when it has it), then the manifest
/// under `dest`'s tag. Nothing is tagged unless every blob is there.
pub fn push(
    dest: &Remote,
    opts: &Options,
    blobs: &[Blob],
    manifest: &[u8],
    manifest_type: &str,
    mount_from: Option<&Remote>,
    reporter: &dyn Reporter,
) -> Result<Pushed, Error> {
    push_with(
        dest,
        opts,
        blobs,
        &[],
        (manifest, manifest_type),
        mount_from,
        reporter,
    )
}

/// Like [`push`], with `below`: manifests (an index's) pushed by digest
/// after the blobs and before the tagged `top`, in the order given.
pub fn push_with(
    dest: &Remote,
    opts: &Options,
    blobs: &[Blob],
    below: &[Manifest],
    top: Manifest,
    mount_from: Option<&Remote>,
    reporter: &dyn Reporter,
) -> Result<Pushed, Error> {
    let (manifest, manifest_type) = top;
    let s = Session::connect(dest, opts, true)?;
    let mount =
        mount_from.filter(|m| m.registry == dest.registry && m.repository != dest.repository);
    let (mut uploaded, mut mounted, mut reused) = (0, 0, 0);
    for (i, b) in blobs.iter().enumerate() {
        let digest = b.digest.as_str();
        let checking = format!("checking blob {}", b.digest);
        if s.blob_exists(digest, &checking)? {
            reused += 1;
            continue;
        }
        if let Some(m) = mount {
            if s.mount(digest, &m.repository) && s.blob_exists(digest, &checking)? {
                mounted += 1;
                continue;
            }
        }
        upload(&s, b, reporter, i)?;
        uploaded += 1;
    }
    for (bytes, mt) in below {
        let d = Digest::of(bytes);
        s.put_manifest(d.as_str(), bytes, mt, &format!("pushing manifest {d}"))?;
    }
    let tag = Remote {
        digest: None,
        ..dest.clone()
    }
    .reference();
    s.put_manifest(&tag, manifest, manifest_type, "pushing the manifest")?;
    if let Some(c) = &opts.cache {
        // What was pushed is what a read-back (an SBOM of it) needs: keep it.
        if let Ok(cache) = cache::Cache::open(Some(c)) {
            for b in blobs {
                let _ = match b.data {
                    BlobData::File(p) => cache.adopt(&b.digest, p),
                    BlobData::Bytes(bytes) => cache.put(&b.digest, bytes),
                };
            }
            let d = Digest::of(manifest);
            let _ = cache.put(&d, manifest);
        }
    }
    Ok(Pushed {
        manifest_digest: Digest::of(manifest),
        uploaded,
        mounted,
        reused,
    })
}

/// Sends one blob: a file streamed in 1 MiB reads (never held whole), or
/// bytes; a failed upload starts again in a new session.
pub(super) fn upload(
    s: &Session,
    b: &Blob,
    reporter: &dyn Reporter,
    task: usize,
) -> Result<(), Error> {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    let doing = format!("pushing blob {}", b.digest);
    let sent = Arc::new(AtomicU64::new(0));
    let body = || -> Result<reqwest::Body, Error> {
        sent.store(0, Ordering::Relaxed);
        match b.data {
            BlobData::File(path) => {
                session::file_body(path, sent.clone()).map_err(|e| Error::Cache {
                    path: path.display().to_string(),
                    message: e.to_string(),
                })
            }
            BlobData::Bytes(bytes) => Ok(reqwest::Body::from(bytes.to_vec())),
        }
    };
    if let BlobData::Bytes(_) = b.data {
        return s.upload(&b.digest, b.size, &body, &doing);
    }
    reporter.begin(task, &format!("push {}", b.digest.short()), b.size);
    let done = std::sync::atomic::AtomicBool::new(false);
    let result = std::thread::scope(|scope| {
        scope.spawn(|| {
            let mut told = 0;
            while !done.load(Ordering::Relaxed) {
                std::thread::sleep(std::time::Duration::from_millis(100));
                let now = sent.load(Ordering::Relaxed);
                if now > told {
                    reporter.advance(task, now - told);
                    told = now;
                }
            }
        });
        let r = s.upload(&b.digest, b.size, &body, &doing);
        done.store(true, Ordering::Relaxed);
        r
    });
    reporter.end(task);
    result
}
