//! Minimal ELF shared objects, made at test time: a header, one load
//! segment over the whole file, a dynamic segment and its strings. Enough
//! for bale's reader, `ldconfig` and `readelf -d` to take as libraries.

/// What the object claims to be.
#[derive(Debug, Clone)]
pub struct SharedObject<'a> {
    pub elf64: bool,
    pub machine: u16,
    pub flags: u32,
    pub soname: Option<&'a str>,
    pub needed: &'a [&'a str],
}

impl SharedObject<'_> {
    /// An x86-64 library named `soname` that needs libc.
    pub fn x86_64(soname: Option<&str>) -> SharedObject<'_> {
        SharedObject { elf64: true, machine: 62, flags: 0, soname, needed: &["libc.so.6"] }
    }

    pub fn bytes(&self) -> Vec<u8> {
        const DT_NEEDED: u64 = 1;
        const DT_STRTAB: u64 = 5;
        const DT_STRSZ: u64 = 10;
        const DT_SONAME: u64 = 14;
        let base = 0x10000u64;
        let (header_size, phentsize, dyn_entry) = if self.elf64 { (64u64, 56u64, 16u64) } else { (52, 32, 8) };
        let mut strings = vec![0u8];
        let mut add = |name: &str| {
            let at = strings.len() as u64;
            strings.extend_from_slice(name.as_bytes());
            strings.push(0);
            at
        };
        let mut dynamic: Vec<(u64, u64)> = self.needed.iter().map(|n| (DT_NEEDED, add(n))).collect();
        if let Some(name) = self.soname {
            dynamic.push((DT_SONAME, add(name)));
        }
        let phoff = header_size;
        let dyn_off = phoff + 2 * phentsize;
        let dyn_size = (dynamic.len() as u64 + 3) * dyn_entry;
        let str_off = dyn_off + dyn_size;
        dynamic.push((DT_STRTAB, base + str_off));
        dynamic.push((DT_STRSZ, strings.len() as u64));
        dynamic.push((0, 0));
        let total = str_off + strings.len() as u64;

        let mut out = vec![0u8; header_size as usize];
        out[..4].copy_from_slice(b"\x7fELF");
        out[4] = if self.elf64 { 2 } else { 1 };
        out[5] = 1;
        out[6] = 1;
        out[16..18].copy_from_slice(&3u16.to_le_bytes());
        out[18..20].copy_from_slice(&self.machine.to_le_bytes());
        out[20..24].copy_from_slice(&1u32.to_le_bytes());
        let put = |out: &mut Vec<u8>, at: usize, value: u64, wide: bool| {
            if wide {
                out[at..at + 8].copy_from_slice(&value.to_le_bytes());
            } else {
                out[at..at + 4].copy_from_slice(&(value as u32).to_le_bytes());
            }
        };
        let half =
            |out: &mut Vec<u8>, at: usize, value: u64| out[at..at + 2].copy_from_slice(&(value as u16).to_le_bytes());
        if self.elf64 {
            put(&mut out, 32, phoff, true);
            put(&mut out, 48, u64::from(self.flags), false);
            half(&mut out, 52, header_size);
            half(&mut out, 54, phentsize);
            half(&mut out, 56, 2);
        } else {
            put(&mut out, 28, phoff, false);
            put(&mut out, 36, u64::from(self.flags), false);
            half(&mut out, 40, header_size);
            half(&mut out, 42, phentsize);
            half(&mut out, 44, 2);
        }
        // PT_LOAD (read, write, execute) and PT_DYNAMIC.
        for (kind, offset, size, flags) in [(1u32, 0u64, total, 7u32), (2, dyn_off, dyn_size, 6)] {
            let mut header = vec![0u8; phentsize as usize];
            header[..4].copy_from_slice(&kind.to_le_bytes());
            if self.elf64 {
                header[4..8].copy_from_slice(&flags.to_le_bytes());
                put(&mut header, 8, offset, true);
                put(&mut header, 16, base + offset, true);
                put(&mut header, 24, base + offset, true);
                put(&mut header, 32, size, true);
                put(&mut header, 40, size, true);
                put(&mut header, 48, if kind == 1 { 0x1000 } else { 8 }, true);
            } else {
                put(&mut header, 4, offset, false);
                put(&mut header, 8, base + offset, false);
                put(&mut header, 12, base + offset, false);
                put(&mut header, 16, size, false);
                put(&mut header, 20, size, false);
                header[24..28].copy_from_slice(&flags.to_le_bytes());
                put(&mut header, 28, if kind == 1 { 0x1000 } else { 4 }, false);
            }
            out.extend(header);
        }
        for (tag, value) in dynamic {
            let mut entry = vec![0u8; dyn_entry as usize];
            put(&mut entry, 0, tag, self.elf64);
            put(&mut entry, dyn_entry as usize / 2, value, self.elf64);
            out.extend(entry);
        }
        out.extend(strings);
        out
    }
}
