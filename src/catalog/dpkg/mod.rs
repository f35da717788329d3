//! dpkg's database: `/var/lib/dpkg/status` with `info/<pkg>[:<arch>].list`,
//! and distroless-style `/var/lib/dpkg/status.d/<pkg>` (+ `<pkg>.md5sums`).

pub mod copyright;

use super::{deb822, Catalog, Database, Package, SlimError, Slimmed};
use crate::fs::Rootfs;

const STATUS: &str = "/var/lib/dpkg/status";
const STATUS_D: &str = "/var/lib/dpkg/status.d";

/// Parses a Depends-style field into groups of alternative package names
/// (versions and architecture qualifiers dropped).
pub fn parse_depends(v: &str) -> Vec<Vec<String>> {
    v.split(',')
        .map(|group| {
            group
                .split('|')
                .filter_map(|alt| {
                    let name = alt.trim().split([' ', '(', '[', '<']).next()?.trim();
                    let name = name.split(':').next()?;
                    (!name.is_empty()).then(|| name.to_string())
                })
                .collect::<Vec<_>>()
        })
        .filter(|g| !g.is_empty())
        .collect()
}

fn package(p: &deb822::Paragraph, db: &str) -> Option<Package> {
    let name = p.get("Package")?.to_string();
    let version = p.get("Version").unwrap_or_default().to_string();
    // "Source: name (version)" when the source version differs.
    let (source, source_version) = match p.get("Source") {
        Some(s) => {
            let mut it = s.splitn(2, ' ');
            let n = it.next().unwrap_or_default().to_string();
            let v = it.next().map(|v| {
                v.trim_matches(|c| c == '(' || c == ')' || c == ' ')
                    .to_string()
            });
            (Some(n), v)
        }
        None => (None, None),
    };
    let mut depends = parse_depends(p.get("Pre-Depends").unwrap_or_default());
    depends.extend(parse_depends(p.get("Depends").unwrap_or_default()));
    let provides = parse_depends(p.get("Provides").unwrap_or_default())
        .into_iter()
        .flatten()
        .collect();
    Some(Package {
        kind: super::Kind::Deb,
        name,
        version,
        arch: p.get("Architecture").unwrap_or_default().to_string(),
        source,
        source_version,
        depends,
        provides,
        files: Vec::new(),
        md5sums: None,
        record: p.raw.clone(),
        db: db.to_string(),
        license: None,
        supplier: p.get("Maintainer").map(String::from),
        license_files: Vec::new(),
    })
}

/// Paths of the `Conffiles:` field (` /etc/x <md5>` lines): config files,
/// which dpkg lists there and not in `.md5sums`.
fn conffiles(p: &deb822::Paragraph) -> Vec<String> {
    p.get("Conffiles")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|f| f.starts_with('/'))
        .map(String::from)
        .collect()
}

fn installed(p: &deb822::Paragraph) -> bool {
    // Status: want flag state; only "installed" packages are really there.
    p.get("Status")
        .is_some_and(|s| s.split_whitespace().nth(2) == Some("installed"))
}

fn list_lines(layers: &Rootfs, path: &str) -> Option<Vec<String>> {
    let bytes = layers.read(path, 64 << 20)?;
    Some(
        String::from_utf8_lossy(&bytes)
            .lines()
            .filter(|l| l.starts_with('/') && *l != "/." && *l != "/")
            .map(String::from)
            .collect(),
    )
}

/// dpkg: read from `status` (and `status.d`), written as distroless does.
pub struct Dpkg;

impl super::Ecosystem for Dpkg {
    fn kind(&self) -> super::Kind {
        super::Kind::Deb
    }

    fn read(&self, layers: &Rootfs, into: &mut Catalog) {
        let (packages, databases) = read(layers);
        into.packages.extend(packages);
        into.databases.extend(databases);
    }

