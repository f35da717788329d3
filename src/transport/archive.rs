//! The tar both archive transports write: under a temporary name beside
//! the destination, synced, renamed into place.

use super::*;
use std::io::{BufWriter, Write};

/// Writes `entries` as a tar at `dest`, each with `mtime`, owned by root.
pub(super) fn write_tar(
    dest: &Path,
    entries: Vec<(String, Blob)>,
    mtime: u64,
) -> Result<(), WriteError> {
    let parent = parent_dir(dest);
    let tmp = crate::tmp::file_in(&parent).map_err(io_err(&parent))?;
    let mut b = tar::Builder::new(BufWriter::with_capacity(
        256 << 10,
        tmp.reopen().map_err(io_err(tmp.path()))?,
    ));
    let tmp_path = tmp.path().to_path_buf();
    let werr = io_err(&tmp_path);
    for (name, blob) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mtime(mtime);
        h.set_uid(0);
        h.set_gid(0);
        match blob {
            Blob::Dir => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                b.append_data(&mut h, &name, io::empty()).map_err(&werr)?;
            }
            Blob::Bytes(v) => {
                h.set_mode(0o644);
                h.set_size(v.len() as u64);
                b.append_data(&mut h, &name, v.as_slice()).map_err(&werr)?;
            }
            Blob::File(f) => {
                let file = f.reopen().map_err(io_err(f.path()))?;
                h.set_mode(0o644);
                h.set_size(file.metadata().map_err(io_err(f.path()))?.len());
                b.append_data(&mut h, &name, file).map_err(&werr)?;
            }
            Blob::Old(section) => {
                h.set_mode(0o644);
                h.set_size(section.len());
                b.append_data(&mut h, &name, section).map_err(&werr)?;
            }
        }
    }
    let mut w = b.into_inner().map_err(&werr)?;
    w.flush().map_err(&werr)?;
    tmp.as_file().sync_all().map_err(&werr)?;
    tmp.persist(dest).map_err(|e| WriteError::Io {
        path: dest.display().to_string(),
        source: e.error,
    })?;
    Ok(())
}
