//! A read-only reader of SQLite 3 database files, enough to list the rows of
//! one table: the file header, table b-trees (interior and leaf pages),
//! overflow chains, records, and the committed frames of a write-ahead log.
//! rpm ≥ 4.16 keeps its database in one (`rpmdb.sqlite`, WAL mode). The
//! database comes from an untrusted image, so it is read here, by a reader
//! that checks every offset in the file (and is fuzzed), not handed to SQLite;
//! SQLite itself (rusqlite) only writes the databases slim makes
//! ([`super::write_sqlite`]).
//!
//! Format: <https://www.sqlite.org/fileformat2.html> (sections cited below).

use std::collections::{HashMap, HashSet};

/// What is wrong with a database file.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    #[error("not an SQLite 3 database (no `SQLite format 3` header)")]
    NotSqlite,
    #[error("corrupt SQLite database: {0}")]
    Corrupt(String),
    #[error("the database has no table named {0}")]
    NoTable(String),
    #[error("text encoding {0} is not supported (UTF-8 only)")]
    Encoding(u32),
}

fn corrupt(s: impl Into<String>) -> Error {
    Error::Corrupt(s.into())
}

/// A column value (§2.1 record format).
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Value {
    #[default]
    Null,
    Int(i64),
    Real(f64),
    Text(Vec<u8>),
    Blob(Vec<u8>),
}

/// An open database: the main file plus the pages its WAL has committed.
pub struct Db<'a> {
    file: &'a [u8],
    page_size: usize,
    /// Page size less the bytes reserved at the end of each page.
    usable: usize,
    /// Pages the database has (the WAL's last commit may grow it).
    pages: u32,
    wal: HashMap<u32, &'a [u8]>,
}

fn be16(b: &[u8], at: usize) -> Result<usize, Error> {
    b.get(at..at + 2)
        .map(|x| u16::from_be_bytes([x[0], x[1]]) as usize)
        .ok_or_else(|| corrupt("truncated page"))
}

fn be32(b: &[u8], at: usize) -> Result<u32, Error> {
    b.get(at..at + 4)
        .map(|x| u32::from_be_bytes([x[0], x[1], x[2], x[3]]))
        .ok_or_else(|| corrupt("truncated page"))
}

/// A variable-length integer (§1.6): 1–9 bytes, big-endian, 7 bits a byte
/// but 8 in the ninth. Returns the value and the bytes used.
fn varint(b: &[u8], at: usize) -> Result<(u64, usize), Error> {
    let mut v: u64 = 0;
    for i in 0..9 {
        let byte = *b.get(at + i).ok_or_else(|| corrupt("truncated varint"))?;
        if i == 8 {
            return Ok(((v << 8) | u64::from(byte), 9));
        }
        v = (v << 7) | u64::from(byte & 0x7f);
        if byte & 0x80 == 0 {
            return Ok((v, i + 1));
        }
    }
    unreachable!()
}

/// The page size a header field encodes (§1.3.2: 1 means 65536).
fn page_size_of(raw: u32) -> Option<usize> {
    let n = if raw == 1 { 65536 } else { raw as usize };
    (512..=65536)
        .contains(&n)
        .then_some(n)
        .filter(|n| n.is_power_of_two())
}

