//! CycloneDX JSON, 1.6 (cyclonedx.org/docs/1.6/json) or 1.5 on request: what
//! slim writes is valid under both schemas, only `specVersion` differs.

use super::Sbom;
use serde_json::{json, Value};

/// A name-based (v5-style) UUID from a digest, so one image gives one serial number.
fn uuid(seed: &str) -> String {
    let h = crate::digest::Digest::of(seed.as_bytes());
    let mut b = hex::decode(h.hex()).expect("hex");
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    let x = hex::encode(&b[..16]);
    format!(
        "{}-{}-{}-{}-{}",
        &x[..8],
        &x[8..12],
        &x[12..16],
        &x[16..20],
        &x[20..32]
    )
}

/// Encodes the SBOM as a CycloneDX JSON document of spec `version` (`1.6`, `1.5`).
pub fn encode(s: &Sbom, version: &str) -> Value {
    let mut components = Vec::new();
    let mut refs = Vec::new();
    for c in &s.components {
        let mut props = vec![json!({"name": "slim:license:source", "value": c.licenses.source})];
        if let Some(p) = &c.licenses.path {
            props.push(json!({"name": "slim:license:file", "value": p}));
        }
        if c.partial() {
            props.push(json!({"name": "slim:package:partial", "value": format!("{} of {} files present", c.files_present, c.files_listed)}));
        }
        let mut comp = json!({
            "type": "library",
            "bom-ref": c.purl,
            "name": c.name,
            "version": c.version,
            "purl": c.purl,
            "properties": props,
        });
        // One expression per component, never mixed with `license` entries.
        if let Some(e) = &c.licenses.expression {
            comp["licenses"] = json!([{"expression": e}]);
        }
        if let Some(m) = &c.supplier {
            comp["supplier"] = json!({"name": m});
        }
        refs.push(c.purl.clone());
        components.push(comp);
    }
    let mut deps = vec![json!({"ref": "image", "dependsOn": refs})];
    deps.extend(s.components.iter().map(|c| json!({"ref": c.purl})));
    json!({
        "bomFormat": "CycloneDX",
        "specVersion": version,
        "serialNumber": format!("urn:uuid:{}", uuid(&s.digest)),
        "version": 1,
        "metadata": {
            "timestamp": s.created,
            "tools": {"components": [{"type": "application", "name": "slim", "version": env!("CARGO_PKG_VERSION")}]},
            "component": {"type": "container", "bom-ref": "image", "name": s.image, "version": s.digest},
        },
        "components": components,
        "dependencies": deps,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn serial_numbers_are_stable_version_5_uuids() {
        let u = super::uuid("sha256:abc");
        assert_eq!(u, super::uuid("sha256:abc"));
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "5");
        assert!(matches!(&u[19..20], "8" | "9" | "a" | "b"));
    }
}
