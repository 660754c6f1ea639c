//! Drift as a signal: which managed objects were changed outside tenantsync, since when, and how
//! each episode ended. Pure: the episode bookkeeping over values. Plans say what drifted
//! ([`observed`]); [`advance`] turns one observation into opened, persisting and resolved
//! episodes; the state keeps the records and the daemon reports them.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::plan::diff::FieldChange;
use crate::plan::{Change, Plan};
use crate::shown::{code_span, escape_controls};
use crate::state::address::Address;

/// What a drifted object without field changes shows: it was deleted outside tenantsync.
pub const DELETED: &str = "(deleted outside tenantsync)";

/// One drift episode of one object: from the first observation that saw it until one that did
/// not (or the apply that reverted it).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DriftRecord {
    /// The object: an application, a client or an object of a described kind.
    pub object: Address,
    /// The managed fields whose live value differs from the value last applied (or
    /// [`DELETED`]), as last seen.
    pub fields: Vec<String>,
    /// When an observation first saw it (RFC 3339).
    pub first_seen: String,
    /// When an observation last saw it.
    pub last_seen: String,
    /// How many observations saw it.
    pub observations: u32,
    /// When it ended.
    pub resolved_at: Option<String>,
    /// How it ended.
    pub resolution: Option<Resolution>,
}

/// How a drift episode ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resolution {
    /// tenantsync wrote the manifest's values back.
    Healed,
    /// It went away by itself: the live value was changed back, the manifests now say the same,
    /// or the object is no longer managed.
    Resolved,
}

impl Resolution {
    /// Lower-case name for logs and notifications.
    pub fn as_str(self) -> &'static str {
        match self {
            Resolution::Healed => "healed",
            Resolution::Resolved => "resolved",
        }
    }
}

/// What one observation changed.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct DriftUpdate {
    /// Episodes this observation began.
    pub opened: Vec<DriftRecord>,
    /// Episodes that were open and are still seen.
    pub persisting: Vec<DriftRecord>,
    /// Episodes that ended now (among them any opened and healed in the same run).
    pub resolved: Vec<DriftRecord>,
}

impl DriftUpdate {
    /// Nothing began, lasted or ended.
    pub fn is_empty(&self) -> bool {
        self.opened.is_empty() && self.persisting.is_empty() && self.resolved.is_empty()
    }

    /// The episodes still open after this observation.
    pub fn open(&self) -> impl Iterator<Item = &DriftRecord> {
        let ended: BTreeSet<&Address> = self.resolved.iter().map(|r| &r.object).collect();
        self.opened
            .iter()
            .chain(&self.persisting)
            .filter(move |r| !ended.contains(&r.object))
    }
}

/// The drifted fields of one change (`[DELETED]` for an object deleted outside tenantsync).
pub fn drifted_fields(fields: &[FieldChange]) -> Vec<String> {
    let fields: Vec<String> = fields
        .iter()
        .filter(|f| f.drift)
        .map(|f| f.field.clone())
        .collect();
    if fields.is_empty() {
        vec![DELETED.to_owned()]
    } else {
        fields
    }
}

/// Every drifted object a plan saw (its changes and those it held back, of every kind), with
/// its fields.
pub fn observed(plan: &Plan) -> BTreeMap<Address, Vec<String>> {
    plan.changes
        .iter()
        .chain(&plan.held_for_drift)
        .filter(|c| c.drift)
        .map(|c| (c.address.clone(), drifted_fields(&c.fields)))
        .collect()
}

