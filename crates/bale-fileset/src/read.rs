//! The one function that reads tars: strictly, for canonical tars and for
//! any other tar bale is asked to ingest (ustar, PAX and GNU headers).
//!
//! Headers are parsed here rather than by a general tar library so that
//! every byte read is bounded before it is read: an extended header (PAX
//! record, GNU long name) is refused by its declared size, never buffered
//! whole, and entry data is handed out as a stream.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Read};

use crate::entry::{Entry, EntryKind};
use crate::error::{EntryProblem, FilesetError};
use crate::path::{self, normalize};
use crate::tarfmt::{BLOCK, padding};

/// The most bytes an extended header (a PAX header, a GNU long name or link
/// target) may hold; real ones are a few hundred bytes.
pub const MAX_EXTENSION_SIZE: u64 = 64 * 1024;

/// Bounds on what one file set may hold. Defaults are sized for real
/// packages (the largest Debian packages are a few GiB unpacked).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_total_size: u64,
    pub max_entry_size: u64,
    pub max_entries: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_total_size: 8 << 30, max_entry_size: 8 << 30, max_entries: 1_000_000 }
    }
}

/// What is known of a path seen earlier in the stream.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Seen {
    Directory,
    File,
    Other,
}

/// Reads a tar stream entry by entry, refusing anything outside bale's rules,
/// and hands each accepted entry with its data to `visit`.
///
/// Refused: `..` and absolute paths, non-UTF-8 names, devices, fifos,
/// sparse files, whiteouts, duplicates, an entry below a path that is not a
/// directory (a write through a symlink), symlinks whose relative target
/// climbs out of the set, hard links to anything but an earlier regular file,
/// entries or totals over `limits`, extended headers over
/// [`MAX_EXTENSION_SIZE`], bad header checksums and truncated data. The
/// error names the entry as the archive spells it.
///
/// Modes and owners are passed on as declared (the caller normalises), and
/// the root entry (`./`) is skipped. `visit` may read the data or not; the
/// rest is drained and counted either way.
pub fn read_entries<R: Read>(
    reader: R,
    limits: &Limits,
    mut visit: impl FnMut(Entry, &mut dyn Read) -> Result<(), FilesetError>,
) -> Result<(), FilesetError> {
    let mut input = reader;
    let mut seen: HashMap<String, Seen> = HashMap::new();
    let mut hardlink_roots: HashMap<String, String> = HashMap::new();
    let mut total: u64 = 0;
    let mut count: u64 = 0;
    let mut pending = Extensions::default();
    while let Some(header) = next_header(&mut input)? {
        if matches!(header.flag, b'x' | b'g' | b'L' | b'K') {
            // Checked before anything is read: the data is buffered whole.
            if header.size > MAX_EXTENSION_SIZE {
                return Err(FilesetError::entry(
                    &header.name,
                    EntryProblem::ExtensionTooLarge { size: header.size, limit: MAX_EXTENSION_SIZE },
                ));
            }
            // One header of each kind per entry, within one budget: stacked
            // headers would pile up extended data without a bound, and
            // tools disagree on which of two names wins.
            if header.flag != b'g' {
                let stacked = match header.flag {
                    b'x' => std::mem::replace(&mut pending.had_pax, true),
                    b'L' => std::mem::replace(&mut pending.had_long_name, true),
                    _ => std::mem::replace(&mut pending.had_long_link, true),
                };
                pending.bytes += header.size;
                if stacked {
                    return Err(FilesetError::entry(
                        &header.name,
                        EntryProblem::BadHeader { reason: "a second extended header of one kind for one entry".into() },
                    ));
                }
                if pending.bytes > MAX_EXTENSION_SIZE {
                    return Err(FilesetError::entry(
                        &header.name,
                        EntryProblem::ExtensionTooLarge { size: pending.bytes, limit: MAX_EXTENSION_SIZE },
                    ));
                }
            }
            let data = read_block_data(&mut input, header.size, &header.name)?;
            let conflict = |what: &str| {
                FilesetError::entry(
                    &header.name,
                    EntryProblem::BadHeader { reason: format!("both a PAX and a GNU header give the {what}") },
                )
            };
            match header.flag {
                b'x' => pending.absorb_pax(&data, &header.name)?,
                b'g' => check_global_header(&data, &header.name)?,
                b'L' => {
                    if pending.path.is_some() {
                        return Err(conflict("path"));
                    }
                    pending.path = Some(until_nul(&data).to_vec());
                }
                _ => {
                    if pending.link.is_some() {
                        return Err(conflict("link target"));
                    }
                    pending.link = Some(until_nul(&data).to_vec());
                }
            }
            if pending.had_pax && pending.had_long_name && pending.pax_path {
                return Err(conflict("path"));
            }
            if pending.had_pax && pending.had_long_link && pending.pax_link {
                return Err(conflict("link target"));
            }
            continue;
        }
        let extensions = std::mem::take(&mut pending);
        let raw_path = extensions.path.unwrap_or(header.name);
        let declared_size = extensions.size.unwrap_or(header.size);
        let uid = extensions.uid.unwrap_or(header.uid);
        let gid = extensions.gid.unwrap_or(header.gid);
        let xattrs = extensions.xattrs;
        let raw_link = extensions.link.unwrap_or(header.link);
        let fail = |problem| FilesetError::entry(&raw_path, problem);
        let path = match normalize(&raw_path) {
            Ok(Some(p)) => p,
            Ok(None) if header.flag == b'5' => {
                skip(&mut input, declared_size, &raw_path)?;
                continue;
            }
            Ok(None) => return Err(fail(EntryProblem::EmptyPath)),
            Err(problem) => return Err(fail(problem)),
        };
        if path.rsplit('/').next().is_some_and(|name| name.starts_with(".wh.")) {
            return Err(fail(EntryProblem::Whiteout));
        }
        count += 1;
        if count > limits.max_entries {
            return Err(fail(EntryProblem::TooManyEntries { limit: limits.max_entries }));
        }
        if declared_size > limits.max_entry_size {
            return Err(fail(EntryProblem::EntryTooLarge { size: declared_size, limit: limits.max_entry_size }));
        }
        total = total.saturating_add(declared_size);
        if total > limits.max_total_size {
            return Err(fail(EntryProblem::TotalTooLarge { limit: limits.max_total_size }));
        }
        if seen.contains_key(&path) {
            return Err(fail(EntryProblem::Duplicate));
        }
        for ancestor in path::ancestors(&path) {
            if matches!(seen.get(ancestor), Some(Seen::File | Seen::Other)) {
                return Err(fail(EntryProblem::ThroughNonDirectory { ancestor: ancestor.to_string() }));
            }
        }
        let link_target = || -> Result<String, FilesetError> {
            let text = std::str::from_utf8(&raw_link).map_err(|_| fail(EntryProblem::BadLinkTarget))?;
            if text.is_empty() || text.contains('\0') || text.len() > path::MAX_PATH_LEN {
                return Err(fail(EntryProblem::BadLinkTarget));
            }
            Ok(text.to_string())
        };
        let kind = match header.flag {
            b'0' | 0 | b'7' => EntryKind::File { size: declared_size },
            b'5' => EntryKind::Directory,
            b'2' => {
                let target = link_target()?;
                if !path::symlink_stays_inside(&path, &target) {
                    return Err(fail(EntryProblem::SymlinkEscapes { target }));
                }
                EntryKind::Symlink { target }
            }
            b'1' => {
                let raw_target = link_target()?;
                let target = match normalize(raw_target.as_bytes()) {
                    Ok(Some(t)) => t,
                    _ => return Err(fail(EntryProblem::HardlinkTarget { target: raw_target })),
                };
                let root = match seen.get(&target) {
                    Some(Seen::File) => hardlink_roots.get(&target).cloned().unwrap_or(target),
                    _ => return Err(fail(EntryProblem::HardlinkTarget { target: raw_target })),
                };
                EntryKind::Hardlink { target: root }
            }
            other => return Err(fail(unsupported(other))),
        };
        let marker = match &kind {
            EntryKind::Directory => Seen::Directory,
            EntryKind::File { .. } => Seen::File,
            // A hard link is a regular file too: later links may name it.
            EntryKind::Hardlink { target } => {
                hardlink_roots.insert(path.clone(), target.clone());
                Seen::File
            }
            EntryKind::Symlink { .. } => Seen::Other,
        };
        seen.insert(path.clone(), marker);
        let entry = Entry { path, kind, mode: header.mode & 0o7777, uid, gid, xattrs };
        let mut data = Counting { inner: (&mut input).take(declared_size), count: 0 };
        visit(entry, &mut data)?;
        drain(&mut data, &raw_path, declared_size)?;
        skip_exact(&mut input, padding(declared_size) as u64, &raw_path)?;
    }
    if pending.is_pending() {
        return Err(FilesetError::MalformedTar(io::Error::new(
            io::ErrorKind::InvalidData,
            "the archive ends after an extended header, with no entry for it",
        )));
    }
    Ok(())
}

