//! The dynamic section of an ELF file, read from a stream.
//!
//! Files arrive as tar entries, so they cannot be seeked: the reader keeps
//! the prefix of the file it has read and reads on only as far as the
//! program headers, the dynamic segment and its string table reach. Every
//! offset is checked against the file's declared size before anything is
//! read, so a forged header cannot make it read or hold more than the
//! file itself.

use std::io::Read;

mod sections;
pub use sections::{Section, sections};

const MAGIC: [u8; 4] = [0x7f, b'E', b'L', b'F'];
const PT_LOAD: u32 = 1;
const PT_DYNAMIC: u32 = 2;
const DT_NULL: u64 = 0;
const DT_NEEDED: u64 = 1;
const DT_STRTAB: u64 = 5;
const DT_STRSZ: u64 = 10;
const DT_SONAME: u64 = 14;
/// A name longer than this in the string table is refused as malformed.
const MAX_NAME: usize = 4096;
/// More program headers than this are refused: real files have a dozen.
const MAX_PROGRAM_HEADERS: u64 = 4096;
/// More dynamic entries than this are refused: real files have a hundred.
const MAX_DYNAMIC_SIZE: u64 = 1 << 20;

pub const EM_386: u16 = 3;
pub const EM_MIPS: u16 = 8;
pub const EM_PPC64: u16 = 21;
pub const EM_S390: u16 = 22;
pub const EM_ARM: u16 = 40;
pub const EM_X86_64: u16 = 62;
pub const EM_AARCH64: u16 = 183;
pub const EM_RISCV: u16 = 243;
pub const EM_LOONGARCH: u16 = 258;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Elf32,
    Elf64,
}

