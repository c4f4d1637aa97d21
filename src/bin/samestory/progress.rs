//! Progress on stderr, when it is a terminal: one bar per stage, in the stage's own units
//! (bytes and documents per second while reading, bands while bucketing, documents while
//! verifying), each with an ETA. A finished stage's bar stays as a line of its own.

use std::io::{self, IsTerminal};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use indicatif::{ProgressBar, ProgressState, ProgressStyle};
use samestory::pipeline::{Progress, Unit};

/// Progress bars, or nothing when stderr is not a terminal or the user asked for quiet.
pub struct Bar {
    show: bool,
    current: Mutex<Option<ProgressBar>>,
    documents: AtomicU64,
}

impl Bar {
    /// Bars on a terminal unless `quiet`.
    pub fn new(quiet: bool) -> Bar {
        Bar {
            show: !quiet && io::stderr().is_terminal(),
            current: Mutex::new(None),
            documents: AtomicU64::new(0),
        }
    }

    /// Close the last stage's bar.
    pub fn finish(&self) {
        if let Some(bar) = self.current.lock().expect("not poisoned").take() {
            bar.finish();
        }
    }
}

/// A whole-number rate: "41,210 docs/s" reads better than "41210.4402/s".
fn rate(state: &ProgressState, w: &mut dyn std::fmt::Write) {
    let _ = write!(w, "{}/s", thousands(state.per_sec().round() as u64));
}

/// `1234567` as `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn style(unit: Unit) -> ProgressStyle {
    let template = match unit {
        Unit::Bytes => {
            "{prefix:>10} [{bar:30}] {binary_bytes}/{binary_total_bytes} \
             {binary_bytes_per_sec} · {msg} · ETA {eta}"
        }
        Unit::Bands => "{prefix:>10} [{bar:30}] band {pos}/{len} · ETA {eta}",
        _ => "{prefix:>10} [{bar:30}] {pos}/{len} documents · {rate} · ETA {eta}",
    };
    ProgressStyle::with_template(template)
        .expect("static template")
        .with_key("rate", rate)
        .progress_chars("=> ")
}

impl Progress for Bar {
    fn stage(&self, name: &str, total: u64, unit: Unit) {
        if !self.show {
            return;
        }
        let mut current = self.current.lock().expect("not poisoned");
        if let Some(done) = current.take() {
            done.finish();
        }
        self.documents.store(0, Ordering::Relaxed);
        let bar = ProgressBar::new(total)
            .with_style(style(unit))
            .with_prefix(name.to_string());
        if unit == Unit::Bytes {
            bar.set_message("0 documents");
        }
        *current = Some(bar);
    }

    fn advance(&self, n: u64) {
        if let Some(bar) = self.current.lock().expect("not poisoned").as_ref() {
            bar.inc(n);
        }
    }

    fn documents(&self, n: u64) {
        if !self.show {
            return;
        }
        let total = self.documents.fetch_add(n, Ordering::Relaxed) + n;
        if let Some(bar) = self.current.lock().expect("not poisoned").as_ref() {
            let secs = bar.elapsed().as_secs_f64().max(1e-3);
            bar.set_message(format!(
                "{} documents, {} docs/s",
                thousands(total),
                thousands((total as f64 / secs).round() as u64)
            ));
        }
    }
}
