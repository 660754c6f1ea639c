//! Uniqueness claims of every kind, one rule: the values an object holds that no other object
//! may (a natural key upstream keeps unique, `KindSpec::unique_key`: a resource's `uri`, a
//! role's `role_name` within its application; a field with a catalogue `Unique` fact: an
//! application's subdomain, custom domain, the Authentication Hub role), each an entry of the
//! store's claims index naming the object's id; a second holder is answered 409.

use serde_json::{Map, Value};

use super::store::{object_key, Changes};
use super::*;
use crate::model::catalogue::unique_values;
use crate::model::kinds::{KindSpec, NaturalKey, APPLICATION};

/// The application segment of a unique value's key: no application id (alphanumeric) and no
/// parentless kind's empty segment, so it never meets a natural key's.
const UNIQUE_VALUES: &str = "\u{1}";

/// A value one object holds that no other may: its key in the claims index, and how a 409
/// names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Claim {
    key: Vec<u8>,
    what: String,
}

/// The claims `object` of `spec`'s kind makes (`app_id`: its application, within which a
/// parented kind's natural key is unique).
pub(super) fn claims_of(
    spec: &KindSpec,
    app_id: Option<&str>,
    object: &Map<String, Value>,
) -> Vec<Claim> {
    let mut out = Vec::new();
    if let (NaturalKey::Field(field), true) = (spec.natural_key, spec.unique_key) {
        let value = object
            .get(field)
            .and_then(Value::as_str)
            .unwrap_or_default();
        out.push(Claim {
            key: object_key(spec.name, app_id, value),
            what: format!("{field} `{value}`"),
        });
    }
    for value in unique_values(spec.table(), object) {
        out.push(Claim {
            key: object_key(spec.name, Some(UNIQUE_VALUES), &value.id()),
            what: value.to_string(),
        });
    }
    out
}

/// The claims an application makes.
pub(super) fn app_claims(core: &AppCore) -> Vec<Claim> {
    match serde_json::to_value(core) {
        Ok(Value::Object(fields)) => claims_of(&APPLICATION, None, &fields),
        _ => Vec::new(),
    }
}

impl Claim {
    /// Its key in the claims index.
    pub(super) fn key(&self) -> &[u8] {
        &self.key
    }
}

/// The claims index entries that release `claims`.
pub(super) fn released(claims: Vec<Claim>) -> impl Iterator<Item = (Vec<u8>, Option<String>)> {
    claims.into_iter().map(|c| (c.key, None))
}

impl Tenant {
    /// Records that `owner` (an object of `spec`'s kind) makes the claims `new`, having made
    /// `old` before (released where no longer made); refused (409) where another object holds
    /// one.
    pub(super) fn claim(
        &self,
        spec: &KindSpec,
        owner: &str,
        new: Vec<Claim>,
        old: Vec<Claim>,
        changes: &mut Changes,
    ) -> Result<(), TenantError> {
        for claim in &new {
            if let Some(holder) = self.store.claim_owner(&claim.key)? {
                if holder != owner {
                    return Err(TenantError::IdentifierTaken(format!(
                        "{} is already held by {} `{holder}`",
                        claim.what, spec.noun
                    )));
                }
            }
        }
        let kept = |c: &Claim| new.iter().any(|n| n.key == c.key);
        let gone: Vec<Claim> = old.into_iter().filter(|c| !kept(c)).collect();
        changes.claims.extend(released(gone));
        changes
            .claims
            .extend(new.into_iter().map(|c| (c.key, Some(owner.to_owned()))));
        Ok(())
    }
}
