//! Run-time rules (`rules/*.toml`, embedded at build time, extendable with
//! `--rules FILE`) and the glob matching they use over the image tree.

pub mod programs;

use crate::fs::Tree;
use serde::Deserialize;
use std::collections::BTreeSet;

/// The built-in rules.
pub const BUILTIN: &str = include_str!("../../rules/runtime.toml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub name: String,
    pub why: String,
    #[serde(default)]
    pub when: When,
    #[serde(default)]
    pub keep: Vec<String>,
    /// Also keep the NSS modules named in /etc/nsswitch.conf.
    #[serde(default)]
    pub nss: bool,
    /// The packages owning what the rule keeps bring their data files too
    /// (a runtime's modules on its search path, installed by packages that are
    /// not its dependencies).
    #[serde(default, rename = "package-data")]
    pub package_data: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct When {
    #[serde(default)]
    pub kept: Vec<String>,
    #[serde(default)]
    pub imports: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackageData {
    pub why: String,
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Kept files scanned for absolute paths they reference.
    #[serde(default, rename = "config-files")]
    pub config_files: Vec<String>,
    /// Packages never followed for data.
    #[serde(default, rename = "skip-packages")]
    pub skip_packages: Vec<String>,
}

/// A set of rules.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    #[serde(default, rename = "rule")]
    pub rules: Vec<Rule>,
    #[serde(default, rename = "package-data")]
    pub package_data: Option<PackageData>,
}

#[derive(Debug, thiserror::Error)]
#[error("{origin}: {message}")]
pub struct Error {
    pub origin: String,
    pub message: String,
}

impl Rules {
    /// Parses a rules file; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Rules, Error> {
        toml::from_str(text).map_err(|e| Error {
            origin: origin.to_string(),
            message: e.to_string().trim().to_string(),
        })
    }

    /// The built-in rules.
    pub fn builtin() -> Rules {
        Rules::parse(BUILTIN, "rules/runtime.toml").expect("the built-in rules parse (tested)")
    }

    /// Adds `other`'s rules; a rule named like an existing one replaces it.
    pub fn extend(&mut self, other: Rules) {
        for r in other.rules {
            match self.rules.iter_mut().find(|x| x.name == r.name) {
                Some(x) => *x = r,
                None => self.rules.push(r),
            }
        }
        if let Some(pd) = other.package_data {
            match &mut self.package_data {
                Some(mine) => {
                    mine.exclude.extend(pd.exclude);
                    mine.skip_packages.extend(pd.skip_packages);
                    mine.config_files.extend(pd.config_files);
                }
                None => self.package_data = Some(pd),
            }
        }
    }
}

