//! What a probed container's processes open: fanotify on the bundle's
//! rootfs, paths mapped back to image paths.

use super::*;

/// What fanotify saw, gathered on its own thread; `label` names the probe
/// running at the time.
pub(super) struct Watcher {
    stop: Arc<AtomicBool>,
    label: Arc<Mutex<String>>,
    handle: std::thread::JoinHandle<Vec<(PathBuf, String)>>,
}

impl Watcher {
    pub(super) fn start(rootfs: &Path) -> Result<Watcher, Error> {
        let fan = sys::Fanotify::watch_filesystem(rootfs).map_err(Error::Observe)?;
        let stop = Arc::new(AtomicBool::new(false));
        let label = Arc::new(Mutex::new(String::new()));
        let (s, l) = (stop.clone(), label.clone());
        let handle = std::thread::spawn(move || {
            let mut seen: Vec<(PathBuf, String)> = Vec::new();
            let mut known = std::collections::HashSet::new();
            loop {
                let done = s.load(Ordering::Acquire);
                // After stop, drain what is queued, then end.
                let events = fan.read(if done { 0 } else { 100 }).unwrap_or_default();
                if done && events.is_empty() {
                    break;
                }
                let now = l.lock().map(|g| g.clone()).unwrap_or_default();
                for a in events {
                    if known.insert(a.path.clone()) {
                        seen.push((a.path, now.clone()));
                    }
                }
            }
            seen
        });
        Ok(Watcher {
            stop,
            label,
            handle,
        })
    }

    pub(super) fn label(&self, probe: &str) {
        if let Ok(mut g) = self.label.lock() {
            *g = probe.to_string();
        }
    }

    pub(super) fn finish(self) -> Vec<(PathBuf, String)> {
        self.stop.store(true, Ordering::Release);
        self.handle.join().unwrap_or_default()
    }
}

/// An opened path as an image path: under the bundle's rootfs as this
/// process sees it, or already the container's view of it.
pub(super) fn image_path(p: &Path, rootfs: &Path) -> Option<String> {
    let s = p.to_str()?;
    let s = s.strip_suffix(" (deleted)").unwrap_or(s);
    let p = Path::new(s);
    let rel = match p.strip_prefix(rootfs) {
        Ok(r) => r.to_str()?.to_string(),
        Err(_) => s.strip_prefix('/')?.to_string(),
    };
    Some(format!("/{rel}"))
}

/// The observed files that are files of the image, and every symlink of
/// the image that resolves to one (the names they were opened by).
pub(super) fn observed_in(
    tree: &Tree,
    seen: Vec<(PathBuf, String)>,
    rootfs: &Path,
) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for (p, probe) in seen {
        let Some(ip) = image_path(&p, rootfs) else {
            continue;
        };
        if tree.get(&ip).is_some_and(|n| n.is_file()) {
            out.entry(ip).or_insert(probe);
        }
    }
    let mut links = Vec::new();
    for (rel, node) in tree.iter() {
        if node.symlink_target().is_none() {
            continue;
        }
        if let Ok(r) = tree.resolve(rel, true) {
            if let Some(probe) = out.get(&format!("/{}", r.path)) {
                links.push((format!("/{rel}"), probe.clone()));
            }
        }
    }
    for (l, p) in links {
        out.entry(l).or_insert(p);
    }
    out
}
