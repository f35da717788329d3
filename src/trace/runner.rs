//! Package-script runners: `npm start`, `yarn run build`, `pnpm test`,
//! `npx next start`. They do not run the app themselves: they read the
//! script from the app's `package.json` and run it through `sh -c` (npm's
//! `script-shell`), with the package's `node_modules/.bin` first on PATH.
//! What the script runs is the real program; the shell is what a distroless
//! image lacks.

use serde_json::Value;

/// What a runner command line runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageScript {
    /// The runner as the command names it (`npm`, `yarn`, …).
    pub runner: String,
    /// What is run: `scripts.start`, `npm exec`.
    pub what: String,
    /// The directory of the package.json read (absolute).
    pub dir: String,
    /// The command strings run through `sh -c`, in order (pre-, the script, post-).
    pub commands: Vec<String>,
}

/// The runner a program path is: by its name, or the name of the file a
/// link leads to (`npm` → `npm-cli.js`).
pub fn runner_name(names: &[&str]) -> Option<&'static str> {
    for n in names {
        let base = n.rsplit('/').next().unwrap_or(n);
        let base = base
            .strip_suffix(".js")
            .or_else(|| base.strip_suffix(".cjs"))
            .unwrap_or(base);
        let base = base.strip_suffix("-cli").unwrap_or(base);
        for r in ["npm", "npx", "yarn", "yarnpkg", "pnpm", "pnpx"] {
            if base == r {
                return Some(match r {
                    "yarnpkg" => "yarn",
                    "pnpx" => "npx",
                    other => other,
                });
            }
        }
    }
    None
}

/// The script a runner's arguments name: `(script name, is an exec of a
/// command)`; options are skipped (`--prefix DIR` read by the caller).
fn subcommand(runner: &str, args: &[String]) -> Option<(String, bool)> {
    let words: Vec<&str> = {
        let mut w = Vec::new();
        let mut i = 0;
        while i < args.len() {
            let a = args[i].as_str();
            if a == "--" {
                w.extend(args[i + 1..].iter().map(String::as_str));
                break;
            }
            if a.starts_with('-') {
                // Options that take a value.
                if matches!(
                    a,
                    "--prefix" | "-C" | "--cwd" | "--dir" | "-w" | "--workspace"
                ) {
                    i += 1;
                }
                i += 1;
                continue;
            }
            w.push(a);
            i += 1;
        }
        w
    };
    if runner == "npx" {
        return words.first().map(|w| (w.to_string(), true));
    }
    let first = *words.first()?;
    match (runner, first) {
        (_, "start" | "stop" | "restart" | "test") => Some((first.to_string(), false)),
        ("npm", "t" | "tst") => Some(("test".into(), false)),
        (_, "run" | "run-script" | "rum" | "urn") => words.get(1).map(|s| (s.to_string(), false)),
        (_, "exec" | "x" | "dlx") => words.get(1).map(|s| (s.to_string(), true)),
        // `yarn build`, `pnpm build`: a script of that name.
        ("yarn" | "pnpm", s) => Some((s.to_string(), false)),
        _ => None,
    }
}

/// The option value `--prefix DIR` (npm), `--cwd DIR` (yarn), `-C`/`--dir DIR` (pnpm).
fn prefix(args: &[String]) -> Option<&str> {
    args.windows(2)
        .find(|w| matches!(w[0].as_str(), "--prefix" | "-C" | "--cwd" | "--dir"))
        .map(|w| w[1].as_str())
}

