//! Unit tests of the status page's board (`daemon::ui::view`).

use super::*;
use crate::drift::Resolution;
use crate::plan::{Action, Summary};
use crate::reconcile::execute::ObjectResult;
use crate::state::address::Address;
use crate::state::entry::{Ownership, StateEntry};

fn entry(address: Address, applied_at: &str, values: Value) -> StateEntry {
    StateEntry {
        address,
        name: String::new(),
        app_id: Some("a1".into()),
        id: None,
        ownership: Ownership::Created,
        last_applied: values.as_object().cloned().unwrap_or_default(),
        protect: false,
        applied_at: applied_at.into(),
    }
}

fn record(time: &str, revision: &str, results: &[(&str, Outcome)]) -> HistoryRecord {
    HistoryRecord {
        time: time.into(),
        user: "ci".into(),
        host: "h".into(),
        target: "t".into(),
        manifests_revision: Some(revision.into()),
        mode: "sync".into(),
        plan: Summary::default(),
        report: ApplyReport {
            objects: results
                .iter()
                .map(|(name, outcome)| ObjectResult {
                    name: (*name).into(),
                    action: Action::Update,
                    outcome: outcome.clone(),
                })
                .collect(),
            state_updates: 0,
        },
        result: "succeeded".into(),
        gates: None,
    }
}

fn drift(object: Address, resolved: bool) -> DriftRecord {
    DriftRecord {
        object,
        fields: vec!["description".into()],
        first_seen: "2026-12-04T10:00:00Z".into(),
        last_seen: "2026-12-04T10:05:00Z".into(),
        observations: 2,
        resolved_at: resolved.then(|| "2026-12-04T10:06:00Z".into()),
        resolution: resolved.then_some(Resolution::Healed),
    }
}

fn board() -> Board {
    let mut state = StateSnapshot::default();
    let shop = Address::app("shop");
    let web = Address::client("shop", "Web");
    let api = Address::client("shop", "<script>x</script>");
    state.insert(entry(
        shop.clone(),
        "2026-12-04T09:00:00Z",
        serde_json::json!({"name": "Shop"}),
    ));
    state.insert(entry(
            web.clone(),
            "2026-12-04T09:00:01Z",
            serde_json::json!({"client_secret": {SENSITIVE_KEY: "abc123"}, "redirect_uris": ["https://shop.example/cb"]}),
        ));
    state.insert(entry(api, "2026-12-04T09:00:02Z", serde_json::json!({})));
    Board::build(Round {
        state: Arc::new(state),
        desired: None,
        plan: None,
        open_drift: vec![drift(web.clone(), false)],
        ended_drift: Arc::new(vec![drift(web, true), drift(shop, true)]),
        history: Arc::new(vec![
            record(
                "2026-12-04T09:00:03Z",
                "bbbb",
                &[("Application/shop", Outcome::Ok)],
            ),
            record(
                "2026-12-04T09:00:00Z",
                "aaaa",
                &[
                    ("Application/shop", Outcome::Ok),
                    ("Client/shop/Web", Outcome::Ok),
                ],
            ),
        ]),
    })
}

#[test]
fn statuses_come_from_drift_and_revisions_from_the_newest_write() {
    let board = board();
    let row = |key: &str| board.rows().iter().find(|r| r.key == key).unwrap().clone();
    assert_eq!(row("Client/shop/Web").status, ObjectStatus::Drift);
    assert_eq!(row("Application/shop").status, ObjectStatus::InSync);
    assert_eq!(row("Application/shop").revision.as_deref(), Some("bbbb"));
    assert_eq!(row("Client/shop/Web").revision.as_deref(), Some("aaaa"));
    // No write of its own in the history: its application's revision stands in.
    assert_eq!(
        row("Client/shop/<script>x</script>").revision.as_deref(),
        Some("bbbb")
    );
    assert_eq!(row("Client/shop/Web").application.as_deref(), Some("shop"));
    assert_eq!(board.attention().len(), 1);
    assert_eq!(board.kinds(), vec!["Application", "Client"]);
}

