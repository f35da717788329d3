//! The state every pass of the trace reads and extends: what is kept (with
//! why), the ELF roots still to close over, and a cache of the strings of
//! scanned files. The passes (`passes.rs`, over `app`, `package`, `runtime`)
//! take `&mut State` and say whether they added anything; `run` drives them
//! to the fixed point.

use super::package::absolute_strings;
use super::{Loader, Object, Reason};
use crate::diagnostic::Diagnostic;
use crate::fs::Rootfs;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

pub(super) struct State<'a> {
    pub(super) layers: &'a Rootfs,
    pub(super) loader: Loader<'a>,
    pub(super) t: Trace,
    pub(super) roots: Vec<Object>,
    pub(super) root_set: BTreeSet<String>,
    /// Absolute paths among a file's strings, by real path: a big program
    /// (node is 120 MB) is scanned once for compiled-in and dlopen paths.
    pub(super) strings: std::collections::HashMap<String, std::rc::Rc<BTreeSet<String>>>,
    /// What runs and what it loads by name, whose packages' data is kept.
    pub(super) related: Vec<String>,
    /// Whether package data is due again (something new in `related`).
    pub(super) packages_due: bool,
}

impl State<'_> {
    /// A data file: a regular file that is neither executable nor ELF (what
    /// package data, config references and compiled-in paths may keep; ELF
    /// files are kept only when traced, executables only when run).
    pub(super) fn is_data_file(&self, real: &str, node: &crate::fs::Node) -> bool {
        node.is_file() && node.meta.mode & 0o111 == 0 && self.loader.elf_at(real).is_none()
    }

    /// The absolute paths among the strings of the file at `path` (see [`absolute_strings`]).
    pub(super) fn strings_of(&mut self, path: &str) -> Option<std::rc::Rc<BTreeSet<String>>> {
        let real = self.layers.tree.resolve(path, true).ok()?.path;
        if let Some(s) = self.strings.get(&real) {
            return Some(s.clone());
        }
        let node = self.layers.tree.get(&real)?;
        let found = std::rc::Rc::new(absolute_strings(self.layers.open(node)?).ok()?);
        self.strings.insert(real, found.clone());
        Some(found)
    }

    /// Keeps `path` (absolute, as named) for `reason`; a symlink also keeps
    /// every hop and its target. Returns true when something new was kept.
    pub(super) fn keep(&mut self, path: &str, reason: Reason) -> bool {
        let tree = &self.layers.tree;
        let Ok(r) = tree.resolve(path, false) else {
            return false;
        };
        let here = format!("/{}", r.path);
        let mut new = false;
        // Directories on the way that are symlinks (merged /usr) are hops too.
        for h in &r.hops {
            new |= self.insert(&format!("/{h}"), Reason::SymlinkHop { of: here.clone() });
        }
        new |= self.insert(&here, reason.clone());
        if tree
            .get(&r.path)
            .is_some_and(|n| n.symlink_target().is_some())
        {
            if let Ok(full) = tree.resolve(&r.path, true) {
                let target = format!("/{}", full.path);
                for h in &full.hops {
                    new |= self.insert(&format!("/{h}"), Reason::SymlinkHop { of: target.clone() });
                }
                if tree.get(&full.path).is_some() {
                    new |= self.insert(&target, reason);
                }
            }
        }
        new
    }

    pub(super) fn insert(&mut self, path: &str, reason: Reason) -> bool {
        if self.t.kept.contains_key(path) {
            return false;
        }
        self.t.kept.insert(path.to_string(), reason);
        // An ELF program or library kept for any reason is traced too.
        if let Some(o) = self.loader.object(path) {
            if o.info.kind != goblin::elf::header::ET_REL && self.root_set.insert(o.real.clone()) {
                self.roots.push(o);
            }
        }
        true
    }
}

/// The result: every kept path with its reason.
#[derive(Debug, Default, Serialize)]
pub struct Trace {
    /// The program argv[0] resolves to, if found.
    pub entrypoint: Option<String>,
    /// The program the HEALTHCHECK runs (real path), if found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<String>,
    /// A command that needs a shell (`sh -c "…"`, `npm start`) as the exec
    /// form that runs the same without one, when it is one plain command.
    #[serde(skip)]
    pub exec_form: Option<Vec<String>>,
    /// A `CMD-SHELL` HEALTHCHECK's exec form, when its command is one plain
    /// command (what runs it without a shell).
    #[serde(skip)]
    pub healthcheck_exec: Option<Vec<String>>,
    pub closure: super::Closure,
    /// Absolute path → the first reason it was kept for.
    pub kept: BTreeMap<String, Reason>,
    pub diagnostics: Vec<Diagnostic>,
    /// Packages whose data was kept, in the order found.
    pub packages: Vec<String>,
    /// Paths the command line names that exist in the image (the result must have them).
    pub named: BTreeSet<String>,
    /// The application's own trees, kept whole.
    pub app_roots: Vec<String>,
    /// Files the program will create (named in its config or compiled in, not
    /// in the image) → the directory they go in (real path): what it writes.
    pub creates: BTreeMap<String, String>,
}

impl Trace {
    /// The chain of reasons from `path` back to the entrypoint; empty when `path` is not kept.
    pub fn explain(&self, path: &str) -> Vec<(String, Reason)> {
        let mut out = Vec::new();
        let mut cur = path.to_string();
        let mut seen = BTreeSet::new();
        while let Some(r) = self.kept.get(&cur) {
            if !seen.insert(cur.clone()) {
                break;
            }
            out.push((cur.clone(), r.clone()));
            match r.parent() {
                Some(p) => cur = p.to_string(),
                None => break,
            }
        }
        out
    }

    /// Regular files kept and their bytes (hardlinked data counted once).
    pub fn size(&self, tree: &crate::fs::Tree) -> (usize, u64) {
        let mut seen = BTreeSet::new();
        let (mut n, mut bytes) = (0, 0);
        for p in self.kept.keys() {
            if let Some(node) = tree.get(p) {
                if let crate::fs::Kind::File { data, .. } = node.kind {
                    if seen.insert(data) {
                        n += 1;
                        bytes += node.meta.size;
                    }
                }
            }
        }
        (n, bytes)
    }
}
