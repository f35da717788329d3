//! The only place that parses ELF. Everything the tracer needs from an
//! object, read with goblin into one small owned type.

use goblin::elf::{header, Elf};

/// What the dynamic loader and the tracer need to know of an ELF object.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ElfInfo {
    /// 32 or 64.
    pub class: u8,
    /// `e_machine` (EM_X86_64 = 62, EM_AARCH64 = 183, EM_386 = 3, …).
    pub machine: u16,
    /// ET_EXEC, ET_DYN, …
    pub kind: u16,
    /// PT_INTERP: the program interpreter (dynamic loader).
    pub interp: Option<String>,
    pub soname: Option<String>,
    /// DT_NEEDED, in order.
    pub needed: Vec<String>,
    /// DT_RPATH entries (colon lists split).
    pub rpath: Vec<String>,
    /// DT_RUNPATH entries (colon lists split).
    pub runpath: Vec<String>,
    /// Undefined dynamic symbols (what the object imports), sorted.
    pub imports: Vec<String>,
}

/// Why a file that starts like ELF could not be read as one.
#[derive(Debug, thiserror::Error)]
#[error("malformed ELF: {0}")]
pub struct Error(String);

/// `\x7fELF`
pub const MAGIC: &[u8; 4] = b"\x7fELF";

/// The number of dynamic symbols the hash tables cover, for an object
/// without section headers (as goblin and readelf count them).
fn hashed_symbols(
    r: &dyn Ranges,
    dynamic: &goblin::elf::dynamic::Dynamic,
    le: goblin::container::Endian,
    big: bool,
) -> Result<u64, Error> {
    let u32_at = |off: u64| -> Result<u64, Error> {
        let b = region(r, "a hash table", off, 4)?;
        let a: [u8; 4] = b.try_into().expect("4 bytes");
        Ok(u64::from(if le.is_little() {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        }))
    };
    let di = &dynamic.info;
    if let Some(g) = di.gnu_hash {
        let (buckets, min_chain, bloom) = (u32_at(g)?, u32_at(g + 4)?, u32_at(g + 8)?);
        if buckets == 0 || min_chain == 0 || bloom == 0 || buckets > (1 << 24) {
            return Err(Error("malformed DT_GNU_HASH".into()));
        }
        let buckets_at = g + 16 + bloom * if big { 8 } else { 4 };
        let mut max_chain = 0;
        for b in 0..buckets {
            max_chain = max_chain.max(u32_at(buckets_at + b * 4)?);
        }
        if max_chain < min_chain {
            return Ok(0);
        }
        let mut at = buckets_at + buckets * 4 + (max_chain - min_chain) * 4;
        loop {
            let hash = u32_at(at)?;
            max_chain += 1;
            at += 4;
            if hash & 1 != 0 {
                return Ok(max_chain);
            }
            if max_chain > (1 << 24) {
                return Err(Error("malformed DT_GNU_HASH chain".into()));
            }
        }
    }
    match di.hash {
        Some(hsh) => u32_at(hsh + 4),
        None => Ok(0),
    }
}

/// True when `bytes` start with the ELF magic.
pub fn is_elf(bytes: &[u8]) -> bool {
    bytes.starts_with(MAGIC)
}

/// Random access to an object's bytes: slim reads only the parts the loader
/// needs (headers, the dynamic section, the dynamic symbols and strings), never
/// a whole 100 MB binary.
pub trait Ranges {
    /// The object's size in bytes.
    fn size(&self) -> u64;
    /// `len` bytes at `offset` (an error when the object is shorter).
    fn read(&self, offset: u64, len: usize) -> std::io::Result<Vec<u8>>;
}

impl Ranges for &[u8] {
    fn size(&self) -> u64 {
        self.len() as u64
    }

    fn read(&self, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        start
            .checked_add(len)
            .and_then(|end| self.get(start..end))
            .map(<[u8]>::to_vec)
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "past the end"))
    }
}

/// No table the loader reads is larger than this; a header that says so is malformed.
const MAX_TABLE: u64 = 256 << 20;

