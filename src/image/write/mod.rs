//! Writing images: a reproducible layer tar from a [`Tree`], and the OCI
//! layout, oci-archive and docker-archive (legacy `docker save`) formats.
//!
//! Everything is written under a temporary name beside the destination and
//! renamed at the end: a failure leaves nothing behind.

use super::digest::HashingWriter;
use super::{Compression, Digest, Layers, RefError, Transport};
use crate::fs::{DataRef, Kind, Tree};
use crate::progress::Reporter;
use crate::reference::Remote;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use crate::media::{
    OCI_CONFIG as MEDIA_CONFIG, OCI_INDEX as MEDIA_INDEX, OCI_MANIFEST as MEDIA_MANIFEST,
};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io { path: String, source: io::Error },
    #[error("{0}")]
    Dest(String),
    #[error("reading /{path} from layer {layer}: {source}")]
    Source {
        path: String,
        layer: usize,
        source: io::Error,
    },
}

fn io_err(path: &Path) -> impl Fn(io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.display().to_string(),
        source,
    }
}

mod archive;
mod config;
mod layer;
mod layout;
mod output;
mod push;

use archive::*;
pub use config::*;
pub use layer::*;
use layout::*;
pub use output::*;
pub use push::*;

/// What was written.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Written {
    pub path: PathBuf,
    pub transport: Transport,
    /// Digest of the manifest (OCI outputs) — what a registry and `skopeo
    /// inspect` call the image. A docker-archive stores no manifest: None.
    pub manifest_digest: Option<Digest>,
    /// Digest of the config: Docker's image id (`docker images --no-trunc`).
    pub config_digest: Digest,
    pub layers: Vec<Digest>,
    /// For a registry: what was uploaded, mounted, and already there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pushed: Option<Pushed>,
    /// The other tags of the OCI layout or oci-archive written into, kept.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub other_tags: Vec<String>,
}

impl Written {
    /// The digests, labelled: `manifest sha256:…, image id sha256:…` (the
    /// image id alone for a docker-archive, which stores no manifest).
    pub fn digests(&self) -> String {
        match &self.manifest_digest {
            Some(m) => format!("manifest {m}, image id {}", self.config_digest),
            None => format!("image id {}", self.config_digest),
        }
    }
}

