//! Package URLs (github.com/package-url/purl-spec): `pkg:deb/debian/libc6@2.36-9%2Bdeb12u7?arch=amd64&distro=debian-12`.

use super::{Kind, Package};

/// Percent-encodes everything but the unreserved characters (RFC 3986), as the purl spec asks
/// for versions and qualifier values (`+` → `%2B`, a deb epoch's `:` → `%3A`).
pub fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The purl of a package; `distro` is `ID-VERSION_ID` from os-release (`debian-12`).
pub fn purl(p: &Package, os_id: Option<&str>, distro: Option<&str>) -> String {
    let ty = p.kind.as_str();
    let ns = match p.kind {
        Kind::Deb => os_id.unwrap_or("debian"),
        Kind::Apk => os_id.unwrap_or("alpine"),
        // RHEL's os-release says `rhel`; its purls (and Red Hat's VEX) say `redhat`.
        Kind::Rpm => os_id.map_or("redhat", |id| if id == "rhel" { "redhat" } else { id }),
    };
    let mut q: Vec<(&str, String)> = vec![];
    // rpm: the epoch is a qualifier, not part of the version (the spec's
    // `pkg:rpm/centerim@4.22.10-1.el6?arch=i686&epoch=1&distro=fedora-25`).
    let mut version = p.version.as_str();
    if p.kind == Kind::Rpm {
        if let Some((e, vr)) = p.version.split_once(':') {
            q.push(("epoch", e.to_string()));
            version = vr;
        }
    }
    if !p.arch.is_empty() {
        q.push(("arch", p.arch.clone()));
    }
    if let Some(d) = distro {
        q.push(("distro", d.to_string()));
    }
    if let Some(src) = p.source.as_ref().filter(|s| **s != p.name) {
        q.push(("upstream", src.clone()));
    }
    q.sort();
    let qs: Vec<String> = q
        .iter()
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect();
    let mut s = format!(
        "pkg:{ty}/{}/{}@{}",
        encode(&ns.to_ascii_lowercase()),
        encode(&p.name),
        encode(version)
    );
    if !qs.is_empty() {
        s.push('?');
        s.push_str(&qs.join("&"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkg(name: &str, version: &str, source: Option<&str>) -> Package {
        Package {
            kind: super::Kind::Deb,
            name: name.into(),
            version: version.into(),
            arch: "amd64".into(),
            source: source.map(String::from),
            source_version: None,
            depends: vec![],
            provides: vec![],
            files: vec![],
            md5sums: None,
            record: String::new(),
            db: String::new(),
            license: None,
            supplier: None,
            license_files: Vec::new(),
        }
    }

    #[test]
    fn deb_purls_follow_the_spec_example() {
        assert_eq!(
            purl(
                &pkg("libc6", "2.36-9+deb12u7", None),
                Some("debian"),
                Some("debian-12")
            ),
            "pkg:deb/debian/libc6@2.36-9%2Bdeb12u7?arch=amd64&distro=debian-12"
        );
        assert_eq!(
            purl(
                &pkg("zlib1g", "1:1.2.13.dfsg-1", Some("zlib")),
                Some("debian"),
                Some("debian-12")
            ),
            "pkg:deb/debian/zlib1g@1%3A1.2.13.dfsg-1?arch=amd64&distro=debian-12&upstream=zlib"
        );
    }

    #[test]
    fn rpm_epochs_are_a_qualifier() {
        let mut p = pkg("centerim", "1:4.22.10-1.el6", None);
        p.kind = super::Kind::Rpm;
        p.arch = "i686".into();
        assert_eq!(
            purl(&p, Some("fedora"), Some("fedora-25")),
            "pkg:rpm/fedora/centerim@4.22.10-1.el6?arch=i686&distro=fedora-25&epoch=1"
        );
        p.version = "4.22.10-1.el6".into();
        assert_eq!(
            purl(&p, Some("fedora"), None),
            "pkg:rpm/fedora/centerim@4.22.10-1.el6?arch=i686"
        );
    }
}