fn region(r: &dyn Ranges, what: &str, offset: u64, len: u64) -> Result<Vec<u8>, Error> {
    if len > MAX_TABLE || !offset.checked_add(len).is_some_and(|end| end <= r.size()) {
        return Err(Error(format!(
            "{what} ({len} bytes at offset {offset}) lies outside the {}-byte file",
            r.size()
        )));
    }
    r.read(offset, len as usize)
        .map_err(|e| Error(format!("reading {what}: {e}")))
}

fn bad(e: goblin::error::Error) -> Error {
    Error(e.to_string())
}

impl ElfInfo {
    /// Parses an ELF object. `Ok(None)` for a file that is not ELF at all.
    pub fn parse(bytes: &[u8]) -> Result<Option<ElfInfo>, Error> {
        Self::parse_ranges(&bytes)
    }

    /// Parses an ELF object reading only the ranges the loader needs.
    pub fn parse_ranges(r: &dyn Ranges) -> Result<Option<ElfInfo>, Error> {
        use goblin::container::{Container, Ctx, Endian};
        use goblin::elf::dynamic::{Dynamic, DT_RPATH, DT_RUNPATH};
        use goblin::elf::program_header::{ProgramHeader, PT_DYNAMIC, PT_INTERP};
        use goblin::elf::section_header::{SectionHeader, SHT_DYNSYM};
        use goblin::elf::sym::Sym;
        use goblin::strtab::Strtab;
        if r.size() < 4 {
            return Ok(None);
        }
        let head = region(r, "the ELF header", 0, r.size().min(64))?;
        if !is_elf(&head) {
            return Ok(None);
        }
        let h = Elf::parse_header(&head).map_err(bad)?;
        let container = match h.e_ident[header::EI_CLASS] {
            header::ELFCLASS64 => Container::Big,
            header::ELFCLASS32 => Container::Little,
            c => return Err(Error(format!("unknown ELF class {c}"))),
        };
        let le = Endian::from(h.e_ident[header::EI_DATA] == header::ELFDATA2LSB);
        let ctx = Ctx::new(container, le);
        let phnum = usize::from(h.e_phnum);
        let ph = region(
            r,
            "the program headers",
            h.e_phoff,
            u64::from(h.e_phentsize) * phnum as u64,
        )?;
        let phdrs = ProgramHeader::parse(&ph, 0, phnum, ctx).map_err(bad)?;
        let mut interp = None;
        if let Some(p) = phdrs.iter().find(|p| p.p_type == PT_INTERP) {
            let b = region(r, "PT_INTERP", p.p_offset, p.p_filesz)?;
            let s = b.split(|c| *c == 0).next().unwrap_or(&[]);
            interp = std::str::from_utf8(s).ok().map(String::from);
        }
        let mut info = ElfInfo {
            class: if container.is_big() { 64 } else { 32 },
            machine: h.e_machine,
            kind: h.e_type,
            interp,
            soname: None,
            needed: Vec::new(),
            rpath: Vec::new(),
            runpath: Vec::new(),
            imports: Vec::new(),
        };
        let Some(dynamic_at) = phdrs.iter().position(|p| p.p_type == PT_DYNAMIC) else {
            return Ok(Some(info));
        };
        let p = &phdrs[dynamic_at];
        let dyn_bytes = region(r, "the dynamic section", p.p_offset, p.p_filesz)?;
        // Dynamic::parse reads PT_DYNAMIC at its offset in the bytes given, and
        // maps addresses to file offsets through the PT_LOAD headers.
        let mut here = phdrs.clone();
        here[dynamic_at].p_offset = 0;
        let Some(dynamic) = Dynamic::parse(&dyn_bytes, &here, ctx).map_err(bad)? else {
            return Ok(Some(info));
        };
        let di = &dynamic.info;
        let str_bytes = region(r, "the dynamic strings", di.strtab as u64, di.strsz as u64)?;
        let strtab = Strtab::parse(&str_bytes, 0, str_bytes.len(), 0).map_err(bad)?;
        let get = |at: usize| strtab.get_at(at).map(String::from);
        if di.soname != 0 {
            info.soname = get(di.soname);
        }
        info.needed = dynamic
            .get_libraries(&strtab)
            .into_iter()
            .map(String::from)
            .collect();
        for d in &dynamic.dyns {
            let list = match d.d_tag {
                DT_RPATH => &mut info.rpath,
                DT_RUNPATH => &mut info.runpath,
                _ => continue,
            };
            if let Some(v) = get(d.d_val as usize) {
                list.extend(v.split(':').filter(|s| !s.is_empty()).map(String::from));
            }
        }
        // The dynamic symbols: as many as the section header says, else the hash tables.
        let sym_size = Sym::size(container) as u64;
        let mut count = None;
        if h.e_shoff != 0 && h.e_shnum > 0 {
            let shnum = usize::from(h.e_shnum);
            let sh = region(
                r,
                "the section headers",
                h.e_shoff,
                u64::from(h.e_shentsize) * shnum as u64,
            )?;
            // parse_from: `parse` takes offset 0 for "no section headers".
            let shdrs = SectionHeader::parse_from(&sh, 0, shnum, ctx).map_err(bad)?;
            count = shdrs.iter().find(|s| s.sh_type == SHT_DYNSYM).map(|s| {
                let entry = if s.sh_entsize == 0 {
                    sym_size
                } else {
                    s.sh_entsize
                };
                s.sh_size / entry
            });
        }
        let count = match count {
            Some(c) => c,
            None => hashed_symbols(r, &dynamic, le, container.is_big())?,
        };
        let sym_bytes = region(r, "the dynamic symbols", di.symtab as u64, count * sym_size)?;
        let syms = Sym::parse(&sym_bytes, 0, count as usize, ctx).map_err(bad)?;
        let mut imports: Vec<String> = syms
            .iter()
            .filter(|s| s.st_shndx == 0 && s.st_name != 0)
            .filter_map(|s| strtab.get_at(s.st_name))
            .map(|n| n.split('@').next().unwrap_or(n).to_string())
            .collect();
        imports.sort();
        imports.dedup();
        info.imports = imports;
        Ok(Some(info))
    }