/// Advances the open episodes by one complete observation at `now`: what it saw opens or
/// continues an episode; an open episode it did not see is resolved; what `healed` names (the
/// run wrote it back) is resolved as healed.
pub fn advance(
    open: &BTreeMap<Address, DriftRecord>,
    observed: &BTreeMap<Address, Vec<String>>,
    healed: &BTreeSet<Address>,
    now: &str,
) -> DriftUpdate {
    let mut update = DriftUpdate::default();
    for (object, fields) in observed {
        let record = match open.get(object) {
            Some(known) => DriftRecord {
                fields: fields.clone(),
                last_seen: now.to_owned(),
                observations: known.observations.saturating_add(1),
                ..known.clone()
            },
            None => DriftRecord {
                object: object.clone(),
                fields: fields.clone(),
                first_seen: now.to_owned(),
                last_seen: now.to_owned(),
                observations: 1,
                resolved_at: None,
                resolution: None,
            },
        };
        if healed.contains(object) {
            update
                .resolved
                .push(ended(&record, Resolution::Healed, now));
        }
        if open.contains_key(object) {
            update.persisting.push(record);
        } else {
            update.opened.push(record);
        }
    }
    for (object, record) in open {
        if !observed.contains_key(object) {
            update
                .resolved
                .push(ended(record, Resolution::Resolved, now));
        }
    }
    update
}

fn ended(record: &DriftRecord, how: Resolution, now: &str) -> DriftRecord {
    DriftRecord {
        resolved_at: Some(now.to_owned()),
        resolution: Some(how),
        ..record.clone()
    }
}

/// Seconds between two RFC 3339 times (0 when either does not parse or `to` is earlier).
pub fn seconds_between(from: &str, to: &str) -> u64 {
    let parse = |t: &str| {
        time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
    };
    match (parse(from), parse(to)) {
        (Some(a), Some(b)) => u64::try_from((b - a).whole_seconds()).unwrap_or(0),
        _ => 0,
    }
}

/// One drifted field: the live value against what the manifest says (the value last
/// applied, unless the manifest changed it too).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldDrift {
    /// The field.
    pub field: String,
    /// The live value.
    pub live: Option<serde_json::Value>,
    /// What the manifest sets (what heal would write).
    pub manifest: Option<serde_json::Value>,
    /// The manifest changed it since the last apply as well.
    pub also_pending: bool,
}

/// One drifted object in a report.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DriftedObject {
    /// The object.
    pub object: String,
    /// Its drifted fields (none when it was deleted outside tenantsync).
    pub fields: Vec<FieldDrift>,
    /// Deleted outside tenantsync.
    pub deleted: bool,
    /// When an apply or the daemon first saw this episode (unknown when none has yet).
    pub first_seen: Option<String>,
    /// Seconds since `first_seen`.
    pub age_seconds: Option<u64>,
}

/// One object whose manifest changed since the last apply.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PendingObject {
    /// The object.
    pub object: String,
    /// `create`, `update`, `delete` or `adopt`.
    pub action: String,
    /// The fields the manifest changed.
    pub fields: Vec<String>,
}

/// What `tenantsync drift` reports: drift (changed outside tenantsync) apart from pending
/// (changed in the manifests, not applied yet).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DriftReport {
    /// The target observed.
    pub target: String,
    /// Objects changed outside tenantsync.
    pub drift: Vec<DriftedObject>,
    /// Objects changed in the manifests, not applied yet.
    pub pending: Vec<PendingObject>,
}

/// The report of a plan, with the episodes the state knows (for their first-seen times).
pub fn report(plan: &Plan, open: &BTreeMap<Address, DriftRecord>, now: &str) -> DriftReport {
    let mut out = DriftReport {
        target: plan.target.clone(),
        drift: Vec::new(),
        pending: Vec::new(),
    };
    let first_seen = |address: &Address| open.get(address).map(|r| r.first_seen.as_str());
    for c in plan.changes.iter().chain(&plan.held_for_drift) {
        let fields = crate::plan::render::named_fields(&c.fields, &plan.references);
        out.add(c, &fields, first_seen(&c.address), now);
    }
    out
}

