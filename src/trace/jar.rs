//! A jar's manifest (`META-INF/MANIFEST.MF`), read from the zip's central
//! directory without unpacking the jar: its `Class-Path` names the jars the
//! JVM loads with it, relative to the jar's directory (JAR File Specification,
//! "Main Attributes").

use crate::fs::Section;
use std::io::Read;

fn u16_at(b: &[u8], i: usize) -> Option<u64> {
    Some(u16::from_le_bytes(b.get(i..i + 2)?.try_into().ok()?) as u64)
}

fn u32_at(b: &[u8], i: usize) -> Option<u64> {
    Some(u32::from_le_bytes(b.get(i..i + 4)?.try_into().ok()?) as u64)
}

fn read_range(s: &Section, offset: u64, len: u64) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    s.sub(offset, len).read_to_end(&mut buf).ok()?;
    (buf.len() as u64 == len).then_some(buf)
}

/// The manifest of the jar whose bytes `jar` holds, if it has one (at most 1 MiB).
pub fn manifest(jar: &Section) -> Option<String> {
    let size = jar.len();
    // The end-of-central-directory record is in the last 64 KiB + 22 bytes.
    let tail_len = size.min(65_557);
    let tail = read_range(jar, size - tail_len, tail_len)?;
    let eocd = (0..tail.len().saturating_sub(21))
        .rev()
        .find(|&i| tail[i..i + 4] == [0x50, 0x4b, 0x05, 0x06])?;
    let cd_size = u32_at(&tail, eocd + 12)?;
    let cd_offset = u32_at(&tail, eocd + 16)?;
    if cd_offset + cd_size > size || cd_size > 64 << 20 {
        return None;
    }
    let cd = read_range(jar, cd_offset, cd_size)?;
    let mut i = 0;
    while i + 46 <= cd.len() && cd[i..i + 4] == [0x50, 0x4b, 0x01, 0x02] {
        let method = u16_at(&cd, i + 10)?;
        let csize = u32_at(&cd, i + 20)?;
        let usize_ = u32_at(&cd, i + 24)?;
        let name_len = u16_at(&cd, i + 28)? as usize;
        let extra_len = u16_at(&cd, i + 30)? as usize;
        let comment_len = u16_at(&cd, i + 32)? as usize;
        let local = u32_at(&cd, i + 42)?;
        let name = cd.get(i + 46..i + 46 + name_len)?;
        if name.eq_ignore_ascii_case(b"META-INF/MANIFEST.MF") {
            if usize_ > 1 << 20 {
                return None;
            }
            let lh = read_range(jar, local, 30)?;
            let data_at = local + 30 + u16_at(&lh, 26)? + u16_at(&lh, 28)?;
            let raw = read_range(jar, data_at, csize)?;
            let text = match method {
                0 => raw,
                8 => {
                    let mut out = Vec::new();
                    flate2::read::DeflateDecoder::new(raw.as_slice())
                        .take(1 << 20)
                        .read_to_end(&mut out)
                        .ok()?;
                    out
                }
                _ => return None,
            };
            return Some(String::from_utf8_lossy(&text).into_owned());
        }
        i += 46 + name_len + extra_len + comment_len;
    }
    None
}

/// The value of a main attribute (`Class-Path`), continuation lines joined.
pub fn attribute(manifest: &str, name: &str) -> Option<String> {
    let mut value: Option<String> = None;
    for line in manifest.lines() {
        let line = line.trim_end_matches('\r');
        if line.is_empty() {
            break; // the main section ends at the first blank line
        }
        if let Some(v) = value.as_mut() {
            match line.strip_prefix(' ') {
                Some(cont) => {
                    v.push_str(cont);
                    continue;
                }
                None => return value,
            }
        }
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case(name) {
                value = Some(v.trim_start().to_string());
            }
        }
    }
    value
}

#[cfg(test)]
mod tests {
    use super::attribute;

    #[test]
    fn class_path_with_continuation_lines() {
        let m = "Manifest-Version: 1.0\r\nMain-Class: app.Main\r\nClass-Path: lib/a.jar lib/b\r\n c.jar\r\nCreated-By: x\r\n\r\nName: x\r\nClass-Path: no\r\n";
        assert_eq!(
            attribute(m, "class-path").as_deref(),
            Some("lib/a.jar lib/bc.jar")
        );
        assert_eq!(attribute(m, "Main-Class").as_deref(), Some("app.Main"));
        assert_eq!(attribute(m, "Nope"), None);
    }
}
