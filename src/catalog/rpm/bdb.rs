//! BerkeleyDB hash databases, read-only: enough to list the key/value pairs
//! of rpm's `Packages` file, which rpm < 4.16 wrote (RHEL/CentOS 7 and 8,
//! UBI 8, Amazon Linux 2). Every page is visited in order, as rpm's own
//! `bdb_ro` backend does; hash buckets need not be followed.
//!
//! Layout (BerkeleyDB 5.3 `dbinc/db_page.h`): page 0 is the hash metadata
//! page (magic 0x061561 at byte 12, in the file's byte order; page size at
//! 20; last page number at 32); every page starts with a 26-byte header
//! (next page 16, entry count 20, high-free offset 22, type 25). A hash page
//! (type 13, or 2 before BerkeleyDB 4.6) holds 2-byte item offsets, keys and
//! values alternating; a value is inline (H_KEYDATA, 1) or on a chain of
//! overflow pages (H_OFFPAGE, 3: first page at +4, total length at +8).

/// What is wrong with a BerkeleyDB file.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    #[error("not a BerkeleyDB hash database")]
    NotHash,
    #[error("corrupt BerkeleyDB database: {0}")]
    Corrupt(String),
}

const MAGIC: u32 = 0x0006_1561;
const HEADER: usize = 26;
const P_HASH_UNSORTED: u8 = 2;
const P_OVERFLOW: u8 = 7;
const P_HASHMETA: u8 = 8;
const P_HASH: u8 = 13;
const H_KEYDATA: u8 = 1;
const H_OFFPAGE: u8 = 3;

struct File<'a> {
    bytes: &'a [u8],
    page_size: usize,
    big: bool,
}

impl<'a> File<'a> {
    fn u16(&self, b: &[u8], at: usize) -> Result<usize, Error> {
        let x: [u8; 2] = b
            .get(at..at + 2)
            .and_then(|s| s.try_into().ok())
            .ok_or_else(|| Error::Corrupt("truncated page".into()))?;
        Ok(if self.big {
            u16::from_be_bytes(x)
        } else {
            u16::from_le_bytes(x)
        } as usize)
    }

    fn u32(&self, b: &[u8], at: usize) -> Result<u32, Error> {
        let x: [u8; 4] = b
            .get(at..at + 4)
            .and_then(|s| s.try_into().ok())
            .ok_or_else(|| Error::Corrupt("truncated page".into()))?;
        Ok(if self.big {
            u32::from_be_bytes(x)
        } else {
            u32::from_le_bytes(x)
        })
    }

    fn page(&self, n: u32) -> Result<&'a [u8], Error> {
        let at = n as usize * self.page_size;
        self.bytes
            .get(at..at + self.page_size)
            .ok_or_else(|| Error::Corrupt(format!("page {n} is past the end of the file")))
    }

    /// A value stored on a chain of overflow pages.
    fn overflow(&self, first: u32, len: usize) -> Result<Vec<u8>, Error> {
        if len > self.bytes.len() {
            return Err(Error::Corrupt(format!(
                "a {len}-byte value is larger than the file"
            )));
        }
        let mut out = Vec::with_capacity(len);
        let mut next = first;
        let mut hops = 0;
        while out.len() < len {
            hops += 1;
            if next == 0 || hops > self.bytes.len() / self.page_size {
                return Err(Error::Corrupt("overflow chain ends early or loops".into()));
            }
            let p = self.page(next)?;
            if p[25] != P_OVERFLOW {
                return Err(Error::Corrupt(format!(
                    "page {next} is not an overflow page"
                )));
            }
            let n = self.u16(p, 22)?.min(self.page_size - HEADER);
            out.extend_from_slice(&p[HEADER..HEADER + n]);
            next = self.u32(p, 16)?;
        }
        out.truncate(len);
        Ok(out)
    }
}

/// A key and its value.
pub type Pair = (Vec<u8>, Vec<u8>);

/// Every (key, value) pair of a hash database, in page order.
pub fn pairs(bytes: &[u8]) -> Result<Vec<Pair>, Error> {
    let magic = bytes.get(12..16).ok_or(Error::NotHash)?;
    let big = match magic {
        m if m == MAGIC.to_le_bytes() => false,
        m if m == MAGIC.to_be_bytes() => true,
        _ => return Err(Error::NotHash),
    };
    let mut f = File {
        bytes,
        page_size: 512,
        big,
    };
    let page_size = f.u32(bytes, 20)? as usize;
    if !(512..=65536).contains(&page_size) || !page_size.is_power_of_two() {
        return Err(Error::Corrupt(format!("invalid page size {page_size}")));
    }
    f.page_size = page_size;
    if bytes.get(25) != Some(&P_HASHMETA) {
        return Err(Error::NotHash);
    }
    let last = f.u32(bytes, 32)?;
    let have = bytes.len() / page_size;
    if last as usize >= have {
        return Err(Error::Corrupt(format!(
            "truncated: the database has {} pages, the file {have}",
            u64::from(last) + 1
        )));
    }
    let mut out = Vec::new();
    for n in 1..=last {
        let p = f.page(n)?;
        if p[25] != P_HASH && p[25] != P_HASH_UNSORTED {
            continue;
        }
        let entries = f.u16(p, 20)?;
        let offset = |i: usize| f.u16(p, HEADER + 2 * i);
        for i in (0..entries.saturating_sub(1)).step_by(2) {
            let (k, v) = (offset(i)?, offset(i + 1)?);
            // Items are laid out backwards from the page's end: an inline item
            // runs up to the previous item's start.
            let prev = if i == 0 { page_size } else { offset(i - 1)? };
            let item = |at: usize, end: usize| -> Result<Vec<u8>, Error> {
                match p.get(at) {
                    Some(&H_KEYDATA) if at < end => p
                        .get(at + 1..end)
                        .map(<[u8]>::to_vec)
                        .ok_or_else(|| Error::Corrupt(format!("item past page {n}"))),
                    Some(&H_OFFPAGE) => {
                        let first = f.u32(p, at + 4)?;
                        let len = f.u32(p, at + 8)? as usize;
                        f.overflow(first, len)
                    }
                    Some(t) => Err(Error::Corrupt(format!(
                        "item type {t} on page {n} (rpm writes no duplicates)"
                    ))),
                    None => Err(Error::Corrupt(format!("item past page {n}"))),
                }
            };
            out.push((item(k, prev)?, item(v, k)?));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_a_hash_database() {
        assert_eq!(pairs(b"short"), Err(Error::NotHash));
        assert_eq!(pairs(&[0u8; 4096]), Err(Error::NotHash));
        let mut meta = vec![0u8; 4096];
        meta[12..16].copy_from_slice(&MAGIC.to_le_bytes());
        meta[20..24].copy_from_slice(&1000u32.to_le_bytes());
        assert!(matches!(pairs(&meta), Err(Error::Corrupt(_))));
    }
}
