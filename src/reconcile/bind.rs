//! Which live tenant a state belongs to: the first run records it, a run against another
//! target is refused (its ids mean nothing there, and a plan would create every object again),
//! and `--rebind-target` forgets the recorded ids so the new target's objects are adopted by
//! name. The rule itself is pure (`TargetBinding::conflict`); this module reads the target.

use crate::state::entry::{StateSnapshot, TargetBinding};
use crate::state::store::{StateError, StateStore};
use crate::targets::{Target, TargetError};

/// Why the state cannot be used with this target.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// Bound to another target.
    #[error("{0}")]
    Refused(String),
    /// The target could not say which tenant it is.
    #[error("reading the tenant of {target}: {source}")]
    Target {
        /// The target.
        target: String,
        /// What failed.
        source: TargetError,
    },
    /// The state could not be read or written.
    #[error(transparent)]
    State(#[from] StateError),
}

/// The target as a binding, checked against the state's. Returns it and whether the state's
/// entries are to be forgotten (`rebind` and another target).
pub async fn check(
    state: &StateSnapshot,
    target: &dyn Target,
    rebind: bool,
) -> Result<(TargetBinding, bool), BindError> {
    let current = TargetBinding {
        target: target.describe(),
        tenant_id: target
            .tenant_id()
            .await
            .map_err(|source| BindError::Target {
                target: target.describe(),
                source,
            })?,
    };
    let recorded = state.binding.as_ref().map(as_shown);
    match recorded.as_ref().and_then(|b| b.conflict(&current)) {
        None => Ok((current, false)),
        Some(_) if rebind => Ok((current, true)),
        Some(why) => Err(BindError::Refused(why)),
    }
}

/// A recorded binding with its target as targets are shown now: one recorded before they were
/// shown without userinfo compares equal (and `bind` rewrites it without the password).
fn as_shown(binding: &TargetBinding) -> TargetBinding {
    TargetBinding {
        target: crate::targets::http::display_url(&binding.target),
        tenant_id: binding.tenant_id.clone(),
    }
}

/// For a run that writes: checks the binding, rebinds when asked (forgetting the recorded ids),
/// and records the target on first use.
pub async fn bind(state: &StateStore, target: &dyn Target, rebind: bool) -> Result<(), BindError> {
    let snapshot = state.snapshot()?;
    let (current, forget) = check(&snapshot, target, rebind).await?;
    if forget {
        let forgotten = state.forget_all()?;
        tracing::warn!(
            entries = forgotten,
            target = %current.target,
            "state rebound to another target: recorded ids forgotten; objects are adopted by name"
        );
    }
    if snapshot.binding.as_ref() != Some(&current) {
        state.bind(&current)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_binding_recorded_with_userinfo_matches_the_target_shown_without_it() {
        let binding = |target: &str| TargetBinding {
            target: target.to_owned(),
            tenant_id: None,
        };
        let old = binding("http://user:pw@127.0.0.1:8080/cis");
        let now = binding("http://127.0.0.1:8080/cis");
        assert!(old.conflict(&now).is_some(), "compared as text they differ");
        assert_eq!(as_shown(&old), now);
        assert!(as_shown(&old).conflict(&now).is_none());
        assert!(as_shown(&binding("http://127.0.0.1:9/cis"))
            .conflict(&now)
            .is_some());
        assert_eq!(as_shown(&binding("local")), binding("local"));
    }
}
