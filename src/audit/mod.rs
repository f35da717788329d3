//! `slim audit`: a license policy (allow/deny lists, per-package exceptions,
//! clarifications pinned to a copyright file's sha256, what to do with
//! unlisted and unknown licenses) evaluated against an SBOM, with reports for
//! people and for CI (JSON, SARIF 2.1.0, JUnit XML).

use crate::catalog::expression;
use crate::diagnostic::Code;
use crate::sbom::{Component, Sbom};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// The commented example policy `slim audit --init` writes.
pub const EXAMPLE: &str = include_str!("../../rules/policy-example.toml");

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    #[default]
    Warn,
    Deny,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyFile {
    pub licenses: Policy,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    #[serde(default)]
    pub allow: Vec<String>,
    #[serde(default)]
    pub deny: Vec<String>,
    #[serde(default)]
    pub unlisted: Action,
    #[serde(default)]
    pub unknown: Action,
    #[serde(default)]
    pub exceptions: Vec<Exception>,
    #[serde(default)]
    pub clarify: Vec<Clarify>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exception {
    pub package: String,
    pub allow: Vec<String>,
    pub reason: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Clarify {
    pub package: String,
    pub expression: String,
    #[serde(rename = "copyright-sha256")]
    pub copyright_sha256: Option<String>,
}

impl Policy {
    pub fn parse(text: &str, origin: &str) -> Result<Policy, crate::rules::Error> {
        let f: PolicyFile = toml::from_str(text).map_err(|e| crate::rules::Error {
            origin: origin.into(),
            message: e.to_string().trim().to_string(),
        })?;
        for c in &f.licenses.clarify {
            expression::parse(&c.expression).map_err(|e| crate::rules::Error {
                origin: origin.into(),
                message: format!("clarify ({}): {e}", c.package),
            })?;
        }
        // A typo in a list would silently never match (and turn a deny into a
        // warning): every entry must be an SPDX id, `ID WITH EXCEPTION`, or a LicenseRef.
        let lists = [("allow", &f.licenses.allow), ("deny", &f.licenses.deny)]
            .into_iter()
            .map(|(n, v)| (n.to_string(), v.clone()))
            .chain(
                f.licenses
                    .exceptions
                    .iter()
                    .map(|x| (format!("exceptions ({}) allow", x.package), x.allow.clone())),
            );
        for (list, entries) in lists {
            for entry in entries {
                if let Some(problem) = bad_entry(&entry) {
                    return Err(crate::rules::Error {
                        origin: origin.into(),
                        message: format!("licenses.{list}: '{entry}' {problem}"),
                    });
                }
            }
        }
        Ok(f.licenses)
    }
}

/// pass < warn < fail: an OR takes the best branch, an AND the worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Warn,
    Fail,
}

#[derive(Debug, Clone, Serialize)]
pub struct PackageResult {
    pub package: String,
    pub version: String,
    pub purl: String,
    pub expression: String,
    /// Where the expression came from (`dep5`, …, or `clarified`).
    pub source: String,
    /// The file the expression was read from: the copyright file, or the
    /// package database for apk and rpm (whose records carry the license).
    pub copyright: Option<String>,
    pub verdict: Verdict,
    /// Why: one line per license that decided the verdict.
    pub reasons: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub image: String,
    pub passed: usize,
    pub warned: usize,
    pub failed: usize,
    pub packages: Vec<PackageResult>,
}

fn matches_package(pattern: &str, c: &Component) -> bool {
    pattern == c.name || c.purl.starts_with(&format!("{pattern}@"))
}

/// What is wrong with a policy list entry, if anything.
fn bad_entry(entry: &str) -> Option<String> {
    let (id, exception) = match entry.split_once(" WITH ") {
        Some((l, e)) => (l.trim(), Some(e.trim())),
        None => (entry.trim(), None),
    };
    if id.starts_with("LicenseRef-") || id == "NOASSERTION" {
        return None;
    }
    if spdx::license_id(id).is_none() {
        let near = spdx::identifiers::LICENSES
            .iter()
            .map(|l| l.name)
            .find(|n| n.eq_ignore_ascii_case(id) || n.eq_ignore_ascii_case(&format!("{id}-only")));
        return Some(match near {
            Some(n) => format!("is not an SPDX license id (did you mean '{n}'?)"),
            None => "is not an SPDX license id (see https://spdx.org/licenses/)".into(),
        });
    }
    match exception {
        Some(e) if spdx::exception_id(e).is_none() => {
            Some(format!("names '{e}', which is not an SPDX exception id"))
        }
        _ => None,
    }
}

/// Whether a license is on a list. An allowed license stays allowed with an
/// exception (an exception only adds permissions); a denied one is denied with
/// an exception only when the list names that exception too, as SPDX license
/// requirements match (`GPL-3.0-or-later WITH GCC-exception-3.1` is not
/// `GPL-3.0-or-later`: it is what lets non-GPL programs use GCC's runtime).
fn listed(list: &[String], id: &str, exception: Option<&str>, base_counts: bool) -> bool {
    list.iter().any(|l| match exception {
        Some(e) => *l == format!("{id} WITH {e}") || base_counts && l == id,
        None => l == id,
    })
}

/// The verdict on one license of an expression, and why.
fn judge(req: &spdx::LicenseReq, p: &Policy, exc: &[&Exception]) -> (Verdict, String) {
    let id = req.license.to_string();
    let e = req.addition.as_ref().map(ToString::to_string);
    let e = e.as_deref();
    let full = req.to_string();
    if let Some(x) = exc.iter().find(|x| listed(&x.allow, &id, e, true)) {
        (
            Verdict::Pass,
            format!("{full}: allowed by exception ({})", x.reason),
        )
    } else if listed(&p.deny, &id, e, false) {
        (Verdict::Fail, format!("{full}: denied"))
    } else if listed(&p.allow, &id, e, true) {
        (Verdict::Pass, format!("{full}: allowed"))
    } else if id == "NOASSERTION" || id.starts_with("LicenseRef-") || id.starts_with("DocumentRef-")
    {
        let v = match p.unknown {
            Action::Deny => Verdict::Fail,
            Action::Warn => Verdict::Warn,
        };
        (
            v,
            format!("{full}: unknown license (unknown = \"{}\")", action(v)),
        )
    } else {
        let v = match p.unlisted {
            Action::Deny => Verdict::Fail,
            Action::Warn => Verdict::Warn,
        };
        (
            v,
            format!("{full}: in neither list (unlisted = \"{}\")", action(v)),
        )
    }
}

fn action(v: Verdict) -> &'static str {
    if v == Verdict::Fail {
        "deny"
    } else {
        "warn"
    }
}

