//! Multi-platform indexes as slim rewrites them: the platforms an index
//! lists (attestation manifests told apart), each opened as an image, and
//! the index of the rewritten images written in one go.

use super::*;
use crate::image::{Backing, Container, EntryPlatform};
use serde_json::{json, Value};
use std::sync::Arc;

/// An image index and the images it lists, read from any transport.
pub struct Index {
    /// The index, for messages: `oci:DIR:TAG`, `docker://HOST/REPO:TAG`.
    pub location: String,
    pub digest: Digest,
    /// The index as stored (its entries' platforms and annotations are kept).
    pub bytes: Vec<u8>,
    pub media_type: String,
    pub entries: Vec<Entry>,
    reference: ImageRef,
    transport: Transport,
    name: Option<String>,
    container: Container,
    /// What the images' files live in (a pulled layout, a decompressed
    /// outer archive), shared by every image opened from the index.
    backing: Arc<Vec<Box<dyn Backing>>>,
}

/// One entry of an index.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The entry as the index lists it.
    pub descriptor: Value,
    pub digest: Digest,
    pub size: u64,
    pub platform: Option<Platform>,
    /// BuildKit's `vnd.docker.reference.type` (`attestation-manifest`): an
    /// entry about another one, not an image to run.
    pub reference_type: Option<String>,
}

impl Entry {
    /// `linux/arm64/v8`, or the digest of an entry without a platform.
    pub fn label(&self) -> String {
        match &self.platform {
            Some(p) => p.to_string(),
            None => self.digest.to_string(),
        }
    }
}

/// An image, or an index of several.
pub enum Opened {
    Image(Box<Image>),
    Index(Box<Index>),
}

/// Reads what `reference` names for the platforms `wanted` (every one when
/// empty): the index when it lists several of them (a registry's pulled
/// whole), else the one image (an index's only image, whatever this
/// machine is).
pub fn open_platforms(
    reference: &ImageRef,
    wanted: &[Platform],
    opts: &crate::registry::Options,
    reporter: &dyn Reporter,
) -> Result<Opened, Error> {
    if let Some(remote) = reference.as_remote() {
        let pulled = crate::registry::pull_platforms(&remote, wanted, opts, reporter)?;
        let opened = open_platforms(&pulled.layout_ref(), wanted, opts, reporter)?;
        return Ok(match opened {
            Opened::Image(mut image) => {
                image.reference = reference.clone();
                image.transport = Transport::Docker;
                image.name = Some(remote.name());
                image.backed_by(pulled);
                Opened::Image(image)
            }
            Opened::Index(mut index) => {
                index.location = remote.to_string();
                index.reference = reference.clone();
                index.transport = Transport::Docker;
                index.name = Some(remote.name());
                index.backing = Arc::new(vec![Box::new(pulled)]);
                Opened::Index(index)
            }
        });
    }
    let one = match wanted {
        [p] => Some(p),
        _ => None,
    };
    let (c, t, scratch) = local::open_container(reference)?;
    if t != Transport::DockerArchive {
        let whole = oci::read::open_whole(c.clone(), t, None, reference)
            .ok()
            .or_else(|| layout_index(&c, reference));
        if let Some(whole) = whole {
            if let Some(mut index) = Index::from_whole(whole, reference, t)? {
                let chosen = index.select(wanted)?;
                if chosen.len() == 1 {
                    let entry = chosen[0].clone();
                    let mut image = index.open(&entry)?;
                    image._scratch = scratch;
                    return Ok(Opened::Image(Box::new(image)));
                }
                if let Some(s) = scratch {
                    index.backing = Arc::new(vec![Box::new(s)]);
                }
                return Ok(Opened::Index(Box::new(index)));
            }
        }
    }
    let mut image = match t {
        Transport::DockerArchive => super::docker_archive::read::open_docker(c, reference, one)?,
        _ => oci::read::open_oci(c, reference, one)?,
    };
    image.transport = t;
    image._scratch = scratch;
    Ok(Opened::Image(Box::new(image)))
}