    /// distroless' layout: one `status.d/<pkg>` paragraph per package, its
    /// `.md5sums` cut to the files that remain, and its copyright file.
    fn slim(
        &self,
        layers: &Rootfs,
        present: &[&Package],
        remains: &dyn Fn(&str) -> bool,
    ) -> Result<Slimmed, SlimError> {
        let by_name = super::one_per_name(present);
        let mut out = Slimmed::default();
        for (name, pkg) in by_name {
            let mut record = pkg.record.clone();
            if !record.ends_with('\n') {
                record.push('\n');
            }
            out.made
                .push((format!("{STATUS_D}/{name}"), record.into_bytes()));
            if let Some(sums) = pkg
                .md5sums
                .as_deref()
                .and_then(|p| layers.read(p, 64 << 20))
            {
                let kept: String = String::from_utf8_lossy(&sums)
                    .lines()
                    .filter(|l| {
                        l.split_once("  ").is_some_and(|(_, f)| {
                            remains(&format!("/{}", f.trim_start_matches('/')))
                        })
                    })
                    .map(|l| format!("{l}\n"))
                    .collect();
                out.made
                    .push((format!("{STATUS_D}/{name}.md5sums"), kept.into_bytes()));
            }
            out.kept.push(format!("/usr/share/doc/{name}/copyright"));
            out.packages.push(name.to_string());
        }
        if !out.packages.is_empty() {
            out.databases.push(STATUS_D.to_string());
        }
        Ok(out)
    }
}

/// Every installed package of the dpkg databases in the image, and those
/// databases with the packages read from each.
pub fn read(layers: &Rootfs) -> (Vec<Package>, Vec<Database>) {
    let mut out = Vec::new();
    let mut dbs = Vec::new();
    if let Some(bytes) = layers.read(STATUS, 256 << 20) {
        for p in deb822::parse(&String::from_utf8_lossy(&bytes)) {
            if !installed(&p) {
                continue;
            }
            let Some(mut pkg) = package(&p, STATUS) else {
                continue;
            };
            let info = "/var/lib/dpkg/info";
            pkg.files = list_lines(layers, &format!("{info}/{}:{}.list", pkg.name, pkg.arch))
                .or_else(|| list_lines(layers, &format!("{info}/{}.list", pkg.name)))
                .unwrap_or_default();
            pkg.md5sums = [
                format!("{info}/{}:{}.md5sums", pkg.name, pkg.arch),
                format!("{info}/{}.md5sums", pkg.name),
            ]
            .into_iter()
            .find(|p| layers.tree.resolve(p, true).is_ok());
            out.push(pkg);
        }
        dbs.push(Database {
            kind: "dpkg",
            path: STATUS.into(),
            packages: Some(out.len()),
        });
    }
    // distroless: one status paragraph per file, file lists from .md5sums.
    let status_d = layers.tree.resolve(STATUS_D, true).ok();
    if let Some(r) = status_d.filter(|r| layers.tree.get(&r.path).is_some_and(|n| n.is_dir())) {
        let before = out.len();
        let prefix = format!("{}/", r.path);
        let names: Vec<String> = layers
            .tree
            .subtree(&r.path)
            .filter(|(p, n)| {
                n.is_file() && !p[prefix.len()..].contains('/') && !p.ends_with(".md5sums")
            })
            .map(|(p, _)| p.to_string())
            .collect();
        for path in names {
            let Some(bytes) = layers.read(&path, 16 << 20) else {
                continue;
            };
            for p in deb822::parse(&String::from_utf8_lossy(&bytes)) {
                let Some(mut pkg) = package(&p, &format!("/{path}")) else {
                    continue;
                };
                if p.get("Status").is_some() && !installed(&p) {
                    continue;
                }
                if let Some(sums) = layers.read(&format!("/{path}.md5sums"), 64 << 20) {
                    pkg.md5sums = Some(format!("/{path}.md5sums"));
                    pkg.files = String::from_utf8_lossy(&sums)
                        .lines()
                        .filter_map(|l| {
                            l.split_once("  ")
                                .map(|(_, f)| format!("/{}", f.trim_start_matches('/')))
                        })
                        .collect::<Vec<_>>();
                }
                pkg.files.extend(conffiles(&p));
                out.push(pkg);
            }
        }
        dbs.push(Database {
            kind: "dpkg-distroless",
            path: STATUS_D.into(),
            packages: Some(out.len() - before),
        });
    }
    (out, dbs)
}

#[cfg(test)]
mod tests {
    use super::parse_depends;

    #[test]
    fn depends_groups_alternatives_and_drops_versions() {
        let d = parse_depends("libc6 (>= 2.34), nginx-common (= 1.22.1-9), libssl3 | libssl1.1, python3:any, foo [amd64]");
        assert_eq!(
            d,
            vec![
                vec!["libc6".to_string()],
                vec!["nginx-common".into()],
                vec!["libssl3".into(), "libssl1.1".into()],
                vec!["python3".into()],
                vec!["foo".into()]
            ]
        );
    }
}
