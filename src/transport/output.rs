//! Where an image is written (`Output`): parsing a destination, its
//! [`Destination`], and the checks made before any work.

use super::*;
use crate::image::{Compression, RefError};
use std::fs::File;
use std::io::Read;

/// Where and how to write an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub transport: Transport,
    pub path: PathBuf,
    pub tag: Option<String>,
    /// Replace what is there even when it is not an image, or is the input
    /// (`--force`). A directory is still never deleted: the layout is written into it.
    pub force: bool,
    /// For `docker://`: how to reach the registry (the command line's
    /// options), and a repository of the same registry to mount blobs from
    /// (the image read) instead of uploading them.
    pub registry: crate::registry::Options,
    pub mount_from: Option<crate::reference::Remote>,
}

impl Output {
    /// `oci:DIR[:TAG]`, `oci-archive:PATH[:TAG]`, `docker-archive:PATH[:REF]`,
    /// or a bare path: `*.tar` is an oci-archive, anything else an OCI layout dir.
    pub fn parse(s: &str) -> Result<Output, RefError> {
        if let Some(rest) = s.strip_prefix("docker://") {
            let r = crate::reference::Remote::parse(rest).map_err(|e| RefError(e.to_string()))?;
            if r.digest.is_some() {
                return Err(RefError(format!(
                    "'{s}': an image is pushed under a tag (docker://HOST/REPO:TAG), not a digest"
                )));
            }
            return Ok(Output {
                transport: Transport::Docker,
                path: PathBuf::from(r.repo()),
                tag: r.tag,
                force: false,
                registry: Default::default(),
                mount_from: None,
            });
        }
        for remote in ["containers-storage:", "docker-daemon:", "dir:"] {
            if s.starts_with(remote) {
                return Err(RefError(format!(
                    "'{s}': slim does not write to the {} transport; write a file, then copy it \
                     there: `-o oci-archive:image.tar`, then `skopeo copy oci-archive:image.tar {s}`",
                    remote.trim_end_matches(['/', ':'])
                )));
            }
        }
        let r = crate::image::ImageRef::parse(s)?;
        let transport = r.transport.unwrap_or_else(|| {
            if r.path.extension().is_some_and(|e| e == "tar") {
                Transport::OciArchive
            } else {
                Transport::Oci
            }
        });
        Ok(Output {
            transport,
            path: r.path,
            tag: r.tag,
            force: false,
            registry: Default::default(),
            mount_from: None,
        })
    }

    /// Checks, before any work, that the image can be written here: the
    /// directory exists, and what is at the path may be replaced. An archive
    /// may replace an image archive; an OCI layout is written into an OCI
    /// layout (adding or replacing one tag) or an empty directory. Anything
    /// else — a file or directory that is not an image — is refused unless
    /// `force`. Leftovers of an earlier slim that was killed are swept.
    pub fn check(&self) -> Result<(), Error> {
        self.destination().check()
    }

