//! The deb822 control format: paragraphs of `Field: value` lines separated
//! by blank lines, with continuation lines starting with a space or tab.
//! Used by `Packages`, `Release`, `control` files and deb822 apt sources.
//!
//! The parser borrows from the input and allocates one small vector per
//! paragraph, because a suite's `Packages` holds tens of thousands of them.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct ControlError {
    pub line: usize,
    pub reason: &'static str,
}

#[derive(Debug, Clone, Default)]
pub struct Paragraph<'a> {
    fields: Vec<(&'a str, &'a str)>,
    /// 1-based line number of the paragraph's first field.
    pub line: usize,
}

impl<'a> Paragraph<'a> {
    /// The value of `name` (matched case-insensitively), trimmed; for
    /// multi-line fields, the lines joined by `\n` as written.
    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.fields.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| *v)
    }

    pub fn fields(&self) -> impl Iterator<Item = (&'a str, &'a str)> + '_ {
        self.fields.iter().copied()
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }
}

/// Parses every paragraph of `text`. Lines starting with `#` are comments.
pub fn parse<'a>(text: &'a str) -> Result<Vec<Paragraph<'a>>, ControlError> {
    let mut out = Vec::new();
    let mut current = Paragraph::default();
    // The field being read: its name, where its value starts, where it ends.
    let mut open: Option<(&'a str, usize, usize)> = None;
    let mut offset = 0;
    let finish_field = |current: &mut Paragraph<'a>, open: &mut Option<(&'a str, usize, usize)>| {
        if let Some((name, start, end)) = open.take() {
            let value = text[start..end].trim();
            current.fields.push((name, value));
        }
    };
    for (index, raw_line) in text.split_inclusive('\n').enumerate() {
        let line_no = index + 1;
        let line_start = offset;
        offset += raw_line.len();
        let line = raw_line.trim_end_matches(['\n', '\r']);
        if line.trim().is_empty() {
            finish_field(&mut current, &mut open);
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        if line.starts_with([' ', '\t']) {
            match &mut open {
                Some((_, _, end)) => *end = line_start + line.len(),
                None => {
                    return Err(ControlError { line: line_no, reason: "a continuation line with no field before it" });
                }
            }
            continue;
        }
        finish_field(&mut current, &mut open);
        let colon = line.find(':').ok_or(ControlError { line: line_no, reason: "expected `Field: value`" })?;
        let name = &line[..colon];
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(ControlError { line: line_no, reason: "the field name is empty or contains whitespace" });
        }
        if current.is_empty() {
            current.line = line_no;
        }
        open = Some((name, line_start + colon + 1, line_start + line.len()));
    }
    finish_field(&mut current, &mut open);
    if !current.is_empty() {
        out.push(current);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_paragraphs_and_continuations() {
        let text = "Package: a\nVersion: 1.0\nDescription: short\n long line\n .\n more\n\n\n# comment\nPackage: b\r\nDepends: c,\n d\n";
        let ps = parse(text).unwrap();
        assert_eq!(ps.len(), 2);
        assert_eq!(ps[0].get("package"), Some("a"));
        assert_eq!(ps[0].get("Description"), Some("short\n long line\n .\n more"));
        assert_eq!(ps[1].get("Package"), Some("b"));
        assert_eq!(ps[1].get("Depends"), Some("c,\n d"));
        assert_eq!(ps[1].line, 10);
    }

    #[test]
    fn reports_the_line_of_an_error() {
        assert_eq!(parse("Package: a\nno colon here\n").unwrap_err().line, 2);
        assert_eq!(parse(" leading continuation\n").unwrap_err().line, 1);
    }
}
