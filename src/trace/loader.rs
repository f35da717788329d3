//! Library search as glibc's ld.so does it, inside the image root
//! (ld.so(8), "Rpath token expansion" and the search order):
//! DT_RPATH of the object and its loaders (only when the object has no
//! DT_RUNPATH), LD_LIBRARY_PATH, DT_RUNPATH, the ld.so.conf directories
//! (what /etc/ld.so.cache is built from), then the default directories.
//! Candidates of the wrong ELF class or machine are skipped, as ld.so does.
//!
//! Objects linked against musl (Alpine) are searched as musl's loader does
//! (`ldso/dynlink.c`, `load_library`): its own names (`libc.so`,
//! `libc.musl-*.so.1`, `libm.so`, `libpthread.so`, …) are the loader itself;
//! then LD_LIBRARY_PATH, the DT_RUNPATH (else DT_RPATH) of the object and of
//! every object that loaded it, then `/etc/ld-musl-ARCH.path`, else
//! `/lib:/usr/local/lib:/usr/lib`. No ld.so.conf, no cache.

use crate::elf::ElfInfo;
use crate::fs::Rootfs;
use crate::fs::Tree;
use std::collections::HashMap;
use std::io::Read;
use std::sync::{Arc, Mutex};

/// An ELF object found in the image.
#[derive(Debug, Clone)]
pub struct Object {
    /// The path it is loaded by (absolute, as searched or named).
    pub path: String,
    /// Its real path after following symlinks (absolute).
    pub real: String,
    /// Symlinks followed from `path` to `real` (absolute).
    pub hops: Vec<String>,
    pub info: Arc<ElfInfo>,
    /// What `$ORIGIN` expands to: the directory of the real path for a
    /// program (glibc reads /proc/self/exe) and of an object opened by path;
    /// the directory of the path a library was found by in a search (glibc
    /// keeps that name as given, without resolving symlinks).
    pub origin: String,
}

/// Reads ELF objects of an image and searches libraries like ld.so.
pub struct Loader<'a> {
    layers: &'a Rootfs,
    conf_dirs: Vec<String>,
    /// The image's musl loader and its system path, when it has one.
    musl: Option<Musl>,
    ld_library_path: Vec<String>,
    cache: Mutex<HashMap<String, Option<Arc<ElfInfo>>>>,
    /// Each distinct ElfInfo once: copies of one library (vendored in wheels,
    /// in every plugin directory) share it.
    distinct: Mutex<std::collections::HashSet<Arc<ElfInfo>>>,
    /// The imported symbols anything asks about (the rules' `imports`,
    /// `dlopen`): only these are kept of each object's imports. None: all.
    symbols: Option<std::collections::BTreeSet<String>>,
    /// ELF files that failed to parse: (path, problem).
    pub malformed: Mutex<Vec<(String, String)>>,
}

/// musl's dynamic loader in an image.
struct Musl {
    /// `/lib/ld-musl-ARCH.so.1`.
    ldso: String,
    /// Its library path: `/etc/ld-musl-ARCH.path`, else the built-in default.
    sys_path: Vec<String>,
}

impl Musl {
    fn find(layers: &Rootfs) -> Option<Musl> {
        let (paths, _) = crate::rules::glob(&layers.tree, "/lib/ld-musl-*.so.1");
        let ldso = abs(paths.first()?);
        let arch = ldso
            .strip_prefix("/lib/ld-musl-")?
            .strip_suffix(".so.1")?
            .to_string();
        let sys_path = layers
            .read(&format!("/etc/ld-musl-{arch}.path"), 1 << 16)
            .map(|b| {
                String::from_utf8_lossy(&b)
                    .split([':', '\n'])
                    .map(str::trim)
                    .filter(|d| d.starts_with('/'))
                    .map(String::from)
                    .collect::<Vec<_>>()
            })
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| vec!["/lib".into(), "/usr/local/lib".into(), "/usr/lib".into()]);
        Some(Musl { ldso, sys_path })
    }
}