/// The fields of one header block that bale uses.
struct Header {
    name: Vec<u8>,
    link: Vec<u8>,
    flag: u8,
    mode: u32,
    uid: u64,
    gid: u64,
    size: u64,
}

fn malformed(reason: impl Into<String>) -> FilesetError {
    FilesetError::MalformedTar(io::Error::new(io::ErrorKind::InvalidData, reason.into()))
}

/// Reads the next header block; `None` at the end of the archive (a zero
/// block, or the end of the input exactly at a block boundary).
fn next_header(input: &mut impl Read) -> Result<Option<Header>, FilesetError> {
    let mut block = [0u8; BLOCK];
    let mut filled = 0;
    while filled < BLOCK {
        match input.read(&mut block[filled..]) {
            Ok(0) if filled == 0 => return Ok(None),
            Ok(0) => return Err(malformed("the archive ends inside a header block")),
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(FilesetError::MalformedTar(e)),
        }
    }
    if block.iter().all(|&b| b == 0) {
        return Ok(None);
    }
    let name_field = until_nul(&block[..100]);
    let stored = parse_octal(&block[148..156]).ok_or_else(|| malformed("a header's checksum field is not a number"))?;
    let unsigned: u64 =
        block.iter().enumerate().map(|(i, &b)| if (148..156).contains(&i) { 32 } else { u64::from(b) }).sum();
    let signed: i64 =
        block.iter().enumerate().map(|(i, &b)| if (148..156).contains(&i) { 32 } else { i64::from(b as i8) }).sum();
    if stored != unsigned && i64::try_from(stored).ok() != Some(signed) {
        return Err(FilesetError::entry(
            name_field,
            EntryProblem::BadHeader { reason: "its header checksum is wrong".into() },
        ));
    }
    let bad = |field: &str| {
        FilesetError::entry(
            name_field,
            EntryProblem::BadHeader { reason: format!("its {field} field is not a number") },
        )
    };
    let mode = parse_number(&block[100..108]).ok_or_else(|| bad("mode"))?;
    let uid = parse_number(&block[108..116]).ok_or_else(|| bad("uid"))?;
    let gid = parse_number(&block[116..124]).ok_or_else(|| bad("gid"))?;
    let size = parse_number(&block[124..136]).ok_or_else(|| bad("size"))?;
    let flag = block[156];
    let posix = &block[257..263] == b"ustar\0";
    let mut name = Vec::with_capacity(256);
    // Only POSIX ustar has a prefix; GNU keeps other fields there.
    let prefix = if posix { until_nul(&block[345..500]) } else { &[] };
    if !prefix.is_empty() {
        name.extend_from_slice(prefix);
        name.push(b'/');
    }
    name.extend_from_slice(name_field);
    Ok(Some(Header {
        name,
        link: until_nul(&block[157..257]).to_vec(),
        flag,
        mode: u32::try_from(mode & 0o7777_7777).unwrap_or(0),
        uid,
        gid,
        size,
    }))
}

