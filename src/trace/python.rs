//! Python's start-up, as the `site` module and PEP 405 do it: the prefix an
//! interpreter runs with follows from the path it is *invoked* by (not the
//! symlink's target), so a virtual environment's `bin/python3` — a link to the
//! system's — imports from the venv's site-packages; `PYTHONHOME` names the
//! prefix outright; the user site (`~/.local`, what `pip install --user`
//! fills) is on `sys.path` outside a venv.

use super::state::State;
use super::Reason;

/// A `pyvenv.cfg`: where the venv is and what it says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Venv {
    /// `sys.prefix`: the directory holding pyvenv.cfg.
    pub prefix: String,
    /// `home`: the directory of the base interpreter.
    pub home: Option<String>,
    /// `include-system-site-packages = true`.
    pub system_site: bool,
}

/// Whether a program name is a Python interpreter (`python`, `python3`,
/// `python3.12`, `python3.13t`), as a venv's bin has them.
pub fn is_python(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("python") else {
        return false;
    };
    rest.is_empty()
        || rest
            .trim_end_matches(['t', 'd', 'm'])
            .chars()
            .all(|c| c.is_ascii_digit() || c == '.')
}

/// PEP 405: a `pyvenv.cfg` beside the invoked executable or one directory
/// above it, read with `read`, makes that directory the prefix.
pub fn find_venv(invoked: &str, read: &dyn Fn(&str) -> Option<Vec<u8>>) -> Option<Venv> {
    let bin = invoked.rsplit_once('/').map(|(d, _)| d)?;
    let up = bin.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
    for dir in [bin, up] {
        let cfg = format!("{dir}/pyvenv.cfg");
        if let Some(text) = read(&cfg) {
            return Some(parse_cfg(if dir.is_empty() { "/" } else { dir }, &text));
        }
    }
    None
}

fn parse_cfg(prefix: &str, text: &[u8]) -> Venv {
    let mut v = Venv {
        prefix: prefix.to_string(),
        home: None,
        system_site: false,
    };
    for line in String::from_utf8_lossy(text).lines() {
        let Some((k, val)) = line.split_once('=') else {
            continue;
        };
        match k.trim().to_ascii_lowercase().as_str() {
            "home" => v.home = Some(val.trim().trim_end_matches('/').to_string()),
            "include-system-site-packages" => {
                v.system_site = val.trim().eq_ignore_ascii_case("true")
            }
            _ => {}
        }
    }
    v
}

/// The prefixes whose `lib/pythonX.Y` (site-packages and all) the
/// interpreter invoked as `invoked` imports from: a venv's (and its base's
/// when it includes system site-packages), `PYTHONHOME`'s, and the user site
/// of `$HOME` (else /root) outside a venv. With the rule that keeps each.
fn prefixes(
    invoked: &str,
    env: &[String],
    read: &dyn Fn(&str) -> Option<Vec<u8>>,
) -> Vec<(String, String)> {
    let var = |k: &str| {
        env.iter()
            .find_map(|e| e.strip_prefix(k).and_then(|v| v.strip_prefix('=')))
            .filter(|v| v.starts_with('/'))
    };
    let mut out = Vec::new();
    if let Some(home) = var("PYTHONHOME") {
        // `PREFIX[:EXEC_PREFIX]`.
        for p in home.split(':').filter(|p| p.starts_with('/')) {
            out.push((p.trim_end_matches('/').to_string(), "PYTHONHOME".into()));
        }
    }
    match find_venv(invoked, read) {
        Some(v) => {
            out.push((v.prefix.clone(), format!("{}/pyvenv.cfg", v.prefix)));
            if let (true, Some(home)) = (v.system_site, &v.home) {
                if let Some((base, _)) = home.rsplit_once('/') {
                    out.push((base.to_string(), "include-system-site-packages".into()));
                }
            }
        }
        None if !env.iter().any(|e| {
            e.strip_prefix("PYTHONNOUSERSITE=")
                .is_some_and(|v| !v.is_empty())
        }) =>
        {
            let base = var("PYTHONUSERBASE")
                .map(String::from)
                .unwrap_or_else(|| format!("{}/.local", var("HOME").unwrap_or("/root")));
            out.push((base.trim_end_matches('/').to_string(), "user site".into()));
        }
        None => {}
    }
    out
}

