//! Image references as users type them (skopeo/podman transports), or a bare
//! path whose format is detected from its contents.

use std::path::{Path, PathBuf};

/// How an image is stored on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Transport {
    /// OCI image layout directory (`oci-layout`, `index.json`, `blobs/`).
    Oci,
    /// A tar of an OCI image layout.
    OciArchive,
    /// `docker save` output (legacy or Docker >= 25 layout), as a tar or extracted.
    DockerArchive,
    /// A registry: `docker://HOST/REPO[:TAG|@DIGEST]` (see [`crate::registry`]).
    Docker,
}

impl Transport {
    pub fn name(self) -> &'static str {
        match self {
            Transport::Oci => "oci",
            Transport::OciArchive => "oci-archive",
            Transport::DockerArchive => "docker-archive",
            Transport::Docker => "docker",
        }
    }
}

/// A parsed image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// None for a bare path: detect from contents.
    pub transport: Option<Transport>,
    pub path: PathBuf,
    /// TAG for oci/oci-archive, REF (`repo:tag` or `@N`) for docker-archive.
    /// For a registry, `path` is `HOST/REPO` and `tag` the tag or `@DIGEST`.
    pub tag: Option<String>,
}

/// A reference slim cannot use, with the reason.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct RefError(pub String);

impl ImageRef {
    /// Parses `oci:DIR[:TAG]`, `oci-archive:PATH[:TAG]`, `docker-archive:PATH[:REF]`
    /// or a bare path (`PATH` or `PATH:TAG` when `PATH` exists).
    ///
    /// Like containers/image, the path ends at the first `:` after the
    /// transport, so a REF may itself contain `:` (`docker-archive:x.tar:repo:tag`).
    pub fn parse(s: &str) -> Result<ImageRef, RefError> {
        if s.is_empty() {
            return Err(RefError("empty image reference".into()));
        }
        let with = |t, rest: &str| {
            let (path, tag) = match rest.split_once(':') {
                Some((p, t)) => (p, Some(t.to_string()).filter(|t| !t.is_empty())),
                None => (rest, None),
            };
            if path.is_empty() {
                return Err(RefError(format!("'{s}': no path after the transport")));
            }
            Ok(ImageRef {
                transport: Some(t),
                path: PathBuf::from(path),
                tag,
            })
        };
        if let Some(rest) = s.strip_prefix("oci:") {
            return with(Transport::Oci, rest);
        }
        if let Some(rest) = s.strip_prefix("oci-archive:") {
            return with(Transport::OciArchive, rest);
        }
        if let Some(rest) = s.strip_prefix("docker-archive:") {
            return with(Transport::DockerArchive, rest);
        }
        if let Some(rest) = s.strip_prefix("docker://") {
            let r = crate::reference::Remote::parse(rest).map_err(|e| RefError(e.to_string()))?;
            return Ok(ImageRef::remote(&r));
        }
        for remote in ["containers-storage:", "docker-daemon:", "dir:"] {
            if s.starts_with(remote) {
                return Err(RefError(format!(
                    "'{s}': the {} transport is not supported; copy the image to a file first, \
                     e.g. `skopeo copy {s} oci-archive:image.tar`",
                    remote.trim_end_matches(['/', ':'])
                )));
            }
        }
        // A bare path; `PATH:TAG` when PATH exists and the whole string does not.
        if !Path::new(s).exists() {
            for (i, _) in s.match_indices(':') {
                let (p, t) = (&s[..i], &s[i + 1..]);
                if !t.is_empty() && Path::new(p).exists() {
                    return Ok(ImageRef {
                        transport: None,
                        path: p.into(),
                        tag: Some(t.to_string()),
                    });
                }
            }
        }
        Ok(ImageRef {
            transport: None,
            path: s.into(),
            tag: None,
        })
    }
}

impl ImageRef {
    /// The reference of an image in a registry.
    pub fn remote(r: &crate::reference::Remote) -> ImageRef {
        ImageRef {
            transport: Some(Transport::Docker),
            path: PathBuf::from(r.repo()),
            tag: match (&r.digest, &r.tag) {
                (Some(d), _) => Some(format!("@{d}")),
                (None, t) => t.clone(),
            },
        }
    }

    /// The registry image a `docker://` reference names.
    pub fn as_remote(&self) -> Option<crate::reference::Remote> {
        if self.transport != Some(Transport::Docker) {
            return None;
        }
        let name = match self.tag.as_deref() {
            Some(t) if t.starts_with('@') => format!("{}{t}", self.path.display()),
            Some(t) => format!("{}:{t}", self.path.display()),
            None => self.path.display().to_string(),
        };
        crate::reference::Remote::parse(&name).ok()
    }
}

impl std::fmt::Display for ImageRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(r) = self.as_remote() {
            return write!(f, "{r}");
        }
        if let Some(t) = self.transport {
            write!(f, "{}:", t.name())?;
        }
        write!(f, "{}", self.path.display())?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transports_split_at_the_first_colon() {
        let r = ImageRef::parse("docker-archive:/tmp/x.tar:repo/name:tag").unwrap();
        assert_eq!(r.transport, Some(Transport::DockerArchive));
        assert_eq!(r.path, PathBuf::from("/tmp/x.tar"));
        assert_eq!(r.tag.as_deref(), Some("repo/name:tag"));
        let r = ImageRef::parse("oci:dir").unwrap();
        assert_eq!((r.transport, r.tag), (Some(Transport::Oci), None));
        assert_eq!(
            ImageRef::parse("oci-archive:a.tar:v1")
                .unwrap()
                .tag
                .as_deref(),
            Some("v1")
        );
    }

    #[test]
    fn registry_references_and_unsupported_transports() {
        let r = ImageRef::parse("docker://example.org/x:1").unwrap();
        assert_eq!(r.transport, Some(Transport::Docker));
        assert_eq!(r.to_string(), "docker://example.org/x:1");
        assert_eq!(
            ImageRef::parse("docker://nginx").unwrap().to_string(),
            "docker://docker.io/library/nginx:latest"
        );
        let e = ImageRef::parse("containers-storage:x").unwrap_err();
        assert!(e.0.contains("skopeo copy"), "{e}");
        assert!(ImageRef::parse("oci:").is_err());
    }

    #[test]
    fn bare_path_with_tag_when_path_exists() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("img.oci");
        std::fs::create_dir(&p).unwrap();
        let r = ImageRef::parse(&format!("{}:v2", p.display())).unwrap();
        assert_eq!(
            (r.transport, r.path, r.tag.as_deref()),
            (None, p, Some("v2"))
        );
    }
}
