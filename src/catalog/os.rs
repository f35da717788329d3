//! The distribution an image is, from os-release(5).

use crate::fs::Rootfs;
use serde::Serialize;
use std::collections::HashMap;

#[derive(Debug, Serialize)]
pub struct OsRelease {
    pub id: Option<String>,
    pub version_id: Option<String>,
    pub version_codename: Option<String>,
    pub pretty_name: Option<String>,
    /// The file it was read from.
    pub path: String,
}

/// os-release(5): /etc/os-release, falling back to /usr/lib/os-release.
pub fn os_release(layers: &Rootfs) -> Option<OsRelease> {
    for path in ["/etc/os-release", "/usr/lib/os-release"] {
        let Some(bytes) = layers.read(path, 64 << 10) else {
            continue;
        };
        let text = String::from_utf8_lossy(&bytes);
        let mut vars = HashMap::new();
        for line in text.lines() {
            let Some((k, v)) = line.trim().split_once('=') else {
                continue;
            };
            if k.starts_with('#') {
                continue;
            }
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .or_else(|| v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
                .unwrap_or(v);
            vars.insert(k.to_string(), v.replace("\\\"", "\"").replace("\\\\", "\\"));
        }
        let get = |k: &str| vars.get(k).cloned();
        return Some(OsRelease {
            id: get("ID"),
            version_id: get("VERSION_ID"),
            version_codename: get("VERSION_CODENAME"),
            pretty_name: get("PRETTY_NAME"),
            path: path.to_string(),
        });
    }
    None
}
