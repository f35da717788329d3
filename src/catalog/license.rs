//! Licenses of Debian packages from `/usr/share/doc/<pkg>/copyright`: DEP-5
//! `License:` fields mapped to SPDX ids (table in `rules/licenses.toml`),
//! `/usr/share/common-licenses/` references, a few unmistakable license
//! texts, and `LicenseRef-…` for anything else, which is kept, never dropped.
//! Every answer records where it came from.

use super::expression::Lic;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

pub use super::dpkg::copyright::from_copyright;

/// The built-in name table.
pub const BUILTIN: &str = include_str!("../../rules/licenses.toml");

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Table {
    #[serde(default)]
    map: HashMap<String, String>,
    #[serde(default)]
    exceptions: HashMap<String, String>,
    #[serde(default)]
    prefixes: HashMap<String, String>,
}

fn key(name: &str) -> String {
    name.to_ascii_lowercase().replace(' ', "").replace('_', "-")
}

impl Table {
    pub fn builtin() -> Table {
        let mut t: Table =
            toml::from_str(BUILTIN).expect("the built-in license table parses (tested)");
        t.normalise();
        t
    }

    fn normalise(&mut self) {
        self.map = self.map.drain().map(|(k, v)| (key(&k), v)).collect();
        self.exceptions = self.exceptions.drain().map(|(k, v)| (key(&k), v)).collect();
        self.prefixes = self.prefixes.drain().map(|(k, v)| (key(&k), v)).collect();
    }

    /// The built-in table, extended with a user's file (`--licenses FILE`).
    pub fn load(file: Option<&std::path::Path>) -> Result<Table, crate::rules::Error> {
        let mut t = Table::builtin();
        if let Some(f) = file {
            let origin = f.display().to_string();
            let text = std::fs::read_to_string(f).map_err(|e| crate::rules::Error {
                origin: origin.clone(),
                message: e.to_string(),
            })?;
            t.extend(&text).map_err(|e| crate::rules::Error {
                origin,
                message: e.to_string().trim().to_string(),
            })?;
        }
        Ok(t)
    }

    /// Adds a user table (same format).
    pub fn extend(&mut self, text: &str) -> Result<(), toml::de::Error> {
        let mut t: Table = toml::from_str(text)?;
        t.normalise();
        self.map.extend(t.map);
        self.exceptions.extend(t.exceptions);
        self.prefixes.extend(t.prefixes);
        Ok(())
    }

    /// One Debian license name → an SPDX id, or None.
    pub fn id(&self, name: &str) -> Option<String> {
        let k = key(name);
        if let Some(v) = self
            .map
            .get(&k)
            .or_else(|| self.map.get(k.trim_end_matches(".0")))
        {
            return Some(v.clone());
        }
        // The longest matching holder-suffixed prefix (`bsd-3-clause-regents`).
        if let Some((_, v)) = self
            .prefixes
            .iter()
            .filter(|(p, _)| k.starts_with(p.as_str()) && k.len() > p.len())
            .max_by_key(|(p, _)| p.len())
        {
            return Some(v.clone());
        }
        if let Some(base) = k.strip_suffix('+') {
            if let Some(v) = self
                .map
                .get(base)
                .or_else(|| self.map.get(base.trim_end_matches(".0")))
            {
                return Some(match v.strip_suffix("-only") {
                    Some(stem) => format!("{stem}-or-later"),
                    None => v.clone(),
                });
            }
        }
        spdx_license(name.trim())
    }

    /// An exception name (`Classpath`, `Classpath-exception-2.0`) → its SPDX id.
    pub(crate) fn exception(&self, name: &str) -> Option<String> {
        if let Some(e) = self.exceptions.get(&key(name)) {
            return Some(e.clone());
        }
        let lower = name.trim().to_ascii_lowercase();
        spdx::identifiers::EXCEPTIONS
            .iter()
            .find(|e| e.name.to_ascii_lowercase() == lower)
            .map(|e| e.name.to_string())
    }
}