/// Writes an image made of `config` (bytes as they will be stored) and `layers`.
pub fn write_image(
    out: &Output,
    config: &[u8],
    layers: Vec<BuiltLayer>,
    annotations: &[(String, String)],
    mtime: u64,
    reporter: &dyn crate::progress::Reporter,
) -> Result<Written, Error> {
    let config_digest = Digest::of(config);
    let mut ann = serde_json::Map::new();
    for (k, v) in annotations {
        ann.insert(k.clone(), Value::String(v.clone()));
    }
    let mut manifest = json!({
        "schemaVersion": 2,
        "mediaType": MEDIA_MANIFEST,
        "config": {"mediaType": MEDIA_CONFIG, "digest": config_digest, "size": config.len()},
        "layers": layers.iter().map(|l| json!({
            "mediaType": l.media_type(), "digest": l.digest, "size": l.size,
        })).collect::<Vec<_>>(),
    });
    if !ann.is_empty() {
        manifest["annotations"] = Value::Object(ann);
    }
    let manifest = serde_json::to_vec(&manifest).expect("JSON values serialise");
    let manifest_digest = Digest::of(&manifest);
    let mut desc =
        json!({"mediaType": MEDIA_MANIFEST, "digest": manifest_digest, "size": manifest.len()});
    if let Some(t) = &out.tag {
        desc["annotations"] = json!({"org.opencontainers.image.ref.name": t});
    }
    let mut other_tags = Vec::new();
    let written = Written {
        path: out.path.clone(),
        transport: out.transport,
        manifest_digest: (out.transport != Transport::DockerArchive)
            .then(|| manifest_digest.clone()),
        config_digest: config_digest.clone(),
        layers: layers.iter().map(|l| l.digest.clone()).collect(),
        pushed: None,
        other_tags: Vec::new(),
    };
    let layout = || -> Vec<(String, Blob)> {
        let mut blobs = vec![
            (
                format!("blobs/sha256/{}", config_digest.hex()),
                Blob::Bytes(config.to_vec()),
            ),
            (
                format!("blobs/sha256/{}", manifest_digest.hex()),
                Blob::Bytes(manifest.clone()),
            ),
        ];
        blobs.sort_by(|a, b| a.0.cmp(&b.0));
        blobs
    };
    match out.transport {
        Transport::Docker => {
            let remote = out.remote().ok_or_else(|| {
                Error::Dest(format!("{}: not a registry image", out.path.display()))
            })?;
            let mut blobs = vec![PushBlob {
                digest: config_digest.clone(),
                size: config.len() as u64,
                data: PushData::Bytes(config),
            }];
            for l in &layers {
                blobs.push(PushBlob {
                    digest: l.digest.clone(),
                    size: l.size,
                    data: PushData::File(l.file.path()),
                });
            }
            let pushed = out
                .pusher()?
                .push(
                    &remote,
                    &blobs,
                    &[],
                    (&manifest, MEDIA_MANIFEST),
                    out.mount_from.as_ref(),
                    reporter,
                )
                .map_err(Error::Dest)?;
            return Ok(Written {
                pushed: Some(pushed),
                ..written
            });
        }
        Transport::Oci => {
            let mut blobs = layout();
            for l in layers {
                blobs.push((
                    format!("blobs/sha256/{}", l.digest.hex()),
                    Blob::File(l.file),
                ));
            }
            other_tags = write_layout(&out.path, blobs, desc)?;
        }
        Transport::OciArchive => {
            let mut entries: Vec<(String, Blob)> = layout();
            for l in layers {
                entries.push((
                    format!("blobs/sha256/{}", l.digest.hex()),
                    Blob::File(l.file),
                ));
            }
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            other_tags = write_oci_archive(&out.path, desc, entries, mtime)?;
        }
        Transport::DockerArchive => {
            let mut all = vec![(
                format!("{}.json", config_digest.hex()),
                Blob::Bytes(config.to_vec()),
            )];
            let mut paths = Vec::new();
            let mut parent_id: Option<String> = None;
            for l in layers {
                if l.compression != Compression::None {
                    return Err(Error::Dest(
                        "docker-archive layers must be uncompressed".into(),
                    ));
                }
                // Legacy v1 layer ids: the chain of diff_ids, as `docker save` before 25 did.
                let id = match &parent_id {
                    None => l.diff_id.hex().to_string(),
                    Some(p) => Digest::of(format!("sha256:{p} {}", l.diff_id).as_bytes())
                        .hex()
                        .to_string(),
                };
                let mut v1 =
                    json!({"id": id, "created": "1970-01-01T00:00:00Z", "container_config": {}});
                if let Some(p) = &parent_id {
                    v1["parent"] = json!(p);
                }
                all.push((format!("{id}/"), Blob::Dir));
                all.push((format!("{id}/VERSION"), Blob::Bytes(b"1.0".to_vec())));
                all.push((
                    format!("{id}/json"),
                    Blob::Bytes(serde_json::to_vec(&v1).expect("JSON")),
                ));
                all.push((format!("{id}/layer.tar"), Blob::File(l.file)));
                paths.push(format!("{id}/layer.tar"));
                parent_id = Some(id);
            }
            let tags: Vec<String> = out.tag.iter().map(|t| docker_ref(t)).collect();
            let manifest = json!([{"Config": format!("{}.json", config_digest.hex()), "RepoTags": tags, "Layers": paths}]);
            all.push((
                "manifest.json".into(),
                Blob::Bytes(serde_json::to_vec(&manifest).expect("JSON")),
            ));
            if let (Some(t), Some(top)) = (tags.first(), &parent_id) {
                let (repo, tag) = t.rsplit_once(':').expect("docker_ref adds a tag");
                let repos = json!({ repo: { tag: top } });
                all.push((
                    "repositories".into(),
                    Blob::Bytes(serde_json::to_vec(&repos).expect("JSON")),
                ));
            }
            write_tar(&out.path, all, mtime)?;
        }
    }
    Ok(Written {
        other_tags,
        ..written
    })
}

