//! OCI layout directories (`oci:DIR[:TAG]`): read (`read.rs`, also for
//! oci-archives: the same layout in a tar), and written — a tag added or
//! replaced under the layout's lock, garbage removed.

pub(super) mod read;

use super::*;
use crate::image::Digest;
use crate::media::OCI_INDEX as MEDIA_INDEX;
use serde_json::{json, Value};
use std::io::Write;

/// An OCI layout destination.
pub(super) struct Layout<'a>(pub &'a Output);

impl Destination for Layout<'_> {
    fn output(&self) -> &Output {
        self.0
    }

    fn put_image(&self, image: Manifested, _: u64, _: &dyn Reporter) -> Result<Committed, Error> {
        let top = manifest_desc(&image);
        put_tagged(self.0, &top, image_blobs(image), |d, b| {
            write_layout(&self.0.path, b, d)
        })
    }

    fn put_whole(
        &self,
        top: &Value,
        manifests: &[ManifestBlob],
        files: Vec<BuiltLayer>,
        _: u64,
        _: &dyn Reporter,
    ) -> Result<Committed, Error> {
        put_tagged(self.0, top, whole_blobs(manifests, files), |d, b| {
            write_layout(&self.0.path, b, d)
        })
    }
}

/// The `org.opencontainers.image.ref.name` of an index entry.
pub(super) fn ref_name(desc: &Value) -> Option<&str> {
    desc["annotations"]["org.opencontainers.image.ref.name"].as_str()
}

/// Writes an image into the OCI layout at `dest` the way skopeo does: blobs
/// are added (content-addressed, so an existing one is already right), the
/// index entry with the same tag (or the untagged one, for an untagged
/// output) is replaced and every other entry kept, and `index.json` is swapped
/// in by one rename, so a reader sees the old index or the new one. Blobs only
/// the replaced entry used are then removed; a blob any entry of the new
/// index reaches is never touched. A new layout is made in a temporary
/// directory and renamed into place.
fn write_layout(
    dest: &Path,
    blobs: Vec<(String, Blob)>,
    desc: Value,
) -> Result<Vec<String>, WriteError> {
    if !dest.exists() {
        let parent = parent_dir(dest);
        let tmp = crate::tmp::dir_in(&parent).map_err(io_err(&parent))?;
        let root = tmp.path();
        std::fs::create_dir_all(root.join("blobs/sha256")).map_err(io_err(root))?;
        for (name, blob) in blobs {
            put_blob(root, &name, blob)?;
        }
        let index = json!({"schemaVersion": 2, "mediaType": MEDIA_INDEX, "manifests": [desc]});
        std::fs::write(root.join("oci-layout"), LAYOUT).map_err(io_err(root))?;
        std::fs::write(
            root.join("index.json"),
            serde_json::to_vec(&index).expect("JSON"),
        )
        .map_err(io_err(root))?;
        return match std::fs::rename(root, dest) {
            Ok(()) => {
                let _ = tmp.keep();
                Ok(Vec::new())
            }
            // Another writer made the layout first: add to it like any other.
            Err(_) if dest.join("oci-layout").is_file() => {
                let blobs = moved_blobs(root)?;
                add_to_layout(dest, blobs, desc)
            }
            Err(e) => Err(io_err(dest)(e)),
        };
    }
    if !dest.is_dir() {
        // Only with --force (Output::check refuses otherwise).
        std::fs::remove_file(dest).map_err(io_err(dest))?;
        return write_layout(dest, blobs, desc);
    }
    add_to_layout(dest, blobs, desc)
}

pub(super) const LAYOUT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

/// The blobs of a layout this process built in `root` and could not rename
/// into place, as files to move into another layout.
fn moved_blobs(root: &Path) -> Result<Vec<(String, Blob)>, WriteError> {
    let dir = root.join("blobs/sha256");
    let mut out = Vec::new();
    for e in std::fs::read_dir(&dir).map_err(io_err(&dir))? {
        let path = e.map_err(io_err(&dir))?.path();
        let file = std::fs::File::open(&path).map_err(io_err(&path))?;
        let name = format!(
            "blobs/sha256/{}",
            path.file_name().unwrap_or_default().to_string_lossy()
        );
        let path = tempfile::TempPath::try_from_path(path).map_err(io_err(&dir))?;
        out.push((
            name,
            Blob::File(tempfile::NamedTempFile::from_parts(file, path)),
        ));
    }
    Ok(out)
}

/// The exclusive lock every writer of the layout `dir` holds while it adds
/// blobs, swaps `index.json` and removes garbage (containers/image's stores
/// take the same kind): two writers never lose each other's tags, and one
/// writer's garbage collection never removes a blob another is about to
/// name. Released when the file closes.
fn lock_layout(dir: &Path) -> Result<std::fs::File, WriteError> {
    let path = dir.join(LOCK_FILE);
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io_err(&path))?;
    if !crate::lock::try_exclusive(&f).map_err(io_err(&path))? {
        crate::progress::note(&format!(
            "slim: {}: another process is writing this layout; waiting for it",
            dir.display()
        ));
        crate::lock::exclusive(&f).map_err(io_err(&path))?;
    }
    Ok(f)
}