/// A name that is already an SPDX License List id, in any case → the id as
/// the list spells it. The deprecated bare GNU ids (`GPL-2.0`, `LGPL-2.1+`)
/// become their `-only` / `-or-later` forms.
pub(crate) fn spdx_license(name: &str) -> Option<String> {
    use std::sync::OnceLock;
    static IDS: OnceLock<HashMap<String, &'static str>> = OnceLock::new();
    let ids = IDS.get_or_init(|| {
        spdx::identifiers::LICENSES
            .iter()
            .map(|l| (l.name.to_ascii_lowercase(), l.name))
            .collect()
    });
    let lower = name.to_ascii_lowercase();
    let (base, plus) = match lower.strip_suffix('+') {
        Some(b) => (b, true),
        None => (lower.as_str(), false),
    };
    let id = *ids.get(base)?;
    if let Some(stem) = id.strip_suffix("-only") {
        return Some(if plus {
            format!("{stem}-or-later")
        } else {
            id.to_string()
        });
    }
    if id.ends_with("-or-later") {
        return Some(id.to_string());
    }
    if let Some(gnu) = spdx::gnu_license_id(id, plus) {
        return Some(gnu.name.to_string());
    }
    (!plus).then(|| id.to_string())
}

/// `LicenseRef-` + the name with characters SPDX does not allow replaced.
pub fn license_ref(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("LicenseRef-{}", s.trim_matches('-'))
}

/// A package's licenses, and where they came from.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Licenses {
    /// Every license the package's files are under, as one SPDX expression (what
    /// slim concludes; audits use it); None when nothing could be read (NOASSERTION).
    pub expression: Option<String>,
    /// The license the package declares for itself: the DEP-5 `Files: *`
    /// paragraph's; None when the file has no such paragraph (then `expression`).
    pub declared: Option<String>,
    /// `dep5`, `common-licenses`, `text-match`, `copyright-file`, `package-field`, `none`.
    pub source: &'static str,
    /// The file read: the copyright file, or the package database (`package-field`).
    pub path: Option<String>,
    /// Its sha256 (clarifications in a policy pin to it).
    pub sha256: Option<String>,
    /// Debian names that had no SPDX id (each became a LicenseRef).
    pub unmapped: Vec<String>,
    /// How sure the answer is: 1.0 for declared fields, less for text matches.
    pub confidence: f32,
    /// Text of each LicenseRef used, where the file has it.
    #[serde(skip)]
    pub texts: BTreeMap<String, String>,
}

impl Licenses {
    pub fn none() -> Licenses {
        Licenses {
            expression: None,
            declared: None,
            source: "none",
            path: None,
            sha256: None,
            unmapped: vec![],
            confidence: 0.0,
            texts: BTreeMap::new(),
        }
    }
}

/// Converts a license field to SPDX: a DEP-5 `License:` first line
/// (`GPL-2+ or Artistic`, `(GPL-2+ and LGPL-2+) or BSD`, `GPL-3+ with Bison
/// exception`; `dep5`: `,` joins loosest) or a package manager's field
/// (`GPLv2+ and (LGPLv2+ or MIT)`, `ASL 2.0`). Each name goes through the table.
pub(crate) fn convert(
    field: &str,
    dep5: bool,
    table: &Table,
    unmapped: &mut Vec<String>,
) -> Option<Lic> {
    let e = super::expression::parse_field(field, dep5)?;
    Some(e.map_terms(&mut |name| one(name, table, unmapped)))
}

/// One license, possibly `X with Y exception`.
pub(crate) fn one(term: &str, table: &Table, unmapped: &mut Vec<String>) -> String {
    let lower = term.to_ascii_lowercase();
    if let Some(id) = table.id(term) {
        return id;
    }
    // `X with Y exception`, also written `X-with-Y-exception`.
    let at = lower
        .find(" with ")
        .map(|i| (i, 6))
        .or_else(|| lower.find("-with-").map(|i| (i, 6)));
    if let Some((i, n)) = at {
        let (lic, exc) = (&term[..i], term[i + n..].trim());
        // Drop a trailing `exception` however it is joined (` exception`, `-EXCEPTION`).
        let lower_exc = exc.to_ascii_lowercase();
        let exc_name = match lower_exc.strip_suffix("exception") {
            Some(rest) => exc[..rest.len()].trim_end_matches([' ', '-']),
            None => exc,
        };
        let l = one(lic, table, unmapped);
        return match table.exception(exc_name).or_else(|| table.exception(exc)) {
            Some(e) if !l.starts_with("LicenseRef-") => format!("{l} WITH {e}"),
            _ => {
                unmapped.push(term.to_string());
                license_ref(term)
            }
        };
    }
    unmapped.push(term.to_string());
    license_ref(term)
}

