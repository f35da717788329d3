//! Reading `docker save` archives (manifest.json, old and Docker 25+ layouts).

use crate::image::*;
use serde::Deserialize;
use std::collections::BTreeMap;

/// `manifest.json` of a `docker save` archive.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerManifest {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
    #[serde(default)]
    layer_sources: Option<BTreeMap<String, DockerLayerSource>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DockerLayerSource {
    media_type: String,
    size: u64,
}
pub(in crate::transport) fn open_docker(
    c: Container,
    reference: &ImageRef,
    platform: Option<&Platform>,
) -> Result<Image, Error> {
    let bytes = c.read_small("manifest.json", MAX_JSON)?;
    let loc = c.describe("manifest.json");
    let entries: Vec<DockerManifest> = parse_json(&bytes, loc.clone(), "docker manifest.json")?;
    let tags = |m: &DockerManifest| m.repo_tags.clone().unwrap_or_default();
    let all: Vec<String> = entries.iter().flat_map(tags).collect();
    let (entry, name) = match &reference.tag {
        // skopeo's syntax for "the Nth image": docker-archive:x.tar:@N
        Some(t) if t.starts_with('@') => {
            let n: usize = t[1..].parse().map_err(|_| Error::select(&loc, format!("'{t}': expected @N, an image index")))?;
            let e = entries
                .get(n)
                .ok_or_else(|| Error::select(&loc, format!("no image @{n}: the archive holds {}", entries.len())))?;
            (e, tags(e).first().cloned())
        }
        Some(t) => {
            let hit = entries.iter().find(|m| tags(m).iter().any(|rt| ref_matches(rt, t)));
            let e = hit.ok_or_else(|| {
                Error::select(&loc, format!("no image tagged '{t}'; available: {}", list_or_none(&all)))
            })?;
            (e, Some(t.clone()))
        }
        None if entries.len() == 1 => (&entries[0], tags(&entries[0]).first().cloned()),
        None if entries.is_empty() => {
            return Err(Error::Invalid { location: loc, problem: "lists no image".into() })
        }
        None => {
            return Err(Error::select(&loc, format!(
                "the archive holds {} images; pick one with docker-archive:{}:REF (available: {}, or @0..@{})",
                entries.len(),
                reference.path.display(),
                list_or_none(&all),
                entries.len() - 1
            )))
        }
    };
    let config_digest = digest_from_name(&entry.config).ok_or_else(|| Error::Invalid {
        location: loc.clone(),
        problem: format!("config '{}' is not named by its digest", entry.config),
    })?;
    let (config_raw, config) = load_config(&c, &entry.config, &config_digest, None)?;
    check_platform(&config, platform, &c.describe(&entry.config))?;
    let diff_ids = diff_ids(&config, entry.layers.len(), &c.describe(&entry.config))?;
    let layers = entry
        .layers
        .iter()
        .zip(diff_ids)
        .map(|(name, diff_id)| {
            let digest = name
                .starts_with("blobs/sha256/")
                .then(|| digest_from_name(name))
                .flatten();
            let source = digest
                .as_ref()
                .and_then(|d| entry.layer_sources.as_ref()?.get(d.as_str()));
            LayerBlob {
                name: name.clone(),
                size: source.map(|s| s.size),
                media_type: source.map(|s| s.media_type.clone()),
                digest,
                diff_id,
            }
        })
        .collect();
    Ok(Image {
        reference: reference.clone(),
        transport: Transport::DockerArchive,
        container: c,
        manifest_digest: None,
        config_digest,
        config_raw,
        config,
        layers,
        name,
        _scratch: None,
        backing: None,
        other_platforms: Vec::new(),
    })
}

/// `docker.io/library/x:1` matches `x:1`, `library/x:1` and itself.
pub(in crate::transport) fn ref_matches(repo_tag: &str, wanted: &str) -> bool {
    let norm = |s: &str| {
        let s = s.strip_prefix("docker.io/").unwrap_or(s);
        let s = s.strip_prefix("library/").unwrap_or(s);
        let has_tag = s.rsplit_once(':').is_some_and(|(_, t)| !t.contains('/'));
        if has_tag {
            s.to_string()
        } else {
            format!("{s}:latest")
        }
    };
    norm(repo_tag) == norm(wanted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_refs_match_with_and_without_registry_prefix() {
        assert!(ref_matches("docker.io/library/nginx:1", "nginx:1"));
        assert!(ref_matches("docker.io/slim-test/x:t", "slim-test/x:t"));
        assert!(ref_matches("x", "x:latest"));
        assert!(!ref_matches("x:1", "x:2"));
    }
}
