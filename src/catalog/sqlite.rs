//! A read-only reader of SQLite 3 database files, enough to list the rows of
//! one table: the file header, table b-trees (interior and leaf pages),
//! overflow chains, records, and the committed frames of a write-ahead log.
//! rpm ≥ 4.16 keeps its database in one (`rpmdb.sqlite`, WAL mode); a
//! hand-written reader keeps the dependency tree free of a C library and
//! treats every offset in the file as untrusted.
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

/// A table to write: its name, its `CREATE TABLE` statement, and its rows
/// (rowid, columns) in rowid order.
pub struct Table<'a> {
    pub name: &'a str,
    pub sql: &'a str,
    pub rows: Vec<(i64, Vec<Value>)>,
}

/// The page size written: SQLite's default.
const WRITE_PAGE: usize = 4096;

fn put_varint(out: &mut Vec<u8>, v: u64) {
    if v > 0x00ff_ffff_ffff_ffff {
        // Nine bytes: eight of seven bits, then a whole byte.
        let mut b = [0u8; 9];
        b[8] = v as u8;
        let mut x = v >> 8;
        for i in (0..8).rev() {
            b[i] = (x as u8 & 0x7f) | 0x80;
            x >>= 7;
        }
        out.extend(b);
        return;
    }
    let mut b = Vec::with_capacity(9);
    let mut x = v;
    loop {
        b.push((x & 0x7f) as u8);
        x >>= 7;
        if x == 0 {
            break;
        }
    }
    for (i, byte) in b.iter().rev().enumerate() {
        out.push(if i + 1 < b.len() { byte | 0x80 } else { *byte });
    }
}

/// Encodes a record (§2.1).
fn encode_record(cols: &[Value]) -> Vec<u8> {
    let mut types = Vec::new();
    let mut body = Vec::new();
    for v in cols {
        match v {
            Value::Null => put_varint(&mut types, 0),
            Value::Int(i) => {
                put_varint(&mut types, 6);
                body.extend(i.to_be_bytes());
            }
            Value::Real(r) => {
                put_varint(&mut types, 7);
                body.extend(r.to_be_bytes());
            }
            Value::Text(t) => {
                put_varint(&mut types, 13 + 2 * t.len() as u64);
                body.extend(t);
            }
            Value::Blob(b) => {
                put_varint(&mut types, 12 + 2 * b.len() as u64);
                body.extend(b);
            }
        }
    }
    // The header's length counts itself: one byte unless the types are long.
    let mut hlen = types.len() + 1;
    let mut head = Vec::new();
    loop {
        head.clear();
        put_varint(&mut head, hlen as u64);
        if head.len() + types.len() == hlen {
            break;
        }
        hlen = head.len() + types.len();
    }
    head.extend(types);
    head.extend(body);
    head
}

/// Writes a database file holding `tables`: table b-trees only (no indexes),
/// rollback-journal mode, UTF-8, 4096-byte pages, no free pages. The same
/// input gives the same bytes.
pub fn write(tables: &[Table]) -> Vec<u8> {
    let u = WRITE_PAGE;
    // pages[i] is page i + 1; page 1 (the schema) is filled in last.
    let mut pages: Vec<Vec<u8>> = vec![Vec::new()];
    let mut schema = Vec::new();
    for (i, t) in tables.iter().enumerate() {
        let root = write_tree(&mut pages, &t.rows);
        schema.push((
            i as i64 + 1,
            vec![
                Value::Text(b"table".to_vec()),
                Value::Text(t.name.as_bytes().to_vec()),
                Value::Text(t.name.as_bytes().to_vec()),
                Value::Int(i64::from(root)),
                Value::Text(t.sql.as_bytes().to_vec()),
            ],
        ));
    }
    // The schema (one short row per table) fits page 1, after the file header:
    // laid out as the last page, then moved there.
    let laid = leaf_pages(&mut pages, &schema, 100);
    assert_eq!(
        laid.len(),
        1,
        "the schema of {} tables fits one page",
        tables.len()
    );
    pages[0] = pages.pop().expect("just laid out");
    let n = pages.len() as u32;
    let mut out = Vec::with_capacity(pages.len() * u);
    for (i, mut p) in pages.into_iter().enumerate() {
        p.resize(u, 0);
        if i == 0 {
            let mut h = [0u8; 100];
            h[..16].copy_from_slice(b"SQLite format 3\0");
            h[16..18].copy_from_slice(&(u as u16).to_be_bytes());
            h[18] = 1; // write version: legacy (rollback journal)
            h[19] = 1; // read version
            h[20] = 0; // reserved bytes per page
            h[21] = 64; // max embedded payload fraction
            h[22] = 32; // min embedded payload fraction
            h[23] = 32; // leaf payload fraction
            h[24..28].copy_from_slice(&1u32.to_be_bytes()); // change counter
            h[28..32].copy_from_slice(&n.to_be_bytes()); // pages
            h[40..44].copy_from_slice(&1u32.to_be_bytes()); // schema cookie
            h[44..48].copy_from_slice(&4u32.to_be_bytes()); // schema format
            h[56..60].copy_from_slice(&1u32.to_be_bytes()); // UTF-8
            h[92..96].copy_from_slice(&1u32.to_be_bytes()); // version-valid-for
            h[96..100].copy_from_slice(&3_040_001u32.to_be_bytes()); // SQLITE_VERSION_NUMBER
            p[..100].copy_from_slice(&h);
        }
        out.extend(p);
    }
    out
}

