//! The run-time rules (rules/runtime.toml): what programs load that
//! DT_NEEDED does not show, fired by kept files and imported symbols.

use super::run::State;
use super::Reason;
use crate::image::Layers;
use crate::rules::{self, Rules};
use std::collections::BTreeSet;

/// NSS modules named by /etc/nsswitch.conf (glibc's defaults when it is missing).
fn nss_modules(layers: &Layers) -> Vec<(String, String)> {
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

pub(super) fn apply_rules(
    st: &mut State,
    rules: &Rules,
    fired: &mut BTreeSet<(String, String)>,
) -> bool {
    let mut new = false;
    for rule in &rules.rules {
        // What fires it: kept files matching `when.kept`, or kept ELF files importing a symbol.
        let mut triggers: Vec<String> =
            st.t.kept
                .keys()
                .filter(|p| rule.when.kept.iter().any(|g| rules::matches(g, p)))
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
                for p in paths {
                    new |= st.keep(&p, reason.clone());
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
