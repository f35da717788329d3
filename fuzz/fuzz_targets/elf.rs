//! The ELF reader never panics, whatever the bytes: `cargo fuzz run elf`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(Some(info)) = slim::elf::ElfInfo::parse(data) {
        // Exercise the accessors the tracer uses.
        let _ = info.imports("dlopen");
        let _ = info.multiarch();
        let _ = info.compatible(&info);
    }
});
