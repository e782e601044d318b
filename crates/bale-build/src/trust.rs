//! A trust policy enforced on the packages of an image before it is
//! composed: Debian packages through their verified archive chain (unless
//! a rule asks more), every other by the signatures and rebuild
//! attestations kept beside it in the store.

use bale_store::{Provenance, Store};
use bale_trust::Policy;

use crate::BuildError;

pub(crate) fn enforce<'a>(
    store: &Store,
    policy: &Policy,
    ids: impl Iterator<Item = &'a String>,
) -> Result<(), BuildError> {
    let today = bale_trust::policy::today();
    let keys: Vec<bale_trust::PublicKey> = policy.keys.iter().map(|k| k.key.clone()).collect();
    let records = store.packages_by_id()?;
    for id in ids {
        let record = match records.get(id.as_str()) {
            Some(record) => record.clone(),
            None => store.resolve(id)?,
        };
        let (_, metadata) = store.load_package(&record)?;
        let from_archive = matches!(metadata.provenance, Provenance::Debian { .. });
        let verdict = bale_image::verify_package(store, &record, &keys)?;
        let decision = verdict.decide(policy, &record.id, from_archive, today);
        if !decision.allowed {
            return Err(BuildError::PolicyRefused {
                package: record.id,
                reason: decision.reason,
                policy: policy.path.clone(),
            });
        }
    }
    Ok(())
}
