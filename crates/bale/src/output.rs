//! Formatting helpers for human output.

use std::io::Write;

use serde::Serialize;

/// Prints `value` as one JSON document on stdout.
pub fn print_json(value: &impl Serialize) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
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
