//! A reader run on a thread of its own. Reading a compressed layer is one
//! stream of work: the blob read and hashed, inflated, then the tar hashed
//! for its diff_id, indexed and spooled. On one thread that is the sum of
//! all three; `layer.rs` runs each on its own thread, chained by
//! [`read_ahead`], so a single-layer image is read on every core
//! (`benches/parallel.sh`).

use std::io::{self, Read};
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender, SyncSender};

/// Bytes handed over at a time.
const CHUNK: usize = 256 << 10;
/// Chunks decoded ahead of the reader.
const DEPTH: usize = 4;

/// Runs `consume` over what `src` reads, with `src` read on another thread
/// (or inline when slim may use one thread), and gives `src` back with what
/// `consume` returned. An error `src` meets reaches `consume` as a read
/// error; when `consume` stops early, `src` stops at its next chunk.
pub fn read_ahead<R, T, F>(src: R, consume: F) -> (T, R)
where
    R: Read + Send,
    F: FnOnce(&mut (dyn Read + Send)) -> T,
{
    let mut src = src;
    if crate::image::write::blocks::threads() == 1 {
        return (consume(&mut src), src);
    }
    let piped = std::thread::scope(|s| {
        let (full_tx, full_rx) = sync_channel(DEPTH);
        let (empty_tx, empty_rx) = channel();
        let from = &mut src;
        let producer = std::thread::Builder::new()
            .name("slim-inflate".into())
            .spawn_scoped(s, move || produce(from, full_tx, empty_rx));
        // No thread to be had: read inline instead.
        let Ok(producer) = producer else {
            return Err(consume);
        };
        let mut pipe = Pipe {
            full: full_rx,
            empty: empty_tx,
            cur: Vec::new(),
            len: 0,
            pos: 0,
        };
        let t = consume(&mut pipe);
        // Dropping the receiver stops a producer that is still going.
        drop(pipe);
        if let Err(panic) = producer.join() {
            std::panic::resume_unwind(panic);
        }
        Ok(t)
    });
    match piped {
        Ok(t) => (t, src),
        Err(consume) => (consume(&mut src), src),
    }
}

type Chunk = io::Result<(Vec<u8>, usize)>;

fn produce<R: Read>(src: &mut R, full: SyncSender<Chunk>, empty: Receiver<Vec<u8>>) {
    loop {
        let mut buf = empty.try_recv().unwrap_or_else(|_| vec![0; CHUNK]);
        let r = fill(src, &mut buf);
        let end = !matches!(r, Ok(n) if n == CHUNK);
        if full.send(r.map(|n| (buf, n))).is_err() || end {
            return;
        }
    }
}

/// Reads until `buf` is full or `src` ends.
fn fill<R: Read>(src: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match src.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// The reading end: chunks in order, spent buffers sent back for reuse.
struct Pipe {
    full: Receiver<Chunk>,
    empty: Sender<Vec<u8>>,
    cur: Vec<u8>,
    len: usize,
    pos: usize,
}

impl Read for Pipe {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.len {
            let spent = std::mem::take(&mut self.cur);
            if !spent.is_empty() {
                let _ = self.empty.send(spent);
            }
            // A closed channel is the end: the producer sent its last chunk.
            let Ok(chunk) = self.full.recv() else {
                return Ok(0);
            };
            let (buf, len) = chunk?;
            (self.cur, self.len, self.pos) = (buf, len, 0);
        }
        let n = out.len().min(self.len - self.pos);
        out[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that fails after `ok` bytes.
    struct Failing {
        left: usize,
    }
    impl Read for Failing {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.left == 0 {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "corrupt"));
            }
            let n = buf.len().min(self.left).min(1000);
            buf[..n].fill(7);
            self.left -= n;
            Ok(n)
        }
    }

    #[test]
    fn passes_every_byte_in_order_and_gives_the_source_back() {
        for n in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 7 * CHUNK + 12345] {
            let data: Vec<u8> = (0..n).map(|i| (i * 31 % 251) as u8).collect();
            let (got, rest) = read_ahead(io::Cursor::new(data.clone()), |r| {
                let mut v = Vec::new();
                r.read_to_end(&mut v).unwrap();
                v
            });
            assert_eq!(got, data, "n={n}");
            assert_eq!(rest.position(), n as u64);
        }
    }

    #[test]
    fn an_error_reaches_the_reader_after_the_bytes_before_it() {
        let (got, _) = read_ahead(Failing { left: CHUNK + 10 }, |r| {
            let mut v = Vec::new();
            let e = r.read_to_end(&mut v).unwrap_err();
            (v.len(), e.to_string())
        });
        // The full chunk arrives; the partial one is lost with the error.
        assert_eq!(got, (CHUNK, "corrupt".to_string()));
    }

    #[test]
    fn a_reader_that_stops_early_stops_the_source() {
        let data = vec![1u8; 20 * CHUNK];
        let (first, rest) = read_ahead(io::Cursor::new(data), |r| {
            let mut b = [0u8; 10];
            r.read_exact(&mut b).unwrap();
            b
        });
        assert_eq!(first, [1; 10]);
        // At most the chunks in flight were read, not all 20.
        assert!(
            rest.position() <= ((DEPTH + 3) * CHUNK) as u64,
            "{}",
            rest.position()
        );
    }
}