/// What `copy --all` wrote: an index (or manifest) and all it reaches.
#[derive(Debug, Clone, serde::Serialize)]
pub struct WrittenWhole {
    pub location: String,
    pub transport: Transport,
    /// The digest of the top index (or manifest), unchanged from the source.
    pub digest: Digest,
    pub manifests: usize,
    pub blobs: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pushed: Option<Pushed>,
    /// The other tags of the OCI layout written into, kept.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub other_tags: Vec<String>,
}

/// Writes an index and everything it reaches as they are (digests unchanged),
/// each config and layer copied through `work` and checked against its digest.
pub fn write_whole(
    out: &Output,
    w: &super::Whole,
    work: &Path,
    mtime: u64,
    reporter: &dyn crate::progress::Reporter,
) -> Result<WrittenWhole, Error> {
    if out.transport == Transport::DockerArchive {
        return Err(Error::Dest(
            "a docker-archive holds one image per tag, not an index: write --all to oci:, \
             oci-archive: or docker://"
                .into(),
        ));
    }
    let mut files = Vec::new();
    for (i, (d, size)) in w.blobs.iter().enumerate() {
        let name = format!("blobs/sha256/{}", d.hex());
        if let Some(b) = linked(w, &name, d, *size, work) {
            files.push(b);
            continue;
        }
        let (src, _) = w
            .container
            .open(&name)
            .map_err(|e| Error::Dest(e.to_string()))?;
        reporter.begin(i, &format!("copy {}", d.short()), *size);
        let mut bw = BlobWriter::new(work, Compression::None)?;
        let mut src = crate::progress::ProgressReader::new(src, reporter, i);
        io::copy(&mut src, &mut bw).map_err(|e| Error::Source {
            path: name.clone(),
            layer: i,
            source: e,
        })?;
        reporter.end(i);
        let b = bw.finish()?;
        if b.digest != *d {
            return Err(Error::Dest(format!(
                "{}: blob {d} holds other bytes (digest {}): refusing to copy it",
                w.container.describe(&name),
                b.digest
            )));
        }
        files.push(b);
    }
    let (top_digest, top_bytes, top_type) = w
        .manifests
        .last()
        .cloned()
        .ok_or_else(|| Error::Dest("nothing to copy".into()))?;
    let mut desc = w.top.clone();
    if let Some(obj) = desc.as_object_mut() {
        obj.remove("annotations");
    }
    if let Some(t) = &out.tag {
        desc["annotations"] = json!({"org.opencontainers.image.ref.name": t});
    }
    let mut written = WrittenWhole {
        location: out.location(),
        transport: out.transport,
        digest: top_digest,
        manifests: w.manifests.len(),
        blobs: w.blobs.len(),
        pushed: None,
        other_tags: Vec::new(),
    };
    let blob_entries = |files: Vec<BuiltLayer>| -> Vec<(String, Blob)> {
        let mut v: Vec<(String, Blob)> = w
            .manifests
            .iter()
            .map(|(d, b, _)| (format!("blobs/sha256/{}", d.hex()), Blob::Bytes(b.clone())))
            .collect();
        v.extend(files.into_iter().map(|f| {
            (
                format!("blobs/sha256/{}", f.digest.hex()),
                Blob::File(f.file),
            )
        }));
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v.dedup_by(|a, b| a.0 == b.0);
        v
    };
    match out.transport {
        Transport::Docker => {
            let remote = out.remote().ok_or_else(|| {
                Error::Dest(format!("{}: not a registry image", out.path.display()))
            })?;
            let blobs: Vec<PushBlob> = files
                .iter()
                .map(|f| PushBlob {
                    digest: f.digest.clone(),
                    size: f.size,
                    data: PushData::File(f.file.path()),
                })
                .collect();
            let n = w.manifests.len();
            let below: Vec<Manifest> = w.manifests[..n - 1]
                .iter()
                .map(|(_, b, mt)| (b.as_slice(), mt.as_str()))
                .collect();
            let pushed = out
                .pusher()?
                .push(
                    &remote,
                    &blobs,
                    &below,
                    (&top_bytes, &top_type),
                    out.mount_from.as_ref(),
                    reporter,
                )
                .map_err(Error::Dest)?;
            written.pushed = Some(pushed);
        }
        Transport::Oci => {
            written.other_tags = write_layout(&out.path, blob_entries(files), desc)?;
        }
        _ => {
            written.other_tags = write_oci_archive(&out.path, desc, blob_entries(files), mtime)?;
        }
    }
    Ok(written)
}