/// The committed pages of a write-ahead log (§4.1), page number → contents,
/// and the database size in pages after the last commit. Frames after the
/// last valid commit frame, or whose salt or checksum does not match, are
/// not part of the database (a crash left them, or a checkpoint reset the log).
fn read_wal(wal: &[u8], page_size: usize) -> (HashMap<u32, &[u8]>, Option<u32>) {
    let mut committed = HashMap::new();
    let mut size = None;
    if wal.len() < 32 {
        return (committed, size);
    }
    let word = |at: usize| u32::from_be_bytes([wal[at], wal[at + 1], wal[at + 2], wal[at + 3]]);
    let magic = word(0);
    if magic & !1 != 0x377f_0682 || page_size_of(word(8)) != Some(page_size) {
        return (committed, size);
    }
    let big = magic & 1 == 1;
    let sum = |mut s: (u32, u32), data: &[u8]| {
        for pair in data.chunks_exact(8) {
            let (a, b) = if big {
                (
                    u32::from_be_bytes([pair[0], pair[1], pair[2], pair[3]]),
                    u32::from_be_bytes([pair[4], pair[5], pair[6], pair[7]]),
                )
            } else {
                (
                    u32::from_le_bytes([pair[0], pair[1], pair[2], pair[3]]),
                    u32::from_le_bytes([pair[4], pair[5], pair[6], pair[7]]),
                )
            };
            s.0 = s.0.wrapping_add(a).wrapping_add(s.1);
            s.1 = s.1.wrapping_add(b).wrapping_add(s.0);
        }
        s
    };
    let mut s = sum((0, 0), &wal[..24]);
    if s != (word(24), word(28)) {
        return (committed, size);
    }
    let salts = &wal[16..24];
    let mut pending: HashMap<u32, &[u8]> = HashMap::new();
    let mut at = 32;
    while at + 24 + page_size <= wal.len() {
        let frame = &wal[at..at + 24];
        let page = &wal[at + 24..at + 24 + page_size];
        if &frame[8..16] != salts {
            break;
        }
        s = sum(sum(s, &frame[..8]), page);
        if s != (word(at + 16), word(at + 20)) {
            break;
        }
        let (pgno, commit) = (word(at), word(at + 4));
        if pgno == 0 {
            break;
        }
        pending.insert(pgno, page);
        if commit != 0 {
            committed.extend(pending.drain());
            size = Some(commit);
        }
        at += 24 + page_size;
    }
    (committed, size)
}