fn until_nul(bytes: &[u8]) -> &[u8] {
    bytes.iter().position(|&b| b == 0).map_or(bytes, |end| &bytes[..end])
}

/// An octal field: optional leading spaces, digits, then only NULs and
/// spaces. An all-NUL field is zero (some writers leave unused fields empty).
fn parse_octal(field: &[u8]) -> Option<u64> {
    let start = field.iter().position(|&b| b != b' ').unwrap_or(field.len());
    let digits = &field[start..];
    let end = digits.iter().position(|&b| b == 0 || b == b' ').unwrap_or(digits.len());
    if !digits[end..].iter().all(|&b| b == 0 || b == b' ') {
        return None;
    }
    let mut value: u64 = 0;
    for &b in &digits[..end] {
        if !(b'0'..=b'7').contains(&b) {
            return None;
        }
        value = value.checked_mul(8)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(value)
}

/// A numeric field in octal, or GNU base-256 when the high bit is set.
fn parse_number(field: &[u8]) -> Option<u64> {
    match field.first() {
        Some(&first) if first & 0x80 != 0 => {
            // The next bit is the sign: negative values mean nothing here.
            if first & 0x40 != 0 {
                return None;
            }
            let mut value = u64::from(first & 0x7f);
            for &b in &field[1..] {
                value = value.checked_mul(256)?.checked_add(u64::from(b))?;
            }
            Some(value)
        }
        _ => parse_octal(field),
    }
}

/// What PAX and GNU extension headers said about the entry that follows.
#[derive(Default)]
struct Extensions {
    path: Option<Vec<u8>>,
    link: Option<Vec<u8>>,
    size: Option<u64>,
    uid: Option<u64>,
    gid: Option<u64>,
    xattrs: BTreeMap<String, Vec<u8>>,
    any: bool,
    had_pax: bool,
    had_long_name: bool,
    had_long_link: bool,
    /// The PAX header set `path` / `linkpath`.
    pax_path: bool,
    pax_link: bool,
    /// Extended data read for this entry so far.
    bytes: u64,
}

impl Extensions {
    fn is_pending(&self) -> bool {
        self.any || self.path.is_some() || self.link.is_some()
    }

    fn absorb_pax(&mut self, data: &[u8], raw_path: &[u8]) -> Result<(), FilesetError> {
        self.any = true;
        for (key, value) in pax_records(data, raw_path)? {
            let fail = |problem| FilesetError::entry(raw_path, problem);
            let key = std::str::from_utf8(key).map_err(|_| fail(EntryProblem::NotUtf8))?;
            match key {
                "path" => {
                    self.path = Some(value.to_vec());
                    self.pax_path = true;
                }
                "linkpath" => {
                    self.link = Some(value.to_vec());
                    self.pax_link = true;
                }
                "size" | "uid" | "gid" => {
                    let number = std::str::from_utf8(value)
                        .ok()
                        .and_then(|v| v.parse::<u64>().ok())
                        .ok_or_else(|| fail(EntryProblem::BadNumber { key: key.to_string() }))?;
                    match key {
                        "size" => self.size = Some(number),
                        "uid" => self.uid = Some(number),
                        _ => self.gid = Some(number),
                    }
                }
                "mtime" | "atime" | "ctime" | "uname" | "gname" | "comment" | "charset" | "hdrcharset" => {}
                k if k.starts_with("SCHILY.xattr.") => {
                    self.xattrs.insert(k["SCHILY.xattr.".len()..].to_string(), value.to_vec());
                }
                k => return Err(fail(EntryProblem::UnsupportedExtension { key: k.to_string() })),
            }
        }
        Ok(())
    }
}

/// The `LEN KEY=VALUE\n` records of a PAX header, strictly.
/// One PAX record: its key and value.
type PaxRecord<'a> = (&'a [u8], &'a [u8]);

fn pax_records<'a>(mut data: &'a [u8], raw_path: &[u8]) -> Result<Vec<PaxRecord<'a>>, FilesetError> {
    let bad = || FilesetError::entry(raw_path, EntryProblem::BadHeader { reason: "a PAX record is malformed".into() });
    let mut out = Vec::new();
    while !data.is_empty() {
        if data.iter().all(|&b| b == 0) {
            break;
        }
        let space = data.iter().take(20).position(|&b| b == b' ').ok_or_else(bad)?;
        let digits = &data[..space];
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return Err(bad());
        }
        let len: usize = std::str::from_utf8(digits).ok().and_then(|t| t.parse().ok()).ok_or_else(bad)?;
        if len <= space + 1 || len > data.len() || data[len - 1] != b'\n' {
            return Err(bad());
        }
        let record = &data[space + 1..len - 1];
        let eq = record.iter().position(|&b| b == b'=').ok_or_else(bad)?;
        out.push((&record[..eq], &record[eq + 1..]));
        data = &data[len..];
    }
    Ok(out)
}

