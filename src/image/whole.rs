//! An index (or manifest) and everything it reaches, for copies that change
//! no blob.

use super::*;

/// An image index (or one manifest) with everything it reaches, to copy
/// whole (`slim copy --all`): every platform, attestations too.
pub struct Whole {
    pub container: Container,
    /// The descriptor of what is copied, as `index.json` lists it.
    pub top: serde_json::Value,
    /// Every manifest and index, the top one last and each after those it
    /// lists (the order a registry accepts them in): digest, bytes, media type.
    pub manifests: Vec<(Digest, Vec<u8>, String)>,
    /// Configs and layers: digest and size.
    pub blobs: Vec<(Digest, u64)>,
    /// Every blob was checked against its digest by this process already
    /// (slim's registry cache does on arrival and on reuse), and the files
    /// never change: a writer may link them instead of copying and hashing.
    pub verified: bool,
    _scratch: Option<tempfile::TempPath>,
    backing: Option<Box<dyn Backing>>,
}

impl Whole {
    /// Makes `b` live as long as the index (see [`Backing`]).
    pub fn backed_by(&mut self, b: impl Backing + 'static) {
        self.backing = Some(Box::new(b));
    }
}

impl Image {
    /// The image's manifest, config and layers as they are stored, for a
    /// copy that changes no blob (the manifest's bytes and digest kept).
    /// None for a docker-archive, which stores no manifest to keep.
    pub fn into_whole(self) -> Result<Option<Whole>, Error> {
        let Some(digest) = self.manifest_digest.clone() else {
            return Ok(None);
        };
        let bytes = read_blob(&self.container, &digest, None)?;
        let loc = self
            .container
            .describe(&format!("blobs/sha256/{}", digest.hex()));
        let v: serde_json::Value = parse_json(&bytes, loc, "manifest")?;
        let mt = v
            .get("mediaType")
            .and_then(|m| m.as_str())
            .unwrap_or(crate::media::OCI_MANIFEST)
            .to_string();
        let mut blobs = vec![(self.config_digest.clone(), self.config_raw.len() as u64)];
        for l in &self.layers {
            let (Some(d), Some(size)) = (&l.digest, l.size) else {
                return Ok(None);
            };
            if !blobs.iter().any(|(x, _)| x == d) {
                blobs.push((d.clone(), size));
            }
        }
        let top = serde_json::json!({"mediaType": mt, "digest": digest, "size": bytes.len()});
        Ok(Some(Whole {
            container: self.container,
            top,
            manifests: vec![(digest, bytes, mt)],
            blobs,
            verified: false,
            _scratch: self._scratch,
            backing: self.backing,
        }))
    }
}

/// Opens the index (or manifest) an OCI layout or archive lists under the
/// reference's tag (or its only entry), and walks everything it reaches,
/// checking each manifest's digest.
pub fn open_whole(reference: &ImageRef) -> Result<Whole, Error> {
    let (c, transport, scratch) = open_container(reference)?;
    if transport == Transport::DockerArchive {
        return Err(Error::select(
            reference,
            "a docker-archive holds images, not an index: --all copies OCI \
             layouts, oci-archives and registry images"
                .to_string(),
        ));
    }
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

pub(super) fn walk_whole(
    w: &mut Whole,
    desc: &serde_json::Value,
    depth: usize,
) -> Result<(), Error> {
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