impl<'a> Db<'a> {
    /// Opens a database from its main file and, when there is one, its
    /// `-wal` file (whose committed frames take precedence).
    pub fn open(file: &'a [u8], wal: Option<&'a [u8]>) -> Result<Db<'a>, Error> {
        if file.len() < 100 || &file[..16] != b"SQLite format 3\0" {
            return Err(Error::NotSqlite);
        }
        let page_size = page_size_of(u32::from(u16::from_be_bytes([file[16], file[17]])))
            .ok_or_else(|| corrupt("invalid page size"))?;
        let reserved = file[20] as usize;
        let usable = page_size
            .checked_sub(reserved)
            .filter(|u| *u >= 480)
            .ok_or_else(|| corrupt("invalid reserved space"))?;
        let encoding = be32(file, 56)?;
        if encoding > 1 {
            return Err(Error::Encoding(encoding));
        }
        let mut pages = (file.len() / page_size) as u32;
        let mut committed = HashMap::new();
        if let Some(w) = wal {
            let (frames, size) = read_wal(w, page_size);
            committed = frames;
            if let Some(n) = size {
                pages = n;
            }
        }
        Ok(Db {
            file,
            page_size,
            usable,
            pages,
            wal: committed,
        })
    }

    /// Page `n` (1-based), as the WAL or else the main file has it.
    fn page(&self, n: u32) -> Result<&'a [u8], Error> {
        if n == 0 || n > self.pages {
            return Err(corrupt(format!(
                "page {n} is outside the database ({} pages)",
                self.pages
            )));
        }
        if let Some(p) = self.wal.get(&n) {
            return Ok(p);
        }
        let at = (n as usize - 1) * self.page_size;
        self.file
            .get(at..at + self.page_size)
            .ok_or_else(|| corrupt(format!("page {n} is past the end of the file")))
    }

    /// Calls `f` with the rowid and columns of every row of `table`, in rowid order.
    pub fn rows(
        &self,
        table: &str,
        mut f: impl FnMut(i64, Vec<Value>) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let mut root = None;
        // sqlite_schema (§2.6), rooted at page 1: type, name, tbl_name, rootpage, sql.
        self.walk(1, &mut |_, cols| {
            if let [Value::Text(ty), Value::Text(name), _, Value::Int(page), ..] = cols.as_slice() {
                if ty == b"table" && name.eq_ignore_ascii_case(table.as_bytes()) {
                    root = Some(*page);
                }
            }
            Ok(())
        })?;
        let root = root.ok_or_else(|| Error::NoTable(table.to_string()))?;
        let root = u32::try_from(root).map_err(|_| corrupt("invalid root page"))?;
        self.walk(root, &mut f)
    }

    /// Walks a table b-tree (§1.6) depth-first, children in key order.
    fn walk(
        &self,
        root: u32,
        f: &mut dyn FnMut(i64, Vec<Value>) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let mut seen = HashSet::new();
        let mut stack = vec![root];
        while let Some(n) = stack.pop() {
            if !seen.insert(n) {
                return Err(corrupt(format!("page {n} is reached twice (a cycle)")));
            }
            let page = self.page(n)?;
            let h = if n == 1 { 100 } else { 0 };
            let kind = *page.get(h).ok_or_else(|| corrupt("truncated page"))?;
            let cells = be16(page, h + 3)?;
            match kind {
                // Interior: (child, key) cells, then the right-most child. Pushed in
                // reverse so the left-most child is walked first.
                5 => {
                    let mut children = Vec::with_capacity(cells + 1);
                    for i in 0..cells {
                        let at = be16(page, h + 12 + 2 * i)?;
                        children.push(be32(page, at)?);
                    }
                    children.push(be32(page, h + 8)?);
                    stack.extend(children.into_iter().rev());
                }
                13 => {
                    for i in 0..cells {
                        let at = be16(page, h + 8 + 2 * i)?;
                        let (rowid, payload) = self.cell(page, at)?;
                        f(rowid, record(&payload)?)?;
                    }
                }
                k => {
                    return Err(corrupt(format!(
                        "page {n} is not a table b-tree page (type {k})"
                    )))
                }
            }
        }
        Ok(())
    }

    /// A table leaf cell (§1.6): payload size, rowid, the payload's first part
    /// and, when it spills, the chain of overflow pages holding the rest.
    fn cell(&self, page: &[u8], at: usize) -> Result<(i64, Vec<u8>), Error> {
        let (size, a) = varint(page, at)?;
        let (rowid, b) = varint(page, at + a)?;
        let size = usize::try_from(size).map_err(|_| corrupt("payload too large"))?;
        if size > self.pages as usize * self.usable {
            return Err(corrupt(format!(
                "a {size}-byte payload is larger than the file"
            )));
        }
        let start = at + a + b;
        let u = self.usable;
        let local = local_size(size, u);
        let mut out = Vec::with_capacity(size);
        out.extend_from_slice(
            page.get(start..start + local)
                .ok_or_else(|| corrupt("cell runs past its page"))?,
        );
        let mut next = if local < size {
            be32(page, start + local)?
        } else {
            0
        };
        let mut hops = 0u32;
        while out.len() < size {
            hops += 1;
            if next == 0 || hops > self.pages {
                return Err(corrupt("overflow chain ends early or loops"));
            }
            let p = self.page(next)?;
            let take = (size - out.len()).min(u - 4);
            out.extend_from_slice(&p[4..4 + take]);
            next = be32(p, 0)?;
        }
        Ok((rowid as i64, out))
    }
}

/// How much of a table leaf cell's `payload`-byte payload stays on its page
/// (§1.6); the rest goes to overflow pages. `usable` is the usable page size.
fn local_size(payload: usize, usable: usize) -> usize {
    let x = usable - 35;
    if payload <= x {
        return payload;
    }
    let m = ((usable - 12) * 32 / 255) - 23;
    let k = m + (payload - m) % (usable - 4);
    if k <= x {
        k
    } else {
        m
    }
}