/// What the dynamic linker and ldconfig read from a shared object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dynamic {
    pub class: Class,
    pub little_endian: bool,
    pub machine: u16,
    /// `e_flags`: the float ABI on ARM and RISC-V, the ABI on MIPS.
    pub flags: u32,
    /// `DT_SONAME`, when the file names itself.
    pub soname: Option<String>,
    /// `DT_NEEDED`, in order.
    pub needed: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ElfError {
    #[error("the ELF file is malformed: {0}")]
    Malformed(&'static str),
    #[error("reading the ELF file: {0}")]
    Io(#[from] std::io::Error),
}

impl ElfError {
    pub fn help(&self) -> Option<&'static str> {
        match self {
            ElfError::Malformed(_) => Some("the package ships a damaged shared object; rebuild or drop that package"),
            ElfError::Io(_) => None,
        }
    }
}

/// Reads the dynamic section of the ELF file `reader` yields (`size` bytes).
/// `Ok(None)` when it is not ELF, or has no dynamic segment (a static
/// executable, a linker script named like a library).
pub fn read_dynamic(reader: &mut dyn Read, size: u64) -> Result<Option<Dynamic>, ElfError> {
    let mut file = Prefix { reader, size, bytes: Vec::new() };
    if !file.reach(16)? || file.bytes[..4] != MAGIC {
        return Ok(None);
    }
    let class = match file.bytes[4] {
        1 => Class::Elf32,
        2 => Class::Elf64,
        _ => return Err(ElfError::Malformed("unknown ELF class")),
    };
    let little_endian = match file.bytes[5] {
        1 => true,
        2 => false,
        _ => return Err(ElfError::Malformed("unknown byte order")),
    };
    let f = Fields { class, little_endian };
    let header_size = f.pick(52, 64);
    if !file.reach(header_size)? {
        return Err(ElfError::Malformed("the ELF header is cut short"));
    }
    let machine = f.u16(&file.bytes, 18);
    let (phoff, flags, phentsize, phnum) = match class {
        Class::Elf32 => {
            (u64::from(f.u32(&file.bytes, 28)), f.u32(&file.bytes, 36), f.u16(&file.bytes, 42), f.u16(&file.bytes, 44))
        }
        Class::Elf64 => {
            (f.u64(&file.bytes, 32), f.u32(&file.bytes, 48), f.u16(&file.bytes, 54), f.u16(&file.bytes, 56))
        }
    };
    let entry_size = f.pick(32, 56);
    if u64::from(phentsize) < entry_size || u64::from(phnum) > MAX_PROGRAM_HEADERS {
        return Err(ElfError::Malformed("bad program header table"));
    }
    let table_end = phoff
        .checked_add(u64::from(phentsize) * u64::from(phnum))
        .ok_or(ElfError::Malformed("program header table out of range"))?;
    if !file.reach(table_end)? {
        return Err(ElfError::Malformed("program header table out of range"));
    }
    let mut loads = Vec::new();
    let mut dynamic = None;
    for i in 0..u64::from(phnum) {
        let at = to_usize(phoff + i * u64::from(phentsize))?;
        let header = &file.bytes[at..];
        let kind = f.u32(header, 0);
        let segment = match class {
            Class::Elf32 => Segment {
                offset: u64::from(f.u32(header, 4)),
                vaddr: u64::from(f.u32(header, 8)),
                filesz: u64::from(f.u32(header, 16)),
            },
            Class::Elf64 => Segment { offset: f.u64(header, 8), vaddr: f.u64(header, 16), filesz: f.u64(header, 32) },
        };
        match kind {
            PT_LOAD => loads.push(segment),
            PT_DYNAMIC if dynamic.is_none() => dynamic = Some(segment),
            _ => {}
        }
    }
    let Some(dynamic) = dynamic else { return Ok(None) };
    if dynamic.filesz > MAX_DYNAMIC_SIZE {
        return Err(ElfError::Malformed("the dynamic segment is implausibly large"));
    }
    let dynamic_end =
        dynamic.offset.checked_add(dynamic.filesz).ok_or(ElfError::Malformed("dynamic segment out of range"))?;
    if !file.reach(dynamic_end)? {
        return Err(ElfError::Malformed("dynamic segment out of range"));
    }
    let step = f.pick(8, 16);
    let (mut strtab, mut strsz, mut soname, mut needed) = (None, None, None, Vec::new());
    let mut at = dynamic.offset;
    while at + step <= dynamic_end {
        let entry = &file.bytes[to_usize(at)?..];
        let (tag, value) = match class {
            Class::Elf32 => (u64::from(f.u32(entry, 0)), u64::from(f.u32(entry, 4))),
            Class::Elf64 => (f.u64(entry, 0), f.u64(entry, 8)),
        };
        match tag {
            DT_NULL => break,
            DT_NEEDED => needed.push(value),
            DT_STRTAB => strtab = Some(value),
            DT_STRSZ => strsz = Some(value),
            DT_SONAME => soname = Some(value),
            _ => {}
        }
        at += step;
    }
    if soname.is_none() && needed.is_empty() {
        return Ok(Some(Dynamic { class, little_endian, machine, flags, soname: None, needed: Vec::new() }));
    }
    let (Some(strtab), Some(strsz)) = (strtab, strsz) else {
        return Err(ElfError::Malformed("names without a string table"));
    };
    // The table is addressed in memory; the load segment holding it says
    // where that is in the file.
    let table = loads
        .iter()
        .find(|s| s.vaddr <= strtab && strtab - s.vaddr < s.filesz)
        .map(|s| s.offset + (strtab - s.vaddr))
        .ok_or(ElfError::Malformed("the string table is outside every load segment"))?;
    let table_end = table.checked_add(strsz).ok_or(ElfError::Malformed("string table out of range"))?;
    let mut name = |offset: u64| -> Result<String, ElfError> {
        if offset >= strsz {
            return Err(ElfError::Malformed("a name is outside the string table"));
        }
        let start = table + offset;
        let end = table_end.min(start + MAX_NAME as u64 + 1);
        if !file.reach(end)? {
            return Err(ElfError::Malformed("string table out of range"));
        }
        let bytes = &file.bytes[to_usize(start)?..to_usize(end)?];
        let length = bytes
            .iter()
            .position(|b| *b == 0)
            .ok_or(ElfError::Malformed("a name in the string table is unterminated"))?;
        String::from_utf8(bytes[..length].to_vec()).map_err(|_| ElfError::Malformed("a name is not UTF-8"))
    };
    let soname = soname.map(&mut name).transpose()?;
    let needed = needed.into_iter().map(&mut name).collect::<Result<Vec<_>, _>>()?;
    Ok(Some(Dynamic { class, little_endian, machine, flags, soname, needed }))
}

#[derive(Debug, Clone, Copy)]
struct Segment {
    offset: u64,
    vaddr: u64,
    filesz: u64,
}

/// The part of the file read so far.
struct Prefix<'a> {
    reader: &'a mut dyn Read,
    size: u64,
    bytes: Vec<u8>,
}

