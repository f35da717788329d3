//! `docker save` archives (`docker-archive:PATH[:REPO:TAG]`), written as
//! Docker before 25 did: one directory per layer under its v1 id, a
//! `manifest.json` and `repositories`. They store no manifest, so they hold
//! one image per tag, never an index. `read.rs` reads both the old and the
//! Docker 25+ layouts.

pub(super) mod read;

use super::archive::write_tar;
use super::*;
use crate::image::Compression;
use serde_json::json;

/// A docker-archive destination.
pub(super) struct Archive<'a>(pub &'a Output);

impl Destination for Archive<'_> {
    fn output(&self) -> &Output {
        self.0
    }

    fn put_image(
        &self,
        image: Manifested,
        mtime: u64,
        _: &dyn Reporter,
    ) -> Result<Committed, Error> {
        let config_name = format!("{}.json", image.config_digest.hex());
        let mut all = vec![(config_name.clone(), Blob::Bytes(image.config.to_vec()))];
        let mut paths = Vec::new();
        let mut parent_id: Option<String> = None;
        for l in image.layers {
            if l.compression != Compression::None {
                return Err(
                    WriteError::Dest("docker-archive layers must be uncompressed".into()).into(),
                );
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
        let tags: Vec<String> = self.0.tag.iter().map(|t| docker_ref(t)).collect();
        let manifest = json!([{"Config": config_name, "RepoTags": tags, "Layers": paths}]);
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
        write_tar(&self.0.path, all, mtime)?;
        Ok(Committed::default())
    }

    /// `docker load` reads plain layer tars only.
    fn compression(&self, _: Option<Compression>) -> Option<Compression> {
        Some(Compression::None)
    }

    fn stores_manifest(&self) -> bool {
        false
    }

    fn check_whole(&self) -> Result<(), Error> {
        Err(WriteError::Dest(
            "a docker-archive holds one image per tag, not an index: write --all to oci:, \
             oci-archive: or docker://"
                .into(),
        )
        .into())
    }

    fn put_whole(
        &self,
        _: &serde_json::Value,
        _: &[ManifestBlob],
        _: Vec<BuiltLayer>,
        _: u64,
        _: &dyn Reporter,
    ) -> Result<Committed, Error> {
        self.check_whole().map(|_| Committed::default())
    }
}

/// `name` → `name:latest`; `name:tag` unchanged.
fn docker_ref(r: &str) -> String {
    match r.rsplit_once(':') {
        Some((_, t)) if !t.contains('/') => r.to_string(),
        _ => format!("{r}:latest"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_refs_get_a_tag() {
        assert_eq!(docker_ref("a/b"), "a/b:latest");
        assert_eq!(docker_ref("localhost:5000/a"), "localhost:5000/a:latest");
        assert_eq!(docker_ref("a:1"), "a:1");
    }
}