/// The lowest score a detected license text needs (askalono's scale: 1.0 is
/// the text verbatim).
pub(crate) const DETECT_THRESHOLD: f32 = 0.8;

/// The SPDX licenses whose texts `text` holds, joined with AND, and the
/// lowest of their scores; None when none scores `DETECT_THRESHOLD`.
pub fn detect(text: &str) -> Option<(String, f32)> {
    use std::sync::{Mutex, OnceLock};
    // Packages built from one source share their copyright file (util-linux's
    // seven, perl's four): each text is matched once per run.
    type Memo = Mutex<HashMap<[u8; 32], Option<(String, f32)>>>;
    static MEMO: OnceLock<Memo> = OnceLock::new();
    let key: [u8; 32] = <sha2::Sha256 as sha2::Digest>::digest(text.as_bytes()).into();
    let memo = MEMO.get_or_init(Memo::default);
    if let Some(hit) = memo.lock().ok().and_then(|m| m.get(&key).cloned()) {
        return hit;
    }
    let found = detect_uncached(text);
    if let Ok(mut m) = memo.lock() {
        m.insert(key, found.clone());
    }
    found
}

fn detect_uncached(text: &str) -> Option<(String, f32)> {
    use spdx::detection::{scan::Scanner, Store, TextData};
    use std::sync::OnceLock;
    static STORE: OnceLock<Option<Store>> = OnceLock::new();
    let store = STORE.get_or_init(|| Store::load_inline().ok()).as_ref()?;
    let scanner = Scanner::new(store)
        .confidence_threshold(DETECT_THRESHOLD)
        .optimize(true)
        .shallow_limit(0.98)
        .max_passes(8);
    let found = scanner.scan(&TextData::new(text));
    let mut ids: Vec<(String, f32)> = Vec::new();
    if let Some(l) = found.license.filter(|_| found.score >= DETECT_THRESHOLD) {
        ids.push((l.name.to_string(), found.score));
    }
    for c in &found.containing {
        if c.score >= DETECT_THRESHOLD && !ids.iter().any(|(n, _)| n == c.license.name) {
            ids.push((c.license.name.to_string(), c.score));
        }
    }
    let score = ids.iter().map(|x| x.1).fold(f32::INFINITY, f32::min);
    let names: Vec<String> = ids
        .into_iter()
        .filter_map(|(n, _)| spdx_license(&n))
        .collect();
    (!names.is_empty()).then(|| (names.join(" AND "), score))
}

