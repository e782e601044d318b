//! Formatting helpers for human output.

use std::fmt;
use std::io::{self, Write};

use serde::Serialize;

/// `println!` for results: when stdout is a pipe whose reader has gone
/// (`bale list | head -1`), the process ends quietly instead of panicking.
macro_rules! outln {
    () => { $crate::output::write_out(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::output::write_out(format_args!("{}\n", format_args!($($arg)*))) };
}

/// `print!` for results, as [`outln!`].
macro_rules! out {
    ($($arg:tt)*) => { $crate::output::write_out(format_args!($($arg)*)) };
}

pub(crate) use {out, outln};

pub fn write_out(args: fmt::Arguments<'_>) {
    let result = io::stdout().lock().write_fmt(args);
    if let Err(error) = result {
        stdout_failed(&error);
    }
}

/// Ends the process after stdout failed: with a closed pipe as a process
/// killed by SIGPIPE would (status 141, nothing said), else with the error.
pub fn stdout_failed(error: &io::Error) -> ! {
    if error.kind() == io::ErrorKind::BrokenPipe {
        std::process::exit(141);
    }
    eprintln!("error: writing to stdout: {error}");
    std::process::exit(1);
}

/// Writes bytes to stdout as they are (`bale sbom`).
pub fn write_bytes(bytes: &[u8]) {
    let mut out = io::stdout().lock();
    if let Err(error) = out.write_all(bytes).and_then(|()| out.flush()) {
        stdout_failed(&error);
    }
}

/// Prints `value` as one JSON document on stdout.
pub fn print_json(value: &impl Serialize) -> anyhow::Result<()> {
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    write_bytes(text.as_bytes());
    Ok(())
}

/// `1536` → `1.5 KiB`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{n} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}

/// `ls -l`-style permission string for a file index entry.
pub fn mode_string(kind: &str, mode: &str) -> String {
    let bits = u32::from_str_radix(mode, 8).unwrap_or(0);
    let mut s = String::with_capacity(10);
    s.push(match kind {
        "directory" => 'd',
        "symlink" => 'l',
        "hardlink" => 'h',
        _ => '-',
    });
    for (shift, special, special_char) in [(6, 0o4000, 's'), (3, 0o2000, 's'), (0, 0o1000, 't')] {
        let triple = (bits >> shift) & 7;
        s.push(if triple & 4 != 0 { 'r' } else { '-' });
        s.push(if triple & 2 != 0 { 'w' } else { '-' });
        let exec = triple & 1 != 0;
        s.push(match (bits & special != 0, exec) {
            (true, true) => special_char,
            (true, false) => special_char.to_ascii_uppercase(),
            (false, true) => 'x',
            (false, false) => '-',
        });
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(mode_string("file", "0755"), "-rwxr-xr-x");
        assert_eq!(mode_string("file", "4755"), "-rwsr-xr-x");
        assert_eq!(mode_string("directory", "1777"), "drwxrwxrwt");
        assert_eq!(mode_string("file", "0644"), "-rw-r--r--");
    }
}
