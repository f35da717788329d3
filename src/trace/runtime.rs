//! The run-time rules (rules/runtime.toml): what programs load that
//! DT_NEEDED does not show, fired by kept files and imported symbols.

use super::state::State;
use super::Reason;
use crate::fs::Rootfs;
use crate::rules::{self, Rules};
use std::collections::BTreeSet;

/// NSS modules named by /etc/nsswitch.conf (glibc's defaults when it is missing).
fn nss_modules(layers: &Rootfs) -> Vec<(String, String)> {
    let text = layers
        .read("/etc/nsswitch.conf", 1 << 20)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_else(|| "passwd: files\ngroup: files\nhosts: dns files\n".into());
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("");
        let Some((db, services)) = line.split_once(':') else {
            continue;
        };
        for s in services.split_whitespace().filter(|s| !s.starts_with('[')) {
            out.push((
                format!("libnss_{s}.so.2"),
                format!(
                    "/etc/nsswitch.conf line {}: {}",
                    i + 1,
                    line.trim().replace(db, db.trim())
                ),
            ));
        }
    }
    out
}

/// The data files (not ELF, not executable, not docs or the package-data
/// excludes) of the packages owning `paths`, kept as `package` files of that
/// rule: a module's templates, its share files.
fn owners_data(
    st: &mut State,
    rules: &Rules,
    catalog: &crate::catalog::Catalog,
    rule: &str,
    paths: &[String],
    done: &mut BTreeSet<String>,
) -> bool {
    let excluded = |p: &str| {
        rules::is_doc(p)
            || rules
                .package_data
                .as_ref()
                .is_some_and(|pd| rules::matches_any(&pd.exclude, p))
    };
    let mut new = false;
    let mut pkgs: Vec<&crate::catalog::Package> = Vec::new();
    for p in paths {
        let real = st
            .layers
            .tree
            .resolve(p, true)
            .map(|r| r.path)
            .unwrap_or_default();
        for pkg in catalog.owners(&real) {
            if done.insert(pkg.name.clone()) {
                pkgs.push(pkg);
            }
        }
    }
    for pkg in pkgs {
        let reason = Reason::Package {
            package: pkg.name.clone(),
            via: format!("module on the search path of rule {rule}"),
        };
        for f in &pkg.files {
            let Ok(r) = st.layers.tree.resolve(f, true) else {
                continue;
            };
            let data = st
                .layers
                .tree
                .get(&r.path)
                .is_some_and(|n| st.is_data_file(&r.path, n));
            if data && !excluded(f) {
                new |= st.keep(f, reason.clone());
            }
        }
    }
    new
}

pub(super) fn apply_rules(
    st: &mut State,
    rules: &Rules,
    catalog: &crate::catalog::Catalog,
    fired: &mut BTreeSet<(String, String)>,
) -> bool {
    let mut new = false;
    let mut data_done: BTreeSet<String> = BTreeSet::new();
    for rule in &rules.rules {
        // What fires it: kept files matching `when.kept`, or kept ELF files importing a symbol.
        let mut triggers: Vec<String> =
            st.t.kept
                .keys()
                .filter(|p| rules::matches_any(&rule.when.kept, p))
                .cloned()
                .collect();
        if !rule.when.imports.is_empty() {
            for o in st.t.closure.objects.keys() {
                if let Some(info) = st.loader.elf_at(o) {
                    if let Some(sym) = rule.when.imports.iter().find(|s| info.imports(s)) {
                        triggers.push(format!("{o} imports {sym}"));
                        break;
                    }
                }
            }
        }
        for trigger in triggers {
            if !fired.insert((rule.name.clone(), trigger.clone())) {
                continue;
            }
            let file = trigger
                .split(" imports ")
                .next()
                .unwrap_or(&trigger)
                .to_string();
            let (dir, name) = file.rsplit_once('/').unwrap_or(("", &file));
            let reason = Reason::Rule {
                rule: rule.name.clone(),
                trigger: file.clone(),
                detail: None,
            };
            for pat in &rule.keep {
                let pat = pat
                    .replace("{dir}", if dir.is_empty() { "/" } else { dir })
                    .replace("{name}", name);
                let (paths, hops) = rules::glob(&st.layers.tree, &pat);
                for p in &paths {
                    new |= st.keep(p, reason.clone());
                }
                if rule.package_data {
                    new |= owners_data(st, rules, catalog, &rule.name, &paths, &mut data_done);
                }
                for h in hops {
                    new |= st.keep(&h, reason.clone());
                }
            }
            if rule.nss {
                let Some(root) = st.roots.first().cloned() else {
                    continue;
                };
                for (module, detail) in nss_modules(st.layers) {
                    if let Ok(Some(o)) = st.loader.search(&module, &root, &[]) {
                        let r = Reason::Rule {
                            rule: rule.name.clone(),
                            trigger: file.clone(),
                            detail: Some(detail),
                        };
                        new |= st.keep(&o.path, r);
                    }
                }
            }
        }
    }
    new
}
