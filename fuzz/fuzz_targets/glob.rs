//! The glob matcher takes patterns from images (`ld.so.conf` includes, config
//! `include`s): it never panics and stays fast, whatever the bytes:
//! `fuzz/run.sh SECONDS glob`. The input is PATTERN NUL PATH.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (pat, path) = text.split_once('\0').unwrap_or((&text, "a/b/c"));
    let t = std::time::Instant::now();
    let _ = slim::rules::component(pat, path);
    let _ = slim::rules::matches(pat, path);
    assert!(t.elapsed().as_millis() < 500, "slow match: {pat:?} {path:?}");
});
