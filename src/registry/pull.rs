//! Pulling: manifests walked (an index to the platform's image, or whole),
//! blobs fetched into the cache and checked, and the pulled image laid out
//! as an OCI layout over the cache.

use super::*;

/// The media type a manifest says it is (or an index, by its shape).
pub(super) fn media_type(v: &Value) -> String {
    match v.get("mediaType").and_then(Value::as_str) {
        Some(m) => m.to_string(),
        None if v.get("manifests").is_some() => crate::media::OCI_INDEX.to_string(),
        None => crate::media::OCI_MANIFEST.to_string(),
    }
}

/// A descriptor's digest and size.
pub(super) fn descriptor(v: &Value, what: &str, repo: &str) -> Result<(Digest, u64), Error> {
    let d = v
        .get("digest")
        .and_then(Value::as_str)
        .and_then(Digest::parse);
    let s = v.get("size").and_then(Value::as_u64);
    match (d, s) {
        (Some(d), Some(s)) => Ok((d, s)),
        _ => Err(fail(repo, format!("{what} has no sha256 digest and size"))),
    }
}

/// The index entry for `want` (else this machine's platform): attestations
/// skipped, the rest matched by os/arch/variant. An index of one entry that
/// names no platform is that entry, unless a platform was asked for (as for
/// a local layout: its config's platform is then checked). With the
/// index's other platforms when the entry was chosen as this machine's
/// (see [`crate::image::other_platforms`]).
pub(super) fn choose(
    index: &Value,
    want: Option<&Platform>,
    repo: &str,
) -> Result<(Value, Vec<String>), Error> {
    let entries = images(index);
    if let [only] = entries.as_slice() {
        if want.is_none() && only.get("platform").is_none() {
            return Ok(((*only).clone(), Vec::new()));
        }
    }
    let platform_of = |e: &Value| {
        let p = e.get("platform")?;
        Some((
            p.get("os")?.as_str()?.to_string(),
            p.get("architecture")?.as_str()?.to_string(),
            p.get("variant").and_then(Value::as_str).map(String::from),
        ))
    };
    let platforms: Vec<_> = entries.iter().map(|e| platform_of(e)).collect();
    match crate::image::matching_platforms(&platforms, want) {
        Ok(hits) => Ok((
            entries[hits[0]].clone(),
            crate::image::other_platforms(&platforms, &hits, want),
        )),
        Err(m) => Err(fail(repo, m)),
    }
}

/// An image pulled into the cache, laid out as an OCI layout directory whose
/// `index.json` names its manifest and whose `blobs` are the cache's.
pub struct Pulled {
    pub layout: tempfile::TempDir,
    pub manifest_digest: Digest,
    /// Blobs downloaded (the rest were in the cache, verified).
    pub downloaded: usize,
    /// The index's other platforms, when the image was chosen from it as
    /// this machine's.
    pub other_platforms: Vec<String>,
    _cache: cache::Cache,
}

pub(super) fn open_cache(opts: &Options) -> Result<cache::Cache, Error> {
    cache::Cache::open(opts.cache.as_deref()).map_err(|e| Error::Cache {
        path: opts
            .cache
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "(temporary)".into()),
        message: e.to_string(),
    })
}

pub(super) fn put(cache: &cache::Cache, d: &Digest, b: &[u8]) -> Result<(), Error> {
    cache.put(d, b).map_err(|m| Error::Cache {
        path: cache.root().display().to_string(),
        message: m.to_string(),
    })
}

/// A manifest's config and layers.
pub(super) fn blobs_of(manifest: &Value, repo: &str) -> Result<Vec<(Digest, u64)>, Error> {
    let mut blobs = vec![descriptor(
        manifest.get("config").unwrap_or(&Value::Null),
        "the config",
        repo,
    )?];
    for l in manifest
        .get("layers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        blobs.push(descriptor(l, "a layer", repo)?);
    }
    Ok(blobs)
}

pub(super) fn parse_manifest(
    bytes: &[u8],
    digest: &Digest,
    repo: &str,
) -> Result<(Value, String), Error> {
    let v: Value = serde_json::from_slice(bytes)
        .map_err(|e| fail(repo, format!("the manifest {digest} is not JSON: {e}")))?;
    let mt = media_type(&v);
    if !is_index(&mt) && mt != crate::media::OCI_MANIFEST && mt != crate::media::DOCKER_MANIFEST {
        return Err(fail(
            repo,
            format!("{digest} is a {mt}, not a container image manifest or index"),
        ));
    }
    Ok((v, mt))
}

