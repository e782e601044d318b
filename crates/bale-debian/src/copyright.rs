//! Licences from machine-readable `debian/copyright` files (DEP-5), as
//! SPDX expressions.

use crate::control;

/// The SPDX expression for a copyright file: every `License:` of its
/// `Files` paragraphs, joined with `AND`. Files that are not machine
/// readable give `NOASSERTION`; Debian short names without an SPDX
/// equivalent become `LicenseRef-Debian-<name>`.
pub fn spdx_from_copyright(text: &str) -> String {
    let Ok(paragraphs) = control::parse(text) else { return "NOASSERTION".into() };
    let machine_readable =
        paragraphs.first().and_then(|p| p.get("Format")).is_some_and(|f| f.contains("copyright-format"));
    if !machine_readable {
        return "NOASSERTION".into();
    }
    let mut terms: Vec<String> = Vec::new();
    for p in paragraphs.iter().filter(|p| p.get("Files").is_some()) {
        let Some(license) = p.get("License") else { continue };
        let short = license.lines().next().unwrap_or("").trim();
        if short.is_empty() {
            continue;
        }
        if let Some(term) = expression(short)
            && !terms.contains(&term)
        {
            terms.push(term);
        }
    }
    match terms.len() {
        0 => "NOASSERTION".into(),
        1 => terms.remove(0),
        _ => {
            terms.sort();
            terms
                .iter()
                .map(|t| if t.contains(' ') { format!("({t})") } else { t.clone() })
                .collect::<Vec<_>>()
                .join(" AND ")
        }
    }
}

/// `GPL-2+ or Artistic` → `GPL-2.0-or-later OR Artistic-1.0-Perl`.
fn expression(short: &str) -> Option<String> {
    let normalized = short.replace(',', " ");
    let mut out = Vec::new();
    let words = normalized.split_whitespace().peekable();
    for word in words {
        match word.to_ascii_lowercase().as_str() {
            "or" => out.push("OR".to_string()),
            "and" => out.push("AND".to_string()),
            // SPDX 2.3 allows only listed exceptions after WITH; Debian
            // names others freely, so the whole term becomes a reference.
            "with" => return Some(format!("LicenseRef-Debian-{}", sanitize(short))),
            _ => out.push(spdx_id(word)),
        }
    }
    if out.is_empty() {
        return None;
    }
    let joined = out.join(" ");
    // Free text such as `public domain` is no expression: keep it whole as
    // one reference rather than produce something SPDX tools reject.
    if bale_store::validate_license(&joined).is_ok() {
        Some(joined)
    } else {
        Some(format!("LicenseRef-Debian-{}", sanitize(short)))
    }
}

fn spdx_id(debian: &str) -> String {
    let known = match debian {
        "GPL-1" => "GPL-1.0-only",
        "GPL-1+" => "GPL-1.0-or-later",
        "GPL-2" => "GPL-2.0-only",
        "GPL-2+" => "GPL-2.0-or-later",
        "GPL-3" => "GPL-3.0-only",
        "GPL-3+" => "GPL-3.0-or-later",
        "LGPL-2" => "LGPL-2.0-only",
        "LGPL-2+" => "LGPL-2.0-or-later",
        "LGPL-2.1" => "LGPL-2.1-only",
        "LGPL-2.1+" => "LGPL-2.1-or-later",
        "LGPL-3" => "LGPL-3.0-only",
        "LGPL-3+" => "LGPL-3.0-or-later",
        "AGPL-3" => "AGPL-3.0-only",
        "AGPL-3+" => "AGPL-3.0-or-later",
        "GFDL-1.2" => "GFDL-1.2-only",
        "GFDL-1.2+" => "GFDL-1.2-or-later",
        "GFDL-1.3" => "GFDL-1.3-only",
        "GFDL-1.3+" => "GFDL-1.3-or-later",
        "Expat" | "MIT" => "MIT",
        "BSD-2-clause" | "BSD-2-Clause" => "BSD-2-Clause",
        "BSD-3-clause" | "BSD-3-Clause" => "BSD-3-Clause",
        "BSD-4-clause" | "BSD-4-Clause" => "BSD-4-Clause",
        "ISC" => "ISC",
        "Zlib" | "zlib" => "Zlib",
        "Apache-2.0" | "Apache-2" => "Apache-2.0",
        "MPL-1.1" => "MPL-1.1",
        "MPL-2.0" => "MPL-2.0",
        "Artistic" | "Artistic-1.0" => "Artistic-1.0-Perl",
        "Artistic-2.0" => "Artistic-2.0",
        "PSF-2" | "PSF-2.0" | "Python" => "PSF-2.0",
        "CC0-1.0" | "CC0" => "CC0-1.0",
        "public-domain" | "PD" => "LicenseRef-Debian-public-domain",
        "OpenSSL" => "OpenSSL",
        "curl" => "curl",
        "X11" => "X11",
        "BSL-1.0" => "BSL-1.0",
        "Unicode-DFS-2016" => "Unicode-DFS-2016",
        "OFL-1.1" => "OFL-1.1",
        "WTFPL" => "WTFPL",
        "Unlicense" => "Unlicense",
        _ => return format!("LicenseRef-Debian-{}", sanitize(debian)),
    };
    known.to_string()
}

/// A `LicenseRef-` idstring: letters, digits, `.` and `-` only.
fn sanitize(name: &str) -> String {
    let spelled = name.replace('+', "-or-later");
    let mut out = String::with_capacity(spelled.len());
    for c in spelled.chars() {
        let c = if c.is_ascii_alphanumeric() || c == '.' { c } else { '-' };
        if !(c == '-' && out.ends_with('-')) {
            out.push(c);
        }
    }
    out.trim_matches('-').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dep5_to_spdx() {
        let text = "Format: https://example.invalid/copyright-format/1.0/\nUpstream-Name: x\n\nFiles: *\nCopyright: someone\nLicense: GPL-2+\n\nFiles: lib/*\nCopyright: someone\nLicense: BSD-3-clause or Expat\n\nLicense: GPL-2+\n On Debian systems...\n";
        assert_eq!(spdx_from_copyright(text), "(BSD-3-Clause OR MIT) AND GPL-2.0-or-later");
        assert_eq!(spdx_from_copyright("This package was debianized by ...\n"), "NOASSERTION");
        let odd = "Format: copyright-format/1.0\n\nFiles: *\nLicense: GPL-3+ with OpenSSL exception\n";
        assert_eq!(spdx_from_copyright(odd), "LicenseRef-Debian-GPL-3-or-later-with-OpenSSL-exception");
        let free = "Format: copyright-format/1.0\n\nFiles: *\nLicense: public domain\n\nFiles: b\nLicense: GPL-2+ or\n";
        assert_eq!(
            spdx_from_copyright(free),
            "LicenseRef-Debian-GPL-2-or-later-or AND LicenseRef-Debian-public-domain"
        );
        let weird = "Format: copyright-format/1.0\n\nFiles: *\nLicense: Sleepycat-like\n";
        assert_eq!(spdx_from_copyright(weird), "LicenseRef-Debian-Sleepycat-like");
    }
}
