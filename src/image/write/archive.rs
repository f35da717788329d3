//! oci-archive and docker-archive files: one tar written under a temporary
//! name, other tags of an oci-archive kept.

use super::*;

pub(super) fn write_tar(
    dest: &Path,
    entries: Vec<(String, Blob)>,
    mtime: u64,
) -> Result<(), Error> {
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
    tmp.persist(dest).map_err(|e| Error::Io {
        path: dest.display().to_string(),
        source: e.error,
    })?;
    Ok(())
}

/// The index entries of an oci-archive written over `dest`: when `dest` is
/// an oci-archive already, its other tags are kept (as in an OCI layout: the
/// entry of the same tag, or the untagged one, is replaced), and the blobs
/// they reach are added to `entries`, copied from the old archive. Returns
/// the entries and the other tags kept. Anything else at `dest` (a
/// docker-archive, a file `--force` replaces) is replaced whole.
pub(super) fn merge_archive(
    dest: &Path,
    desc: Value,
    entries: &mut Vec<(String, Blob)>,
) -> Result<(Vec<Value>, Vec<String>), Error> {
    let fresh = |desc| Ok((vec![desc], Vec::new()));
    if !dest.is_file() {
        return fresh(desc);
    }
    let Ok(old) = crate::image::container::Container::open_tar(dest) else {
        return fresh(desc);
    };
    if !old.exists("oci-layout") {
        return fresh(desc);
    }
    let Ok(index) = old.read_small("index.json", 64 << 20) else {
        return fresh(desc);
    };
    let Ok(index) = serde_json::from_slice::<Value>(&index) else {
        return fresh(desc);
    };
    let Some(list) = index["manifests"].as_array() else {
        return fresh(desc);
    };
    let tag = ref_name(&desc).map(String::from);
    let mut kept: Vec<Value> = list
        .iter()
        .filter(|d| ref_name(d) != tag.as_deref())
        .cloned()
        .collect();
    if kept.is_empty() {
        return fresh(desc);
    }
    let read = |hex: &str| {
        old.read_small(&format!("blobs/sha256/{hex}"), 64 << 20)
            .ok()
    };
    let Some(live) = reachable_by(read, &kept) else {
        return Err(Error::Dest(format!(
            "{}: holds other tags whose blobs cannot all be read; refusing to rewrite it \
             (write another archive, or remove it first)",
            dest.display()
        )));
    };
    let have: std::collections::BTreeSet<String> = entries.iter().map(|e| e.0.clone()).collect();
    for hex in live {
        let name = format!("blobs/sha256/{hex}");
        if have.contains(&name) {
            continue;
        }
        let (section, _) = old.open(&name).map_err(|e| Error::Dest(e.to_string()))?;
        entries.push((name, Blob::Old(section)));
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    let others = kept
        .iter()
        .map(|d| ref_name(d).unwrap_or("(untagged)").to_string())
        .collect();
    kept.push(desc);
    Ok((kept, others))
}

/// Writes an oci-archive at `dest`: `entries` (its blobs, sorted) under the
/// index entry `desc`, the other tags of an oci-archive already there kept
/// (see [`merge_archive`]). Returns those other tags.
pub(super) fn write_oci_archive(
    dest: &Path,
    desc: Value,
    mut entries: Vec<(String, Blob)>,
    mtime: u64,
) -> Result<Vec<String>, Error> {
    let (manifests, others) = merge_archive(dest, desc, &mut entries)?;
    let index = serde_json::to_vec(
        &json!({"schemaVersion": 2, "mediaType": MEDIA_INDEX, "manifests": manifests}),
    )
    .expect("JSON values serialise");
    let mut all = vec![
        ("blobs/".to_string(), Blob::Dir),
        ("blobs/sha256/".to_string(), Blob::Dir),
    ];
    all.extend(entries);
    all.push(("index.json".into(), Blob::Bytes(index)));
    all.push(("oci-layout".into(), Blob::Bytes(LAYOUT.to_vec())));
    write_tar(dest, all, mtime)?;
    Ok(others)
}
