//! A sandboxed command's output kept in a log file, and what of it to show
//! when the command fails.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use crate::{Outcome, Output, SandboxError, SandboxSpec};

/// Runs `spec` in a new sandbox in `work`, its output appended to the log
/// at `log_path`.
pub fn run_logged(spec: &SandboxSpec, helper: &Path, work: &Path, log_path: &Path) -> Result<Outcome, SandboxError> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_path)
        .map_err(|e| SandboxError::io(log_path, e))?;
    crate::run(spec, helper, work, Output::File(log))
}

/// The last lines of the log, at most a few kilobytes, indented for an
/// error message.
pub fn log_tail(path: &Path) -> String {
    const TAIL_BYTES: u64 = 4096;
    const TAIL_LINES: usize = 25;
    let Ok(mut file) = File::open(path) else { return String::new() };
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = file.seek(SeekFrom::Start(size.saturating_sub(TAIL_BYTES)));
    let mut bytes = Vec::new();
    let _ = file.take(TAIL_BYTES).read_to_end(&mut bytes);
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text.lines().collect();
    if lines.is_empty() {
        return "  (it printed nothing)".into();
    }
    let start = lines.len().saturating_sub(TAIL_LINES);
    lines[start..].iter().map(|l| format!("  | {l}")).collect::<Vec<_>>().join("\n")
}

/// A command named by its first line, at most 60 characters (`…` when
/// there is more).
pub fn first_line(command: &str) -> String {
    let line = command.trim().lines().next().unwrap_or_default();
    let mut short: String = line.chars().take(60).collect();
    if short.len() < line.len() || command.trim().lines().nth(1).is_some() {
        short.push('…');
    }
    short
}

#[cfg(test)]
mod tests {
    use super::first_line;

    #[test]
    fn a_command_is_named_by_its_first_line() {
        assert_eq!(first_line("make\nmake install"), "make…");
        assert_eq!(first_line("  cc -o x x.c  "), "cc -o x x.c");
    }
}
