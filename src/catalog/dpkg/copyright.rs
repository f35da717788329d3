//! Debian copyright files (`/usr/share/doc/<pkg>/copyright`): machine-readable
//! DEP-5 (`Files:` paragraphs with `License:` fields, stand-alone `License:`
//! texts) and free-form ones (a license named in prose, a list of libraries
//! with the license each is under, a reference to /usr/share/common-licenses),
//! read into [`Licenses`] with the source of each answer.

use crate::catalog::deb822;
use crate::catalog::expression::Lic;
use crate::catalog::license::*;
use std::collections::BTreeMap;

/// The first GNU license a text names in prose with its version, as an SPDX
/// id (`-or-later` when "any later version" follows the name).
pub(super) fn gnu_notice(text: &str) -> Option<String> {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let names = [
        ("GNU Lesser General Public License", "LGPL"),
        ("GNU Library General Public License", "LGPL"),
        ("GNU Affero General Public License", "AGPL"),
        ("GNU General Public License", "GPL"),
    ];
    let (at, name, family) = names
        .iter()
        .filter_map(|(n, f)| flat.find(n).map(|i| (i, *n, *f)))
        .min_by_key(|x| x.0)?;
    let tail: String = flat[at + name.len()..].chars().take(160).collect();
    // "version 3", or the short "(v3 or later)".
    let v = tail
        .strip_prefix(" (v")
        .or_else(|| tail.find("version ").map(|i| &tail[i + 8..]))?;
    let version: String = v
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    let version = version.trim_end_matches('.');
    let version = match version {
        "1" | "2" | "3" => format!("{version}.0"),
        "2.0" | "2.1" | "3.0" | "1.0" => version.to_string(),
        _ => return None,
    };
    let later = tail.contains("any later version")
        || tail.starts_with(" (v")
            && tail
                .split(')')
                .next()
                .is_some_and(|v| v.contains("or later"));
    spdx_license(&format!(
        "{family}-{version}-{}",
        if later { "or-later" } else { "only" }
    ))
}

/// Whether a list item (`libgcc (libgcc/, …)`, `libstdc++-v3`) names the
/// library Debian package `pkg` ships: the package is the library's name plus
/// its soname version (`libgcc-s1`, `libstdc++6`, `libatomic1`).
pub(super) fn item_names_package(item: &str, pkg: &str) -> bool {
    let word = item
        .split_whitespace()
        .next()
        .unwrap_or("")
        .trim_end_matches([',', '.', ';', ':']);
    // Source directories carry a version of their own: `libstdc++-v3`.
    let lib = match word.rsplit_once("-v") {
        Some((l, v)) if !v.is_empty() && v.chars().all(|c| c.is_ascii_digit()) => l,
        _ => word,
    };
    if lib.len() < 4 || !lib.starts_with("lib") {
        return false;
    }
    let Some(rest) = pkg.strip_prefix(lib) else {
        return false;
    };
    let rest = rest.strip_prefix("-s").unwrap_or(rest);
    rest.is_empty() || rest.chars().all(|c| c.is_ascii_digit() || c == '.')
}

/// The license a statement followed by a bulleted list gives the package, when
/// an item of the list names its library (see [`item_names_package`]).
pub(super) fn listed_statement(text: &str, pkg: &str, table: &Table) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim();
        if !t.ends_with(':') {
            continue;
        }
        let statement = statement_before(&lines, i);
        if !statement.contains("licensed under") {
            continue;
        }
        // The bulleted items that follow (an item may wrap onto indented lines).
        let named = lines[i + 1..]
            .iter()
            .take_while(|l| l.trim().is_empty() || l.starts_with(' ') || l.starts_with('\t'))
            .filter_map(|l| {
                l.trim()
                    .strip_prefix("- ")
                    .or_else(|| l.trim().strip_prefix("* "))
            })
            .any(|item| item_names_package(item, pkg));
        if !named {
            continue;
        }
        let id = gnu_notice(&statement)?;
        return Some(match prose_exception(&statement, table) {
            Some(e) => format!("{id} WITH {e}"),
            None => id,
        });
    }
    None
}

/// The paragraph that ends at line `end` (inclusive), joined on one line.
pub(super) fn statement_before(lines: &[&str], end: usize) -> String {
    let start = lines[..end]
        .iter()
        .rposition(|l| l.trim().is_empty())
        .map_or(0, |i| i + 1);
    lines[start..=end].join(" ")
}