/// Decodes a record (§2.1): a header of serial types, then the values.
fn record(b: &[u8]) -> Result<Vec<Value>, Error> {
    let (hlen, mut at) = varint(b, 0)?;
    let hlen = usize::try_from(hlen)
        .ok()
        .filter(|h| *h <= b.len())
        .ok_or_else(|| corrupt("record header longer than the record"))?;
    let mut body = hlen;
    let mut out = Vec::new();
    while at < hlen {
        let (ty, n) = varint(b, at)?;
        at += n;
        let len = match ty {
            0 | 8 | 9 => 0,
            1..=4 => ty as usize,
            5 => 6,
            6 | 7 => 8,
            10 | 11 => return Err(corrupt("reserved serial type")),
            t => ((t - 12) / 2) as usize,
        };
        let v = b
            .get(body..body.saturating_add(len))
            .ok_or_else(|| corrupt("record value runs past the record"))?;
        body += len;
        out.push(match ty {
            0 => Value::Null,
            8 => Value::Int(0),
            9 => Value::Int(1),
            1..=6 => {
                // Big-endian two's complement of 1, 2, 3, 4, 6 or 8 bytes.
                let mut x: i64 = if v[0] & 0x80 != 0 { -1 } else { 0 };
                for byte in v {
                    x = (x << 8) | i64::from(*byte);
                }
                Value::Int(x)
            }
            7 => Value::Real(f64::from_be_bytes(v.try_into().expect("8 bytes"))),
            t if t % 2 == 0 => Value::Blob(v.to_vec()),
            _ => Value::Text(v.to_vec()),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints() {
        assert_eq!(varint(&[0x05], 0).unwrap(), (5, 1));
        assert_eq!(varint(&[0x81, 0x00], 0).unwrap(), (128, 2));
        assert_eq!(varint(&[0xff; 9], 0).unwrap(), (u64::MAX, 9));
        assert!(varint(&[0x81], 0).is_err());
    }

    #[test]
    fn records_of_every_serial_type() {
        // header: len 8; types NULL, i8, i16, const 0, const 1, text(2), blob(1), f64
        let mut r = vec![9u8, 0, 1, 2, 8, 9, 17, 14, 7];
        r.extend([0xfe, 0x01, 0x00, b'h', b'i', 0xaa]);
        r.extend(1.5f64.to_be_bytes());
        assert_eq!(
            record(&r).unwrap(),
            vec![
                Value::Null,
                Value::Int(-2),
                Value::Int(256),
                Value::Int(0),
                Value::Int(1),
                Value::Text(b"hi".to_vec()),
                Value::Blob(vec![0xaa]),
                Value::Real(1.5),
            ]
        );
        assert!(record(&[2, 15]).is_err());
    }

    /// Databases SQLite itself writes: empty, one page, overflow chains,
    /// interior pages at several depths, negative rowids, every column type.
    #[test]
    fn what_sqlite_writes_reads_back_at_every_size() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for n in [0usize, 1, 2, 50, 527, 1037, 1500] {
            let rows: Vec<(i64, Vec<Value>)> = (0..n)
                .map(|i| {
                    let len = (next() % 20_000) as usize * usize::from(i % 3 != 0);
                    (
                        i as i64 * 3 - 7,
                        vec![
                            Value::Null,
                            Value::Blob((0..len).map(|j| (j * 7 + i) as u8).collect()),
                            Value::Int(next() as i64),
                            Value::Text(format!("row {i}").into_bytes()),
                        ],
                    )
                })
                .collect();
            let db = rusqlite::Connection::open_in_memory().unwrap();
            db.execute("CREATE TABLE t(a INTEGER PRIMARY KEY, b, c, d)", [])
                .unwrap();
            for (rowid, cols) in &rows {
                let (Value::Blob(b), Value::Int(c), Value::Text(d)) =
                    (&cols[1], &cols[2], &cols[3])
                else {
                    unreachable!()
                };
                db.execute(
                    "INSERT INTO t VALUES (?1, ?2, ?3, CAST(?4 AS TEXT))",
                    rusqlite::params![rowid, b, c, d],
                )
                .unwrap();
            }
            let bytes = db.serialize(rusqlite::MAIN_DB).unwrap();
            let mut got = Vec::new();
            Db::open(&bytes, None)
                .unwrap()
                .rows("t", |r, c| {
                    got.push((r, c));
                    Ok(())
                })
                .unwrap();
            assert!(got == rows, "{n} rows differ");
        }
    }

    #[test]
    fn not_a_database() {
        assert_eq!(Db::open(b"hello", None).err(), Some(Error::NotSqlite));
        let mut f = b"SQLite format 3\0".to_vec();
        f.resize(100, 0);
        assert!(matches!(Db::open(&f, None), Err(Error::Corrupt(_))));
    }
}
