//! `slim rewrite` of a multi-platform index: each platform's image traced,
//! planned and built on its own (its ELF objects, multiarch directories and
//! ld.so are its own: the trace reads them from that image), several at
//! once, then one index of the slimmed images written.

use super::{prepare, Built, Error, Options, Rewrite};
use crate::image::Compression;
use crate::progress::Reporter;
use crate::transport::{Entry, Index};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// What became of one platform.
pub struct Platform {
    pub entry: Entry,
    /// Traced and planned; Err when its image could not be read or traced.
    pub result: Result<Done, Error>,
}

/// A platform traced and planned, and built unless refused or a dry run.
pub struct Done {
    pub rewrite: Rewrite,
    /// Why it would not start: then nothing was built.
    pub refusal: Option<Error>,
    pub built: Option<Built>,
}

impl Platform {
    /// Whether this platform's image is ready to go into the index.
    pub fn ok(&self) -> bool {
        matches!(&self.result, Ok(d) if d.refusal.is_none())
    }

    /// Why it is not, in one line.
    pub fn problem(&self) -> Option<String> {
        match &self.result {
            Err(e) => Some(e.to_string()),
            Ok(Done {
                refusal: Some(e), ..
            }) => Some(e.to_string()),
            Ok(_) => None,
        }
    }
}

/// Where built layers go: their compression and a directory.
pub struct Build<'a> {
    pub compression: Compression,
    pub work: &'a Path,
}

/// Rewrites the images `entries` of `index` lists, up to one per core at
/// once (each also compresses on every core), in the index's order. With
/// `build`, each one not refused is built into its directory.
pub fn rewrite_platforms(
    index: &Index,
    entries: &[&Entry],
    opts: &Options,
    build: Option<&Build>,
    reporter: &dyn Reporter,
) -> Vec<Platform> {
    let next = AtomicUsize::new(0);
    let slots: Mutex<Vec<Option<Platform>>> = Mutex::new(entries.iter().map(|_| None).collect());
    let workers = crate::image::write::blocks::threads()
        .min(entries.len())
        .max(1);
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(entry) = entries.get(i) else { break };
                let tasks = Tasks {
                    inner: reporter,
                    base: 1000 * (i + 1),
                    label: entry.label(),
                };
                let result = one(index, entry, opts, build, &tasks);
                slots.lock().expect("not poisoned")[i] = Some(Platform {
                    entry: (*entry).clone(),
                    result,
                });
            });
        }
    });
    slots
        .into_inner()
        .expect("not poisoned")
        .into_iter()
        .flatten()
        .collect()
}

fn one(
    index: &Index,
    entry: &Entry,
    opts: &Options,
    build: Option<&Build>,
    reporter: &dyn Reporter,
) -> Result<Done, Error> {
    let image = index.open(entry)?;
    let layers =
        crate::image::read_layers(&image, reporter).map_err(crate::transport::Error::from)?;
    let rewrite = prepare(&image, &layers, opts)?;
    // Forced or not, a platform that would not start is left out: --force
    // writes an index of those that succeeded (one platform is written
    // anyway with --platform P --force).
    let refusal = rewrite.refusal(false).err();
    let built = match (build, &refusal) {
        (Some(b), None) => {
            Some(rewrite.build(&image, &layers, opts, b.compression, b.work, reporter, 0)?)
        }
        _ => None,
    };
    Ok(Done {
        rewrite,
        refusal,
        built,
    })
}

/// A platform's progress: its tasks numbered apart from the others', its
/// labels prefixed with the platform.
struct Tasks<'a> {
    inner: &'a dyn Reporter,
    base: usize,
    label: String,
}

impl Reporter for Tasks<'_> {
    fn begin(&self, id: usize, label: &str, total: u64) {
        self.inner
            .begin(self.base + id, &format!("{} {label}", self.label), total);
    }
    fn advance(&self, id: usize, delta: u64) {
        self.inner.advance(self.base + id, delta);
    }
    fn end(&self, id: usize) {
        self.inner.end(self.base + id);
    }
}