    /// True when the object imports `symbol`.
    pub fn imports(&self, symbol: &str) -> bool {
        self.imports
            .binary_search_by(|s| s.as_str().cmp(symbol))
            .is_ok()
    }

    /// Whether `other` can be loaded into a process of this object (same class and machine).
    pub fn compatible(&self, other: &ElfInfo) -> bool {
        self.class == other.class && self.machine == other.machine
    }

    /// The Debian multiarch tuple of this object's architecture, for library directories.
    pub fn multiarch(&self) -> Option<&'static str> {
        Some(match (self.machine, self.class) {
            (header::EM_X86_64, 64) => "x86_64-linux-gnu",
            (header::EM_X86_64, 32) => "x86_64-linux-gnux32",
            (header::EM_386, _) => "i386-linux-gnu",
            (header::EM_AARCH64, _) => "aarch64-linux-gnu",
            (header::EM_ARM, _) => "arm-linux-gnueabihf",
            (header::EM_PPC64, _) => "powerpc64le-linux-gnu",
            (header::EM_S390, _) => "s390x-linux-gnu",
            (header::EM_RISCV, 64) => "riscv64-linux-gnu",
            (header::EM_MIPS, 64) => "mips64el-linux-gnuabi64",
            _ => return None,
        })
    }

    /// A short name of the machine, for messages.
    pub fn machine_name(&self) -> String {
        match self.machine {
            header::EM_X86_64 => "x86-64".into(),
            header::EM_386 => "i386".into(),
            header::EM_AARCH64 => "aarch64".into(),
            header::EM_ARM => "arm".into(),
            m => format!("machine {m}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What goblin's whole-file parse says (the reader slim had before).
    fn whole(bytes: &[u8]) -> Option<ElfInfo> {
        let elf = Elf::parse(bytes).ok()?;
        let split = |v: &[&str]| -> Vec<String> {
            v.iter()
                .flat_map(|s| s.split(':'))
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect()
        };
        let mut imports: Vec<String> = elf
            .dynsyms
            .iter()
            .filter(|s| s.st_shndx == 0 && s.st_name != 0)
            .filter_map(|s| elf.dynstrtab.get_at(s.st_name))
            .map(|n| n.split('@').next().unwrap_or(n).to_string())
            .collect();
        imports.sort();
        imports.dedup();
        Some(ElfInfo {
            class: if elf.is_64 { 64 } else { 32 },
            machine: elf.header.e_machine,
            kind: elf.header.e_type,
            interp: elf.interpreter.map(String::from),
            soname: elf.soname.map(String::from),
            needed: elf.libraries.iter().map(|s| s.to_string()).collect(),
            rpath: split(&elf.rpaths),
            runpath: split(&elf.runpaths),
            imports,
        })
    }

    /// Reading only the loader's ranges gives what the whole-file parse gives,
    /// for every ELF file of this machine's library and program directories.
    #[test]
    fn ranges_agree_with_the_whole_file_parse_on_this_machine() {
        let mut n = 0;
        for dir in [
            "/usr/lib/x86_64-linux-gnu",
            "/usr/bin",
            "/usr/lib/jvm",
            "/usr/libexec",
        ] {
            let mut todo = vec![std::path::PathBuf::from(dir)];
            while let Some(d) = todo.pop() {
                let Ok(entries) = std::fs::read_dir(&d) else {
                    continue;
                };
                for e in entries.flatten() {
                    let (p, t) = (e.path(), e.file_type().unwrap());
                    if t.is_dir() {
                        todo.push(p);
                        continue;
                    }
                    if !t.is_file() {
                        continue;
                    }
                    let Ok(bytes) = std::fs::read(&p) else {
                        continue;
                    };
                    if !is_elf(&bytes) {
                        continue;
                    }
                    let Some(want) = whole(&bytes) else { continue };
                    let got =
                        ElfInfo::parse(&bytes).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
                    assert_eq!(got.as_ref(), Some(&want), "{}", p.display());
                    n += 1;
                }
            }
        }
        assert!(n > 200, "only {n} ELF files compared");
    }

    /// Without section headers (`sstrip`ped), the hash tables count the symbols.
    #[test]
    fn objects_without_section_headers_count_symbols_by_their_hash_tables() {
        for f in [
            "/usr/lib/x86_64-linux-gnu/libc.so.6",
            "/bin/ls",
            "/usr/lib/x86_64-linux-gnu/libz.so.1",
        ] {
            let Ok(mut b) = std::fs::read(f) else {
                continue;
            };
            let want = whole(&b).unwrap();
            b[0x28..0x30].fill(0); // e_shoff
            b[0x3c..0x40].fill(0); // e_shnum, e_shstrndx
            assert_eq!(ElfInfo::parse(&b).unwrap().unwrap(), want, "{f}");
        }
    }

    #[test]
    fn non_elf_is_none_and_truncated_elf_is_an_error() {
        assert!(ElfInfo::parse(b"#!/bin/sh\n").unwrap().is_none());
        assert!(ElfInfo::parse(b"").unwrap().is_none());
        let mut trunc = b"\x7fELF\x02\x01\x01".to_vec();
        trunc.resize(20, 0);
        assert!(ElfInfo::parse(&trunc).is_err());
    }

    #[test]
    fn truncated_and_corrupted_elf_never_panics() {
        // A cheap, always-run cousin of `cargo fuzz run elf`.
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let head = &me[..me.len().min(1 << 16)];
        for cut in (0..head.len()).step_by(97) {
            let _ = ElfInfo::parse(&head[..cut]);
        }
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..300 {
            let mut b = head.to_vec();
            for _ in 0..8 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let i = (seed as usize) % b.len();
                b[i] = (seed >> 32) as u8;
            }
            let _ = ElfInfo::parse(&b);
        }
    }

    #[test]
    fn reads_this_test_binary() {
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let info = ElfInfo::parse(&me).unwrap().unwrap();
        assert_eq!(info.class as usize, 8 * std::mem::size_of::<usize>());
        assert!(
            info.needed.iter().any(|n| n.starts_with("libc.so")),
            "{:?}",
            info.needed
        );
        assert!(info.interp.is_some());
    }
}