/// Evaluates an expression: each license judged, an AND as its worst
/// operand, an OR as its best. Folded over the expression's postfix form,
/// so a deeply nested one cannot exhaust the stack.
fn eval(
    e: &spdx::Expression,
    p: &Policy,
    exc: &[&Exception],
    reasons: &mut Vec<(Verdict, String)>,
) -> Verdict {
    use spdx::expression::{ExprNode, Operator};
    let mut stack: Vec<Verdict> = Vec::new();
    for node in e.iter() {
        let v = match node {
            ExprNode::Req(r) => {
                let (v, why) = judge(&r.req, p, exc);
                reasons.push((v, why));
                v
            }
            ExprNode::Op(op) => {
                let (Some(b), Some(a)) = (stack.pop(), stack.pop()) else {
                    return Verdict::Fail;
                };
                match op {
                    Operator::And => a.max(b),
                    Operator::Or => a.min(b),
                }
            }
        };
        stack.push(v);
    }
    stack.pop().unwrap_or(Verdict::Fail)
}

/// Evaluates `policy` on every package of the SBOM.
pub fn audit(sbom: &Sbom, policy: &Policy) -> Report {
    let mut packages = Vec::new();
    for c in &sbom.components {
        let mut source = c.licenses.source.to_string();
        let mut expression = c
            .licenses
            .expression
            .clone()
            .unwrap_or_else(|| "NOASSERTION".into());
        let mut notes = Vec::new();
        if let Some(cl) = policy
            .clarify
            .iter()
            .find(|cl| matches_package(&cl.package, c))
        {
            match (&cl.copyright_sha256, &c.licenses.sha256) {
                (Some(want), Some(have)) if want != have => notes.push((
                    Verdict::Warn,
                    format!(
                        "clarification lapsed: {} changed (sha256 {have}, policy pins {want})",
                        c.licenses.path.as_deref().unwrap_or("the copyright file")
                    ),
                )),
                _ => {
                    expression = cl.expression.clone();
                    source = "clarified".into();
                }
            }
        }
        let exc: Vec<&Exception> = policy
            .exceptions
            .iter()
            .filter(|x| matches_package(&x.package, c))
            .collect();
        let mut reasons = Vec::new();
        let mut verdict = match expression::parse(&expression) {
            Ok(e) => eval(&e, policy, &exc, &mut reasons),
            Err(err) => {
                let v = if policy.unknown == Action::Deny {
                    Verdict::Fail
                } else {
                    Verdict::Warn
                };
                reasons.push((v, format!("bad license expression '{expression}': {err}")));
                v
            }
        };
        for (v, n) in notes {
            verdict = verdict.max(v);
            reasons.push((v, n));
        }
        // Keep the reasons that decided: all of them when it passes, else those at the verdict's level.
        let mut kept: Vec<String> = Vec::new();
        for (_, r) in reasons.into_iter().filter(|(v, _)| *v == verdict) {
            if !kept.contains(&r) {
                kept.push(r);
            }
        }
        let reasons = kept;
        packages.push(PackageResult {
            package: c.name.clone(),
            version: c.version.clone(),
            purl: c.purl.clone(),
            expression,
            source,
            copyright: c.licenses.path.clone(),
            verdict,
            reasons,
        });
    }
    let count = |v| packages.iter().filter(|p| p.verdict == v).count();
    Report {
        image: sbom.image.clone(),
        passed: count(Verdict::Pass),
        warned: count(Verdict::Warn),
        failed: count(Verdict::Fail),
        packages,
    }
}