impl DriftReport {
    /// Adds one planned change (`fields`: its field changes with references by name): to the
    /// drifted objects if it is drift, to the pending ones if the manifests changed it.
    fn add(&mut self, c: &Change, fields: &[FieldChange], first_seen: Option<&str>, now: &str) {
        let (name, action, drift, pending) = (&c.name, c.action, c.drift, c.pending);
        if drift {
            let drifted: Vec<FieldDrift> = fields
                .iter()
                .filter(|f| f.drift)
                .map(|f| FieldDrift {
                    field: f.field.clone(),
                    live: f.before.clone(),
                    manifest: f.after.clone(),
                    also_pending: f.pending,
                })
                .collect();
            self.drift.push(DriftedObject {
                object: name.to_owned(),
                deleted: drifted.is_empty(),
                fields: drifted,
                first_seen: first_seen.map(str::to_owned),
                age_seconds: first_seen.map(|f| seconds_between(f, now)),
            });
        }
        if pending {
            self.pending.push(PendingObject {
                object: name.to_owned(),
                action: format!("{action:?}").to_lowercase(),
                fields: fields
                    .iter()
                    .filter(|f| f.pending)
                    .map(|f| f.field.clone())
                    .collect(),
            });
        }
    }
}

/// `text` as a markdown table cell: a code span no value can close, its pipes escaped (a table
/// splits cells before it reads code spans).
fn cell(text: &str) -> String {
    code_span(text).replace('|', "\\|")
}

fn shown(value: Option<&serde_json::Value>) -> String {
    value.map_or_else(|| "(not set)".to_owned(), ToString::to_string)
}

fn age(seconds: u64) -> String {
    match seconds {
        s if s < 120 => format!("{s}s"),
        s if s < 7_200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3_600),
        s => format!("{}d", s / 86_400),
    }
}

fn since(o: &DriftedObject) -> String {
    match (&o.first_seen, o.age_seconds) {
        (Some(first), Some(secs)) => format!("first seen {first}, {} ago", age(secs)),
        _ => "first seen now".to_owned(),
    }
}

/// The report as text.
pub fn render_text(r: &DriftReport) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    if r.drift.is_empty() {
        let _ = writeln!(out, "No drift: every managed object is as last applied.");
    } else {
        let _ = writeln!(
            out,
            "Drift: {} object(s) changed outside tenantsync",
            r.drift.len()
        );
        for o in &r.drift {
            let _ = writeln!(out, "~ {} ({})", escape_controls(&o.object), since(o));
            if o.deleted {
                let _ = writeln!(out, "    deleted outside tenantsync");
            }
            for f in &o.fields {
                let also = if f.also_pending {
                    " (the manifest changed it too)"
                } else {
                    ""
                };
                let _ = writeln!(
                    out,
                    "    {}: live {}, manifest {}{also}",
                    escape_controls(&f.field),
                    shown(f.live.as_ref()),
                    shown(f.manifest.as_ref())
                );
            }
        }
    }
    if !r.pending.is_empty() {
        let _ = writeln!(
            out,
            "Pending: {} object(s) changed in the manifests, not applied yet (not drift)",
            r.pending.len()
        );
        for p in &r.pending {
            let fields = if p.fields.is_empty() {
                String::new()
            } else {
                format!(": {}", p.fields.join(", "))
            };
            let _ = writeln!(
                out,
                "  {} {}{}",
                p.action,
                escape_controls(&p.object),
                escape_controls(&fields)
            );
        }
    }
    out
}

