//! Names of images in registries, as Docker and skopeo read them
//! (`docker://HOST[:PORT]/REPO[:TAG|@sha256:…]`): parsing, Docker Hub's
//! normalisation, and the forms messages and the API use, with the grammar
//! of distribution's reference package. No network here. (oci-spec's
//! `distribution::Reference` implements the same with a regex whose
//! compilation costs 50 ms a process: a third of a cached registry copy.)

use crate::digest::Digest;

/// Docker Hub as users name it, and the host its API answers on.
const HUB: &str = "docker.io";
const HUB_API: &str = "registry-1.docker.io";
const HUB_LEGACY: &str = "index.docker.io";

/// A `docker://` name that is not one, and which part is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'docker://{name}': {why}")]
pub struct NameError {
    pub name: String,
    pub why: &'static str,
}

/// An image in a registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remote {
    /// As the user named it (`docker.io` for Docker Hub), with its port.
    pub registry: String,
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<Digest>,
}

impl Remote {
    /// Parses what follows `docker://`, with Docker's rules for short names:
    /// `nginx` is `docker.io/library/nginx:latest`; the first component is a
    /// registry when it has a `.` or `:` or is `localhost`.
    pub fn parse(s: &str) -> Result<Remote, NameError> {
        let bad = |why: &'static str| NameError {
            name: s.to_string(),
            why,
        };
        let (name, digest) = match s.split_once('@') {
            Some((n, d)) => {
                let d = Digest::parse(d)
                    .ok_or_else(|| bad("the digest after @ must be sha256:<64 hex digits>"))?;
                (n, Some(d))
            }
            None => (s, None),
        };
        let (path, tag) = match name.rsplit_once(':') {
            Some((p, t)) if !t.contains('/') => (p, Some(t.to_string())),
            _ => (name, None),
        };
        let (registry, repository) = match path.split_once('/') {
            Some((h, r)) if h.contains(['.', ':']) || h == "localhost" => {
                (h.to_string(), r.to_string())
            }
            _ => (HUB.to_string(), path.to_string()),
        };
        // Docker Hub's legacy name is Docker Hub.
        let registry = match registry.as_str() {
            HUB_LEGACY => HUB.to_string(),
            _ => registry,
        };
        let repository = match (registry.as_str(), repository.contains('/')) {
            (HUB, false) => format!("library/{repository}"),
            _ => repository,
        };
        if repository.len() > 255 || !repository.split('/').all(valid_component) {
            return Err(bad(
                "a repository name is lowercase letters, digits and . _ - separated by /",
            ));
        }
        if tag.as_deref().is_some_and(|t| !valid_tag(t)) {
            return Err(bad("a tag is up to 128 letters, digits, . _ and -"));
        }
        let tag = match (&tag, &digest) {
            (None, None) => Some("latest".to_string()),
            _ => tag,
        };
        Ok(Remote {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// The host the API answers on.
    pub fn api_host(&self) -> &str {
        if self.registry == HUB {
            HUB_API
        } else {
            &self.registry
        }
    }

    /// The tag or digest that names the manifest (`latest` when neither).
    pub fn reference(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => "latest".into(),
        }
    }

    /// `HOST/REPO`, for messages.
    pub fn repo(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// `HOST/REPO:TAG` (or `@DIGEST`): the image's name.
    pub fn name(&self) -> String {
        let mut s = self.repo();
        if let Some(t) = &self.tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(d.as_str());
        }
        s
    }
}

/// Docker's path-component grammar: lowercase letters and digits, joined
/// by `.`, `_`, `__` or a run of `-` (distribution's reference/regexp.go).
fn valid_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: &u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(&b[0]) || !alnum(&b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(&b[i]) {
            i += 1;
            continue;
        }
        let sep = b[i..].iter().take_while(|x| !alnum(x)).count();
        let run = &c[i..i + sep];
        if !(run == "." || run == "_" || run == "__" || run.bytes().all(|x| x == b'-')) {
            return false;
        }
        i += sep;
    }
    true
}

/// Docker's tag grammar: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
fn valid_tag(t: &str) -> bool {
    !t.is_empty()
        && t.len() <= 128
        && !t.starts_with(['.', '-'])
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

impl std::fmt::Display for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "docker://{}", self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_follow_dockers_rules() {
        let r = Remote::parse("nginx").unwrap();
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str(), r.tag.as_deref()),
            ("docker.io", "library/nginx", Some("latest"))
        );
        assert_eq!(r.api_host(), "registry-1.docker.io");
        let r = Remote::parse("localhost:5000/a/b:v1").unwrap();
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str(), r.tag.as_deref()),
            ("localhost:5000", "a/b", Some("v1"))
        );
        let d = format!("sha256:{}", "a".repeat(64));
        let r = Remote::parse(&format!("quay.io/x/y@{d}")).unwrap();
        assert_eq!((r.tag, r.digest.unwrap().to_string()), (None, d.clone()));
        let r = Remote::parse("user/app:1.0").unwrap();
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str()),
            ("docker.io", "user/app")
        );
        assert_eq!(r.to_string(), "docker://docker.io/user/app:1.0");
        assert!(Remote::parse("Host.io/UPPER").is_err());
        for bad in ["h.io/a..b", "h.io/-a", "h.io/a/", "h.io/a//b", "h.io/a___b"] {
            assert!(Remote::parse(bad).is_err(), "{bad}");
        }
        for good in ["h.io/a.b", "h.io/a__b", "h.io/a--b", "h.io/a-b/c_d"] {
            assert!(Remote::parse(good).is_ok(), "{good}");
        }
        assert!(Remote::parse("h.io/x@sha256:12").is_err());
        assert!(Remote::parse("h.io/x:bad tag")
            .unwrap_err()
            .to_string()
            .contains("a tag is"));
        assert!(Remote::parse("h.io/x@sha256:12")
            .unwrap_err()
            .to_string()
            .contains("sha256:<64"));
        assert!(Remote::parse("h.io/UPPER")
            .unwrap_err()
            .to_string()
            .contains("lowercase"));
        // Docker Hub's legacy name is Docker Hub.
        let r = Remote::parse("index.docker.io/nginx:1").unwrap();
        assert_eq!(r.name(), "docker.io/library/nginx:1");
        // Both a tag and a digest: the digest names the manifest.
        let r = Remote::parse(&format!("h.io/x:1@{d}")).unwrap();
        assert_eq!((r.tag.as_deref(), r.reference()), (Some("1"), d.clone()));
    }
}
