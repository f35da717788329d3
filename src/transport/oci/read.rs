//! Reading OCI layouts and oci-archives (the same layout, in a directory or
//! a tar): the index walked (nested indexes, tags, platforms) to one image
//! manifest, or whole, for a copy of everything it reaches.

use crate::image::*;
use crate::transport::docker_archive::read::ref_matches;
use oci_spec::image::{ImageIndex, ImageManifest, MediaType};

/// A manifest found while walking the index, with how to choose it.
pub(in crate::transport) struct Candidate {
    digest: Digest,
    size: u64,
    tag: Option<String>,
    platform: Option<EntryPlatform>,
}
pub(in crate::transport) fn open_oci(
    c: Container,
    reference: &ImageRef,
    platform: Option<&Platform>,
) -> Result<Image, Error> {
    let index_loc = c.describe("index.json");
    let index: ImageIndex = parse_json(
        &c.read_small("index.json", MAX_JSON)?,
        index_loc.clone(),
        "index.json",
    )?;
    let mut found = Vec::new();
    walk_index(&c, &index, None, &mut found, 0)?;
    if let Some(t) = &reference.tag {
        let tags: Vec<String> = found.iter().filter_map(|f| f.tag.clone()).collect();
        found.retain(|f| {
            f.tag.as_deref() == Some(t) || f.tag.as_deref().is_some_and(|ft| ref_matches(ft, t))
        });
        if found.is_empty() {
            let mut tags = tags;
            tags.sort();
            tags.dedup();
            return Err(Error::select(
                &index_loc,
                format!("no image tagged '{t}'; available: {}", list_or_none(&tags)),
            ));
        }
    }
    if found.is_empty() {
        return Err(Error::Invalid {
            location: index_loc,
            problem: "lists no image manifest".into(),
        });
    }
    let with_platform = found.iter().any(|f| f.platform.is_some());
    let mut others = Vec::new();
    if found.len() > 1 && with_platform {
        let platforms: Vec<_> = found.iter().map(|f| f.platform.clone()).collect();
        let hits = matching_platforms(&platforms, platform)
            .map_err(|m| Error::select(&index_loc, m.to_string()))?;
        others = crate::image::other_platforms(&platforms, &hits, platform);
        found = found
            .into_iter()
            .enumerate()
            .filter(|(i, _)| hits.contains(i))
            .map(|(_, f)| f)
            .collect();
    }
    // Identical digests reached twice (a tag on an index and on a manifest) are one image.
    found.sort_by(|a, b| a.digest.cmp(&b.digest));
    found.dedup_by(|a, b| a.digest == b.digest);
    if found.len() > 1 {
        let tags: Vec<String> = found
            .iter()
            .map(|f| f.tag.clone().unwrap_or_else(|| f.digest.to_string()))
            .collect();
        return Err(Error::select(
            &index_loc,
            format!(
                "the layout holds {} images; pick one with {}:{}:TAG (available: {})",
                found.len(),
                reference.transport.unwrap_or(Transport::Oci).name(),
                reference.path.display(),
                tags.join(", ")
            ),
        ));
    }
    let chosen = found.remove(0);
    let mut image = open_manifest(c, reference, &chosen.digest, chosen.size, chosen.tag)?;
    image.other_platforms = others;
    if !with_platform {
        let config_name = format!("blobs/sha256/{}", image.config_digest.hex());
        check_platform(
            &image.config,
            platform,
            &image.container.describe(&config_name),
        )?;
    }
    Ok(image)
}

