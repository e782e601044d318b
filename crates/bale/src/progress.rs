//! Progress bars, drawn only on a terminal.

use std::io::IsTerminal;
use std::sync::Mutex;

use bale_progress::Progress;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Bars on a terminal (unless `--json` or `--quiet`); warnings always, on
/// stderr, as a JSON line with `--json`.
pub fn for_terminal(json: bool, quiet: bool) -> Box<dyn Progress> {
    let bars = !(json || quiet || !std::io::stderr().is_terminal());
    Box::new(Bars { current: Mutex::new(None), draw: bars, json })
}

struct Bars {
    current: Mutex<Option<ProgressBar>>,
    draw: bool,
    json: bool,
}

impl Progress for Bars {
    fn warn(&self, message: &str) {
        if self.json {
            eprintln!("{}", serde_json::json!({ "warning": message }));
            return;
        }
        match self.current.lock().ok().as_ref().and_then(|c| c.as_ref()) {
            Some(bar) => bar.suspend(|| eprintln!("warning: {message}")),
            None => eprintln!("warning: {message}"),
        }
    }

    fn phase(&self, name: &str, total: Option<u64>) {
        if !self.draw {
            return;
        }
        let bar = match total {
            Some(total) => ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr()).with_style(
                ProgressStyle::with_template("{msg:>10} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            ),
            None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()).with_style(
                ProgressStyle::with_template("{msg:>10} {spinner} {pos} entries")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            ),
        };
        bar.set_message(name.to_string());
        if let Ok(mut current) = self.current.lock()
            && let Some(old) = current.replace(bar)
        {
            old.finish_and_clear();
        }
    }

    fn advance(&self, amount: u64) {
        if let Ok(current) = self.current.lock()
            && let Some(bar) = current.as_ref()
        {
            bar.inc(amount);
        }
    }

    fn finish_phase(&self) {
        if let Ok(mut current) = self.current.lock()
            && let Some(bar) = current.take()
        {
            bar.finish_and_clear();
        }
    }
}
