//! Licenses of Debian packages from `/usr/share/doc/<pkg>/copyright`: DEP-5
//! `License:` fields mapped to SPDX ids (table in `rules/licenses.toml`),
//! `/usr/share/common-licenses/` references, a few unmistakable license
//! texts, and `LicenseRef-…` for anything else, which is kept, never dropped.
//! Every answer records where it came from.

use super::deb822;
use super::expression::Lic;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

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
    fn exception(&self, name: &str) -> Option<String> {
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
fn spdx_license(name: &str) -> Option<String> {
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
fn convert(field: &str, dep5: bool, table: &Table, unmapped: &mut Vec<String>) -> Option<Lic> {
    let e = super::expression::parse_field(field, dep5)?;
    Some(e.map_terms(&mut |name| one(name, table, unmapped)))
}

/// One license, possibly `X with Y exception`.
fn one(term: &str, table: &Table, unmapped: &mut Vec<String>) -> String {
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

/// The first GNU license a text names in prose with its version, as an SPDX
/// id (`-or-later` when "any later version" follows the name).
fn gnu_notice(text: &str) -> Option<String> {
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
fn item_names_package(item: &str, pkg: &str) -> bool {
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
fn listed_statement(text: &str, pkg: &str, table: &Table) -> Option<String> {
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
fn statement_before(lines: &[&str], end: usize) -> String {
    let start = lines[..end]
        .iter()
        .rposition(|l| l.trim().is_empty())
        .map_or(0, |i| i + 1);
    lines[start..=end].join(" ")
}

/// An exception a license statement grants in prose ("with version 3.1 of the
/// GCC Runtime Library Exception"), as an SPDX exception id.
fn prose_exception(statement: &str, table: &Table) -> Option<String> {
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

/// The lowest score a detected license text needs (askalono's scale: 1.0 is
/// the text verbatim).
const DETECT_THRESHOLD: f32 = 0.8;

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