/// The lock file in an OCI layout (see [`lock_layout`]).
pub const LOCK_FILE: &str = "index.json.lock";

/// Adds an image to the existing layout `dest` under its lock.
fn add_to_layout(
    dest: &Path,
    blobs: Vec<(String, Blob)>,
    desc: Value,
) -> Result<Vec<String>, WriteError> {
    let _lock = lock_layout(dest)?;
    let index_path = dest.join("index.json");
    let mut index: Value = match std::fs::read(&index_path) {
        Ok(b) => serde_json::from_slice(&b).map_err(|e| {
            WriteError::Dest(format!(
                "{}: not valid JSON ({e}); refusing to add to this layout",
                index_path.display()
            ))
        })?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            json!({"schemaVersion": 2, "mediaType": MEDIA_INDEX, "manifests": []})
        }
        Err(e) => return Err(io_err(&index_path)(e)),
    };
    if !index["manifests"].is_array() {
        return Err(WriteError::Dest(format!(
            "{}: has no manifests list; refusing to add to this layout",
            index_path.display()
        )));
    }
    std::fs::create_dir_all(dest.join("blobs/sha256")).map_err(io_err(dest))?;
    for (name, blob) in blobs {
        put_blob(dest, &name, blob)?;
    }
    let tag = ref_name(&desc).map(String::from);
    let old: Vec<Value> = index["manifests"].as_array().cloned().unwrap_or_default();
    let (replaced, mut manifests): (Vec<Value>, Vec<Value>) =
        old.into_iter().partition(|d| ref_name(d) == tag.as_deref());
    let others = manifests
        .iter()
        .map(|d| ref_name(d).unwrap_or("(untagged)").to_string())
        .collect();
    manifests.push(desc);
    index["manifests"] = Value::Array(manifests.clone());
    if !dest.join("oci-layout").exists() {
        std::fs::write(dest.join("oci-layout"), LAYOUT).map_err(io_err(dest))?;
    }
    let mut tmp = crate::tmp::file_in(dest).map_err(io_err(dest))?;
    tmp.write_all(&serde_json::to_vec(&index).expect("JSON"))
        .map_err(io_err(&index_path))?;
    tmp.as_file().sync_all().map_err(io_err(&index_path))?;
    tmp.persist(&index_path).map_err(|e| WriteError::Io {
        path: index_path.display().to_string(),
        source: e.error,
    })?;
    // Garbage: what only the replaced entries reached. If any entry of the
    // new index cannot be walked, nothing is removed.
    if let (Some(gone), Some(live)) = (reachable(dest, &replaced), reachable(dest, &manifests)) {
        for hex in gone.difference(&live) {
            let _ = std::fs::remove_file(dest.join("blobs/sha256").join(hex));
        }
    }
    Ok(others)
}

/// Puts a blob at `root/name` (a `blobs/sha256/<hex>` path) unless it is there.
fn put_blob(root: &Path, name: &str, blob: Blob) -> Result<(), WriteError> {
    let dest = root.join(name);
    if dest.is_file() {
        return Ok(());
    }
    let dir = dest.parent().unwrap_or(root).to_path_buf();
    let tmp = match blob {
        Blob::File(f) => f,
        Blob::Bytes(b) => {
            let mut t = crate::tmp::file_in(&dir).map_err(io_err(&dir))?;
            t.write_all(&b).map_err(io_err(&dest))?;
            t
        }
        Blob::Dir | Blob::Old(_) => return Ok(()),
    };
    tmp.persist(&dest).map_err(|e| WriteError::Io {
        path: dest.display().to_string(),
        source: e.error,
    })?;
    Ok(())
}

/// The hex digests of every blob the descriptors reach in layout `root`
/// (indexes → manifests → config and layers), or None when one cannot be read.
fn reachable(root: &Path, descs: &[Value]) -> Option<std::collections::BTreeSet<String>> {
    reachable_by(
        |hex| std::fs::read(root.join("blobs/sha256").join(hex)).ok(),
        descs,
    )
}

/// [`reachable`], reading blobs (by hex digest) with `read`.
pub(super) fn reachable_by(
    read: impl Fn(&str) -> Option<Vec<u8>>,
    descs: &[Value],
) -> Option<std::collections::BTreeSet<String>> {
    let mut seen = std::collections::BTreeSet::new();
    let mut todo: Vec<Value> = descs.to_vec();
    while let Some(d) = todo.pop() {
        let digest = Digest::parse(d["digest"].as_str()?)?;
        let hex = digest.hex().to_string();
        if !seen.insert(hex.clone()) {
            continue;
        }
        let mt = d["mediaType"].as_str().unwrap_or_default();
        let is_json_tree = mt.contains("manifest") || mt.contains("index");
        if !is_json_tree {
            continue;
        }
        let bytes = read(&hex)?;
        let v: Value = serde_json::from_slice(&bytes).ok()?;
        for key in ["manifests", "layers", "blobs"] {
            if let Some(a) = v[key].as_array() {
                todo.extend(a.iter().cloned());
            }
        }
        for key in ["config", "subject"] {
            if v[key].is_object() {
                todo.push(v[key].clone());
            }
        }
    }
    Some(seen)
}