/// A layout whose `index.json` is itself the platform index (its entries
/// image manifests with platforms, none tagged apart, as some tools write
/// one multi-platform image): that index, its digest the file's.
fn layout_index(c: &Container, reference: &ImageRef) -> Option<Whole> {
    let bytes = c.read_small("index.json", crate::image::MAX_JSON).ok()?;
    let v: Value = serde_json::from_slice(&bytes).ok()?;
    let entries = v.get("manifests")?.as_array()?;
    let tag = |e: &Value| {
        e.pointer("/annotations/org.opencontainers.image.ref.name")
            .and_then(|t| t.as_str())
            .map(String::from)
    };
    let mut tags: Vec<Option<String>> = entries
        .iter()
        .filter(|e| {
            e.pointer("/annotations/vnd.docker.reference.type")
                .is_none()
        })
        .map(tag)
        .collect();
    tags.sort();
    tags.dedup();
    let one_image = tags.len() == 1 && (reference.tag.is_none() || tags[0] == reference.tag);
    let platforms = entries
        .iter()
        .filter(|e| e.get("platform").is_some())
        .count();
    if !one_image || platforms < 2 {
        return None;
    }
    let digest = Digest::of(&bytes);
    Some(Whole {
        container: c.clone(),
        top: json!({"mediaType": crate::media::OCI_INDEX, "digest": digest, "size": bytes.len()}),
        manifests: vec![(digest, bytes, crate::media::OCI_INDEX.to_string())],
        blobs: Vec::new(),
        verified: false,
        _scratch: None,
        backing: None,
    })
}

impl Index {
    /// The index `whole` is, when it is one (None for an image manifest).
    fn from_whole(
        whole: Whole,
        reference: &ImageRef,
        transport: Transport,
    ) -> Result<Option<Index>, Error> {
        let Some((digest, bytes, media_type)) = whole.manifests.last().cloned() else {
            return Ok(None);
        };
        let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let Some(list) = v.get("manifests").and_then(|m| m.as_array()) else {
            return Ok(None);
        };
        let location = reference.to_string();
        let mut entries = Vec::new();
        for d in list {
            let digest = d
                .get("digest")
                .and_then(|x| x.as_str())
                .and_then(Digest::parse)
                .ok_or_else(|| {
                    crate::image::Error::select(
                        &location,
                        "an index entry has no valid digest".into(),
                    )
                })?;
            let mt = d.get("mediaType").and_then(|m| m.as_str()).unwrap_or("");
            if mt == crate::media::OCI_INDEX || mt == crate::media::DOCKER_LIST {
                return Err(crate::image::Error::select(
                    &location,
                    format!("lists another index ({digest}): slim rewrites an index of images"),
                )
                .into());
            }
            let platform = d.get("platform").map(|p| Platform {
                os: p["os"].as_str().unwrap_or_default().to_string(),
                arch: p["architecture"].as_str().unwrap_or_default().to_string(),
                variant: p["variant"].as_str().map(String::from),
            });
            let mut reference_type = d
                .pointer("/annotations/vnd.docker.reference.type")
                .and_then(|t| t.as_str())
                .map(String::from);
            if reference_type.is_none() && platform.as_ref().is_some_and(|p| p.os == "unknown") {
                reference_type = Some("unknown platform".into());
            }
            entries.push(Entry {
                descriptor: d.clone(),
                size: d.get("size").and_then(|s| s.as_u64()).unwrap_or(0),
                digest,
                platform,
                reference_type,
            });
        }
        let mut backing: Vec<Box<dyn Backing>> = Vec::new();
        if let Some(b) = whole.backing {
            backing.push(b);
        }
        Ok(Some(Index {
            location,
            digest,
            bytes,
            media_type,
            entries,
            reference: reference.clone(),
            transport,
            // The tag it was chosen by, given or not (the layout's only entry).
            name: reference.tag.clone().or_else(|| {
                whole.top["annotations"]["org.opencontainers.image.ref.name"]
                    .as_str()
                    .map(String::from)
            }),
            container: whole.container,
            backing: Arc::new(backing),
        }))
    }

    /// What the index was read as: the reference, its transport, the tag
    /// or name it was selected by (for [`Output::replaces_source`]).
    pub fn source(&self) -> (&ImageRef, Transport, Option<&str>) {
        (&self.reference, self.transport, self.name.as_deref())
    }

    /// The index's reference when it has a whole one (a registry's).
    pub fn base_name(&self) -> Option<String> {
        self.reference.as_remote().map(|r| r.to_string())
    }

    /// The entries that are images to run: every one but attestations.
    pub fn images(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter().filter(|e| e.reference_type.is_none())
    }