/// musl resolves these to itself (`lib` + c, pthread, rt, m, dl, util or xnet + `.`).
fn musl_reserved(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("lib") else {
        return false;
    };
    ["c.", "pthread.", "rt.", "m.", "dl.", "util.", "xnet."]
        .iter()
        .any(|r| rest.starts_with(r))
}

fn abs(p: &str) -> String {
    format!("/{}", p.trim_start_matches('/'))
}

fn dirname(p: &str) -> &str {
    match p.rfind('/') {
        Some(0) => "/",
        Some(i) => &p[..i],
        None => ".",
    }
}

impl<'a> Loader<'a> {
    /// A loader for the image, with LD_LIBRARY_PATH from the image `env`.
    pub fn new(layers: &'a Rootfs, env: &[String]) -> Loader<'a> {
        let ld_library_path = env
            .iter()
            .find_map(|e| e.strip_prefix("LD_LIBRARY_PATH="))
            .map(|v| {
                v.split([':', ';'])
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default();
        let mut conf_dirs = Vec::new();
        read_conf(layers, "/etc/ld.so.conf", &mut conf_dirs, 0);
        Loader {
            musl: Musl::find(layers),
            layers,
            conf_dirs,
            ld_library_path,
            cache: Mutex::new(HashMap::new()),
            distinct: Mutex::new(std::collections::HashSet::new()),
            symbols: None,
            malformed: Mutex::new(Vec::new()),
        }
    }

    /// Keeps, of each object's imports, only `symbols` (what will be asked):
    /// a cached object then holds a few names, not its whole import table.
    pub fn keep_imports(mut self, symbols: std::collections::BTreeSet<String>) -> Loader<'a> {
        self.symbols = Some(symbols);
        self
    }

    pub fn tree(&self) -> &Tree {
        &self.layers.tree
    }

    /// What ld.so finds at a search candidate `path`: nothing, an ELF object,
    /// or a file it cannot load, which stops the search with an error (glibc's
    /// open_verify: "invalid ELF header", "file too short").
    fn probe(&self, path: &str) -> Result<Option<Object>, String> {
        let Ok(r) = self.tree().resolve(path, true) else {
            return Ok(None);
        };
        let Some(node) = self.tree().get(&r.path) else {
            return Ok(None);
        };
        if !node.is_file() {
            return Ok(None);
        }
        match self.object(path) {
            Some(o) => Ok(Some(o)),
            None if node.meta.size < 64 => Err(format!("{}: file too short", abs(path))),
            None => Err(format!("{}: invalid ELF header", abs(path))),
        }
    }

    /// Opens `path` as an ELF object (following symlinks). None when it does
    /// not exist, is not a regular file, or is not ELF.
    pub fn object(&self, path: &str) -> Option<Object> {
        let r = self.tree().resolve(path, true).ok()?;
        let info = self.elf_at(&r.path)?;
        let real = abs(&r.path);
        let origin = dirname(&real).to_string();
        Some(Object {
            path: abs(path),
            real,
            hops: r.hops.iter().map(|h| abs(h)).collect(),
            info,
            origin,
        })
    }

    /// Parses many files at once on all cores; results land in the cache.
    pub fn preload(&self, paths: &[&str]) {
        use rayon::prelude::*;
        paths.par_iter().for_each(|p| {
            self.elf_at(p);
        });
    }

    /// Sniffs every regular file of the image and parses every ELF, on all cores.
    pub fn preload_all(&self) {
        use rayon::prelude::*;
        self.tree()
            .iter()
            .filter(|(_, n)| n.is_file())
            .par_bridge()
            .for_each(|(p, _)| {
                self.elf_at(p);
            });
    }

    /// The ELF info of the regular file at resolved path `real` (cached; a
    /// file that is not ELF is not: sniffing it again costs one 4-byte read).
    pub fn elf_at(&self, real: &str) -> Option<Arc<ElfInfo>> {
        let key = real.trim_start_matches('/');
        if let Some(hit) = self.cache.lock().expect("not poisoned").get(key) {
            return hit.clone();
        }
        let node = self.tree().get(key)?;
        let section = self.layers.open(node)?;
        let mut magic = [0u8; 4];
        if section.clone().read_exact(&mut magic).is_err() || !crate::elf::is_elf(&magic) {
            return None;
        }
        let info = self.parse(key, section);
        self.cache
            .lock()
            .expect("not poisoned")
            .insert(key.to_string(), info.clone());
        info
    }

    fn parse(&self, key: &str, section: crate::fs::Section) -> Option<Arc<ElfInfo>> {
        // Only the headers, dynamic section and dynamic symbols are read.
        match ElfInfo::parse_ranges(&SectionRanges(section)) {
            Ok(i) => i.map(|mut i| {
                if let Some(keep) = &self.symbols {
                    i.imports.retain(|s| keep.contains(s));
                    i.imports.shrink_to_fit();
                }
                let mut distinct = self.distinct.lock().expect("not poisoned");
                match distinct.get(&i) {
                    Some(same) => same.clone(),
                    None => {
                        let a = Arc::new(i);
                        distinct.insert(a.clone());
                        a
                    }
                }
            }),
            Err(e) => {
                self.malformed
                    .lock()
                    .expect("not poisoned")
                    .push((abs(key), e.to_string()));
                None
            }
        }
    }

    /// Expands `$ORIGIN`, `$LIB` and `$PLATFORM` (and their `${…}` forms) in a
    /// search path entry of `obj`. Relative entries are relative to the
    /// process's working directory, which a static tracer cannot know: None.
    fn expand(&self, entry: &str, obj: &Object) -> Option<String> {
        let origin = obj.origin.as_str();
        let lib = match obj.info.multiarch() {
            Some(ma) => format!("lib/{ma}"),
            None if obj.info.class == 64 => "lib64".into(),
            None => "lib".into(),
        };
        let platform = match obj.info.machine_name().as_str() {
            "x86-64" => "x86_64".to_string(),
            m => m.to_string(),
        };
        let s = entry
            .replace("${ORIGIN}", origin)
            .replace("$ORIGIN", origin)
            .replace("${LIB}", &lib)
            .replace("$LIB", &lib)
            .replace("${PLATFORM}", &platform)
            .replace("$PLATFORM", &platform);
        s.starts_with('/').then_some(s)
    }

    /// Default directories for objects like `obj`: multiarch first (Debian), then the classic ones.
    fn default_dirs(&self, obj: &Object) -> Vec<String> {
        let mut v = Vec::new();
        if let Some(ma) = obj.info.multiarch() {
            v.push(format!("/lib/{ma}"));
            v.push(format!("/usr/lib/{ma}"));
        }
        if obj.info.class == 64 {
            v.push("/lib64".into());
            v.push("/usr/lib64".into());
        }
        v.push("/lib".into());
        v.push("/usr/lib".into());
        v
    }

    /// Finds DT_NEEDED `name` of `obj`. `loader_rpaths` are the DT_RPATH
    /// directories of the objects that loaded `obj`, nearest first (already
    /// expanded). `Err` when the search stops at a file ld.so cannot load.
    pub fn search(
        &self,
        name: &str,
        obj: &Object,
        loader_rpaths: &[String],
    ) -> Result<Option<Object>, String> {
        if name.contains('/') {
            // A path: used as is (relative ones are relative to the cwd, unknown here).
            return if name.starts_with('/') {
                self.candidate(name, obj)
            } else {
                Ok(None)
            };
        }
        if let Some(m) = self.musl_for(obj) {
            if musl_reserved(name) {
                return self.candidate(&m.ldso, obj);
            }
            let mut dirs: Vec<String> = self
                .ld_library_path
                .iter()
                .filter_map(|e| self.expand(e, obj))
                .collect();
            dirs.extend(self.own_rpath(obj));
            dirs.extend(loader_rpaths.iter().cloned());
            dirs.extend(m.sys_path.iter().cloned());
            return self.first_in(dirs, name, obj);
        }
        let mut dirs: Vec<String> = Vec::new();
        if obj.info.runpath.is_empty() {
            dirs.extend(obj.info.rpath.iter().filter_map(|e| self.expand(e, obj)));
            dirs.extend(loader_rpaths.iter().cloned());
        }
        dirs.extend(
            self.ld_library_path
                .iter()
                .filter_map(|e| self.expand(e, obj)),
        );
        dirs.extend(obj.info.runpath.iter().filter_map(|e| self.expand(e, obj)));
        dirs.extend(self.conf_dirs.iter().cloned());
        dirs.extend(self.default_dirs(obj));
        self.first_in(dirs, name, obj)
    }

    /// The first of `dirs` holding `name` ld.so can load.
    fn first_in(
        &self,
        dirs: Vec<String>,
        name: &str,
        obj: &Object,
    ) -> Result<Option<Object>, String> {
        let mut seen = std::collections::HashSet::new();
        for d in dirs {
            if !seen.insert(d.clone()) {
                continue;
            }
            let p = format!("{}/{name}", d.trim_end_matches('/'));
            if let Some(o) = self.candidate(&p, obj)? {
                return Ok(Some(o));
            }
        }
        Ok(None)
    }

    /// glibc-hwcaps variants of a library found in a search: objects of the
    /// same name under `DIR/glibc-hwcaps/*/` (glibc 2.33+), compatible with it.
    /// Which one ld.so loads depends on the CPU, so all of them are kept.
    pub fn hwcaps_variants(&self, found: &Object) -> Vec<Object> {
        let (dir, name) = (
            dirname(&found.path),
            found.path.rsplit('/').next().unwrap_or(""),
        );
        let pattern = format!("{}/glibc-hwcaps/*/{name}", dir.trim_end_matches('/'));
        let (paths, _) = crate::rules::glob(self.tree(), &pattern);
        paths
            .iter()
            .filter_map(|p| self.object(p))
            .filter(|o| o.info.compatible(&found.info) && o.real != found.real)
            .map(|mut o| {
                o.origin = dirname(&o.path).to_string();
                o
            })
            .collect()
    }

    /// The rpath directories `obj` passes on to the objects it loads: its
    /// DT_RPATH for glibc, its DT_RUNPATH (else DT_RPATH) for musl.
    pub fn rpaths_for_children(&self, obj: &Object, inherited: &[String]) -> Vec<String> {
        let mut v: Vec<String> = if self.musl_for(obj).is_some() {
            self.own_rpath(obj)
        } else {
            obj.info
                .rpath
                .iter()
                .filter_map(|e| self.expand(e, obj))
                .collect()
        };
        v.extend(inherited.iter().cloned());
        v
    }

    /// musl's rpath of an object: DT_RUNPATH when it has one, else DT_RPATH.
    fn own_rpath(&self, obj: &Object) -> Vec<String> {
        let entries = if obj.info.runpath.is_empty() {
            &obj.info.rpath
        } else {
            &obj.info.runpath
        };
        entries.iter().filter_map(|e| self.expand(e, obj)).collect()
    }

    /// The musl loader, when `obj` is linked against musl: its interpreter is
    /// musl's, or it needs musl's libc (`libc.musl-*.so.1`; `libc.so` is no
    /// glibc object's DT_NEEDED).
    fn musl_for(&self, obj: &Object) -> Option<&Musl> {
        let m = self.musl.as_ref()?;
        let musl = obj
            .info
            .interp
            .as_deref()
            .is_some_and(|i| i.contains("/ld-musl-"))
            || obj
                .info
                .needed
                .iter()
                .any(|n| n == "libc.so" || n.starts_with("libc.musl-"));
        musl.then_some(m)
    }

    /// A candidate of the wrong class or machine is skipped, as ld.so does.
    fn candidate(&self, path: &str, obj: &Object) -> Result<Option<Object>, String> {
        Ok(self
            .probe(path)?
            .filter(|o| obj.info.compatible(&o.info))
            .map(|mut o| {
                o.origin = dirname(&o.path).to_string();
                o
            }))
    }
}

/// Reads an ld.so.conf file: directory lines (separated by whitespace,
/// `:` or `,`), `include GLOB` lines (relative globs are relative to the
/// including file's directory), comments; `hwcap` lines are obsolete and ignored.
fn read_conf(layers: &Rootfs, path: &str, out: &mut Vec<String>, depth: usize) {
    if depth > 8 {
        return;
    }
    let Some(bytes) = layers.read(path, 1 << 20) else {
        return;
    };
    for line in String::from_utf8_lossy(&bytes).lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        if let Some(pattern) = line
            .strip_prefix("include")
            .filter(|r| r.starts_with([' ', '\t']))
        {
            for pat in pattern.split_whitespace() {
                let pat = if pat.starts_with('/') {
                    pat.to_string()
                } else {
                    format!("{}/{pat}", dirname(path))
                };
                for f in glob(&layers.tree, &pat) {
                    read_conf(layers, &f, out, depth + 1);
                }
            }
        } else if line.starts_with("hwcap") {
            continue;
        } else {
            for d in line
                .split([' ', '\t', ':', ','])
                .filter(|d| d.starts_with('/'))
            {
                let d = d.trim_end_matches('/').to_string();
                let d = if d.is_empty() { "/".to_string() } else { d };
                if !out.contains(&d) {
                    out.push(d);
                }
            }
        }
    }
}

/// Expands a glob whose last component may hold `*` and `?`, sorted as glob(3) does.
fn glob(tree: &Tree, pattern: &str) -> Vec<String> {
    let (dir, pat) = (
        dirname(pattern),
        &pattern[dirname(pattern).len()..].trim_start_matches('/'),
    );
    let Ok(r) = tree.resolve(dir, true) else {
        return Vec::new();
    };
    let prefix = if r.path.is_empty() {
        String::new()
    } else {
        format!("{}/", r.path)
    };
    let mut v: Vec<String> = tree
        .subtree(&r.path)
        .filter_map(|(p, _)| p.strip_prefix(&prefix))
        .filter(|name| !name.contains('/') && wildcard(pat, name))
        .map(|name| format!("{}/{name}", dir.trim_end_matches('/')))
        .collect();
    v.sort();
    v
}

/// `*` and `?` matching of a whole name; a leading dot must be matched literally.
fn wildcard(pat: &str, name: &str) -> bool {
    if name.starts_with('.') && !pat.starts_with('.') {
        return false;
    }
    crate::rules::component(pat, name)
}

/// A file's bytes in a layer, read by range.
struct SectionRanges(crate::fs::Section);

impl crate::elf::Ranges for SectionRanges {
    fn size(&self) -> u64 {
        self.0.len()
    }

    fn read(&self, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
        let mut v = Vec::with_capacity(len);
        self.0.sub(offset, len as u64).read_to_end(&mut v)?;
        if v.len() < len {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the file is shorter than its headers say",
            ));
        }
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(wildcard("*.conf", "libc.conf"));
        assert!(!wildcard("*.conf", "libc.conf.bak"));
        assert!(!wildcard("*.conf", ".hidden.conf"));
        assert!(wildcard("x86_64-?inux-gnu.conf", "x86_64-linux-gnu.conf"));
    }

    #[test]
    fn dirnames() {
        assert_eq!(dirname("/usr/lib/x.so"), "/usr/lib");
        assert_eq!(dirname("/x"), "/");
    }
}