/// SARIF 2.1.0, for GitHub code scanning: one result per package that warns or fails.
pub fn sarif(r: &Report) -> Value {
    let results: Vec<Value> = r
        .packages
        .iter()
        .filter(|p| p.verdict != Verdict::Pass)
        .map(|p| {
            let code = match p.verdict {
                Verdict::Fail => Code::LicenseDenied,
                _ => Code::LicenseReview,
            };
            let (rule, level) = (code.as_str(), code.severity().as_str());
            json!({
                "ruleId": rule,
                "level": level,
                "message": {"text": format!("{} {}: {} — {}", p.package, p.version, p.expression, p.reasons.join("; "))},
                "locations": [{
                    "physicalLocation": {"artifactLocation": {"uri": p.copyright.as_deref().unwrap_or("/var/lib/dpkg/status").trim_start_matches('/')}},
                    "logicalLocations": [{"name": p.package, "fullyQualifiedName": p.purl, "kind": "package"}],
                }],
                "partialFingerprints": {"purl": p.purl},
            })
        })
        .collect();
    let rules: Vec<Value> = [Code::LicenseDenied, Code::LicenseReview]
        .iter()
        .map(|c| {
            json!({
                "id": c.as_str(),
                "shortDescription": {"text": c.description()},
                "defaultConfiguration": {"level": c.severity().as_str()},
            })
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "slim",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "results": results,
        }],
    })
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// JUnit XML: one test case per package; denied ones fail.
pub fn junit(r: &Report) -> String {
    junit_all(std::slice::from_ref(r))
}

/// JUnit XML of several reports (each platform of an index): one test suite each.
pub fn junit_all(reports: &[Report]) -> String {
    let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    s.push_str(&format!(
        "<testsuites tests=\"{}\" failures=\"{}\">\n",
        reports.iter().map(|r| r.packages.len()).sum::<usize>(),
        reports.iter().map(|r| r.failed).sum::<usize>(),
    ));
    for r in reports {
        s.push_str(&format!(
            "  <testsuite name=\"slim audit {}\" tests=\"{}\" failures=\"{}\">\n",
            xml(&r.image),
            r.packages.len(),
            r.failed
        ));
        for p in &r.packages {
            s.push_str(&format!(
                "    <testcase classname=\"licenses\" name=\"{}@{}\">",
                xml(&p.package),
                xml(&p.version)
            ));
            match p.verdict {
                Verdict::Fail => s.push_str(&format!(
                    "\n      <failure message=\"{}\">{}</failure>\n    ",
                    xml(&format!("{}: {}", p.package, p.expression)),
                    xml(&p.reasons.join("\n"))
                )),
                Verdict::Warn => s.push_str(&format!(
                    "\n      <system-out>{}</system-out>\n    ",
                    xml(&p.reasons.join("\n"))
                )),
                Verdict::Pass => {}
            }
            s.push_str("</testcase>\n");
        }
        s.push_str("  </testsuite>\n");
    }
    s.push_str("</testsuites>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(text: &str) -> Policy {
        Policy::parse(text, "p.toml").unwrap()
    }

    fn verdict(p: &Policy, e: &str) -> Verdict {
        eval(&expression::parse(e).unwrap(), p, &[], &mut vec![])
    }

    #[test]
    fn or_passes_when_a_branch_passes_and_needs_all() {
        let p = policy(
            "[licenses]\nallow = [\"MIT\"]\ndeny = [\"GPL-3.0-or-later\"]\nunlisted = \"deny\"\n",
        );
        assert_eq!(verdict(&p, "MIT OR GPL-3.0-or-later"), Verdict::Pass);
        assert_eq!(verdict(&p, "MIT AND GPL-3.0-or-later"), Verdict::Fail);
        assert_eq!(verdict(&p, "MIT AND Apache-2.0"), Verdict::Fail);
        assert_eq!(verdict(&p, "LicenseRef-x"), Verdict::Warn);
        let p = policy("[licenses]\nallow = [\"GPL-3.0-or-later WITH Bison-exception-2.2\"]\nunknown = \"deny\"\n");
        assert_eq!(
            verdict(&p, "GPL-3.0-or-later WITH Bison-exception-2.2"),
            Verdict::Pass
        );
        assert_eq!(verdict(&p, "NOASSERTION"), Verdict::Fail);
    }

    #[test]
    fn the_example_policy_parses_and_bad_ones_are_errors() {
        let p = Policy::parse(EXAMPLE, "example").unwrap();
        assert!(p.deny.iter().any(|d| d == "GPL-3.0-or-later"));
        assert!(Policy::parse("[licenses]\nallowed = []\n", "x.toml")
            .unwrap_err()
            .to_string()
            .starts_with("x.toml: "));
        let bad = "[licenses]\n[[licenses.clarify]]\npackage = \"a\"\nexpression = \"MIT OR\"\n";
        assert!(Policy::parse(bad, "x.toml").is_err());
    }
}
