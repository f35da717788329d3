//! An image on this machine (`oci:`, `oci-archive:`, `docker-archive:`, or
//! a bare path): which of them a path holds, detected from its contents
//! (an outer gzip/zstd decompressed first), and the reader of that transport.

use crate::image::*;
use std::io;
use std::path::Path;

/// The container an image reference names, what it holds, and a scratch file
/// (a decompressed outer archive) to keep while it is read.
type Opened = (Container, Transport, Option<tempfile::TempPath>);

pub(super) fn open_container(reference: &ImageRef) -> Result<Opened, Error> {
    if reference.transport == Some(Transport::Docker) {
        return Err(Error::select(reference, "a registry image is pulled first (slim opens docker:// images through its registry client)".to_string()));
    }
    let path = &reference.path;
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound if reference.transport.is_none() && looks_remote(path) => {
            Error::select(
                path.display(),
                format!(
                    "no such file; it looks like a registry reference: name it docker://{}",
                    path.display()
                ),
            )
        }
        _ => Error::io(path, e),
    })?;
    let mut scratch = None;
    let not_tar = |what: &str| Error::Invalid {
        location: path.display().to_string(),
        problem: format!(
            "{what} is not a tar archive; an image is a `docker save` tar, an oci-archive \
             or an OCI layout directory"
        ),
    };
    let container = if meta.is_dir() {
        Container::Dir(path.clone())
    } else {
        match decompress_outer(path)? {
            Some((tmp, codec)) => {
                let c = Container::open_tar(&tmp).map_err(|e| match e {
                    Error::BadArchive { .. } => {
                        not_tar(&format!("the {} data it holds", codec.name()))
                    }
                    e => e,
                })?;
                scratch = Some(tmp);
                c
            }
            None => Container::open_tar(path).map_err(|e| match e {
                Error::BadArchive { source, .. }
                    if source.kind() != io::ErrorKind::UnexpectedEof =>
                {
                    not_tar("it")
                }
                e => e,
            })?,
        }
    };
    let has_docker = container.exists("manifest.json");
    let has_oci = container.exists("oci-layout") && container.exists("index.json");
    let transport = match reference.transport {
        Some(Transport::Oci) if !meta.is_dir() => {
            return Err(Error::select(format_args!("oci:{}", path.display()), "not a directory (use oci-archive: for a tar)".into()))
        }
        Some(Transport::OciArchive) if meta.is_dir() => {
            return Err(Error::select(format_args!("oci-archive:{}", path.display()), "is a directory (use oci:)".into()))
        }
        Some(t @ (Transport::Oci | Transport::OciArchive)) if has_oci => t,
        Some(Transport::DockerArchive) if has_docker => Transport::DockerArchive,
        Some(t) => {
            let want = if t == Transport::DockerArchive { "manifest.json" } else { "oci-layout and index.json" };
            return Err(Error::Invalid {
                location: path.display().to_string(),
                problem: format!("not a {} image: no {want}", t.name()),
            });
        }
        // Docker >= 25 archives are both; their manifest.json names the image directly.
        None if has_docker => Transport::DockerArchive,
        None if has_oci => {
            if meta.is_dir() {
                Transport::Oci
            } else {
                Transport::OciArchive
            }
        }
        None => {
            return Err(Error::Invalid {
                location: path.display().to_string(),
                problem: "not an image: neither manifest.json (docker save) nor oci-layout + index.json (OCI) found"
                    .into(),
            })
        }
    };
    Ok((container, transport, scratch))
}

/// Opens the image a local reference names: picks the manifest (by tag and
/// platform), reads and verifies the manifest and config. Layers are read
/// by [`crate::image::read_layers`].
pub fn open(reference: &ImageRef, platform: Option<&Platform>) -> Result<Image, Error> {
    let (container, transport, scratch) = open_container(reference)?;
    let mut image = match transport {
        Transport::DockerArchive => {
            super::docker_archive::read::open_docker(container, reference, platform)?
        }
        _ => super::oci::read::open_oci(container, reference, platform)?,
    };
    image.transport = transport;
    image._scratch = scratch;
    Ok(image)
}

/// `docker save | gzip > x.tar.gz` is common: decompress such an outer
/// archive to a temporary file so its members can be read in place.
fn decompress_outer(path: &Path) -> Result<Option<(tempfile::TempPath, Compression)>, Error> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut magic = [0u8; 4];
    let n = f.read(&mut magic).map_err(|e| Error::io(path, e))?;
    let codec = Compression::sniff(&magic[..n]);
    if codec == Compression::None {
        return Ok(None);
    }
    let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    // What a killed run spooled there before.
    crate::tmp::sweep(&std::env::temp_dir());
    let mut tmp = crate::tmp::file_in(&std::env::temp_dir())
        .map_err(|e| Error::io(std::env::temp_dir(), e))?;
    let mut r = codec
        .decoder(io::BufReader::new(f))
        .map_err(|e| Error::io(path, e))?;
    io::copy(&mut r, tmp.as_file_mut()).map_err(|e| Error::Invalid {
        location: path.display().to_string(),
        problem: format!("corrupt {} data: {e}", codec.name()),
    })?;
    Ok(Some((tmp.into_temp_path(), codec)))
}

/// `nginx:latest`, `ghcr.io/org/app:1.2`, `localhost:5000/x@sha256:…`: a name
/// users type for a registry image, given where a file was expected.
fn looks_remote(p: &Path) -> bool {
    let s = p.to_string_lossy();
    if s.starts_with('/') || s.starts_with('.') || s.ends_with(".tar") || s.ends_with(".tar.gz") {
        return false;
    }
    let first = s.split('/').next().unwrap_or_default();
    let tagged = s
        .rsplit('/')
        .next()
        .is_some_and(|last| last.contains(':') || last.contains('@'));
    tagged || first.contains('.') && s.contains('/')
}

/// Reads the index (or manifest) an OCI layout or archive lists under the
/// reference's tag (or its only entry) with everything it reaches.
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
    super::oci::read::open_whole(c, transport, scratch, reference)
}
