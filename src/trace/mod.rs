//! From the entrypoint to the set of files it needs, each with the reason
//! it is needed: the ELF loader closure, run-time rules, and the entrypoint
//! package's data.

mod app;
pub mod command;
mod jar;
mod launch;
pub mod loader;
mod package;
mod passes;
mod python;
mod reason;
mod run;
pub mod runner;
mod runtime;
pub mod shell;
mod state;

pub use crate::diagnostic::Diagnostic;
pub use app::SYSTEM_DIRS;
pub use command::{resolve_program, DEFAULT_PATH};
pub use loader::{Loader, Object};
pub use reason::Reason;
pub use run::{trace, TraceOptions};
pub use state::Trace;

use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// An edge of the dependency graph: `from` needs `name`, found at `to`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct Edge {
    pub from: String,
    /// `interp` for PT_INTERP, else the DT_NEEDED name.
    pub name: String,
    pub kind: EdgeKind,
    /// Real path of what was found; None when not found.
    pub to: Option<String>,
    /// Why the loader would fail here, when it finds a file it cannot load.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum EdgeKind {
    Interpreter,
    Needed,
    /// A glibc-hwcaps variant of a DT_NEEDED library (`DIR/glibc-hwcaps/x86-64-v3/NAME`),
    /// which ld.so prefers on CPUs of that level: kept beside the baseline.
    Hwcaps,
}

/// The ELF closure of some roots.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Closure {
    /// Every object, by real path, with the paths it was loaded by.
    pub objects: BTreeMap<String, BTreeSet<String>>,
    pub edges: Vec<Edge>,
    /// Symlinks followed on the way (keep them and their targets), with the
    /// real path each led to.
    pub symlinks: BTreeMap<String, String>,
}

impl Closure {
    /// Edges whose library was not found.
    pub fn missing(&self) -> impl Iterator<Item = &Edge> {
        self.edges.iter().filter(|e| e.to.is_none())
    }
}

/// Follows PT_INTERP and DT_NEEDED from `roots` (paths in the image) as
/// ld.so would load them: breadth first, each name loaded once (the first
/// object found for a DT_NEEDED name satisfies later requests of that name,
/// as ld.so matches already-loaded objects by name).
pub fn elf_closure(loader: &Loader, roots: &[Object]) -> Closure {
    let mut c = Closure::default();
    let mut by_name: BTreeMap<String, Result<Option<Object>, String>> = BTreeMap::new();
    let mut queue: VecDeque<(Object, Vec<String>)> = VecDeque::new();
    for r in roots {
        note(&mut c, r);
        queue.push_back((r.clone(), Vec::new()));
    }
    // ld.so satisfies a DT_NEEDED from objects already loaded, matched by
    // soname, before searching: a plugin needing libjvm.so finds the one its
    // host loaded. Roots (programs, and libraries a host dlopens) are loaded first.
    for r in roots {
        if let Some(so) = &r.info.soname {
            by_name
                .entry(so.clone())
                .or_insert_with(|| Ok(Some(r.clone())));
        }
    }
    let mut done: BTreeSet<String> = BTreeSet::new();
    while let Some((obj, inherited)) = queue.pop_front() {
        if !done.insert(obj.real.clone()) {
            continue;
        }
        if let Some(interp) = &obj.info.interp {
            let found = loader.object(interp);
            c.edges.push(Edge {
                from: obj.real.clone(),
                name: interp.clone(),
                kind: EdgeKind::Interpreter,
                to: found.as_ref().map(|o| o.real.clone()),
                problem: None,
            });
            if let Some(o) = found {
                note(&mut c, &o);
                queue.push_back((o, Vec::new()));
            }
        }
        let child_rpaths = loader.rpaths_for_children(&obj, &inherited);
        for name in &obj.info.needed {
            let found = by_name
                .entry(name.clone())
                .or_insert_with(|| loader.search(name, &obj, &inherited))
                .clone();
            let (found, problem) = match found {
                Ok(f) => (f, None),
                Err(p) => (None, Some(p)),
            };
            c.edges.push(Edge {
                from: obj.real.clone(),
                name: name.clone(),
                kind: EdgeKind::Needed,
                to: found.as_ref().map(|o| o.real.clone()),
                problem,
            });
            if let Some(o) = found {
                for alt in loader.hwcaps_variants(&o) {
                    c.edges.push(Edge {
                        from: obj.real.clone(),
                        name: name.clone(),
                        kind: EdgeKind::Hwcaps,
                        to: Some(alt.real.clone()),
                        problem: None,
                    });
                    note(&mut c, &alt);
                    queue.push_back((alt, child_rpaths.clone()));
                }
                note(&mut c, &o);
                queue.push_back((o, child_rpaths.clone()));
            }
        }
    }
    c
}

fn note(c: &mut Closure, o: &Object) {
    c.objects
        .entry(o.real.clone())
        .or_default()
        .insert(o.path.clone());
    for h in &o.hops {
        c.symlinks
            .entry(h.clone())
            .or_insert_with(|| o.real.clone());
    }
}
