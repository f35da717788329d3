//! Progress bars on stderr, drawn with indicatif; hidden when stderr is not
//! a terminal.

use crate::progress::Reporter;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;

pub struct Bars {
    multi: Option<MultiProgress>,
    bars: Mutex<HashMap<usize, ProgressBar>>,
}

impl Bars {
    pub fn new(enabled: bool) -> Bars {
        let multi = (enabled && std::io::stderr().is_terminal())
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        if let Some(m) = &multi {
            let m = m.clone();
            crate::progress::set_note_hook(Some(Box::new(move |line| {
                if m.println(line).is_err() {
                    eprintln!("{line}");
                }
            })));
        }
        Bars {
            multi,
            bars: Mutex::new(HashMap::new()),
        }
    }

    pub fn clear(&self) {
        if let Some(m) = &self.multi {
            crate::progress::set_note_hook(None);
            let _ = m.clear();
        }
    }
}

impl Reporter for Bars {
    fn begin(&self, id: usize, label: &str, total: u64) {
        let Some(m) = &self.multi else { return };
        let style = ProgressStyle::with_template(
            "{msg:28} {bar:30} {bytes:>10}/{total_bytes:10} {bytes_per_sec:>12}",
        )
        .expect("valid template");
        let bar = m.add(
            ProgressBar::new(total)
                .with_style(style)
                .with_message(label.to_string()),
        );
        self.bars.lock().expect("not poisoned").insert(id, bar);
    }
    fn advance(&self, id: usize, delta: u64) {
        if let Some(b) = self.bars.lock().expect("not poisoned").get(&id) {
            b.inc(delta);
        }
    }
    fn end(&self, id: usize) {
        if let Some(b) = self.bars.lock().expect("not poisoned").remove(&id) {
            b.finish_and_clear();
        }
    }
}
