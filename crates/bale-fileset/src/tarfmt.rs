//! The header encoding of canonical tars: ustar headers, with a PAX extended
//! header in front of an entry only when a value does not fit (path over 100
//! bytes, link target over 100 bytes, size of 8 GiB or more, owner ids over
//! 2097151, or declared extended attributes). Every other field is fixed, so
//! the same entry always encodes to the same bytes.

pub const BLOCK: usize = 512;
/// The name of every PAX extended header entry. Fixed so output is stable.
const PAX_HEADER_NAME: &[u8] = b"././@PaxHeader";
const MAX_OCTAL_7: u64 = 0o7_777_777;
const MAX_OCTAL_11: u64 = 0o77_777_777_777;

pub enum TypeFlag {
    File,
    Hardlink,
    Symlink,
    Directory,
}

impl TypeFlag {
    fn byte(&self) -> u8 {
        match self {
            Self::File => b'0',
            Self::Hardlink => b'1',
            Self::Symlink => b'2',
            Self::Directory => b'5',
        }
    }
}

pub struct HeaderFields<'a> {
    /// The path as written: directories carry a trailing slash.
    pub name: &'a [u8],
    pub link: &'a [u8],
    pub flag: TypeFlag,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub size: u64,
    pub xattrs: &'a std::collections::BTreeMap<String, Vec<u8>>,
}

/// Encodes the header block(s) for one entry: an optional PAX header with
/// its data, then the ustar header. Data and padding follow separately.
pub fn encode_header(fields: &HeaderFields<'_>, out: &mut Vec<u8>) {
    let mut pax = Vec::new();
    if fields.name.len() > 100 {
        pax_record(&mut pax, b"path", fields.name);
    }
    if fields.link.len() > 100 {
        pax_record(&mut pax, b"linkpath", fields.link);
    }
    if fields.size > MAX_OCTAL_11 {
        pax_record(&mut pax, b"size", fields.size.to_string().as_bytes());
    }
    if fields.uid > MAX_OCTAL_7 {
        pax_record(&mut pax, b"uid", fields.uid.to_string().as_bytes());
    }
    if fields.gid > MAX_OCTAL_7 {
        pax_record(&mut pax, b"gid", fields.gid.to_string().as_bytes());
    }
    for (key, value) in fields.xattrs {
        pax_record(&mut pax, format!("SCHILY.xattr.{key}").as_bytes(), value);
    }
    if !pax.is_empty() {
        let header = ustar_block(PAX_HEADER_NAME, b"", b'x', 0o644, 0, 0, pax.len() as u64);
        out.extend_from_slice(&header);
        out.extend_from_slice(&pax);
        out.resize(out.len() + padding(pax.len() as u64), 0);
    }
    let header = ustar_block(
        truncate(fields.name, 100),
        truncate(fields.link, 100),
        fields.flag.byte(),
        fields.mode,
        fields.uid.min(MAX_OCTAL_7),
        fields.gid.min(MAX_OCTAL_7),
        if fields.size > MAX_OCTAL_11 { 0 } else { fields.size },
    );
    out.extend_from_slice(&header);
}

/// Zero bytes needed after `len` bytes of data to reach a block boundary.
pub fn padding(len: u64) -> usize {
    ((BLOCK as u64 - len % BLOCK as u64) % BLOCK as u64) as usize
}

fn truncate(bytes: &[u8], max: usize) -> &[u8] {
    &bytes[..bytes.len().min(max)]
}

/// One PAX record: `"<len> <key>=<value>\n"`, where `<len>` counts itself.
fn pax_record(out: &mut Vec<u8>, key: &[u8], value: &[u8]) {
    let body = key.len() + value.len() + 3; // space, '=', newline
    let mut len = body + 1;
    while len != body + len.to_string().len() {
        len = body + len.to_string().len();
    }
    out.extend_from_slice(len.to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(key);
    out.push(b'=');
    out.extend_from_slice(value);
    out.push(b'\n');
}

fn ustar_block(name: &[u8], link: &[u8], flag: u8, mode: u32, uid: u64, gid: u64, size: u64) -> [u8; BLOCK] {
    let mut h = [0u8; BLOCK];
    h[..name.len()].copy_from_slice(name);
    octal(&mut h[100..108], u64::from(mode));
    octal(&mut h[108..116], uid);
    octal(&mut h[116..124], gid);
    octal(&mut h[124..136], size);
    octal(&mut h[136..148], 0); // mtime: always the epoch
    h[156] = flag;
    h[157..157 + link.len()].copy_from_slice(link);
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    octal(&mut h[329..337], 0); // devmajor
    octal(&mut h[337..345], 0); // devminor
    h[148..156].fill(b' ');
    let sum: u64 = h.iter().map(|&b| u64::from(b)).sum();
    octal(&mut h[148..155], sum);
    h[155] = b' ';
    h
}

/// Zero-padded octal digits filling the field, then a NUL terminator.
fn octal(field: &mut [u8], value: u64) {
    let digits = field.len() - 1;
    let text = format!("{value:0digits$o}");
    field[..digits].copy_from_slice(&text.as_bytes()[text.len() - digits..]);
    field[digits] = 0;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_record_length_counts_itself() {
        let mut out = Vec::new();
        pax_record(&mut out, b"path", &[b'a'; 95]);
        let text = String::from_utf8(out.clone()).unwrap();
        let (len, _) = text.split_once(' ').unwrap();
        assert_eq!(len.parse::<usize>().unwrap(), out.len());
        // Around the 2->3 digit boundary the length field grows by one.
        for n in 80..100 {
            let mut out = Vec::new();
            pax_record(&mut out, b"k", &vec![b'v'; n]);
            let text = String::from_utf8(out.clone()).unwrap();
            let (len, _) = text.split_once(' ').unwrap();
            assert_eq!(len.parse::<usize>().unwrap(), out.len());
        }
    }

    #[test]
    fn header_checksum_is_valid() {
        let x = Default::default();
        let mut out = Vec::new();
        encode_header(
            &HeaderFields {
                name: b"a",
                link: b"",
                flag: TypeFlag::File,
                mode: 0o644,
                uid: 0,
                gid: 0,
                size: 3,
                xattrs: &x,
            },
            &mut out,
        );
        let header = tar::Header::from_byte_slice(&out);
        assert_eq!(header.cksum().unwrap(), {
            let mut copy = out.clone();
            copy[148..156].fill(b' ');
            copy.iter().map(|&b| u32::from(b)).sum::<u32>()
        });
        assert_eq!(header.size().unwrap(), 3);
        assert_eq!(header.mode().unwrap(), 0o644);
    }
}
