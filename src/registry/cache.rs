//! A content-addressed blob store (`DIR/blobs/sha256/<hex>`, the layout of an
//! OCI image layout's blobs): what a pull downloads, so a second command on
//! the same image downloads nothing. Blobs arrive through a temporary file
//! renamed into place once their digest checks; a blob found there is hashed
//! again before it is trusted.

use crate::image::digest::{Digest, HashingReader, HashingWriter};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

pub struct Cache {
    root: PathBuf,
    /// `--no-cache`: a directory removed when the command ends.
    _temp: Option<tempfile::TempDir>,
}

impl Cache {
    /// The cache at `dir` (created), or, for None, a temporary one.
    pub fn open(dir: Option<&Path>) -> io::Result<Cache> {
        let (root, temp) = match dir {
            Some(d) => (d.to_path_buf(), None),
            None => {
                let t = crate::tmp::dir_in(&std::env::temp_dir())?;
                (t.path().to_path_buf(), Some(t))
            }
        };
        std::fs::create_dir_all(root.join("blobs/sha256"))?;
        crate::tmp::sweep(&root.join("blobs/sha256"));
        Ok(Cache { root, _temp: temp })
    }

    /// `$XDG_CACHE_HOME/slim`, else `~/.cache/slim`.
    pub fn default_dir() -> PathBuf {
        let env = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        env("XDG_CACHE_HOME")
            .or_else(|| env("HOME").map(|h| h.join(".cache")))
            .unwrap_or_else(std::env::temp_dir)
            .join("slim")
    }

    /// The directory holding `blobs/`.
    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn path(&self, d: &Digest) -> PathBuf {
        self.root.join("blobs/sha256").join(d.hex())
    }

    /// Whether `d` is stored with this size and content. A blob that is there
    /// but does not hash to its name is removed (it is downloaded again).
    pub fn verified(&self, d: &Digest, size: Option<u64>) -> bool {
        let p = self.path(d);
        let Ok(f) = std::fs::File::open(&p) else {
            return false;
        };
        if size.is_some_and(|s| f.metadata().map(|m| m.len()).ok() != Some(s)) {
            let _ = std::fs::remove_file(&p);
            return false;
        }
        let h = HashingReader::new(io::BufReader::with_capacity(1 << 20, f));
        let ok = h.finish().is_ok_and(|(got, _)| got.as_ref() == Some(d));
        if !ok {
            let _ = std::fs::remove_file(&p);
        }
        ok
    }

    /// A writer for blob `d`: bytes go to a temporary file, hashed as they
    /// arrive; [`Incoming::finish`] checks the digest and renames it into place.
    pub fn incoming(&self, d: &Digest) -> io::Result<Incoming> {
        let dir = self.root.join("blobs/sha256");
        let file = crate::tmp::file_in(&dir)?;
        Ok(Incoming {
            w: Some(HashingWriter::new(io::BufWriter::with_capacity(
                1 << 20,
                file,
            ))),
            digest: d.clone(),
            dest: self.path(d),
            written: 0,
        })
    }

    /// Stores `bytes` as blob `d` (a manifest, a config), checking the digest.
    pub fn put(&self, d: &Digest, bytes: &[u8]) -> io::Result<()> {
        let mut w = self.incoming(d)?;
        w.write_all(bytes)?;
        w.finish().map(|_| ())
    }

    /// Moves a file that holds blob `d` into the cache (a layer slim just
    /// pushed), copying when it is on another filesystem.
    pub fn adopt(&self, d: &Digest, file: &Path) -> io::Result<()> {
        let dest = self.path(d);
        if dest.exists() {
            return Ok(());
        }
        if std::fs::hard_link(file, &dest).is_ok() {
            return Ok(());
        }
        let mut w = self.incoming(d)?;
        io::copy(&mut std::fs::File::open(file)?, &mut w)?;
        w.finish().map(|_| ())
    }
}

/// A blob being written into the cache.
pub struct Incoming {
    /// None only inside [`Incoming::restart`].
    w: Option<HashingWriter<io::BufWriter<tempfile::NamedTempFile>>>,
    digest: Digest,
    dest: PathBuf,
    written: u64,
}

impl Write for Incoming {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.writer().write(buf)?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.writer().flush()
    }
}

impl Incoming {
    fn writer(&mut self) -> &mut HashingWriter<io::BufWriter<tempfile::NamedTempFile>> {
        self.w.as_mut().expect("a writer outside restart")
    }

    /// The bytes written (and hashed) so far: where a resumed download goes on.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Forgets what was written: the blob starts again from its first byte.
    pub fn restart(&mut self) -> io::Result<()> {
        use std::io::Seek;
        let (buf, _, _) = self.w.take().expect("a writer").finish();
        let mut file = buf.into_inner().map_err(|e| e.into_error())?;
        file.as_file_mut().set_len(0)?;
        file.as_file_mut().rewind()?;
        self.w = Some(HashingWriter::new(io::BufWriter::with_capacity(
            1 << 20,
            file,
        )));
        self.written = 0;
        Ok(())
    }

    /// Checks the digest of what was written and puts the blob in place
    /// (synced first, so a crash leaves no torn blob under its name);
    /// returns its size. On a mismatch nothing is stored.
    pub fn finish(mut self) -> io::Result<u64> {
        let (file, got, len) = self.w.take().expect("a writer").finish();
        if got != self.digest {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "blob {} arrived with digest {got} ({len} bytes): refusing it",
                    self.digest
                ),
            ));
        }
        let file = file.into_inner().map_err(|e| e.into_error())?;
        file.as_file().sync_all()?;
        file.persist(&self.dest).map_err(|e| e.error)?;
        Ok(len)
    }
}

/// Reads blob `d` whole (small blobs only: manifests, configs).
pub fn read_small(cache: &Cache, d: &Digest, limit: u64) -> io::Result<Vec<u8>> {
    let f = std::fs::File::open(cache.path(d))?;
    let mut v = Vec::new();
    f.take(limit).read_to_end(&mut v)?;
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blobs_are_stored_only_with_their_digest_and_rechecked() {
        let d = tempfile::tempdir().unwrap();
        let c = Cache::open(Some(d.path())).unwrap();
        let good = Digest::of(b"hello");
        assert!(!c.verified(&good, None));
        assert!(c.put(&good, b"jello").is_err(), "a wrong digest is refused");
        assert!(!c.path(&good).exists());
        c.put(&good, b"hello").unwrap();
        assert!(c.verified(&good, Some(5)));
        assert_eq!(read_small(&c, &good, 100).unwrap(), b"hello");
        // Corrupted on disk: removed, so it is fetched again.
        std::fs::write(c.path(&good), b"hellO").unwrap();
        assert!(!c.verified(&good, Some(5)));
        assert!(!c.path(&good).exists());
        // Nothing half-written is left beside the blobs.
        let left: Vec<_> = std::fs::read_dir(d.path().join("blobs/sha256"))
            .unwrap()
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }
}
