//! SPDX 2.3 JSON (spdx.github.io/spdx-spec/v2.3).

use super::{id_part, Sbom};
use serde_json::{json, Value};
use std::collections::BTreeMap;

fn supplier(m: &str) -> String {
    // "Name <email>" → "Organization: Name (email)"; SPDX 2.3 §7.5.
    let (name, email) = match m.split_once('<') {
        Some((n, e)) => (n.trim(), Some(e.trim_end_matches('>').trim())),
        None => (m.trim(), None),
    };
    let name: String = name.chars().filter(|c| !matches!(c, '(' | ')')).collect();
    let kind = if [
        "Maintainers",
        "Team",
        "Debian",
        "Developers",
        "Project",
        "Group",
    ]
    .iter()
    .any(|w| name.contains(w))
    {
        "Organization"
    } else {
        "Person"
    };
    match email {
        Some(e) => format!("{kind}: {name} ({e})"),
        None => format!("{kind}: {name}"),
    }
}

/// Encodes the SBOM as an SPDX 2.3 JSON document.
pub fn encode(s: &Sbom) -> Value {
    let image_id = "SPDXRef-Image";
    let mut packages = vec![json!({
        "SPDXID": image_id,
        "name": s.image,
        "versionInfo": s.digest,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": false,
        "primaryPackagePurpose": "CONTAINER",
        "licenseConcluded": "NOASSERTION",
        "licenseDeclared": "NOASSERTION",
        "copyrightText": "NOASSERTION",
    })];
    let mut relationships = vec![
        json!({"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES", "relatedSpdxElement": image_id}),
    ];
    let mut extracted: BTreeMap<String, String> = BTreeMap::new();
    let ids = package_ids(&s.components);
    // A file belongs to the first package of its owner's name.
    let id_of = |name: &str| {
        s.components
            .iter()
            .position(|c| c.name == name)
            .map(|i| ids[i].clone())
    };
    for (c, id) in s.components.iter().zip(&ids) {
        let id = id.clone();
        let expr = c
            .licenses
            .expression
            .clone()
            .unwrap_or_else(|| "NOASSERTION".into());
        // Declared: what the package says of itself (DEP-5 `Files: *`); concluded:
        // every license its files are under, which is what an audit must weigh.
        let declared = c.licenses.declared.clone().unwrap_or_else(|| expr.clone());
        for word in expr.split(|ch: char| ch.is_whitespace() || ch == '(' || ch == ')') {
            if word.starts_with("LicenseRef-") {
                let text = c.licenses.texts.get(word).cloned().unwrap_or_else(|| {
                    format!(
                        "See {} ({}).",
                        c.licenses
                            .path
                            .as_deref()
                            .unwrap_or("the package's copyright file"),
                        c.name
                    )
                });
                extracted.entry(word.to_string()).or_insert(text);
            }
        }
        let mut comment = format!("license source: {}", c.licenses.source);
        if let Some(p) = &c.licenses.path {
            comment.push_str(&format!(" ({p})"));
        }
        if c.partial() {
            comment.push_str(&format!(
                "; partial: {} of {} files present",
                c.files_present, c.files_listed
            ));
        }
        let mut p = json!({
            "SPDXID": id,
            "name": c.name,
            "versionInfo": c.version,
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": false,
            "licenseConcluded": expr,
            "licenseDeclared": declared,
            "licenseComments": comment,
            "copyrightText": "NOASSERTION",
            "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": c.purl}],
        });
        if let Some(m) = &c.supplier {
            p["supplier"] = json!(supplier(m));
        }
        if let Some(src) = &c.source {
            p["sourceInfo"] = json!(format!("built from source package {src}"));
        }
        packages.push(p);
        relationships.push(json!({"spdxElementId": image_id, "relationshipType": "CONTAINS", "relatedSpdxElement": id}));
    }
    let mut files = Vec::new();
    for (i, f) in s.files.iter().enumerate() {
        let id = format!("SPDXRef-File-{i}");
        files.push(json!({
            "SPDXID": id,
            "fileName": format!(".{}", f.path),
            "checksums": [{"algorithm": "SHA1", "checksumValue": f.sha1}, {"algorithm": "SHA256", "checksumValue": f.sha256}],
            "licenseConcluded": "NOASSERTION",
            "copyrightText": "NOASSERTION",
        }));
        let owner = f.package.as_deref().and_then(id_of);
        relationships.push(json!({"spdxElementId": owner.as_deref().unwrap_or(image_id), "relationshipType": "CONTAINS", "relatedSpdxElement": id}));
    }
    let mut doc = json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": s.image,
        "documentNamespace": format!("https://slim.invalid/spdx/{}/{}", id_part(&s.image), s.digest.trim_start_matches("sha256:")),
        "creationInfo": {"created": s.created, "creators": [format!("Tool: slim-{}", env!("CARGO_PKG_VERSION"))]},
        "packages": packages,
        "relationships": relationships,
    });
    if !files.is_empty() {
        doc["files"] = Value::Array(files);
        // A package that CONTAINS files has them analyzed, with a verification
        // code: SHA1 of its files' sorted SHA1s (SPDX 2.3 §7.9).
        let mut sums: BTreeMap<String, Vec<&str>> = BTreeMap::new();
        for f in &s.files {
            let owner = f
                .package
                .as_deref()
                .and_then(id_of)
                .unwrap_or_else(|| image_id.to_string());
            sums.entry(owner).or_default().push(&f.sha1);
        }
        for p in doc["packages"]
            .as_array_mut()
            .expect("packages is an array")
        {
            let id = p["SPDXID"].as_str().unwrap_or_default().to_string();
            if let Some(list) = sums.get_mut(&id) {
                list.sort_unstable();
                use sha1::Digest as _;
                let code = hex::encode(sha1::Sha1::digest(list.concat().as_bytes()));
                p["filesAnalyzed"] = json!(true);
                p["packageVerificationCode"] = json!({"packageVerificationCodeValue": code});
            }
        }
    }
    if !extracted.is_empty() {
        doc["hasExtractedLicensingInfos"] = extracted
            .into_iter()
            .map(|(id, text)| json!({"licenseId": id, "name": id.trim_start_matches("LicenseRef-"), "extractedText": text}))
            .collect();
    }
    doc
}

/// One SPDXID per package: kind, name, version and arch (a catalog may hold
/// two versions of one name), with a counter should two still agree.
fn package_ids(components: &[super::Component]) -> Vec<String> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    components
        .iter()
        .map(|c| {
            let base = format!(
                "SPDXRef-Package-{}-{}-{}-{}",
                c.kind,
                id_part(&c.name),
                id_part(&c.version),
                id_part(&c.arch)
            );
            let n = seen.entry(base.clone()).or_insert(0);
            *n += 1;
            if *n == 1 {
                base
            } else {
                format!("{base}-{n}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn suppliers() {
        assert_eq!(
            super::supplier("Debian Nginx Maintainers <pkg@x.org>"),
            "Organization: Debian Nginx Maintainers (pkg@x.org)"
        );
        assert_eq!(
            super::supplier("Jane Doe (jd) <j@d.org>"),
            "Person: Jane Doe jd (j@d.org)"
        );
    }
}
