//! Progress reporting. The library never draws: long work reports through
//! this trait and the CLI decides how (or whether) to show it.

/// Receives progress of long work. Each task has a caller-chosen id.
pub trait Reporter: Sync {
    /// A task starts; `total` is in bytes (0 when unknown).
    fn begin(&self, _id: usize, _label: &str, _total: u64) {}
    /// `delta` more bytes of task `id` are done.
    fn advance(&self, _id: usize, _delta: u64) {}
    /// Task `id` is done.
    fn end(&self, _id: usize) {}
}

type NoteHook = Box<dyn Fn(&str) + Send + Sync>;

/// Where [`note`] lines go when not straight to stderr (above progress bars).
static NOTES: std::sync::RwLock<Option<NoteHook>> = std::sync::RwLock::new(None);

/// Says one line on stderr (a retry, a warning while work goes on), above
/// any progress bars being drawn.
pub fn note(line: &str) {
    match NOTES.read().ok().as_deref() {
        Some(Some(hook)) => hook(line),
        _ => eprintln!("{line}"),
    }
}

/// Sends [`note`] lines to `hook` (None: to stderr again).
pub fn set_note_hook(hook: Option<NoteHook>) {
    if let Ok(mut h) = NOTES.write() {
        *h = hook;
    }
}

/// A reporter that ignores everything.
pub struct Silent;

impl Reporter for Silent {}

/// A reader that reports the bytes read through it.
pub struct ProgressReader<'a, R> {
    pub inner: R,
    reporter: &'a dyn Reporter,
    id: usize,
    pending: u64,
}

impl<'a, R> ProgressReader<'a, R> {
    pub fn new(inner: R, reporter: &'a dyn Reporter, id: usize) -> Self {
        ProgressReader {
            inner,
            reporter,
            id,
            pending: 0,
        }
    }
}

impl<R: std::io::Read> std::io::Read for ProgressReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.pending += n as u64;
        // Batch updates: a call per 8 KiB read would cost more than the bar is worth.
        if self.pending >= 1 << 20 || n == 0 {
            self.reporter.advance(self.id, self.pending);
            self.pending = 0;
        }
        Ok(n)
    }
}

/// Human-readable byte sizes (binary units, as `du -h`).
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}
