//! The section headers of an ELF file held in memory: names and byte
//! ranges, for telling which sections two builds of one file differ in.

/// One section: its name and where its bytes are in the file (`SHT_NOBITS`
/// sections, which have none in the file, are left out).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub name: String,
    pub offset: u64,
    pub size: u64,
}

const SHT_NOBITS: u32 = 8;
const MAX_SECTIONS: u64 = 4096;
/// Longer section names are cut: real ones are a few bytes.
const MAX_NAME: usize = 256;

/// The sections of `bytes`, or `None` when it is not an ELF file or its
/// section headers are not whole (every offset is checked against the
/// slice, so a forged header reads nothing outside it).
pub fn sections(bytes: &[u8]) -> Option<Vec<Section>> {
    if bytes.get(..4)? != super::MAGIC {
        return None;
    }
    let wide = match bytes.get(4)? {
        1 => false,
        2 => true,
        _ => return None,
    };
    let little = match bytes.get(5)? {
        1 => true,
        2 => false,
        _ => return None,
    };
    let read = |at: u64, len: usize| -> Option<u64> {
        let at = usize::try_from(at).ok()?;
        let raw = bytes.get(at..at.checked_add(len)?)?;
        let mut value = 0u64;
        for i in 0..len {
            let byte = if little { raw[len - 1 - i] } else { raw[i] };
            value = (value << 8) | u64::from(byte);
        }
        Some(value)
    };
    let (shoff, shentsize, shnum, shstrndx) = if wide {
        (read(0x28, 8)?, read(0x3a, 2)?, read(0x3c, 2)?, read(0x3e, 2)?)
    } else {
        (read(0x20, 4)?, read(0x2e, 2)?, read(0x30, 2)?, read(0x32, 2)?)
    };
    if shnum == 0 || shnum > MAX_SECTIONS || shentsize < if wide { 64 } else { 40 } || shstrndx >= shnum {
        return None;
    }
    let header = |index: u64| -> Option<(u32, u32, u64, u64)> {
        let base = shoff.checked_add(index.checked_mul(shentsize)?)?;
        let name = read(base, 4)? as u32;
        let kind = read(base + 4, 4)? as u32;
        let (offset, size) = if wide {
            (read(base + 0x18, 8)?, read(base + 0x20, 8)?)
        } else {
            (read(base + 0x10, 4)?, read(base + 0x14, 4)?)
        };
        Some((name, kind, offset, size))
    };
    let (_, _, names_offset, names_size) = header(shstrndx)?;
    let names_end = names_offset.checked_add(names_size)?;
    let names = bytes.get(usize::try_from(names_offset).ok()?..usize::try_from(names_end).ok()?)?;
    let mut out = Vec::new();
    for index in 1..shnum {
        let (name, kind, offset, size) = header(index)?;
        if kind == SHT_NOBITS {
            continue;
        }
        let name = names.get(name as usize..).map_or("", |rest| {
            let rest = &rest[..rest.len().min(MAX_NAME)];
            let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
            std::str::from_utf8(&rest[..end]).unwrap_or("")
        });
        out.push(Section { name: name.to_string(), offset, size });
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_real_executable_has_its_sections_named() {
        let bytes = std::fs::read(std::env::current_exe().unwrap_or_default()).unwrap_or_default();
        let sections = super::sections(&bytes).unwrap_or_default();
        let text = sections.iter().find(|s| s.name == ".text");
        assert!(text.is_some_and(|t| t.size > 0 && t.offset + t.size <= bytes.len() as u64), "{sections:?}");
    }

    #[test]
    fn truncated_or_foreign_bytes_are_not_elf() {
        let bytes = std::fs::read(std::env::current_exe().unwrap_or_default()).unwrap_or_default();
        assert!(super::sections(&bytes[..100]).is_none());
        assert!(super::sections(b"#!/bin/sh\n").is_none());
    }
}