/// The report as markdown (an issue body).
pub fn render_markdown(r: &DriftReport) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "### tenantsync drift on {}
",
        cell(&r.target)
    );
    if r.drift.is_empty() {
        let _ = writeln!(out, "No drift: every managed object is as last applied.");
    } else {
        let _ = writeln!(out, "| object | field | live | manifest | since |");
        let _ = writeln!(out, "|---|---|---|---|---|");
        for o in &r.drift {
            if o.deleted {
                let _ = writeln!(
                    out,
                    "| {} | *(deleted)* | | | {} |",
                    cell(&o.object),
                    since(o)
                );
            }
            for f in &o.fields {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {} |",
                    cell(&o.object),
                    cell(&f.field),
                    cell(&shown(f.live.as_ref())),
                    cell(&shown(f.manifest.as_ref())),
                    since(o)
                );
            }
        }
    }
    if !r.pending.is_empty() {
        let _ = writeln!(
            out,
            "\nPending (changed in the manifests, not applied yet):\n"
        );
        for p in &r.pending {
            let _ = writeln!(out, "- {} {}", p.action, code_span(&p.object));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(objects: &[(&str, &[&str])]) -> BTreeMap<Address, Vec<String>> {
        objects
            .iter()
            .map(|(app, fields)| {
                (
                    Address::app(app),
                    fields.iter().map(|f| (*f).to_owned()).collect(),
                )
            })
            .collect()
    }

    fn as_open(update: &DriftUpdate) -> BTreeMap<Address, DriftRecord> {
        update
            .open()
            .map(|r| (r.object.clone(), r.clone()))
            .collect()
    }

    #[test]
    fn an_episode_opens_persists_with_its_first_seen_and_resolves_once() {
        let none = BTreeSet::new();
        let t1 = "2026-11-28T10:00:00Z";
        let t2 = "2026-11-28T10:05:00Z";
        let t3 = "2026-11-28T10:10:00Z";
        let first = advance(
            &BTreeMap::new(),
            &seen(&[("shop", &["description"])]),
            &none,
            t1,
        );
        assert_eq!(first.opened.len(), 1);
        assert!(first.persisting.is_empty() && first.resolved.is_empty());

        let second = advance(
            &as_open(&first),
            &seen(&[("shop", &["description"])]),
            &none,
            t2,
        );
        assert!(second.opened.is_empty());
        let still = &second.persisting[0];
        assert_eq!(
            (still.first_seen.as_str(), still.last_seen.as_str()),
            (t1, t2)
        );
        assert_eq!(still.observations, 2);
        assert_eq!(seconds_between(&still.first_seen, t3), 600);

        let third = advance(&as_open(&second), &BTreeMap::new(), &none, t3);
        assert_eq!(third.resolved.len(), 1);
        assert_eq!(third.resolved[0].resolution, Some(Resolution::Resolved));
        assert_eq!(third.resolved[0].first_seen, t1);
        assert_eq!(third.open().count(), 0);
    }

    #[test]
    fn drift_healed_in_the_run_that_saw_it_opens_and_ends_at_once() {
        let healed = BTreeSet::from([Address::app("shop")]);
        let update = advance(
            &BTreeMap::new(),
            &seen(&[("shop", &["description"]), ("blog", &["login_uri"])]),
            &healed,
            "2026-11-28T10:00:00Z",
        );
        assert_eq!(update.opened.len(), 2);
        assert_eq!(update.resolved.len(), 1);
        assert_eq!(update.resolved[0].resolution, Some(Resolution::Healed));
        let open: Vec<String> = update.open().map(|r| r.object.to_string()).collect();
        assert_eq!(open, vec!["Application/blog"]);
    }

    #[test]
    fn names_and_live_values_cannot_escape_the_report() {
        let r = DriftReport {
            target: "http://127.0.0.1:1/cis".into(),
            drift: vec![DriftedObject {
                object: "Client/shop/W`e|b\u{1b}[2J".into(),
                fields: vec![FieldDrift {
                    field: "app_description".into(),
                    live: Some(serde_json::json!("a ` | b\r\u{1b}]0;x\u{7}")),
                    manifest: Some(serde_json::json!("ok")),
                    also_pending: false,
                }],
                deleted: false,
                first_seen: None,
                age_seconds: None,
            }],
            pending: vec![PendingObject {
                object: "Application/`x`".into(),
                action: "update".into(),
                fields: vec!["login_uri".into()],
            }],
        };
        let text = render_text(&r);
        assert!(!text.contains('\u{1b}') && !text.contains('\r'), "{text:?}");
        let md = render_markdown(&r);
        assert!(!md.contains('\u{1b}') && !md.contains('\r'), "{md:?}");
        let row = md.lines().find(|l| l.contains("app_description")).unwrap();
        // Six unescaped pipes: the five cells' borders, none from a value.
        let unescaped = row
            .match_indices('|')
            .filter(|(i, _)| !row[..*i].ends_with('\\'))
            .count();
        assert_eq!(unescaped, 6, "{row}");
        assert!(md.contains("- update `` Application/`x` ``"), "{md}");
    }
}