impl Session {
    /// The manifest an index entry names, its size checked.
    fn child(&self, entry: &Value, doing: &str) -> Result<(Vec<u8>, Digest), Error> {
        let repo = self.remote.repo();
        let (child, size) = descriptor(entry, "an index entry", &repo)?;
        let (b, d) = self.manifest(child.as_str(), doing)?;
        if b.len() as u64 != size {
            return Err(fail(
                &repo,
                format!("manifest {d} is {} bytes, its index says {size}", b.len()),
            ));
        }
        Ok((b, d))
    }

    /// Downloads `blobs` (four at a time) into the cache; returns how many
    /// were not there already.
    fn fetch_all(
        &self,
        cache: &cache::Cache,
        blobs: &[(Digest, u64)],
        reporter: &dyn Reporter,
    ) -> Result<usize, Error> {
        let fetched = self.rt.block_on(async {
            use futures_util::{StreamExt, TryStreamExt};
            futures_util::stream::iter(blobs.iter().enumerate())
                .map(|(i, (d, size))| self.fetch(cache, d, *size, reporter, i))
                .buffer_unordered(4)
                .try_collect::<Vec<bool>>()
                .await
        })?;
        Ok(fetched.into_iter().filter(|d| *d).count())
    }

    /// Every manifest and blob an index (or manifest) reaches, manifests into
    /// the cache as they come.
    fn walk(
        &self,
        cache: &cache::Cache,
        bytes: &[u8],
        digest: &Digest,
        depth: usize,
        blobs: &mut Vec<(Digest, u64)>,
    ) -> Result<(), Error> {
        let repo = self.remote.repo();
        put(cache, digest, bytes)?;
        let (v, mt) = parse_manifest(bytes, digest, &repo)?;
        if !is_index(&mt) {
            for b in blobs_of(&v, &repo)? {
                if !blobs.contains(&b) {
                    blobs.push(b);
                }
            }
            return Ok(());
        }
        if depth > 8 {
            return Err(fail(&repo, "indexes nest too deeply"));
        }
        for e in v
            .get("manifests")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let (b, d) = self.child(e, "pulling the index's manifests")?;
            self.walk(cache, &b, &d, depth + 1, blobs)?;
        }
        Ok(())
    }
}

/// An OCI layout over the cache whose index.json names one manifest or index.
pub(super) fn layout_over(
    cache: &cache::Cache,
    mut desc: Value,
    tag: Option<&str>,
) -> Result<tempfile::TempDir, Error> {
    let layout = crate::tmp::dir_in(&std::env::temp_dir()).map_err(|e| Error::Cache {
        path: std::env::temp_dir().display().to_string(),
        message: e.to_string(),
    })?;
    if let Some(t) = tag {
        desc["annotations"] = json!({"org.opencontainers.image.ref.name": t});
    }
    let io = |e: std::io::Error| Error::Cache {
        path: layout.path().display().to_string(),
        message: e.to_string(),
    };
    std::fs::write(
        layout.path().join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .map_err(io)?;
    std::fs::write(
        layout.path().join("index.json"),
        serde_json::to_vec(
            &json!({"schemaVersion": 2, "mediaType": crate::media::OCI_INDEX, "manifests": [desc]}),
        )
        .expect("JSON"),
    )
    .map_err(io)?;
    std::os::unix::fs::symlink(cache.root().join("blobs"), layout.path().join("blobs"))
        .map_err(io)?;
    Ok(layout)
}

/// Pulls the image `remote` names (the one for `platform` of an index):
/// manifests, config and layers, each verified, into the cache.
pub fn pull(
    remote: &Remote,
    platform: Option<&Platform>,
    opts: &Options,
    reporter: &dyn Reporter,
) -> Result<Pulled, Error> {
    let s = Session::connect(remote, opts, false)?;
    let cache = open_cache(opts)?;
    let (bytes, digest) = s.manifest(&remote.reference(), "pulling the manifest")?;
    pull_from(&s, cache, bytes, digest, platform, reporter)
}

/// Pulls what `remote` names for the platforms `wanted` (every one when
/// empty): when its index lists more than one of them, the whole index
/// (as [`pull_all`]), else the one image (as [`pull`]).
pub fn pull_platforms(
    remote: &Remote,
    wanted: &[Platform],
    opts: &Options,
    reporter: &dyn Reporter,
) -> Result<Pulled, Error> {
    let s = Session::connect(remote, opts, false)?;
    let repo = remote.repo();
    let cache = open_cache(opts)?;
    let (bytes, digest) = s.manifest(&remote.reference(), "pulling the manifest")?;
    let (v, mt) = parse_manifest(&bytes, &digest, &repo)?;
    if is_index(&mt) && images_for(&v, wanted) > 1 {
        let mut blobs = Vec::new();
        s.walk(&cache, &bytes, &digest, 0, &mut blobs)?;
        let downloaded = s.fetch_all(&cache, &blobs, reporter)?;
        return Pulled::over(cache, &mt, digest, bytes.len(), remote, downloaded);
    }
    let one = match wanted {
        [p] => Some(p),
        _ => None,
    };
    if is_index(&mt) && one.is_none() && images_for(&v, wanted) == 1 {
        // The index's only image, whatever this machine is.
        let only = images(&v).into_iter().next().cloned();
        if let Some(e) = only {
            let (bytes, digest) = s.child(&e, "pulling the platform's manifest")?;
            put(&cache, &digest, &bytes)?;
            return pull_from(&s, cache, bytes, digest, None, reporter);
        }
    }
    pull_from(&s, cache, bytes, digest, one, reporter)
}

/// An index's entries that are images (not BuildKit's attestations).
pub(super) fn images(index: &Value) -> Vec<&Value> {
    index
        .get("manifests")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|e| {
            e.pointer("/annotations/vnd.docker.reference.type")
                .is_none()
                && e.pointer("/platform/os").and_then(Value::as_str) != Some("unknown")
        })
        .collect()
}

