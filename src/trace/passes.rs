//! The passes the trace repeats to its fixed point, each a [`Pass`] over the
//! one [`State`]: the ELF closure, the run-time rules, dlopen by path and by
//! soname, Python's `.pth` files, package data (and, once, the programs'
//! compiled-in paths); then what a probe observed, once nothing else adds.

use super::launch::names_shell;
use super::package::{compiled_in, package_data};
use super::runtime::apply_rules;
use super::state::State;
use super::{elf_closure, EdgeKind, Reason};
use crate::catalog::Catalog;
use crate::rules::Rules;
use std::collections::{BTreeMap, BTreeSet};

/// One pass of the trace.
pub(super) trait Pass {
    /// What it follows, as the round cap's warning names it.
    fn name(&self) -> &'static str;
    /// Runs once more over the state; true when it kept anything new.
    fn run(&mut self, st: &mut State) -> bool;
}

/// Runs `passes` in rounds until one keeps nothing new, then `settle` (each
/// of which may start more rounds), at most `max` rounds. Returns None at
/// the fixed point, else the passes still adding in the last round.
pub(super) fn fixed_point(
    st: &mut State,
    passes: &mut [&mut dyn Pass],
    settle: &mut [&mut dyn Pass],
    max: usize,
) -> Option<Vec<&'static str>> {
    let mut adding = Vec::new();
    for _ in 0..max {
        adding.clear();
        for p in passes.iter_mut() {
            if p.run(st) {
                adding.push(p.name());
            }
        }
        if adding.is_empty() {
            for p in settle.iter_mut() {
                if p.run(st) {
                    adding.push(p.name());
                }
            }
        }
        if adding.is_empty() {
            return None;
        }
    }
    Some(adding)
}

/// The ELF closure of the roots (PT_INTERP, DT_NEEDED, hwcaps variants):
/// each object kept by the path the loader finds it at, hops included.
pub(super) struct Closure;

impl Pass for Closure {
    fn name(&self) -> &'static str {
        "the ELF closure"
    }

    fn run(&mut self, st: &mut State) -> bool {
        let mut new = false;
        let closure = elf_closure(&st.loader, &st.roots);
        for e in &closure.edges {
            let Some(to) = &e.to else { continue };
            let reason = match e.kind {
                EdgeKind::Interpreter => Reason::Interpreter { of: e.from.clone() },
                EdgeKind::Needed | EdgeKind::Hwcaps => Reason::ElfNeeded {
                    by: e.from.clone(),
                    name: e.name.clone(),
                },
            };
            // Keep the path it was loaded by (with its hops), then the real file.
            for loaded_by in closure.objects.get(to).into_iter().flatten() {
                new |= st.keep(loaded_by, reason.clone());
            }
            new |= st.keep(to, reason);
        }
        st.t.closure = closure;
        new
    }
}

/// The run-time rules (NSS, gconv, OpenSSL, the JVM, Python, …), each firing once per trigger.
pub(super) struct RunTimeRules<'a> {
    pub rules: &'a Rules,
    pub catalog: &'a Catalog,
    pub fired: BTreeSet<(String, String)>,
}

impl Pass for RunTimeRules<'_> {
    fn name(&self) -> &'static str {
        "the run-time rules"
    }

    fn run(&mut self, st: &mut State) -> bool {
        apply_rules(st, self.rules, self.catalog, &mut self.fired)
    }
}

/// Libraries kept objects dlopen by path or by soname; their packages'
/// data is then due again (fontconfig's /etc/fonts).
#[derive(Default)]
pub(super) struct Dlopen {
    pub scanned: BTreeSet<String>,
}

impl Pass for Dlopen {
    fn name(&self) -> &'static str {
        "dlopen by path and soname"
    }

    fn run(&mut self, st: &mut State) -> bool {
        let mut dlopened = Vec::new();
        let new = super::app::dlopen_paths(st, &mut self.scanned, &mut dlopened);
        if !dlopened.is_empty() {
            st.related.extend(dlopened);
            st.packages_due = true;
        }
        new
    }
}

/// What Python's kept `.pth` files add to its path.
#[derive(Default)]
pub(super) struct Pth {
    pub done: BTreeSet<String>,
}

impl Pass for Pth {
    fn name(&self) -> &'static str {
        "Python .pth files"
    }

    fn run(&mut self, st: &mut State) -> bool {
        super::app::pth_paths(st, &mut self.done)
    }
}

/// The data of the packages that own what runs (when due), and once, the
/// paths compiled into the programs the container starts.
pub(super) struct PackageData<'a> {
    pub rules: &'a Rules,
    pub catalog: &'a Catalog,
    /// The programs the container starts (not their interpreters).
    pub launched: Vec<String>,
    pub compiled_done: bool,
}

impl Pass for PackageData<'_> {
    fn name(&self) -> &'static str {
        "package data"
    }

    fn run(&mut self, st: &mut State) -> bool {
        if !st.packages_due {
            return false;
        }
        st.packages_due = false;
        let related = std::mem::take(&mut st.related);
        let mut new = package_data(st, self.catalog, self.rules, &related);
        st.related = related;
        if !self.compiled_done {
            self.compiled_done = true;
            for p in &self.launched {
                new |= compiled_in(st, self.rules, p);
                names_shell(st, p);
            }
        }
        new
    }
}

/// The files a probe saw the container open, kept after the static trace's
/// fixed point (so what the trace reaches keeps its own reason).
pub(super) struct Observed<'a> {
    pub observed: &'a BTreeMap<String, String>,
    pub done: bool,
}

impl Pass for Observed<'_> {
    fn name(&self) -> &'static str {
        "what a probe observed"
    }

    fn run(&mut self, st: &mut State) -> bool {
        if std::mem::replace(&mut self.done, true) {
            return false;
        }
        let mut new = false;
        for (p, probe) in self.observed {
            new |= st.keep(
                p,
                Reason::Observed {
                    probe: probe.clone(),
                },
            );
        }
        new
    }
}