/// Writes a table b-tree; returns its root page number.
fn write_tree(pages: &mut Vec<Vec<u8>>, rows: &[(i64, Vec<Value>)]) -> u32 {
    let mut level = leaf_pages(pages, rows, 0);
    if level.is_empty() {
        // An empty table is one empty leaf.
        let mut p = vec![0u8; WRITE_PAGE];
        p[0] = 13;
        p[5..7].copy_from_slice(&(WRITE_PAGE as u16).to_be_bytes());
        pages.push(p);
        return pages.len() as u32;
    }
    while level.len() > 1 {
        level = interior_pages(pages, &level);
    }
    level[0].0
}

/// Packs rows into leaf pages (type 13), spilling long payloads onto overflow
/// pages; `offset` is where the b-tree page starts (100 on page 1). Returns
/// each leaf's page number and largest rowid.
fn leaf_pages(
    pages: &mut Vec<Vec<u8>>,
    rows: &[(i64, Vec<Value>)],
    offset: usize,
) -> Vec<(u32, i64)> {
    let u = WRITE_PAGE;
    let mut cells: Vec<(i64, Vec<u8>)> = Vec::new();
    for (rowid, cols) in rows {
        let payload = encode_record(cols);
        let p = payload.len();
        let local = local_size(p, u);
        let mut cell = Vec::new();
        put_varint(&mut cell, p as u64);
        put_varint(&mut cell, *rowid as u64);
        cell.extend(&payload[..local]);
        if local < p {
            // Overflow chain: each page is the next page's number, then u - 4 bytes.
            let chunks: Vec<&[u8]> = payload[local..].chunks(u - 4).collect();
            let first = pages.len() as u32 + 1;
            for (i, c) in chunks.iter().enumerate() {
                let next = if i + 1 < chunks.len() {
                    pages.len() as u32 + 2
                } else {
                    0
                };
                let mut page = next.to_be_bytes().to_vec();
                page.extend(*c);
                pages.push(page);
            }
            cell.extend(first.to_be_bytes());
        }
        cells.push((*rowid, cell));
    }
    pack(pages, cells, offset, 13, 8)
}

/// Packs interior cells (child page, key) into interior pages (type 5).
fn interior_pages(pages: &mut Vec<Vec<u8>>, children: &[(u32, i64)]) -> Vec<(u32, i64)> {
    let cells: Vec<(i64, Vec<u8>)> = children
        .iter()
        .map(|(page, key)| {
            let mut c = page.to_be_bytes().to_vec();
            put_varint(&mut c, *key as u64);
            (*key, c)
        })
        .collect();
    pack(pages, cells, 0, 5, 12)
}

/// Lays cells into b-tree pages of `kind`, as many as fit each page. An
/// interior page's last child becomes its right-most pointer.
fn pack(
    pages: &mut Vec<Vec<u8>>,
    cells: Vec<(i64, Vec<u8>)>,
    offset: usize,
    kind: u8,
    header: usize,
) -> Vec<(u32, i64)> {
    let u = WRITE_PAGE;
    let mut out = Vec::new();
    let mut group: Vec<(i64, Vec<u8>)> = Vec::new();
    let mut used = offset + header;
    let flush =
        |group: &mut Vec<(i64, Vec<u8>)>, pages: &mut Vec<Vec<u8>>, out: &mut Vec<(u32, i64)>| {
            let mut p = vec![0u8; u];
            let max = group.last().map_or(0, |c| c.0);
            let mut cells: Vec<&Vec<u8>> = group.iter().map(|c| &c.1).collect();
            if kind == 5 {
                let right = cells.pop().expect("an interior page has a child");
                p[offset + 8..offset + 12].copy_from_slice(&right[..4]);
            }
            p[offset] = kind;
            p[offset + 3..offset + 5].copy_from_slice(&(cells.len() as u16).to_be_bytes());
            let mut end = u;
            for (i, c) in cells.iter().enumerate() {
                end -= c.len();
                p[end..end + c.len()].copy_from_slice(c);
                let ptr = offset + header + 2 * i;
                p[ptr..ptr + 2].copy_from_slice(&(end as u16).to_be_bytes());
            }
            // Cell content start; 0 means 65536 (only on empty 64 KiB pages).
            p[offset + 5..offset + 7].copy_from_slice(&((end % 65536) as u16).to_be_bytes());
            pages.push(p);
            out.push((pages.len() as u32, max));
            group.clear();
        };
    let mut groups: Vec<Vec<(i64, Vec<u8>)>> = Vec::new();
    for c in cells {
        if !group.is_empty() && used + 2 + c.1.len() > u {
            groups.push(std::mem::take(&mut group));
            used = header;
        }
        used += 2 + c.1.len();
        group.push(c);
    }
    if !group.is_empty() {
        groups.push(group);
    }
    // An interior page needs a cell besides its right-most child (SQLite calls
    // one without "malformed"): a lone last child takes one from its neighbour.
    let n = groups.len();
    if kind == 5 && n > 1 && groups[n - 1].len() == 1 {
        let moved = groups[n - 2].pop().expect("a full page");
        groups[n - 1].insert(0, moved);
    }
    for mut g in groups {
        flush(&mut g, pages, &mut out);
    }
    out
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

    #[test]
    fn what_is_written_reads_back_at_every_size() {
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
            let bytes = write(&[Table {
                name: "t",
                sql: "CREATE TABLE t(a INTEGER PRIMARY KEY, b, c, d)",
                rows: rows.clone(),
            }]);
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