    /// Where this output's transport writes.
    pub fn destination(&self) -> Box<dyn Destination + '_> {
        match self.transport {
            Transport::Oci => Box::new(oci::Layout(self)),
            Transport::OciArchive => Box::new(oci_archive::Archive(self)),
            Transport::DockerArchive => Box::new(docker_archive::Archive(self)),
            Transport::Docker => Box::new(docker::Registry(self)),
        }
    }

    /// [`Output::check`] of a path: a local transport's.
    pub(super) fn check_local(&self) -> Result<(), WriteError> {
        let parent = parent_dir(&self.path);
        if !parent.is_dir() {
            return Err(WriteError::Dest(format!(
                "{}: the directory to write into does not exist (create it first)",
                parent.display()
            )));
        }
        crate::tmp::sweep(&parent);
        let p = &self.path;
        let Ok(meta) = std::fs::metadata(p) else {
            return Ok(());
        };
        let what = match (self.transport, meta.is_dir()) {
            (Transport::Oci, true) => {
                if p.join("oci-layout").is_file() || dir_is_empty(p) {
                    return Ok(());
                }
                "a directory that is not an OCI layout"
            }
            (Transport::Oci, false) => {
                "a file, not an OCI layout directory (oci-archive: writes a tar)"
            }
            (_, true) => {
                // Never delete a directory to put a file there, even with --force.
                return Err(WriteError::Dest(format!(
                    "{}: is a directory; an {} is a file (use oci:{} to write an OCI layout directory)",
                    p.display(),
                    self.transport.name(),
                    p.display()
                )));
            }
            (_, false) => {
                if is_image_archive(p) {
                    return Ok(());
                }
                "a file that is not an image archive"
            }
        };
        if self.force {
            return Ok(());
        }
        Err(WriteError::Dest(format!(
            "{}: exists and is {what}; refusing to replace it (choose another path, or --force)",
            p.display()
        )))
    }

    /// Whether writing here would replace the image `input` was read from: the
    /// same archive, or the same tag of the same OCI layout.
    pub fn replaces(&self, input: &crate::image::Image) -> bool {
        self.replaces_source(&input.reference, input.transport, input.name.as_deref())
    }

    /// Whether writing here replaces what `reference` (read as `transport`,
    /// selected by the tag or name `name`) names.
    pub fn replaces_source(
        &self,
        reference: &crate::image::ImageRef,
        transport: Transport,
        name: Option<&str>,
    ) -> bool {
        if let Some(r) = self.remote() {
            return reference
                .as_remote()
                .is_some_and(|i| i.repo() == r.repo() && i.tag == r.tag);
        }
        let (Some(a), Some(b)) = (canonical(&self.path), canonical(&reference.path)) else {
            return false;
        };
        if a != b {
            return false;
        }
        match (self.transport, transport) {
            // Both keep their other tags: only the same tag is the input.
            (Transport::Oci, Transport::Oci) | (Transport::OciArchive, Transport::OciArchive) => {
                let selected = reference.tag.as_deref().or(name);
                self.tag.as_deref() == selected
            }
            _ => true,
        }
    }
}

impl Output {
    /// The registry image this writes, for `docker://`.
    pub fn remote(&self) -> Option<crate::reference::Remote> {
        if self.transport != Transport::Docker {
            return None;
        }
        let r = crate::image::ImageRef {
            transport: Some(Transport::Docker),
            path: self.path.clone(),
            tag: self.tag.clone(),
        };
        r.as_remote()
    }

    /// Where it was written, as the user names it: `docker://HOST/REPO:TAG`, a path.
    pub fn location(&self) -> String {
        match (self.remote(), &self.tag) {
            (Some(r), _) => r.to_string(),
            (None, Some(t)) => format!("{}:{}:{t}", self.transport.name(), self.path.display()),
            (None, None) => format!("{}:{}", self.transport.name(), self.path.display()),
        }
    }
}

/// A path made absolute with symlinks resolved; for a path that does not
/// exist yet, its parent's canonical form joined with its name.
pub(crate) fn canonical(p: &Path) -> Option<PathBuf> {
    if let Ok(c) = p.canonicalize() {
        return Some(c);
    }
    let name = p.file_name()?;
    Some(parent_dir(p).canonicalize().ok()?.join(name))
}

pub(super) fn dir_is_empty(p: &Path) -> bool {
    std::fs::read_dir(p)
        .map(|mut d| d.next().is_none())
        .unwrap_or(false)
}

/// Whether `p` is a tar (plain, gzip or zstd) holding an image: `manifest.json`
/// (docker save) or `oci-layout` and `index.json` (oci-archive).
pub(crate) fn is_image_archive(p: &Path) -> bool {
    fn scan<R: Read>(entries: io::Result<tar::Entries<'_, R>>) -> bool {
        let Ok(entries) = entries else { return false };
        let (mut docker, mut layout, mut index) = (false, false, false);
        for e in entries {
            let Ok(e) = e else { return false };
            match String::from_utf8_lossy(&e.path_bytes()).trim_start_matches("./") {
                "manifest.json" => docker = true,
                "oci-layout" => layout = true,
                "index.json" => index = true,
                _ => {}
            }
            if docker || (layout && index) {
                return true;
            }
        }
        false
    }
    let Ok(mut f) = File::open(p) else {
        return false;
    };
    let mut magic = [0u8; 4];
    let n = f.read(&mut magic).unwrap_or(0);
    let Ok(f) = File::open(p) else { return false };
    match Compression::sniff(&magic[..n]) {
        Compression::None => scan(tar::Archive::new(f).entries_with_seek()),
        c => match c.decoder(io::BufReader::new(f)) {
            Ok(d) => scan(tar::Archive::new(d).entries()),
            Err(_) => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