/// Reads a bounded extended header's data and its padding.
fn read_block_data(input: &mut impl Read, size: u64, raw_path: &[u8]) -> Result<Vec<u8>, FilesetError> {
    // The caller bounded `size`, so this allocation is bounded too.
    let mut data = vec![0u8; usize::try_from(size).unwrap_or(0)];
    read_exact(input, &mut data, raw_path)?;
    skip_exact(input, padding(size) as u64, raw_path)?;
    Ok(data)
}

fn read_exact(input: &mut impl Read, buf: &mut [u8], raw_path: &[u8]) -> Result<(), FilesetError> {
    input.read_exact(buf).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => FilesetError::entry(raw_path, EntryProblem::Truncated),
        _ => FilesetError::MalformedTar(e),
    })
}

/// Skips a directory's (normally empty) data and its padding.
fn skip(input: &mut impl Read, size: u64, raw_path: &[u8]) -> Result<(), FilesetError> {
    skip_exact(input, size, raw_path)?;
    skip_exact(input, padding(size) as u64, raw_path)
}

fn skip_exact(input: &mut impl Read, n: u64, raw_path: &[u8]) -> Result<(), FilesetError> {
    let mut data = Counting { inner: input.take(n), count: 0 };
    drain(&mut data, raw_path, n)
}

