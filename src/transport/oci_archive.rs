//! oci-archive files (`oci-archive:PATH[:TAG]`): an OCI layout in one tar,
//! the other tags of an archive already there kept.

use super::archive::write_tar;
use super::oci::{reachable_by, ref_name, LAYOUT};
use super::*;
use crate::media::OCI_INDEX as MEDIA_INDEX;
use serde_json::{json, Value};

/// An oci-archive destination.
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
        let top = manifest_desc(&image);
        put_tagged(self.0, &top, image_blobs(image), |d, b| {
            write_oci_archive(&self.0.path, d, b, mtime)
        })
    }

    fn put_whole(
        &self,
        top: &Value,
        manifests: &[ManifestBlob],
        files: Vec<BuiltLayer>,
        mtime: u64,
        _: &dyn Reporter,
    ) -> Result<Committed, Error> {
        put_tagged(self.0, top, whole_blobs(manifests, files), |d, b| {
            write_oci_archive(&self.0.path, d, b, mtime)
        })
    }
}

/// The index entries of an oci-archive written over `dest`: when `dest` is
/// an oci-archive already, its other tags are kept (as in an OCI layout: the
/// entry of the same tag, or the untagged one, is replaced), and the blobs
/// they reach are added to `entries`, copied from the old archive. Returns
/// the entries and the other tags kept. Anything else at `dest` (a
/// docker-archive, a file `--force` replaces) is replaced whole.
fn merge_archive(
    dest: &Path,
    desc: Value,
    entries: &mut Vec<(String, Blob)>,
) -> Result<(Vec<Value>, Vec<String>), WriteError> {
    let fresh = |desc| Ok((vec![desc], Vec::new()));
    if !dest.is_file() {
        return fresh(desc);
    }
    let Ok(old) = crate::image::Container::open_tar(dest) else {
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
        return Err(WriteError::Dest(format!(
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
        let (section, _) = old
            .open(&name)
            .map_err(|e| WriteError::Dest(e.to_string()))?;
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
fn write_oci_archive(
    dest: &Path,
    desc: Value,
    mut entries: Vec<(String, Blob)>,
    mtime: u64,
) -> Result<Vec<String>, WriteError> {
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
