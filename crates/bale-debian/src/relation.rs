//! Package relationships: `Depends`, `Pre-Depends`, `Provides`,
//! `Conflicts`, `Breaks` (deb-control(5), "Package interrelationship
//! fields").

use std::fmt;

use crate::version::Version;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Relation {
    Earlier,
    EarlierOrEqual,
    Exactly,
    LaterOrEqual,
    Later,
}

impl Relation {
    pub fn symbol(self) -> &'static str {
        match self {
            Self::Earlier => "<<",
            Self::EarlierOrEqual => "<=",
            Self::Exactly => "=",
            Self::LaterOrEqual => ">=",
            Self::Later => ">>",
        }
    }

    pub fn holds(self, candidate: &Version, bound: &Version) -> bool {
        let ord = candidate.cmp(bound);
        match self {
            Self::Earlier => ord.is_lt(),
            Self::EarlierOrEqual => ord.is_le(),
            Self::Exactly => ord.is_eq(),
            Self::LaterOrEqual => ord.is_ge(),
            Self::Later => ord.is_gt(),
        }
    }
}

/// One alternative: `name[:arch] [(op version)]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Atom {
    pub name: String,
    /// `any`, `native` or an architecture, after a `:`.
    pub arch_qualifier: Option<String>,
    pub constraint: Option<(Relation, Version)>,
}

impl Atom {
    pub fn matches_version(&self, version: &Version) -> bool {
        self.constraint.as_ref().is_none_or(|(rel, bound)| rel.holds(version, bound))
    }
}

impl fmt::Display for Atom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if let Some(q) = &self.arch_qualifier {
            write!(f, ":{q}")?;
        }
        if let Some((rel, v)) = &self.constraint {
            write!(f, " ({} {v})", rel.symbol())?;
        }
        Ok(())
    }
}

/// A requirement satisfied by any one of its alternatives (`a | b`).
pub type Alternatives = Vec<Atom>;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("in {input:?}: {reason}")]
pub struct RelationError {
    pub input: String,
    pub reason: String,
}

/// Parses a relationship field into its comma-separated requirements.
/// Architecture restrictions (`[amd64]`) and build profiles (`<!nocheck>`)
/// are accepted and dropped: binary package fields never use them.
pub fn parse_relations(field: &str) -> Result<Vec<Alternatives>, RelationError> {
    let mut out = Vec::new();
    for group in field.split(',') {
        let group = group.trim();
        if group.is_empty() {
            continue;
        }
        let mut alternatives = Vec::new();
        for atom in group.split('|') {
            alternatives.push(
                parse_atom(atom.trim()).map_err(|reason| RelationError { input: atom.trim().to_string(), reason })?,
            );
        }
        out.push(alternatives);
    }
    Ok(out)
}

fn parse_atom(text: &str) -> Result<Atom, String> {
    // Drop `[arch list]` and `<profiles>`; a `<` inside `( )` is a relation.
    let mut clean = String::with_capacity(text.len());
    let (mut in_paren, mut in_square, mut in_angle) = (false, false, false);
    for c in text.chars() {
        match c {
            '(' if !in_square && !in_angle => {
                in_paren = true;
                clean.push(c);
            }
            ')' if in_paren => {
                in_paren = false;
                clean.push(c);
            }
            '[' if !in_paren => in_square = true,
            ']' if in_square => in_square = false,
            '<' if !in_paren && !in_square => in_angle = true,
            '>' if in_angle => in_angle = false,
            _ if in_square || in_angle => {}
            c => clean.push(c),
        }
    }
    let clean = clean.trim();
    let (head, constraint) = match clean.find('(') {
        Some(open) => {
            let close = clean[open..].find(')').map(|i| open + i).ok_or("an opening `(` without `)`")?;
            if !clean[close + 1..].trim().is_empty() {
                return Err("text after the version constraint's `)`".into());
            }
            (clean[..open].trim(), Some(clean[open + 1..close].trim()))
        }
        None => (clean, None),
    };
    if head.is_empty() {
        return Err("a package name is missing".into());
    }
    let (name, arch_qualifier) = match head.split_once(':') {
        Some((n, q)) => (n, Some(q.to_string())),
        None => (head, None),
    };
    if !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '+' | '-')) {
        return Err(format!("{name:?} is not a Debian package name"));
    }
    let constraint = match constraint {
        None => None,
        Some(text) => {
            let split = text.find(|c: char| !matches!(c, '<' | '>' | '=')).unwrap_or(text.len());
            let relation = match &text[..split] {
                "<<" => Relation::Earlier,
                "<=" | "<" => Relation::EarlierOrEqual,
                "=" => Relation::Exactly,
                ">=" | ">" => Relation::LaterOrEqual,
                ">>" => Relation::Later,
                other => return Err(format!("unknown relation {other:?}")),
            };
            let version: Version =
                text[split..].trim().parse().map_err(|e: crate::version::VersionError| e.to_string())?;
            Some((relation, version))
        }
    };
    Ok(Atom { name: name.to_string(), arch_qualifier, constraint })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_real_fields() {
        let deps = parse_relations(
            "libc6 (>= 2.34), python3:any (<< 3.12), debconf (>= 0.5) | debconf-2.0, foo (>> 1) [amd64] <!nocheck>",
        )
        .unwrap();
        assert_eq!(deps.len(), 4);
        assert_eq!(deps[0][0].name, "libc6");
        assert_eq!(deps[0][0].constraint.as_ref().unwrap().0, Relation::LaterOrEqual);
        assert_eq!(deps[1][0].arch_qualifier.as_deref(), Some("any"));
        assert_eq!(deps[2].len(), 2);
        assert_eq!(deps[2][1].name, "debconf-2.0");
        assert_eq!(deps[3][0].to_string(), "foo (>> 1)");
        assert_eq!(deps[0][0].to_string(), "libc6 (>= 2.34)");
    }

    #[test]
    fn refuses_nonsense() {
        assert!(parse_relations("libc6 (>= )").is_err());
        assert!(parse_relations("Libc6").is_err());
        assert!(parse_relations("a (~= 1)").is_err());
    }

    /// Found by fuzzing (deb822 target): a `)` before the `(` panicked on
    /// a reversed slice.
    #[test]
    fn a_close_before_the_open_is_an_error_not_a_panic() {
        assert!(parse_relations("a ) (>= 1").is_err());
        assert!(parse_relations("a (>= 1) (<< 2)").is_err());
        assert!(parse_relations("a (>= 1) junk").is_err());
        assert!(parse_relations("a (>= 1)").is_ok());
    }
}