    /// The image entries `wanted` names (every image when empty), in the
    /// index's order; an error names a platform the index does not hold.
    pub fn select(&self, wanted: &[Platform]) -> Result<Vec<&Entry>, Error> {
        let images: Vec<&Entry> = self.images().collect();
        if wanted.is_empty() {
            return Ok(images);
        }
        let platforms: Vec<Option<EntryPlatform>> = images
            .iter()
            .map(|e| {
                e.platform
                    .as_ref()
                    .map(|p| (p.os.clone(), p.arch.clone(), p.variant.clone()))
            })
            .collect();
        let mut hits = Vec::new();
        for w in wanted {
            let found = crate::image::matching_platforms(&platforms, Some(w))
                .map_err(|m| crate::image::Error::select(&self.location, m))?;
            hits.extend(found);
        }
        hits.sort_unstable();
        hits.dedup();
        Ok(hits.into_iter().map(|i| images[i]).collect())
    }

    /// Opens the image `entry` lists.
    pub fn open(&self, entry: &Entry) -> Result<Image, Error> {
        let mut image = oci::read::open_manifest(
            self.container.clone(),
            &self.reference,
            &entry.digest,
            entry.size,
            self.name.clone(),
        )?;
        image.transport = self.transport;
        image.backed_by(Arc::clone(&self.backing));
        Ok(image)
    }
}

/// One rewritten image of an index, ready to be put.
pub struct IndexImage {
    /// The source's entry: its platform and annotations are kept.
    pub entry: Entry,
    pub config: Vec<u8>,
    pub layers: Vec<BuiltLayer>,
    pub annotations: Vec<(String, String)>,
}

/// What writing an index wrote.
#[derive(Debug, Clone, serde::Serialize)]
pub struct WrittenIndex {
    pub location: String,
    pub transport: Transport,
    /// The new index's digest.
    pub digest: Digest,
    /// Each platform's image: platform, manifest digest, config digest.
    pub images: Vec<WrittenEntry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pushed: Option<Pushed>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub other_tags: Vec<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct WrittenEntry {
    pub platform: String,
    pub manifest_digest: Digest,
    pub config_digest: Digest,
    pub layers: Vec<Digest>,
}

/// Writes `images` and an index listing them to `out`: the source index's
/// entries for them (platform and annotations kept, digest and size of the
/// new manifest), in its order, with `annotations` on the index. Configs
/// are written into `work` beside the layers.
pub fn write_index(
    out: &Output,
    images: Vec<IndexImage>,
    annotations: &[(String, String)],
    work: &Path,
    mtime: u64,
    reporter: &dyn Reporter,
) -> Result<WrittenIndex, Error> {
    let dest = out.destination();
    let mut manifests: Vec<ManifestBlob> = Vec::new();
    let mut files = Vec::new();
    let mut descriptors = Vec::new();
    let mut written = Vec::new();
    for img in images {
        let (manifest, digest) = write::manifest(&img.config, &img.layers, &img.annotations);
        let mut desc = img.entry.descriptor.clone();
        desc["mediaType"] = json!(crate::media::OCI_MANIFEST);
        desc["digest"] = json!(digest);
        desc["size"] = json!(manifest.len());
        descriptors.push(desc);
        written.push(WrittenEntry {
            platform: img.entry.label(),
            manifest_digest: digest.clone(),
            config_digest: Digest::of(&img.config),
            layers: img.layers.iter().map(|l| l.digest.clone()).collect(),
        });
        files.push(write::copy_layer(&img.config[..], Compression::None, work)?);
        files.extend(img.layers);
        manifests.push((digest, manifest, crate::media::OCI_MANIFEST.to_string()));
    }
    let mut index = json!({
        "schemaVersion": 2,
        "mediaType": crate::media::OCI_INDEX,
        "manifests": descriptors,
    });
    if !annotations.is_empty() {
        let map: serde_json::Map<String, Value> = annotations
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        index["annotations"] = Value::Object(map);
    }
    // serde_json's map keeps keys sorted: the same index, the same bytes.
    let bytes = serde_json::to_vec(&index).expect("an index serialises");
    let digest = Digest::of(&bytes);
    let top = json!({"mediaType": crate::media::OCI_INDEX, "digest": digest, "size": bytes.len()});
    manifests.push((digest.clone(), bytes, crate::media::OCI_INDEX.to_string()));
    // A blob two platforms share (rare: identical configs) is put once.
    files.sort_by(|a, b| a.digest.cmp(&b.digest));
    files.dedup_by(|a, b| a.digest == b.digest);
    let committed = dest.put_whole(&top, &manifests, files, mtime, reporter)?;
    Ok(WrittenIndex {
        location: out.location(),
        transport: out.transport,
        digest,
        images: written,
        pushed: committed.pushed,
        other_tags: committed.other_tags,
    })
}