/// Wildcard matching of sequence `s` against pattern `p`, where a star
/// element matches any run of elements: the two-pointer algorithm that
/// backtracks only to the last star, O(len(p) × len(s)) at worst. Patterns
/// come from images (`ld.so.conf` includes, nginx `include`s), so a
/// backtracking matcher would let `*a*a*a*…b` hang the trace (issue 11).
fn wild<T>(p: &[T], s: &[T], is_star: impl Fn(&T) -> bool, eq: impl Fn(&T, &T) -> bool) -> bool {
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() && is_star(&p[pi]) {
            star = Some((pi, si));
            pi += 1;
        } else if pi < p.len() && eq(&p[pi], &s[si]) {
            pi += 1;
            si += 1;
        } else if let Some((sp, ss)) = star {
            // Let the last star take one more element, and retry after it.
            pi = sp + 1;
            si = ss + 1;
            star = Some((sp, ss + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(is_star)
}

/// Whether `path` (absolute or not) matches glob `pat` (`*`, `?` within a
/// component, `**` for any number of components).
pub fn matches(pat: &str, path: &str) -> bool {
    matches_any(&[pat], path)
}

/// Whether `path` matches any of `pats` (see [`matches`]). Components are
/// split on the stack, the path once for all patterns: the plan and the
/// trace ask this of every path for every rule.
pub fn matches_any<S: AsRef<str>>(pats: &[S], path: &str) -> bool {
    const N: usize = 64;
    let (mut pb, mut sb) = ([""; N], [""; N]);
    let s = split(path, &mut sb);
    pats.iter().any(|g| match (split(g.as_ref(), &mut pb), s) {
        (Some(p), Some(s)) => wild(p, s, |c| *c == "**", |c, name| component(c, name)),
        // Deeper than N components: on the heap.
        _ => {
            let comps = |x: &str| -> Vec<String> {
                x.split('/')
                    .filter(|c| !c.is_empty())
                    .map(String::from)
                    .collect()
            };
            let (p, s) = (comps(g.as_ref()), comps(path));
            wild(&p, &s, |c| c == "**", |c, name| component(c, name))
        }
    })
}

/// The non-empty components of `path` in `buf`; None if they do not fit.
fn split<'a, 'b>(path: &'a str, buf: &'b mut [&'a str]) -> Option<&'b [&'a str]> {
    let mut n = 0;
    for c in path.split('/').filter(|c| !c.is_empty()) {
        *buf.get_mut(n)? = c;
        n += 1;
    }
    Some(&buf[..n])
}

/// `*` and `?` matching of one path component.
pub fn component(pat: &str, name: &str) -> bool {
    wild(
        pat.as_bytes(),
        name.as_bytes(),
        |b| *b == b'*',
        |p, n| *p == b'?' || p == n,
    )
}

/// Normalises `.` and `..` lexically (`..` at the root stays at the root).
pub fn normalize(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    format!("/{}", out.join("/"))
}

/// The image paths a glob matches, as real paths (symlinks in the
/// directories on the way followed inside the image). Also returns the
/// symlinks followed, so they can be kept.
pub fn glob(tree: &Tree, pattern: &str) -> (Vec<String>, BTreeSet<String>) {
    let comps: Vec<String> = normalize(pattern)
        .split('/')
        .filter(|c| !c.is_empty())
        .map(String::from)
        .collect();
    let mut out = BTreeSet::new();
    let mut hops = BTreeSet::new();
    walk(tree, String::new(), &comps, &mut out, &mut hops, 0);
    (out.into_iter().collect(), hops)
}

/// Edit distance, for "did you mean" hints.
pub fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// The names closest to `name`: within a third of its length in
/// edits (two at least), or containing it; at most five, closest first.
pub fn closest<'a>(name: &str, names: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut scored: Vec<(usize, &str)> = names
        .filter_map(|n| {
            let d = distance(name, n);
            (d <= (name.len() / 3).max(2) || n.contains(name)).then_some((d, n))
        })
        .collect();
    scored.sort();
    scored.dedup();
    scored.into_iter().take(5).map(|(_, n)| n).collect()
}

/// Documentation a package ships (`--keep-package` leaves it out).
pub fn is_doc(path: &str) -> bool {
    ["/usr/share/doc/", "/usr/share/man/", "/usr/share/info/"]
        .iter()
        .any(|d| path.starts_with(d))
}

/// A path or glob the user gives (`--keep`, `--drop`): what it matches, and
/// everything below each directory it matches (`--keep /etc/app` is
/// `/etc/app/**` too, as users mean it).
pub fn user_glob(tree: &Tree, pattern: &str) -> (Vec<String>, BTreeSet<String>) {
    let (mut paths, mut hops) = glob(tree, pattern);
    let below = format!("{}/**", pattern.trim_end_matches('/'));
    let (more, more_hops) = glob(tree, &below);
    paths.extend(more);
    paths.sort();
    paths.dedup();
    hops.extend(more_hops);
    (paths, hops)
}

/// Whether `path` is matched by a user's path or glob, or lies below what it
/// matches (see [`user_glob`]).
pub fn user_matches(pat: &str, path: &str) -> bool {
    matches(pat, path) || matches(&format!("{}/**", pat.trim_end_matches('/')), path)
}

fn is_wild(c: &str) -> bool {
    c.contains(['*', '?'])
}

fn children<'a>(tree: &'a Tree, dir: &str) -> Vec<&'a str> {
    let prefix = if dir.is_empty() {
        String::new()
    } else {
        format!("{dir}/")
    };
    tree.subtree(dir)
        .filter_map(|(p, _)| p.strip_prefix(prefix.as_str()))
        .filter(|rest| !rest.contains('/'))
        .collect::<Vec<_>>()
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

/// Resolves `path` when it is a symlink to a directory, noting the hops.
fn enter(tree: &Tree, path: String, hops: &mut BTreeSet<String>) -> Option<String> {
    match tree.get(&path) {
        Some(n) if n.is_dir() => Some(path),
        Some(n) if n.symlink_target().is_some() => {
            let r = tree.resolve(&path, true).ok()?;
            tree.get(&r.path).filter(|n| n.is_dir())?;
            hops.extend(r.hops.iter().map(|h| format!("/{h}")));
            Some(r.path)
        }
        _ => None,
    }
}

fn walk(
    tree: &Tree,
    dir: String,
    comps: &[String],
    out: &mut BTreeSet<String>,
    hops: &mut BTreeSet<String>,
    depth: usize,
) {
    if depth > 64 {
        return;
    }
    let Some((c, rest)) = comps.split_first() else {
        return;
    };
    if c == "**" {
        // Zero components, then one more level at a time (real directories only: no symlink cycles).
        walk(tree, dir.clone(), rest, out, hops, depth + 1);
        if rest.is_empty() {
            for (p, _) in tree.subtree(&dir) {
                out.insert(format!("/{p}"));
            }
            return;
        }
        let dirs: Vec<String> = tree
            .subtree(&dir)
            .filter(|(_, n)| n.is_dir())
            .map(|(p, _)| p.to_string())
            .collect();
        for d in dirs {
            walk(tree, d, rest, out, hops, depth + 1);
        }
        return;
    }
    let names: Vec<String> = if is_wild(c) {
        children(tree, &dir)
            .into_iter()
            .filter(|n| component(c, n))
            .map(String::from)
            .collect()
    } else {
        vec![c.clone()]
    };
    for n in names {
        let p = join(&dir, &n);
        if tree.get(&p).is_none() {
            continue;
        }
        if rest.is_empty() {
            out.insert(format!("/{p}"));
        } else if let Some(d) = enter(tree, p, hops) {
            walk(tree, d, rest, out, hops, depth + 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The backtracking matcher this replaced: the reference semantics.
    fn reference(p: &[u8], n: &[u8]) -> bool {
        match (p.first(), n.first()) {
            (None, None) => true,
            (Some(b'*'), _) => reference(&p[1..], n) || (!n.is_empty() && reference(p, &n[1..])),
            (Some(b'?'), Some(_)) => reference(&p[1..], &n[1..]),
            (Some(a), Some(b)) if a == b => reference(&p[1..], &n[1..]),
            _ => false,
        }
    }

    #[test]
    fn linear_matcher_agrees_with_the_backtracking_one() {
        let mut x: u64 = 0x2545f4914f6cdd1d;
        let mut next = |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        let alphabet = [b'a', b'b', b'*', b'?', b'.'];
        for _ in 0..20_000 {
            let p: Vec<u8> = (0..next(8)).map(|_| alphabet[next(5) as usize]).collect();
            let n: Vec<u8> = (0..next(10)).map(|_| alphabet[next(2) as usize]).collect();
            let (ps, ns) = (
                String::from_utf8(p.clone()).unwrap(),
                String::from_utf8(n.clone()).unwrap(),
            );
            assert_eq!(component(&ps, &ns), reference(&p, &n), "{ps:?} {ns:?}");
        }
    }

    #[test]
    fn crafted_globs_match_in_linear_time() {
        let pat = format!("{}b", "*a".repeat(14));
        let name = "a".repeat(60);
        let t = std::time::Instant::now();
        assert!(!component(&pat, &name));
        let deep = format!("/{}x", "**/a/".repeat(12));
        assert!(!matches(&deep, &"/a".repeat(40)));
        assert!(t.elapsed().as_millis() < 100, "{:?}", t.elapsed());
        assert!(matches("/usr/**/lib/*.so", "/usr/lib/x.so"));
        assert!(matches("**", "/any/thing"));
        assert!(!matches("/a/**/b", "/a/c"));
    }

    #[test]
    fn paths_deeper_than_the_stack_buffer_match_the_same() {
        let deep = "/d".repeat(100) + "/x.so";
        assert!(matches("/d/**/*.so", &deep));
        assert!(!matches("/d/**/*.conf", &deep));
        let deep_pat = "/d".repeat(100) + "/*.so";
        assert!(matches(&deep_pat, &deep));
        assert!(matches_any(&["/etc/**", "/d/**/x.so"], &deep));
        // One component short: no match.
        let short = "/d".repeat(99) + "/*";
        assert!(!matches_any(&["/etc/**", &short], &deep));
    }

    #[test]
    fn builtin_rules_parse() {
        let r = Rules::builtin();
        assert!(r.rules.iter().any(|r| r.name == "nss" && r.nss));
        assert!(r.package_data.is_some());
    }

    #[test]
    fn closest_names_for_a_typo() {
        let names = ["nginx", "nginx-common", "libc6", "libssl3", "zlib1g"];
        assert_eq!(closest("ngnix", names.iter().copied()), ["nginx"]);
        assert_eq!(
            closest("nginx-comon", names.iter().copied()),
            ["nginx-common"]
        );
        assert_eq!(closest("libssl", names.iter().copied()), ["libssl3"]);
        assert!(closest("postgres", names.iter().copied()).is_empty());
    }

    #[test]
    fn a_user_path_means_the_directory_and_everything_below() {
        assert!(user_matches(
            "/usr/share/zoneinfo",
            "/usr/share/zoneinfo/Europe/Paris"
        ));
        assert!(user_matches("/usr/share/zoneinfo/", "/usr/share/zoneinfo"));
        assert!(user_matches("/etc/app/*", "/etc/app/conf.d/a.conf"));
        assert!(!user_matches("/usr/share/zone", "/usr/share/zoneinfo/UTC"));
    }

    #[test]
    fn globs() {
        assert!(matches(
            "**/libc.so.6",
            "/usr/lib/x86_64-linux-gnu/libc.so.6"
        ));
        assert!(matches("**/bin/python?.*", "/usr/bin/python3.11"));
        assert!(!matches("**/bin/python?.*", "/usr/bin/python3"));
        assert!(matches("/usr/share/doc/**", "/usr/share/doc/a/b"));
        assert!(matches("/usr/share/doc/**", "/usr/share/doc"));
        assert!(matches("/etc/rc?.d/**", "/etc/rc2.d/S01x"));
        assert_eq!(
            normalize("/usr/lib/jvm/x/lib/../conf"),
            "/usr/lib/jvm/x/conf"
        );
    }

    #[test]
    fn user_rules_replace_by_name_and_unknown_fields_are_errors() {
        let mut r = Rules::builtin();
        let n = r.rules.len();
        r.extend(Rules::parse("[[rule]]\nname = \"nss\"\nwhy = \"mine\"\n", "x").unwrap());
        assert_eq!(r.rules.len(), n);
        assert_eq!(
            r.rules.iter().find(|r| r.name == "nss").unwrap().why,
            "mine"
        );
        let e = Rules::parse(
            "[[rule]]\nname = \"x\"\nwhy = \"y\"\nkeeep = []\n",
            "my.toml",
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("my.toml: "), "{e}");
    }
}