/// Opens the image manifest `digest` (of `size` bytes) in `c`: reads and
/// verifies it and its config, and checks its layers are there.
pub(in crate::transport) fn open_manifest(
    c: Container,
    reference: &ImageRef,
    digest: &Digest,
    size: u64,
    tag: Option<String>,
) -> Result<Image, Error> {
    let mloc = c.describe(&format!("blobs/sha256/{}", digest.hex()));
    let bytes = read_blob(&c, digest, Some(size))?;
    let manifest: ImageManifest = parse_json(&bytes, mloc.clone(), "image manifest")?;
    match manifest.config().media_type() {
        MediaType::ImageConfig => {}
        MediaType::Other(s) if s == crate::media::DOCKER_CONFIG => {}
        other => {
            return Err(Error::MediaType {
                location: mloc,
                what: "the config (not a container image?)",
                media_type: other.to_string(),
            })
        }
    }
    let config_digest = parse_digest(manifest.config().digest().as_ref(), &mloc)?;
    let config_name = format!("blobs/sha256/{}", config_digest.hex());
    let (config_raw, config) = load_config(
        &c,
        &config_name,
        &config_digest,
        Some(manifest.config().size()),
    )?;
    let ids = diff_ids(&config, manifest.layers().len(), &c.describe(&config_name))?;
    let mut layers = Vec::new();
    for (d, diff_id) in manifest.layers().iter().zip(ids) {
        let mt = d.media_type().to_string();
        if Compression::from_media_type(&mt).is_none() {
            return Err(Error::MediaType {
                location: mloc,
                what: "a layer",
                media_type: mt,
            });
        }
        let digest = parse_digest(d.digest().as_ref(), &mloc)?;
        let name = format!("blobs/sha256/{}", digest.hex());
        if !c.exists(&name) {
            return Err(Error::Missing {
                what: format!("layer blob {digest}"),
                location: c.describe(&name),
            });
        }
        layers.push(LayerBlob {
            name,
            digest: Some(digest),
            size: Some(d.size()),
            media_type: Some(mt),
            diff_id,
        });
    }
    Ok(Image {
        reference: reference.clone(),
        transport: Transport::Oci,
        container: c,
        manifest_digest: Some(digest.clone()),
        config_digest,
        config_raw,
        config,
        layers,
        name: tag,
        _scratch: None,
        backing: None,
        other_platforms: Vec::new(),
    })
}

/// Collects the image manifests an index reaches, through nested indexes.
fn walk_index(
    c: &Container,
    index: &ImageIndex,
    tag: Option<&str>,
    out: &mut Vec<Candidate>,
    depth: usize,
) -> Result<(), Error> {
    if depth > 8 {
        return Err(Error::Invalid {
            location: c.describe("index.json"),
            problem: "indexes nest too deeply".into(),
        });
    }
    for d in index.manifests() {
        let ann = d.annotations().as_ref();
        let get = |k: &str| ann.and_then(|a| a.get(k)).cloned();
        // BuildKit attaches attestations as manifests for platform unknown/unknown.
        if get("vnd.docker.reference.type").is_some() {
            continue;
        }
        let this_tag = get("org.opencontainers.image.ref.name")
            .or_else(|| get("io.containerd.image.name"))
            .or_else(|| tag.map(String::from));
        let digest = parse_digest(d.digest().as_ref(), &c.describe("index.json"))?;
        let mt = d.media_type().to_string();
        if matches!(d.media_type(), MediaType::ImageIndex) || mt == crate::media::DOCKER_LIST {
            let bytes = read_blob(c, &digest, Some(d.size()))?;
            let loc = c.describe(&format!("blobs/sha256/{}", digest.hex()));
            let nested: ImageIndex = parse_json(&bytes, loc, "image index")?;
            walk_index(c, &nested, this_tag.as_deref(), out, depth + 1)?;
        } else if matches!(d.media_type(), MediaType::ImageManifest)
            || mt == crate::media::DOCKER_MANIFEST
        {
            let platform = d.platform().as_ref().map(|p| {
                (
                    p.os().to_string(),
                    p.architecture().to_string(),
                    p.variant().clone(),
                )
            });
            out.push(Candidate {
                digest,
                size: d.size(),
                tag: this_tag,
                platform,
            });
        } else {
            return Err(Error::MediaType {
                location: c.describe("index.json"),
                what: "an index entry",
                media_type: mt,
            });
        }
    }
    Ok(())
}

