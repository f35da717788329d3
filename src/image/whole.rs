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
    pub(crate) _scratch: Option<tempfile::TempPath>,
    pub(crate) backing: Option<Box<dyn Backing>>,
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