/// Keeps, for a Python interpreter invoked as `invoked`, its venv's
/// `pyvenv.cfg` and `lib*/python*/` trees (site-packages, `.pth` files, the
/// `*.dist-info` entry points read), PYTHONHOME's and the user site's.
pub(super) fn keep_prefix(st: &mut State, invoked: &str, env: &[String]) -> bool {
    let name = invoked.rsplit('/').next().unwrap_or("");
    if !is_python(name) {
        return false;
    }
    let layers = st.layers;
    let read = |p: &str| layers.read(p, 1 << 16);
    let mut new = false;
    for (prefix, why) in prefixes(invoked, env, &read) {
        let reason = Reason::Rule {
            rule: "python-prefix".into(),
            trigger: invoked.to_string(),
            detail: Some(format!("sys.prefix {prefix} ({why})")),
        };
        if why.ends_with("pyvenv.cfg") {
            new |= st.keep(&why, reason.clone());
        }
        for lib in ["lib", "lib64"] {
            let dir = format!("{prefix}/{lib}");
            let key = dir.trim_start_matches('/').to_string();
            let Ok(r) = layers.tree.resolve(&key, true) else {
                continue;
            };
            if !layers.tree.get(&r.path).is_some_and(|n| n.is_dir()) {
                continue;
            }
            if r.path != key {
                // `lib64 -> lib`: the link, and the tree once through `lib`.
                new |= st.keep(&dir, reason.clone());
                continue;
            }
            let trees: Vec<String> = layers
                .tree
                .subtree(&r.path)
                .filter(|(p, n)| {
                    n.is_dir()
                        && p[r.path.len() + 1..].split('/').count() == 1
                        && p.rsplit('/')
                            .next()
                            .is_some_and(|b| b.starts_with("python"))
                })
                .map(|(p, _)| format!("/{p}"))
                .collect();
            for t in trees {
                // A system prefix's stdlib is the python rule's; here only its site dirs.
                let system =
                    crate::trace::SYSTEM_DIRS.contains(&prefix.as_str()) || prefix.is_empty();
                let dirs: Vec<String> = if system {
                    ["site-packages", "dist-packages"]
                        .iter()
                        .map(|s| format!("{t}/{s}"))
                        .collect()
                } else {
                    vec![t]
                };
                for d in dirs {
                    if layers
                        .tree
                        .get(d.trim_start_matches('/'))
                        .is_some_and(|n| n.is_dir())
                    {
                        new |= st.keep_tree(&d, &reason);
                    }
                }
            }
        }
    }
    new
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn fs(files: &[(&str, &str)]) -> BTreeMap<String, Vec<u8>> {
        files
            .iter()
            .map(|(p, c)| (p.to_string(), c.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn interpreter_names() {
        for n in ["python", "python3", "python3.12", "python3.13t"] {
            assert!(is_python(n), "{n}");
        }
        for n in ["python3-config", "pythonista", "ipython"] {
            assert!(!is_python(n), "{n}");
        }
    }

    #[test]
    fn pyvenv_cfg_beside_or_above_the_invoked_path() {
        let f = fs(&[(
            "/opt/venv/pyvenv.cfg",
            "home = /usr/local/bin\ninclude-system-site-packages = True\nversion = 3.12.1\n",
        )]);
        let read = |p: &str| f.get(p).cloned();
        let v = find_venv("/opt/venv/bin/python3", &read).unwrap();
        assert_eq!(v.prefix, "/opt/venv");
        assert_eq!(v.home.as_deref(), Some("/usr/local/bin"));
        assert!(v.system_site);
        // The symlink's target is not where Python looks.
        assert_eq!(find_venv("/usr/local/bin/python3", &read), None);
        assert_eq!(
            prefixes("/opt/venv/bin/python3", &[], &read),
            [
                ("/opt/venv".to_string(), "/opt/venv/pyvenv.cfg".to_string()),
                (
                    "/usr/local".to_string(),
                    "include-system-site-packages".to_string()
                )
            ]
        );
    }

    #[test]
    fn pythonhome_and_the_user_site() {
        let none = |_: &str| None;
        let env = [
            "PYTHONHOME=/opt/py".to_string(),
            "HOME=/home/app".to_string(),
        ];
        assert_eq!(
            prefixes("/usr/bin/python3", &env, &none),
            [
                ("/opt/py".to_string(), "PYTHONHOME".to_string()),
                ("/home/app/.local".to_string(), "user site".to_string())
            ]
        );
        assert_eq!(
            prefixes("/usr/bin/python3", &[], &none),
            [("/root/.local".to_string(), "user site".to_string())]
        );
        let env = ["PYTHONNOUSERSITE=1".to_string()];
        assert!(prefixes("/usr/bin/python3", &env, &none).is_empty());
    }
}
