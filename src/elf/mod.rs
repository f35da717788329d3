//! The only place that parses ELF. Everything the tracer needs from an
//! object, read with goblin into one small owned type.

use goblin::elf::{header, Elf};

/// What the dynamic loader and the tracer need to know of an ELF object.
#[derive(Debug, Clone, PartialEq, Eq)]
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

/// True when `bytes` start with the ELF magic.
pub fn is_elf(bytes: &[u8]) -> bool {
    bytes.starts_with(MAGIC)
}

impl ElfInfo {
    /// Parses an ELF object. `Ok(None)` for a file that is not ELF at all.
    pub fn parse(bytes: &[u8]) -> Result<Option<ElfInfo>, Error> {
        if !is_elf(bytes) {
            return Ok(None);
        }
        let elf = Elf::parse(bytes).map_err(|e| Error(e.to_string()))?;
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
        Ok(Some(ElfInfo {
            class: if elf.is_64 { 64 } else { 32 },
            machine: elf.header.e_machine,
            kind: elf.header.e_type,
            interp: elf.interpreter.map(String::from),
            soname: elf.soname.map(String::from),
            needed: elf.libraries.iter().map(|s| s.to_string()).collect(),
            rpath: split(&elf.rpaths),
            runpath: split(&elf.runpaths),
            imports,
        }))
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