/// How many images of `index` the platforms `wanted` (all when empty) name.
pub(super) fn images_for(index: &Value, wanted: &[Platform]) -> usize {
    images(index)
        .into_iter()
        .filter(|e| {
            let p = |k: &str| e.pointer(&format!("/platform/{k}")).and_then(Value::as_str);
            wanted.is_empty()
                || wanted.iter().any(|w| {
                    w.matches(
                        p("os").unwrap_or(""),
                        p("architecture").unwrap_or(""),
                        p("variant"),
                    )
                })
        })
        .count()
}

/// Pulls the image `bytes` (`digest`) is, or the one for `platform` of it
/// when it is an index.
pub(super) fn pull_from(
    s: &Session,
    cache: cache::Cache,
    mut bytes: Vec<u8>,
    mut digest: Digest,
    platform: Option<&Platform>,
    reporter: &dyn Reporter,
) -> Result<Pulled, Error> {
    let remote = &s.remote;
    let repo = remote.repo();
    let mut depth = 0;
    let mut others = Vec::new();
    let (manifest, mt) = loop {
        put(&cache, &digest, &bytes)?;
        let (v, mt) = parse_manifest(&bytes, &digest, &repo)?;
        if !is_index(&mt) {
            break (v, mt);
        }
        depth += 1;
        if depth > 8 {
            return Err(fail(&repo, "indexes nest too deeply"));
        }
        let entry;
        (entry, others) = choose(&v, platform, &repo)?;
        (bytes, digest) = s.child(&entry, "pulling the platform's manifest")?;
    };
    let downloaded = s.fetch_all(&cache, &blobs_of(&manifest, &repo)?, reporter)?;
    let mut pulled = Pulled::over(cache, &mt, digest, bytes.len(), remote, downloaded)?;
    pulled.other_platforms = others;
    Ok(pulled)
}

/// Pulls everything `remote` names: an index with every manifest it lists
/// (all platforms, attestations too) and their blobs, for `copy --all`.
pub fn pull_all(remote: &Remote, opts: &Options, reporter: &dyn Reporter) -> Result<Pulled, Error> {
    let s = Session::connect(remote, opts, false)?;
    let repo = remote.repo();
    let cache = open_cache(opts)?;
    let (bytes, digest) = s.manifest(&remote.reference(), "pulling the manifest")?;
    let mut blobs = Vec::new();
    s.walk(&cache, &bytes, &digest, 0, &mut blobs)?;
    let (_, mt) = parse_manifest(&bytes, &digest, &repo)?;
    let downloaded = s.fetch_all(&cache, &blobs, reporter)?;
    Pulled::over(cache, &mt, digest, bytes.len(), remote, downloaded)
}

impl Pulled {
    /// The layout over `cache` naming the manifest (or index) `digest`.
    fn over(
        cache: cache::Cache,
        media_type: &str,
        digest: Digest,
        size: usize,
        remote: &Remote,
        downloaded: usize,
    ) -> Result<Pulled, Error> {
        let desc = json!({"mediaType": media_type, "digest": digest, "size": size});
        let layout = layout_over(&cache, desc, remote.tag.as_deref())?;
        Ok(Pulled {
            layout,
            manifest_digest: digest,
            downloaded,
            other_platforms: Vec::new(),
            _cache: cache,
        })
    }

    /// The reference of the pulled layout, to open it as an OCI layout.
    pub fn layout_ref(&self) -> crate::image::ImageRef {
        crate::image::ImageRef {
            transport: Some(crate::image::Transport::Oci),
            path: self.layout.path().to_path_buf(),
            tag: None,
        }
    }
}