/// What `runner args…` run from `workdir` runs: the package.json found from
/// the directory up (as npm finds its prefix), read with `read`, its script
/// and the pre/post lifecycle scripts npm runs around it. None when the
/// command is no package-script run; a missing script (or package.json) is
/// an empty `commands`.
pub fn package_script(
    runner: &str,
    args: &[String],
    workdir: &str,
    read: &dyn Fn(&str) -> Option<Vec<u8>>,
) -> Option<PackageScript> {
    let (name, exec) = subcommand(runner, args)?;
    let start = match prefix(args) {
        Some(p) if p.starts_with('/') => p.to_string(),
        Some(p) => crate::rules::normalize(&format!("{}/{p}", workdir.trim_end_matches('/'))),
        None => workdir.to_string(),
    };
    let start = if start.is_empty() {
        "/".to_string()
    } else {
        start
    };
    let mut dir = start.clone();
    let (dir, pkg) = loop {
        let path = format!("{}/package.json", dir.trim_end_matches('/'));
        if let Some(v) = read(&path).and_then(|b| serde_json::from_slice::<Value>(&b).ok()) {
            break (dir, v);
        }
        if dir == "/" {
            // No package.json from there up: the runner fails, whatever it runs.
            return Some(PackageScript {
                runner: runner.into(),
                what: match exec {
                    true => format!("{runner} exec"),
                    false => format!("scripts.{name}"),
                },
                dir: start,
                commands: Vec::new(),
            });
        }
        dir = match dir.rsplit_once('/') {
            Some(("", _)) | None => "/".into(),
            Some((p, _)) => p.to_string(),
        };
    };
    if exec {
        // `npx CMD ARGS`, `npm exec -- CMD ARGS`: the command line, through sh -c.
        let rest: Vec<&String> = args.iter().skip_while(|a| **a != name).collect();
        let line: Vec<String> = rest.iter().map(|a| quote(a)).collect();
        return Some(PackageScript {
            runner: runner.into(),
            what: format!("{runner} exec"),
            dir,
            commands: vec![line.join(" ")],
        });
    }
    let scripts = &pkg["scripts"];
    let script = |n: &str| scripts[n].as_str().map(String::from);
    let mut commands = Vec::new();
    let main = script(&name).or_else(|| {
        // npm's default start: `node server.js` when the package has one.
        (name == "start" && read(&format!("{}/server.js", dir.trim_end_matches('/'))).is_some())
            .then(|| "node server.js".to_string())
    });
    if let Some(main) = main {
        commands.extend(script(&format!("pre{name}")));
        commands.push(main);
        commands.extend(script(&format!("post{name}")));
    }
    Some(PackageScript {
        runner: runner.into(),
        what: format!("scripts.{name}"),
        dir,
        commands,
    })
}

/// A word as sh would need it quoted.
fn quote(w: &str) -> String {
    if !w.is_empty()
        && w.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c))
    {
        w.to_string()
    } else {
        format!("'{}'", w.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn files(f: &[(&str, &str)]) -> BTreeMap<String, Vec<u8>> {
        f.iter()
            .map(|(p, c)| (p.to_string(), c.as_bytes().to_vec()))
            .collect()
    }

    fn run(
        runner: &str,
        args: &[&str],
        wd: &str,
        fs: &BTreeMap<String, Vec<u8>>,
    ) -> Option<PackageScript> {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        package_script(runner, &args, wd, &|p| fs.get(p).cloned())
    }

    #[test]
    fn runners_by_name_or_link_target() {
        assert_eq!(runner_name(&["/usr/local/bin/npm"]), Some("npm"));
        assert_eq!(
            runner_name(&["npm", "/usr/local/lib/node_modules/npm/bin/npm-cli.js"]),
            Some("npm")
        );
        assert_eq!(runner_name(&["/opt/yarn/bin/yarn.js"]), Some("yarn"));
        assert_eq!(runner_name(&["pnpm.cjs"]), Some("pnpm"));
        assert_eq!(runner_name(&["node", "/usr/bin/node"]), None);
    }

    #[test]
    fn scripts_found_from_the_workdir_up_with_lifecycle() {
        let fs = files(&[(
            "/app/package.json",
            r#"{"scripts":{"prestart":"node migrate.js","start":"node server.js --port 3000","build":"tsc"}}"#,
        )]);
        let s = run("npm", &["start"], "/app/src", &fs).unwrap();
        assert_eq!(s.dir, "/app");
        assert_eq!(s.what, "scripts.start");
        assert_eq!(
            s.commands,
            ["node migrate.js", "node server.js --port 3000"]
        );
        let s = run("npm", &["run", "--silent", "build"], "/app", &fs).unwrap();
        assert_eq!(s.commands, ["tsc"]);
        assert_eq!(
            run("yarn", &["build"], "/app", &fs).unwrap().commands,
            ["tsc"]
        );
        let s = run("npm", &["--prefix", "/app", "start"], "/", &fs).unwrap();
        assert_eq!(s.dir, "/app");
        assert!(run("npm", &["run", "nope"], "/app", &fs)
            .unwrap()
            .commands
            .is_empty());
        assert_eq!(run("npm", &["install"], "/app", &fs), None);
        let none = run("npm", &["start"], "/elsewhere", &BTreeMap::new()).unwrap();
        assert!(none.commands.is_empty(), "no package.json: nothing runs");
    }

    #[test]
    fn default_start_and_exec() {
        let fs = files(&[("/srv/package.json", "{}"), ("/srv/server.js", "")]);
        assert_eq!(
            run("npm", &["start"], "/srv", &fs).unwrap().commands,
            ["node server.js"]
        );
        let s = run("npx", &["next", "start", "-p", "80"], "/srv", &fs).unwrap();
        assert_eq!(s.commands, ["next start -p 80"]);
        let s = run("npm", &["exec", "--", "tsx", "a b.ts"], "/srv", &fs).unwrap();
        assert_eq!(s.commands, ["tsx 'a b.ts'"]);
    }
}