/// A verified blob of a directory container hard-linked into `work`
/// (the same file system), instead of copied: None when it cannot be.
fn linked(w: &super::Whole, name: &str, d: &Digest, size: u64, work: &Path) -> Option<BuiltLayer> {
    let super::container::Container::Dir(root) = &w.container else {
        return None;
    };
    if !w.verified {
        return None;
    }
    let dest = work.join(format!("link-{}", d.hex()));
    std::fs::hard_link(root.join(name), &dest).ok()?;
    let path = tempfile::TempPath::try_from_path(&dest).ok()?;
    let file = std::fs::File::open(&dest).ok()?;
    Some(BuiltLayer {
        file: tempfile::NamedTempFile::from_parts(file, path),
        digest: d.clone(),
        size,
        diff_id: d.clone(),
        compression: Compression::None,
        uncompressed_size: size,
    })
}

/// `name` → `name:latest`; `name:tag` unchanged.
fn docker_ref(r: &str) -> String {
    match r.rsplit_once(':') {
        Some((_, t)) if !t.contains('/') => r.to_string(),
        _ => format!("{r}:latest"),
    }
}

enum Blob {
    Dir,
    Bytes(Vec<u8>),
    File(tempfile::NamedTempFile),
    /// A member of the archive being replaced, copied as it is.
    Old(super::container::Section),
}

fn parent_dir(p: &Path) -> PathBuf {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// A temporary directory next to where the output goes, for layer blobs
/// (so they can be renamed into place, not copied). Checks the destination first.
pub fn work_dir(out: &Output) -> Result<tempfile::TempDir, Error> {
    // A registry was checked before the image was read, and the push
    // authenticates again: no third round trip here.
    let parent = match out.transport {
        Transport::Docker => std::env::temp_dir(),
        _ => {
            out.check()?;
            parent_dir(&out.path)
        }
    };
    crate::tmp::dir_in(&parent).map_err(|e| {
        Error::Dest(format!(
            "{}: cannot write into {}: {e}",
            out.path.display(),
            parent.display()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_of_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn bare_destinations() {
        assert_eq!(
            Output::parse("x.tar").unwrap().transport,
            Transport::OciArchive
        );
        assert_eq!(Output::parse("out/img").unwrap().transport, Transport::Oci);
        let o = Output::parse("docker-archive:x.tar:repo/a:1").unwrap();
        assert_eq!(
            (o.transport, o.tag.as_deref()),
            (Transport::DockerArchive, Some("repo/a:1"))
        );
    }

    #[test]
    fn docker_refs_get_a_tag() {
        assert_eq!(docker_ref("a/b"), "a/b:latest");
        assert_eq!(docker_ref("localhost:5000/a"), "localhost:5000/a:latest");
        assert_eq!(docker_ref("a:1"), "a:1");
    }
}
