//! Progress bars for downloads and uploads. A bar appears only once a transfer has run for
//! about a second, only when stderr is a terminal, and never with `-q` or `--json`: short
//! transfers and logs stay clean.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::sync::OnceLock;
use std::time::Duration;

/// Transfers shorter than this show no bar.
const DELAY: Duration = Duration::from_secs(1);

/// Where bars are drawn, or `None` when they are not wanted. Set once, from `main`.
static BARS: OnceLock<Option<MultiProgress>> = OnceLock::new();

pub fn init(enabled: bool) {
    use std::io::IsTerminal;
    let bars = (enabled && std::io::stderr().is_terminal()).then(MultiProgress::new);
    let _ = BARS.set(bars);
}

/// One download or upload. Cheap to clone; clones report to the same bar.
#[derive(Clone)]
pub struct Transfer {
    bar: ProgressBar,
    shown: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Transfer {
    /// `what` is the bar's label, such as `downloading acme:log@1.2.0`; `total` the size in
    /// bytes when it is known.
    pub fn new(what: impl Into<String>, total: Option<u64>) -> Self {
        let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::hidden());
        let template = if total.is_some() {
            "{msg} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec})"
        } else {
            "{msg} {bytes} ({bytes_per_sec})"
        };
        bar.set_style(
            ProgressStyle::with_template(template)
                .expect("a valid template")
                .progress_chars("=> "),
        );
        bar.set_message(what.into());
        Self {
            bar,
            shown: Default::default(),
        }
    }

    pub fn set_length(&self, total: u64) {
        self.bar.set_length(total);
    }

    pub fn inc(&self, bytes: u64) {
        self.bar.inc(bytes);
        use std::sync::atomic::Ordering;
        if self.bar.elapsed() < DELAY || self.shown.load(Ordering::Relaxed) {
            return;
        }
        if let Some(Some(bars)) = BARS.get() {
            if !self.shown.swap(true, Ordering::Relaxed) {
                bars.add(self.bar.clone());
            }
        }
    }

    /// Removes the bar; the command's own summary says what was transferred.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Drop for Transfer {
    fn drop(&mut self) {
        // The last clone clears the line, also when the transfer failed.
        if std::sync::Arc::strong_count(&self.shown) == 1 {
            self.bar.finish_and_clear();
        }
    }
}
