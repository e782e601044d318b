//! What bale packages of an image (made by `bale make`, packed, pulled)
//! need beside them. Debian's closure is solved from the archive; a bale
//! package's declared dependencies are checked against the image's other
//! packages, so an image never ships a program without what it needs.

use bale_debian::relation::parse_relations;
use bale_debian::version::Version;
use bale_store::{DependencyAlternative, PackageMetadata, Provenance, Store};

use crate::BuildError;

/// Refuses the set `ids` when a package outside Debian's closure depends
/// on something no package of the set is or provides.
pub(crate) fn check(store: &Store, ids: &[String], architecture: &str) -> Result<(), BuildError> {
    let records = store.packages_by_id()?;
    let mut members: Vec<(String, PackageMetadata)> = Vec::new();
    for id in ids {
        let record = match records.get(id.as_str()) {
            Some(record) => record.clone(),
            None => store.resolve(id)?,
        };
        let (_, metadata) = store.load_package(&record)?;
        members.push((record.id, metadata));
    }
    for (id, metadata) in &members {
        // Debian's own relations were solved with the archive's view.
        if matches!(metadata.provenance, Provenance::Debian { .. }) {
            continue;
        }
        for dependency in &metadata.dependencies {
            if let Some(bad) = dependency.any_of.iter().find(|a| parse_relations(&text(a)).is_err()) {
                return Err(BuildError::BadDependency { package: id.clone(), text: text(bad) });
            }
            if !dependency.any_of.iter().any(|wanted| members.iter().any(|(_, m)| satisfies(m, wanted))) {
                let requirement = dependency.any_of.iter().map(text).collect::<Vec<_>>().join(" | ");
                return Err(BuildError::UnmetDependency {
                    package: id.clone(),
                    requirement,
                    architecture: architecture.to_string(),
                });
            }
        }
    }
    Ok(())
}

fn text(alternative: &DependencyAlternative) -> String {
    match &alternative.version {
        Some(version) => format!("{} ({version})", alternative.name),
        None => alternative.name.clone(),
    }
}

/// Whether `member` is, or provides, what `wanted` names, at a version
/// the relation allows (Debian's version order; a provide without a
/// version satisfies only an unversioned want, as in Debian).
fn satisfies(member: &PackageMetadata, wanted: &DependencyAlternative) -> bool {
    let Some(atom) = parse_relations(&text(wanted)).ok().and_then(|g| g.into_iter().next()?.into_iter().next()) else {
        return false;
    };
    let at = |version: &str| version.parse::<Version>().is_ok_and(|v| atom.matches_version(&v));
    (member.name == atom.name && (atom.constraint.is_none() || at(&member.version)))
        || member.provides.iter().any(|p| {
            p.name == atom.name
                && match (&atom.constraint, &p.version) {
                    (None, _) => true,
                    (Some(_), Some(version)) => at(version),
                    (Some(_), None) => false,
                }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn package(name: &str, version: &str) -> PackageMetadata {
        PackageMetadata::new(name, version)
    }

    fn wants(name: &str, version: Option<&str>) -> DependencyAlternative {
        DependencyAlternative { name: name.into(), version: version.map(str::to_string) }
    }

    #[test]
    fn versions_are_compared_as_debian_compares_them() {
        let libc = package("libc6", "2.36-9+deb12u4");
        assert!(satisfies(&libc, &wants("libc6", None)));
        assert!(satisfies(&libc, &wants("libc6", Some(">= 2.36"))));
        assert!(!satisfies(&libc, &wants("libc6", Some(">= 2.37"))));
        assert!(!satisfies(&libc, &wants("libc", None)));
        let mut mawk = package("mawk", "1.3.4");
        mawk.provides.push(bale_store::Provide { name: "awk".into(), version: None });
        assert!(satisfies(&mawk, &wants("awk", None)));
        assert!(!satisfies(&mawk, &wants("awk", Some(">= 1"))), "an unversioned provide meets no versioned want");
    }
}
