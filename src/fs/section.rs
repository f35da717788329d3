//! A byte range of a file: what a file of a root filesystem reads from (a
//! member of a layer tar, or a whole file on disk).

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::sync::Arc;

/// A byte range of a file, read with positioned reads so that several
/// threads can read different ranges of one file at once.
#[derive(Clone)]
pub struct Section {
    file: Arc<File>,
    pos: u64,
    end: u64,
}

impl Section {
    pub fn new(file: Arc<File>, start: u64, len: u64) -> Section {
        Section {
            file,
            pos: start,
            end: start + len,
        }
    }

    /// The bytes `[offset, offset + len)` of this section.
    pub fn sub(&self, offset: u64, len: u64) -> Section {
        let start = (self.pos + offset).min(self.end);
        Section {
            file: self.file.clone(),
            pos: start,
            end: (start + len).min(self.end),
        }
    }

    /// Bytes left to read.
    pub fn len(&self) -> u64 {
        self.end - self.pos
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Read for Section {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.end.saturating_sub(self.pos);
        if left == 0 {
            return Ok(0);
        }
        let want = buf.len().min(left as usize);
        let n = self.file.read_at(&mut buf[..want], self.pos)?;
        if n == 0 && want > 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "file is shorter than expected (truncated?)",
            ));
        }
        self.pos += n as u64;
        Ok(n)
    }
}