fn unsupported(flag: u8) -> EntryProblem {
    let kind = match flag {
        b'3' => "character device",
        b'4' => "block device",
        b'6' => "fifo",
        b'S' => "GNU sparse file",
        _ => "entry of an unknown tar type",
    };
    let shown = if flag.is_ascii_graphic() { (flag as char).to_string() } else { format!("\\x{flag:02x}") };
    EntryProblem::UnsupportedType { kind: format!("{kind} ({shown:?})") }
}

/// Counts the bytes read through it, to notice archives that end early.
struct Counting<R> {
    inner: R,
    count: u64,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

/// Reads whatever `visit` left of the entry's data and checks that the
/// archive held all the bytes the header declared.
fn drain<R: Read>(data: &mut Counting<R>, raw_path: &[u8], declared: u64) -> Result<(), FilesetError> {
    match io::copy(data, &mut io::sink()) {
        Ok(_) if data.count == declared => Ok(()),
        Ok(_) => Err(FilesetError::entry(raw_path, EntryProblem::Truncated)),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
            Err(FilesetError::entry(raw_path, EntryProblem::Truncated))
        }
        Err(e) => Err(FilesetError::MalformedTar(e)),
    }
}

fn check_global_header(data: &[u8], raw_path: &[u8]) -> Result<(), FilesetError> {
    for (key, _) in pax_records(data, raw_path)? {
        let key = std::str::from_utf8(key).map_err(|_| FilesetError::entry(raw_path, EntryProblem::NotUtf8))?;
        if key != "comment" {
            return Err(FilesetError::entry(raw_path, EntryProblem::UnsupportedExtension { key: key.to_string() }));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn numbers_in_octal_and_base_256() {
        assert_eq!(parse_number(b"0000644\0"), Some(0o644));
        assert_eq!(parse_number(b"  644 \0"), Some(0o644));
        assert_eq!(parse_number(b"\0\0\0\0"), Some(0));
        assert_eq!(parse_number(&[0x80, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 1]), Some((2 << 32) + 1));
        assert_eq!(parse_number(&[0xff; 12]), None);
        assert_eq!(parse_number(b"0009"), None);
        assert_eq!(parse_number(b"77777777777777777777777"), None);
        assert_eq!(parse_number(b"644 zz\0"), None);
        assert_eq!(parse_number(&[0xc0, 0, 0, 1]), None);
    }

    #[test]
    fn pax_records_are_parsed_strictly() {
        let records = pax_records(b"15 path=a/b/cd\n11 uid=123\n", b"x").unwrap();
        assert_eq!(records, vec![(&b"path"[..], &b"a/b/cd"[..]), (&b"uid"[..], &b"123"[..])]);
        for bad in [&b"99 path=x\n"[..], b"5 a=b\n", b"x path=y\n", b"11 pathxyz\n", b"10 path=x!", b"+9 path=x\n"] {
            assert!(pax_records(bad, b"x").is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
    }
}
