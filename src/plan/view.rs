//! Whether a plan may create objects given how much of the tenant the credential sees (pure):
//! a token without the Admin role may see only its own application, and an application the
//! state maps that neither the list nor a lookup by id finds may be one the credential cannot
//! see. Either way a create could duplicate a live object, so a plan with creates is refused
//! unless the user asserts a full view (`--assume-full-view`).

use std::collections::BTreeSet;

use super::{Action, Observed, Plan, PlanError};
use crate::model::kinds::AnyKind;
use crate::state::entry::StateSnapshot;

/// What the credential says about its reach (read from the target at the edge).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialView {
    /// No credential narrows the view (the embedded tenant).
    Unrestricted,
    /// A token's `roles` claim (empty when it has none).
    Roles(Vec<String>),
    /// A token whose claims cannot be read (not a JWT).
    Opaque,
}

/// The role of a management application's token, which sees every application.
pub const ADMIN_ROLE: &str = "Admin";

/// Why the credential may not see the whole tenant (empty: it sees all of it, as far as can be
/// told). `observed` must come from `reconcile::gather`, which looks up by id every mapped app a
/// list leaves out, so a mapped app missing from it was not found either way.
pub fn partial_view_reasons(
    view: &CredentialView,
    state: &StateSnapshot,
    observed: &Observed,
) -> Vec<String> {
    if *view == CredentialView::Unrestricted {
        return Vec::new();
    }
    let mut reasons: Vec<String> = token_reason(view).into_iter().collect();
    let seen: BTreeSet<&str> = observed.app_ids().collect();
    let invisible: Vec<String> = state
        .app_entries()
        .filter(|(a, e)| a.kind == AnyKind::Application && !seen.contains(e.application_id()))
        .map(|(a, e)| format!("{a} ({})", e.application_id()))
        .collect();
    if !invisible.is_empty() {
        reasons.push(format!(
            "the state maps {}, which neither the list of applications nor a lookup by id finds: deleted outside tenantsync, or invisible to this credential",
            invisible.join(", ")
        ));
    }
    reasons
}

/// Why the token may not see every application, if it may not (no Admin role, or claims that
/// cannot be read).
pub fn token_reason(view: &CredentialView) -> Option<String> {
    match view {
        CredentialView::Unrestricted => None,
        CredentialView::Roles(roles) if roles.iter().any(|r| r == ADMIN_ROLE) => None,
        CredentialView::Roles(roles) => Some(format!(
            "its token has no {ADMIN_ROLE} role (roles [{}]): a token that is not a management application's may see only its own application",
            roles.join(", ")
        )),
        CredentialView::Opaque => Some(format!(
            "its token is not a JWT, so whether it has the {ADMIN_ROLE} role (every application visible) cannot be read"
        )),
    }
}

/// Refuses a plan that creates applications or clients when the credential may not see the
/// whole tenant, unless `assume_full_view`: one it cannot see would be created a second time.
/// The described kinds' creates do not count: their natural keys are unique upstream, so a
/// second create of one is refused there.
pub fn refuse_partial_view(
    plan: &Plan,
    view: &CredentialView,
    state: &StateSnapshot,
    observed: &Observed,
    assume_full_view: bool,
) -> Result<(), PlanError> {
    let creates = plan
        .changes
        .iter()
        .filter(|c| c.action == Action::Create && c.app_address().is_some())
        .count();
    if creates == 0 || assume_full_view {
        return Ok(());
    }
    let reasons = partial_view_reasons(view, state, observed);
    if reasons.is_empty() {
        Ok(())
    } else {
        Err(PlanError::PartialView { creates, reasons })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::check::fixtures::{change, plan};
    use crate::plan::{Body, Change, Summary};
    use crate::state::address::Address;
    use crate::state::entry::{Ownership, StateEntry};
    use serde_json::{json, Map};

    fn plan_with(action: Action) -> Plan {
        let pending = Change {
            pending: true,
            body: None,
            record: None,
            ..change(action, Address::app("blog"), None)
        };
        Plan {
            summary: Summary::default(),
            target: "t".into(),
            ..plan(vec![pending])
        }
    }

    fn mapped(app_id: &str) -> StateSnapshot {
        let address = Address::app("shop");
        let mut state = StateSnapshot::default();
        state.insert(StateEntry {
            address,
            name: String::new(),
            app_id: Some(app_id.into()),
            id: None,
            ownership: Ownership::Created,
            last_applied: Map::new(),
            protect: false,
            applied_at: String::new(),
        });
        state
    }

    fn live(app_id: &str) -> Observed {
        let mut observed = Observed::default();
        observed.push_app(
            json!({"app_id": app_id}).as_object().unwrap().clone(),
            None,
            false,
        );
        observed
    }

    fn roles(r: &[&str]) -> CredentialView {
        CredentialView::Roles(r.iter().map(|s| (*s).to_owned()).collect())
    }

    #[test]
    fn creates_need_a_full_view() {
        let creates = plan_with(Action::Create);
        let empty = StateSnapshot::default();
        let nothing = Observed::default();
        // A management token, or the embedded tenant: as before.
        for view in [roles(&["Admin"]), CredentialView::Unrestricted] {
            assert_eq!(
                refuse_partial_view(&creates, &view, &empty, &nothing, false),
                Ok(())
            );
        }
        // An app token, or one whose roles cannot be read: refused, saying why.
        let err = refuse_partial_view(&creates, &roles(&[]), &empty, &nothing, false).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("no Admin role") && text.contains("--assume-full-view"),
            "{text}"
        );
        assert!(
            refuse_partial_view(&creates, &CredentialView::Opaque, &empty, &nothing, false)
                .unwrap_err()
                .to_string()
                .contains("not a JWT")
        );
        // Asserted full view, or no creates: as before.
        assert_eq!(
            refuse_partial_view(&creates, &roles(&[]), &empty, &nothing, true),
            Ok(())
        );
        assert_eq!(
            refuse_partial_view(
                &plan_with(Action::Update),
                &roles(&[]),
                &empty,
                &nothing,
                false
            ),
            Ok(())
        );
        // A described kind's create only: its natural key is unique upstream.
        let role = Change {
            body: Some(Body::planned(Map::new(), Map::new())),
            ..Change::new(
                Action::Create,
                Address::new(crate::model::kinds::ObjKind::Role, Some("blog"), "clerk"),
                "Role/clerk".into(),
            )
        };
        let roles_only = Plan {
            summary: Summary::default(),
            ..plan(vec![role])
        };
        assert_eq!(
            refuse_partial_view(
                &roles_only,
                &CredentialView::Opaque,
                &empty,
                &nothing,
                false
            ),
            Ok(())
        );
    }

    #[test]
    fn a_mapped_app_nobody_finds_refuses_creates() {
        let creates = plan_with(Action::Create);
        let admin = roles(&["Admin"]);
        assert_eq!(
            refuse_partial_view(&creates, &admin, &mapped("a1"), &live("a1"), false),
            Ok(())
        );
        let text = refuse_partial_view(&creates, &admin, &mapped("a1"), &live("a2"), false)
            .unwrap_err()
            .to_string();
        assert!(text.contains("Application/shop (a1)"), "{text}");
        assert_eq!(
            refuse_partial_view(
                &creates,
                &CredentialView::Unrestricted,
                &mapped("a1"),
                &live("a2"),
                false
            ),
            Ok(()),
            "the embedded tenant has no partial view"
        );
    }
}