#[test]
fn an_object_page_hides_secrets_and_lists_its_own_episodes_and_applies() {
    let board = board();
    let detail = board.detail("Client/shop/Web").unwrap();
    let values = detail.last_applied.unwrap();
    assert!(values.contains("(sensitive)"), "{values}");
    assert!(!values.contains("abc123"), "{values}");
    assert!(values.contains("https://shop.example/cb"));
    assert_eq!(detail.drift.len(), 2);
    assert!(detail.drift[0].resolved_at.is_none(), "open episode first");
    assert_eq!(detail.history.len(), 1);
    assert_eq!(detail.history[0].revision.as_deref(), Some("aaaa"));
    assert!(board.detail("Client/shop/Nope").is_none());
}

#[test]
fn a_failure_outranks_drift_and_objects_only_in_the_manifests_are_pending() {
    let plan = Plan {
        format_version: crate::plan::FORMAT_VERSION,
        summary: Summary::default(),
        changes: vec![],
        skipped_deletes: vec![],
        state_updates: vec![],
        held_for_drift: vec![],
        warnings: vec![],
        target: "t".into(),
        state_lineage: "l".into(),
        manifests_fingerprint: "f".into(),
        not_refreshed: None,
        refreshed: None,
        references: BTreeMap::new(),
        deferred: false,
    };
    let report = ApplyReport {
        objects: vec![ObjectResult {
            name: "Client/shop/Web".into(),
            action: Action::Update,
            outcome: Outcome::Failed {
                message: "409".into(),
            },
        }],
        state_updates: 0,
    };
    let base = board();
    let board = Board::build(Round {
        state: base.state,
        desired: None,
        plan: Some((&plan, &report)),
        open_drift: base.open_drift,
        ended_drift: Arc::default(),
        history: Arc::default(),
    });
    let web = board.detail("Client/shop/Web").unwrap();
    assert_eq!(web.row.status, ObjectStatus::Failed);
    assert_eq!(web.failure, Some("409"));
    assert_eq!(board.counts()[&ObjectStatus::Failed], 1);
}

#[test]
fn a_described_kind_drifting_shows_on_its_row_and_its_page() {
    use crate::model::kinds::ObjKind;
    let base = board();
    let mut state = (*base.state).clone();
    let role = Address::new(ObjKind::Role, Some("shop"), "clerk");
    state.insert(StateEntry {
        address: role.clone(),
        name: "shop-clerk".into(),
        id: Some("r1".into()),
        app_id: Some("a1".into()),
        ownership: Ownership::Created,
        last_applied: serde_json::json!({"display_name": "Clerk"})
            .as_object()
            .unwrap()
            .clone(),
        protect: false,
        applied_at: "2026-12-04T09:00:04Z".into(),
    });
    let mut episode = drift(Address::app("shop"), false);
    episode.object = role;
    let board = Board::build(Round {
        state: Arc::new(state),
        desired: None,
        plan: None,
        open_drift: vec![episode],
        ended_drift: Arc::default(),
        history: Arc::default(),
    });
    let detail = board.detail("Role/shop-clerk").unwrap();
    assert_eq!(detail.row.status, ObjectStatus::Drift);
    assert_eq!(detail.drift.len(), 1);
    assert!(detail.last_applied.unwrap().contains("Clerk"));
    assert!(board.open_drift("Role/shop-clerk").is_some());
    assert_eq!(
        board.detail("Client/shop/Web").unwrap().row.status,
        ObjectStatus::InSync
    );
}

#[test]
fn statuses_parse_back() {
    for status in ObjectStatus::ALL {
        assert_eq!(ObjectStatus::parse(status.as_str()), Some(status));
    }
    assert_eq!(ObjectStatus::InSync.to_string(), "in sync");
}
