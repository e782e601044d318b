//! Layer groups: ecosystems of many small packages (an Express app pulls
//! in about 70 from npm) share layers by a fixed rule, so an image stays
//! well under the layer cap while a group's layer is still the same blob
//! in every image that holds the same packages of that group.
//!
//! The rule (docs/images.md#layer-groups): a package of a grouped origin
//! goes to bucket `sha256(name)[0] % BUCKETS`. It depends on the name
//! alone, so every version of a package is always in the same group,
//! updating one package changes one group's layer, and no other package
//! of the image moves. A group of one package is that package's own
//! layer, as any other package's.

use std::collections::BTreeMap;

use super::Member;

/// Origins whose packages are grouped, and into how many groups.
const GROUPED_ORIGINS: &[(&str, u8)] = &[("npm:registry", 16)];

/// The group `member` belongs to, if its origin is grouped.
pub(super) fn group_of(member: &Member) -> Option<(String, u8)> {
    let origin = member.metadata.origin.as_deref()?;
    let &(_, buckets) = GROUPED_ORIGINS.iter().find(|(o, _)| *o == origin)?;
    let digest = bale_fileset::sha256_bytes(member.metadata.name.as_bytes());
    Some((origin.to_string(), digest.as_bytes()[0] % buckets))
}

/// `order` (member indices, bottom first) as layers: each ungrouped
/// package one, each group one at the place of its highest member.
pub(super) fn layer_units(members: &[Member], order: &[usize]) -> Vec<Vec<usize>> {
    let mut groups: BTreeMap<(String, u8), Vec<usize>> = BTreeMap::new();
    for &i in order {
        if let Some(group) = group_of(&members[i]) {
            groups.entry(group).or_default().push(i);
        }
    }
    let mut units = Vec::new();
    for &i in order {
        match group_of(&members[i]) {
            None => units.push(vec![i]),
            Some(group) => {
                if groups.get(&group).and_then(|g| g.last()) == Some(&i)
                    && let Some(all) = groups.remove(&group)
                {
                    units.push(all);
                }
            }
        }
    }
    units
}