/// A package manager's own license field (apk `L:`, rpm `License`), normalised
/// to SPDX with the same table.
pub fn from_field(field: &str, table: &Table) -> Licenses {
    let mut unmapped = Vec::new();
    let expression = convert(field, false, table, &mut unmapped).map(|e| e.to_string());
    Licenses {
        expression,
        declared: None,
        source: "package-field",
        path: None,
        sha256: None,
        unmapped,
        confidence: 1.0,
        texts: BTreeMap::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t() -> Table {
        Table::builtin()
    }

    #[test]
    fn a_local_name_whose_text_is_an_spdx_license_gets_its_id() {
        let mit = "Permission is hereby granted, free of charge, to any person obtaining a\n copy of this software and associated documentation files (the \"Software\"),\n to deal in the Software without restriction, including without limitation\n the rights to use, copy, modify, merge, publish, distribute, sublicense,\n and/or sell copies of the Software, and to permit persons to whom the\n Software is furnished to do so, subject to the following conditions:\n .\n The above copyright notice and this permission notice shall be included in\n all copies or substantial portions of the Software.\n .\n THE SOFTWARE IS PROVIDED \"AS IS\", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR\n IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,\n FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE\n AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER\n LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING\n FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER\n DEALINGS IN THE SOFTWARE.\n";
        // GAP's text is FSFAP's, but so close to FSFAP-no-warranty-disclaimer that
        // no match reaches 0.9: it stays a LicenseRef rather than a guess.
        let text = format!("Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\nFiles: *\nCopyright: 2020 X\nLicense: GPL-2+\n\nFiles: lib/*\nCopyright: 2020 Z\nLicense: Xyz-permissive\n\nFiles: m4/*\nCopyright: 2020 FSF\nLicense: GAP\n\nLicense: Xyz-permissive\n {mit}\nLicense: GAP\n Copying and distribution of this file, with or without modification, are\n permitted in any medium without royalty provided the copyright notice and\n this notice are preserved.  This file is offered as-is, without any\n warranty.\n");
        let l = from_copyright(&text, "/usr/share/doc/x/copyright", "x", &t());
        assert_eq!(
            l.expression.as_deref(),
            Some("GPL-2.0-or-later AND MIT AND LicenseRef-GAP")
        );
        assert_eq!(l.unmapped, vec!["GAP".to_string()]);
        assert!(l.texts.contains_key("LicenseRef-GAP"));
        assert!(!l.texts.contains_key("LicenseRef-Xyz-permissive"));
        assert!(l.confidence >= 0.9 && l.confidence <= 1.0);
    }

    /// Regression (issue 11): AND-joining `(A AND B) OR C` with MIT must not
    /// make it `MIT AND (A AND B) OR C`, which reads `(MIT AND A AND B) OR C`.
    #[test]
    fn and_joining_keeps_the_precedence_of_or() {
        let text = "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n\
            Files: *\nLicense: Expat\n\nFiles: a/*\nLicense: GPL-2+ and LGPL-2+ or BSD-3-clause\n";
        let l = from_copyright(text, "p", "x", &t());
        let e = l.expression.unwrap();
        assert_eq!(
            e,
            "MIT AND ((GPL-2.0-or-later AND LGPL-2.0-or-later) OR BSD-3-Clause)"
        );
        // And the audit reads it so: an AND at the top (the last node in postfix).
        let parsed = super::super::expression::parse(&e).unwrap();
        assert_eq!(
            parsed.iter().last(),
            Some(&spdx::expression::ExprNode::Op(
                spdx::expression::Operator::And
            )),
            "{e}"
        );
    }

    /// DEP-5 parentheses group (they were ignored: `(GPL-2+ and LGPL-2+) or
    /// BSD` became one LicenseRef).
    #[test]
    fn dep5_parentheses_group_licenses() {
        let (t, mut u) = (t(), vec![]);
        assert_eq!(
            convert("(GPL-2+ and LGPL-2+) or BSD-3-clause", true, &t, &mut u)
                .unwrap()
                .to_string(),
            "(GPL-2.0-or-later AND LGPL-2.0-or-later) OR BSD-3-Clause"
        );
        assert_eq!(
            convert("GPL-2+ or Artistic, and BSD-3-clause", true, &t, &mut u)
                .unwrap()
                .to_string(),
            "(GPL-2.0-or-later OR Artistic-1.0-Perl) AND BSD-3-Clause"
        );
        assert!(u.is_empty(), "{u:?}");
    }

    #[test]
    fn license_texts_are_detected_with_a_score() {
        let mit = "Copyright (c) 2020 Someone\n\nPermission is hereby granted, free of charge, to any person obtaining a copy of this software and associated documentation files (the \"Software\"), to deal in the Software without restriction, including without limitation the rights to use, copy, modify, merge, publish, distribute, sublicense, and/or sell copies of the Software, and to permit persons to whom the Software is furnished to do so, subject to the following conditions:\n\nThe above copyright notice and this permission notice shall be included in all copies or substantial portions of the Software.\n\nTHE SOFTWARE IS PROVIDED \"AS IS\", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.\n";
        let (id, score) = detect(mit).unwrap();
        assert_eq!(id, "MIT");
        assert!(score > 0.9, "{score}");
        let l = from_copyright(mit, "/usr/share/doc/x/copyright", "x", &t());
        assert_eq!(
            (l.expression.as_deref(), l.source),
            (Some("MIT"), "text-match")
        );
        assert_eq!(detect("Nothing here is a license."), None);
    }

    #[test]
    fn debian_names_map_to_spdx() {
        let t = t();
        assert_eq!(t.id("GPL-2+").as_deref(), Some("GPL-2.0-or-later"));
        assert_eq!(t.id("GPL-2").as_deref(), Some("GPL-2.0-only"));
        assert_eq!(t.id("LGPL-2.1+").as_deref(), Some("LGPL-2.1-or-later"));
        assert_eq!(t.id("Expat").as_deref(), Some("MIT"));
        assert_eq!(t.id("BSD-3-clause").as_deref(), Some("BSD-3-Clause"));
        assert_eq!(t.id("GPLv3+").as_deref(), Some("GPL-3.0-or-later"));
        assert_eq!(t.id("  BSD-3-Clause").as_deref(), Some("BSD-3-Clause"));
        assert_eq!(t.id("Apache-2.0").as_deref(), Some("Apache-2.0"));
        assert_eq!(t.id("public-domain"), None);
    }

    #[test]
    fn expressions_with_or_and_with() {
        let t = t();
        let mut u = vec![];
        let convert =
            |e: &str, t: &Table, u: &mut Vec<String>| convert(e, true, t, u).map(|e| e.to_string());
        assert_eq!(
            convert("GPL-1+ or Artistic", &t, &mut u).unwrap(),
            "GPL-1.0-or-later OR Artistic-1.0-Perl"
        );
        assert_eq!(
            convert("GPL-3+ with Bison exception", &t, &mut u).unwrap(),
            "GPL-3.0-or-later WITH Bison-exception-2.2"
        );
        assert_eq!(
            convert("GPL-2+ and BSD-3-clause", &t, &mut u).unwrap(),
            "GPL-2.0-or-later AND BSD-3-Clause"
        );
        assert_eq!(
            convert("public-domain", &t, &mut u).unwrap(),
            "LicenseRef-public-domain"
        );
        assert_eq!(u, vec!["public-domain".to_string()]);
        assert_eq!(
            convert("GPL-3+-WITH-BISON-EXCEPTION", &t, &mut u).unwrap(),
            "GPL-3.0-or-later WITH Bison-exception-2.2"
        );
        assert_eq!(
            convert("BSD-3-clause-Regents", &t, &mut u).unwrap(),
            "BSD-3-Clause"
        );
        assert_eq!(
            convert("BSD-4-clause-UC", &t, &mut u).unwrap(),
            "BSD-4-Clause-UC"
        );
    }

    #[test]
    fn dep5_file_gives_every_files_license_once() {
        let text = "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\nFiles: *\nCopyright: x\nLicense: GPL-2+\n\nFiles: lib/*\nLicense: Expat or GPL-2+\n\nFiles: doc/*\nLicense: GPL-2+\n\nFiles: odd/*\nLicense: weird-license\n\nLicense: weird-license\n Do what you like.\n";
        let l = from_copyright(text, "/usr/share/doc/x/copyright", "x", &t());
        assert_eq!(l.source, "dep5");
        assert_eq!(
            l.expression.as_deref(),
            Some("GPL-2.0-or-later AND (MIT OR GPL-2.0-or-later) AND LicenseRef-weird-license")
        );
        assert_eq!(
            l.texts.get("LicenseRef-weird-license").map(String::as_str),
            Some("Do what you like.")
        );
        assert_eq!(l.unmapped, vec!["weird-license".to_string()]);
        assert_eq!(
            l.declared.as_deref(),
            Some("GPL-2.0-or-later"),
            "the Files: * paragraph"
        );
    }

    #[test]
    fn non_dep5_uses_common_licenses_references_or_keeps_a_reference() {
        let text = "This is the GNU C library.\nDistributed under the GNU Lesser General Public License, version 2.1 or any later version; see /usr/share/common-licenses/LGPL-2.1.\nParts: /usr/share/common-licenses/GPL-2.\n";
        let l = from_copyright(text, "p", "libc6", &t());
        assert_eq!(
            (l.source, l.expression.as_deref()),
            (
                "common-licenses",
                Some("LGPL-2.1-or-later AND GPL-2.0-or-later")
            )
        );
        let l = from_copyright("All rights reserved by someone.\n", "p", "odd", &t());
        assert_eq!(
            (l.source, l.expression.as_deref()),
            ("copyright-file", Some("LicenseRef-odd-copyright"))
        );
    }
}