/// An exception a license statement grants in prose ("with version 3.1 of the
/// GCC Runtime Library Exception"), as an SPDX exception id.
pub(super) fn prose_exception(statement: &str, table: &Table) -> Option<String> {
    let flat = statement.split_whitespace().collect::<Vec<_>>().join(" ");
    let lower = flat.to_ascii_lowercase();
    let end = lower.find(" exception")?;
    let start = lower[..end].rfind(" with ")? + 6;
    let mut name = &flat[start..end];
    // "version 3.1 of the GCC Runtime Library"
    if let Some(i) = name.find(" of the ") {
        name = &name[i + 8..];
    }
    let name = name.trim_start_matches("the ").trim();
    table.exception(name)
}

/// Reads a copyright file's text. `pkg` names the LicenseRef when nothing else can.
pub fn from_copyright(text: &str, path: &str, pkg: &str, table: &Table) -> Licenses {
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(text.as_bytes()));
    let mut unmapped = Vec::new();
    let paras = deb822::parse(text);
    let dep5 = paras.first().is_some_and(|p| {
        p.get("Format")
            .or_else(|| p.get("Format-Specification"))
            .is_some_and(|f| {
                f.contains("copyright-format")
                    || f.contains("dep5")
                    || f.contains("DEP-5")
                    || f.contains("dep.debian.net")
            })
    });
    let base =
        |expression: Option<String>, source, confidence, unmapped: Vec<String>, texts| Licenses {
            expression,
            declared: None,
            source,
            path: Some(path.to_string()),
            sha256: Some(sha.clone()),
            unmapped,
            confidence,
            texts,
        };
    if dep5 {
        let mut texts = BTreeMap::new();
        // One operand per distinct license: paragraphs often repeat them.
        let mut all: Option<Lic> = None;
        let mut star: Option<Lic> = None;
        for p in &paras {
            let Some(lic) = p.get("License") else {
                continue;
            };
            let mut lines = lic.lines();
            let first = lines.next().unwrap_or("").trim();
            if first.is_empty() {
                continue;
            }
            if let Some(files) = p.get("Files") {
                if let Some(e) = convert(first, true, table, &mut unmapped) {
                    if files.split_whitespace().any(|f| f == "*") && star.is_none() {
                        star = Some(e.clone());
                    }
                    all = Lic::all(all.into_iter().chain([e]));
                }
            } else {
                // A standalone license paragraph: the text of a name used above.
                let body: String = lines
                    .map(|l| if l == "." { "" } else { l })
                    .collect::<Vec<_>>()
                    .join("\n");
                if !body.trim().is_empty() {
                    texts.insert(license_ref(first), body);
                }
            }
        }
        if let Some(mut expression) = all {
            // A name the table does not know, whose text the file gives: the text
            // may still be an SPDX license under a local name (`License: GAP` is
            // FSFAP); a near-verbatim match (score ≥ 0.9) replaces the LicenseRef.
            let mut confidence: f32 = 1.0;
            for name in unmapped.clone() {
                let r = license_ref(&name);
                let Some(body) = texts.get(&r).filter(|_| expression.has_term(&r)) else {
                    continue;
                };
                let Some((id, score)) =
                    detect(body).filter(|(id, score)| *score >= 0.9 && !id.contains(' '))
                else {
                    continue;
                };
                let mut swap = |t: &str| if t == r { id.clone() } else { t.to_string() };
                expression = expression.map_terms(&mut swap);
                star = star.map(|e| e.map_terms(&mut swap));
                texts.remove(&r);
                unmapped.retain(|n| *n != name);
                confidence = confidence.min(score);
            }
            unmapped.sort();
            unmapped.dedup();
            let mut l = base(
                Some(expression.to_string()),
                "dep5",
                confidence,
                unmapped,
                texts,
            );
            l.declared = star.map(|e| e.to_string());
            return l;
        }
    }
    // Not DEP-5. A file covering a whole source may license a list of its
    // libraries apart ("The following runtime libraries are licensed under
    // the GPL (v3 or later) with the GCC Runtime Library Exception: - libgcc
    // - libatomic …"): a list naming this package's library is its answer.
    if let Some(id) = listed_statement(text, pkg, table) {
        return Licenses {
            declared: Some(id.clone()),
            ..base(Some(id), "copyright-section", 0.8, vec![], BTreeMap::new())
        };
    }
    // References to the system's common license texts.
    let mut refs: Vec<String> = Vec::new();
    let later = text.contains("any later version");
    for (i, _) in text.match_indices("/usr/share/common-licenses/") {
        let name: String = text[i + 27..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+'))
            .collect();
        let name = name.trim_end_matches('.').to_string();
        if name.is_empty() {
            continue;
        }
        let name = if later
            && (name.starts_with("GPL") || name.starts_with("LGPL"))
            && !name.ends_with('+')
        {
            format!("{name}+")
        } else {
            name
        };
        let id = table.id(&name).unwrap_or_else(|| {
            unmapped.push(name.clone());
            license_ref(&name)
        });
        if !refs.contains(&id) {
            refs.push(id);
        }
    }
    if !refs.is_empty() {
        return base(
            Lic::all(refs.into_iter().map(Lic::Term)).map(|e| e.to_string()),
            "common-licenses",
            0.9,
            unmapped,
            BTreeMap::new(),
        );
    }
    // A GNU license named in prose ("the GNU Lesser General Public License,
    // version 2.1 (or, at your option, any later version)").
    if let Some(id) = gnu_notice(text) {
        return base(Some(id), "text-match", 0.8, vec![], BTreeMap::new());
    }
    // License texts in the file, found by the spdx crate's detection
    // (askalono's n-gram matching against the SPDX License List texts).
    if let Some((expr, score)) = detect(text) {
        return base(Some(expr), "text-match", score, vec![], BTreeMap::new());
    }
    // Unreadable: a reference to the file itself, so the answer is kept, not dropped.
    let r = license_ref(&format!("{pkg}-copyright"));
    let mut texts = BTreeMap::new();
    texts.insert(r.clone(), text.chars().take(20_000).collect());
    base(Some(r), "copyright-file", 0.0, vec![], texts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t() -> Table {
        Table::builtin()
    }

    #[test]
    fn a_listed_library_gets_the_license_its_list_states() {
        // gcc-12-base's copyright (shared by libgcc-s1, libstdc++6, libatomic1 …).
        let text = "GCC is free software; you can redistribute it and/or modify it under\n\
            the terms of the GNU General Public License as published by the Free\n\
            Software Foundation; either version 3, or (at your option) any later\n\
            version.\n\n\
            On Debian GNU/Linux systems, the complete text of the GNU General\n\
            Public License is in `/usr/share/common-licenses/GPL-3'.\n\n\
            The following runtime libraries are licensed under the terms of the\n\
            GNU General Public License (v3 or later) with version 3.1 of the GCC\n\
            Runtime Library Exception (included in this file):\n\n\
            \x20- libgcc (libgcc/, gcc/libgcc2.[ch], gcc/unwind*, gcc/gthr*,\n\
            \x20  gcc/coretypes.h).\n\
            \x20- libatomic\n\
            \x20- libstdc++-v3\n\
            \x20- libvtv\n\n\
            The libbacktrace library is licensed under the following terms:\n";
        for pkg in ["libgcc-s1", "libstdc++6", "libatomic1"] {
            let l = from_copyright(text, "p", pkg, &t());
            assert_eq!(
                l.expression.as_deref(),
                Some("GPL-3.0-or-later WITH GCC-exception-3.1"),
                "{pkg}"
            );
            assert_eq!(l.source, "copyright-section");
        }
        // The compiler's own package is not in the list: the whole file.
        let l = from_copyright(text, "p", "gcc-12-base", &t());
        assert_eq!(l.source, "common-licenses");
        assert!(!item_names_package("libgcc", "libgccjit0"));
        assert!(!item_names_package("- lib", "libc6"));
    }

    #[test]
    fn gnu_licenses_named_in_prose() {
        assert_eq!(
            gnu_notice("The overall license for libxcrypt is the GNU Lesser General Public\nLicense, version 2.1 (or, at your option, any later version); see").as_deref(),
            Some("LGPL-2.1-or-later")
        );
        assert_eq!(
            gnu_notice("under the terms of the GNU General Public License as published by\nthe Free Software Foundation; either version 2 of the License, or\n(at your option) any later version.").as_deref(),
            Some("GPL-2.0-or-later")
        );
        assert_eq!(
            gnu_notice("licensed under the GNU General Public License version 3.").as_deref(),
            Some("GPL-3.0-only")
        );
        assert_eq!(gnu_notice("the GNU General Public License"), None);
    }
}