/// Opens the index (or manifest) an OCI layout or archive lists under the
/// reference's tag (or its only entry), and walks everything it reaches,
/// checking each manifest's digest.
pub(in crate::transport) fn open_whole(
    c: Container,
    transport: Transport,
    scratch: Option<tempfile::TempPath>,
    reference: &ImageRef,
) -> Result<Whole, Error> {
    let index_loc = c.describe("index.json");
    let index: serde_json::Value = parse_json(
        &c.read_small("index.json", MAX_JSON)?,
        index_loc.clone(),
        "index.json",
    )?;
    let entries: Vec<&serde_json::Value> = index
        .get("manifests")
        .and_then(|m| m.as_array())
        .map(|v| v.iter().collect())
        .unwrap_or_default();
    let tag_of = |e: &serde_json::Value| {
        e.pointer("/annotations/org.opencontainers.image.ref.name")
            .and_then(|t| t.as_str())
            .map(String::from)
    };
    let chosen: Vec<&serde_json::Value> = match &reference.tag {
        Some(t) => entries
            .iter()
            .copied()
            .filter(|e| tag_of(e).as_deref() == Some(t.as_str()))
            .collect(),
        None => entries.clone(),
    };
    let top = match chosen.as_slice() {
        [one] => (*one).clone(),
        _ => {
            let tags: Vec<String> = entries.iter().filter_map(|e| tag_of(e)).collect();
            return Err(Error::select(
                &index_loc,
                format!(
                    "{} entries match; pick one with {}:{}:TAG (available: {})",
                    chosen.len(),
                    transport.name(),
                    reference.path.display(),
                    list_or_none(&tags)
                ),
            ));
        }
    };
    let mut whole = Whole {
        container: c,
        top: top.clone(),
        manifests: Vec::new(),
        blobs: Vec::new(),
        verified: false,
        _scratch: scratch,
        backing: None,
    };
    walk_whole(&mut whole, &top, 0)?;
    Ok(whole)
}

fn walk_whole(w: &mut Whole, desc: &serde_json::Value, depth: usize) -> Result<(), Error> {
    let loc = w.container.describe("index.json");
    if depth > 8 {
        return Err(Error::Invalid {
            location: loc,
            problem: "indexes nest too deeply".into(),
        });
    }
    let digest = parse_digest(
        desc.get("digest").and_then(|d| d.as_str()).unwrap_or(""),
        &loc,
    )?;
    let size = desc.get("size").and_then(|s| s.as_u64());
    let bytes = read_blob(&w.container, &digest, size)?;
    let mloc = w
        .container
        .describe(&format!("blobs/sha256/{}", digest.hex()));
    let v: serde_json::Value = parse_json(&bytes, mloc.clone(), "manifest")?;
    let mt = v
        .get("mediaType")
        .and_then(|m| m.as_str())
        .or_else(|| desc.get("mediaType").and_then(|m| m.as_str()))
        .unwrap_or(if v.get("manifests").is_some() {
            crate::media::OCI_INDEX
        } else {
            crate::media::OCI_MANIFEST
        })
        .to_string();
    if let Some(children) = v.get("manifests").and_then(|m| m.as_array()) {
        for c in children {
            walk_whole(w, c, depth + 1)?;
        }
    } else {
        let config = v.get("config").into_iter();
        let layers = v
            .get("layers")
            .and_then(|l| l.as_array())
            .into_iter()
            .flatten();
        for d in config.chain(layers) {
            let bd = parse_digest(
                d.get("digest").and_then(|x| x.as_str()).unwrap_or(""),
                &mloc,
            )?;
            let bs = d.get("size").and_then(|x| x.as_u64()).unwrap_or(0);
            let name = format!("blobs/sha256/{}", bd.hex());
            if !w.container.exists(&name) {
                return Err(Error::Missing {
                    what: format!("blob {bd}"),
                    location: w.container.describe(&name),
                });
            }
            if !w.blobs.iter().any(|(x, _)| *x == bd) {
                w.blobs.push((bd, bs));
            }
        }
    }
    if !w.manifests.iter().any(|(d, _, _)| *d == digest) {
        w.manifests.push((digest, bytes, mt));
    }
    Ok(())
}