impl Prefix<'_> {
    /// Reads on until `end` bytes are held; false when the file is shorter.
    fn reach(&mut self, end: u64) -> Result<bool, ElfError> {
        if end > self.size {
            return Ok(false);
        }
        let missing = end.saturating_sub(self.bytes.len() as u64);
        if missing > 0 {
            let before = self.bytes.len() as u64;
            (&mut *self.reader).take(missing).read_to_end(&mut self.bytes)?;
            if (self.bytes.len() as u64) < before + missing {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

#[derive(Debug, Clone, Copy)]
struct Fields {
    class: Class,
    little_endian: bool,
}

impl Fields {
    fn pick(self, elf32: u64, elf64: u64) -> u64 {
        match self.class {
            Class::Elf32 => elf32,
            Class::Elf64 => elf64,
        }
    }

    // Callers have reached past every field they read.
    fn array<const N: usize>(bytes: &[u8], at: usize) -> [u8; N] {
        let mut out = [0; N];
        out.copy_from_slice(&bytes[at..at + N]);
        out
    }

    fn u16(self, bytes: &[u8], at: usize) -> u16 {
        let b = Self::array(bytes, at);
        if self.little_endian { u16::from_le_bytes(b) } else { u16::from_be_bytes(b) }
    }

    fn u32(self, bytes: &[u8], at: usize) -> u32 {
        let b = Self::array(bytes, at);
        if self.little_endian { u32::from_le_bytes(b) } else { u32::from_be_bytes(b) }
    }

    fn u64(self, bytes: &[u8], at: usize) -> u64 {
        let b = Self::array(bytes, at);
        if self.little_endian { u64::from_le_bytes(b) } else { u64::from_be_bytes(b) }
    }
}

fn to_usize(value: u64) -> Result<usize, ElfError> {
    usize::try_from(value).map_err(|_| ElfError::Malformed("offset out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    use bale_testkit::elf::SharedObject;

    fn shared_object(soname: Option<&str>, needed: &[&str]) -> Vec<u8> {
        SharedObject { elf64: true, machine: EM_X86_64, flags: 7, soname, needed }.bytes()
    }

    fn read(bytes: &[u8]) -> Result<Option<Dynamic>, ElfError> {
        read_dynamic(&mut &bytes[..], bytes.len() as u64)
    }

    #[test]
    fn reads_soname_needed_machine_and_flags() {
        let dynamic = read(&shared_object(Some("libfoo.so.1"), &["libc.so.6", "libm.so.6"])).unwrap().unwrap();
        assert_eq!(dynamic.soname.as_deref(), Some("libfoo.so.1"));
        assert_eq!(dynamic.needed, ["libc.so.6", "libm.so.6"]);
        assert_eq!((dynamic.class, dynamic.machine, dynamic.flags), (Class::Elf64, EM_X86_64, 7));
        assert!(dynamic.little_endian);
    }

    #[test]
    fn reads_32_bit_objects() {
        let bytes = SharedObject {
            elf64: false,
            machine: EM_ARM,
            flags: 0x0500_0400,
            soname: Some("libbar.so.2"),
            needed: &[],
        }
        .bytes();
        let dynamic = read(&bytes).unwrap().unwrap();
        assert_eq!((dynamic.class, dynamic.machine, dynamic.flags), (Class::Elf32, EM_ARM, 0x0500_0400));
        assert_eq!(dynamic.soname.as_deref(), Some("libbar.so.2"));
    }

    #[test]
    fn a_library_without_a_soname_has_none() {
        let dynamic = read(&shared_object(None, &["libc.so.6"])).unwrap().unwrap();
        assert_eq!(dynamic.soname, None);
    }

    #[test]
    fn text_and_static_files_are_not_shared_objects() {
        assert!(read(b"/* GNU ld script */\nGROUP ( libc.so.6 )\n").unwrap().is_none());
        let mut without_dynamic = shared_object(Some("libfoo.so.1"), &[]);
        without_dynamic[64 + 56..64 + 60].copy_from_slice(&6u32.to_le_bytes());
        assert!(read(&without_dynamic).unwrap().is_none());
    }

    #[test]
    fn forged_offsets_are_refused_without_reading_past_the_file() {
        let good = shared_object(Some("libfoo.so.1"), &[]);
        // The program header table claimed far past the end.
        let mut bad = good.clone();
        bad[32..40].copy_from_slice(&(1u64 << 40).to_le_bytes());
        assert!(matches!(read(&bad), Err(ElfError::Malformed(_))));
        // A string offset beyond the table.
        let mut bad = good.clone();
        let dyn_off = 64 + 2 * 56; // needed entries come first
        bad[dyn_off + 8..dyn_off + 16].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(matches!(read(&bad), Err(ElfError::Malformed(_))));
        // Cut short: every prefix fails or reads as not ELF, never panics.
        for length in 0..good.len() {
            let _ = read(&good[..length]);
        }
        // A stream longer than its declared size is read only that far.
        assert!(matches!(read_dynamic(&mut &good[..], 40), Err(ElfError::Malformed(_))));
    }
}
