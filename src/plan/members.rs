//! An object-valued field compared member by member, as upstream replaces it whole: one rule
//! for every kind's object fields (an application's `authentication_configuration`, a login
//! method). Pure.
//!
//! - The members the manifest sets are compared. A member the answer leaves out reads as the
//!   default upstream's schema documents for it, else as the value last applied (unseen).
//! - Live members nobody manages (neither in the manifest nor last applied) are carried over
//!   into what is sent, so the replacement keeps them; a documented default upstream filled in
//!   is one of them and never a difference. So are members the manifest ignores
//!   (`ignore_fields: [totp.issuer]`).
//! - Members removed from the manifest since the last apply are dropped: not sent, so the
//!   replacement takes them back to their default (one already there asks nothing).
//! - A field hidden in the state (a secret member, or one read from the environment) is
//!   recorded as one hash with the names of its members, which tell managed from unmanaged
//!   all the same. A record from before the names were kept says nothing of them: its live
//!   members are carried over (one set by hand is never dropped on a guess), and the record
//!   written with the field's next write has the names.
//! - Secret members are compared by hash by the caller, who says whether they changed. One
//!   the manifest managed and no longer sets is dropped (the live answer never shows it).
//! - A member holding a secret deeper (`push.apn`, its `key` never answered) is shown and
//!   recorded as a secret; the part the answer shows is compared with the live one as well, and
//!   it is sent as the manifest writes it (its members are written whole, not merged). One
//!   live that the manifest never set cannot be sent back without its secret: it is *blocked*,
//!   and the caller holds the write rather than erase it.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::diff::{ObjectParts, SubField};
use super::fields::same_value;
use crate::model::catalogue::{Field, FieldFacts, Presence, SENSITIVE};
use crate::model::FieldRules;

/// The comparison of one object-valued field.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Members {
    /// What is sent: the manifest's members (secrets as the manifest has them) and the live
    /// ones carried over.
    pub sent: Map<String, Value>,
    /// Changed, unchanged, carried over and dropped members (a secret member's value shown as
    /// `(sensitive)`).
    pub parts: ObjectParts,
    /// A write is needed: a member changed, or one is dropped.
    pub differs: bool,
    /// A member last applied has another live value (changed outside tenantsync).
    pub drift: bool,
    /// Live members holding a secret the live answer does not show, that the manifest does not
    /// set: what is sent cannot keep them, so the field cannot be written.
    pub blocked: Vec<String>,
}

/// What is known of the members a field's manifest managed before.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Before<'a> {
    /// The members last applied with their values (this object's own record).
    Applied(&'a Map<String, Value>),
    /// The names of the members last applied (a hidden field's record).
    Named(&'a [Value]),
    /// Nothing: a first write, an adoption, or a hidden field's record from before names were
    /// kept.
    Unknown,
}

impl Before<'_> {
    fn managed(&self, member: &str) -> bool {
        match self {
            Before::Applied(last) => last.contains_key(member),
            Before::Named(names) => names.iter().any(|n| n.as_str() == Some(member)),
            Before::Unknown => false,
        }
    }
}

/// What the caller knows of the field as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(super) struct Since {
    /// The manifest's value is the one last applied to this object (its record says so).
    pub unchanged: bool,
    /// A secret member changed since the last apply (compared by hash).
    pub secrets_changed: bool,
}

/// Compares `want` (the manifest's value of `field`) with `live`, given what is known of the
/// members managed `before` and of the field `since` the last apply; `ignored`: the members
/// the manifest leaves alone.
pub(super) fn compare(
    field: &dyn FieldFacts,
    want: &Map<String, Value>,
    live: &Map<String, Value>,
    before: Before<'_>,
    ignored: &BTreeSet<&str>,
    since: Since,
) -> Members {
    let last = match before {
        Before::Applied(last) => Some(last),
        Before::Named(_) | Before::Unknown => None,
    };
    let secret = |k: &str| field.member_is_secret(k);
    let same = |k: &str, a: &Value, b: &Value| same_value(a, b, field.member_is_set(k));
    // A member's value `want` as `live` shows it; with `unseen_alike`, members an answer
    // leaves out below it are no difference ([`shows_as_written`]).
    let alike = |k: &str, want: &Value, live: &Value, unseen_alike: bool| {
        if unseen_alike && want.is_object() {
            shows_as_written(field.member_row(k), want, live, (true, false))
        } else {
            same(k, live, want)
        }
    };
    let live_member = |k: &str| {
        live.get(k)
            .filter(|v| !v.is_null())
            .cloned()
            .or_else(|| field.member_default(k))
    };
    let mut parts = ObjectParts::default();
    let mut sent = Map::new();
    let mut secrets = Vec::new();
    for (k, v) in want.iter().filter(|(k, _)| !ignored.contains(k.as_str())) {
        sent.insert(k.clone(), v.clone());
        if secret(k) {
            // A member holding a secret deeper (`apn` under `push`) is shown without it; the
            // part the answer shows is compared with the live one as well. It is sent as the
            // manifest writes it.
            let sub = SubField {
                name: k.clone(),
                before: None,
                after: Some(field.member_shown(k, v).unwrap_or_else(|| SENSITIVE.into())),
            };
            match (field.member_visible(k, v), live_member(k)) {
                (Some(visible), Some(now))
                    if shows_as_written(
                        field.member_row(k),
                        &visible,
                        &now,
                        (since.unchanged, true),
                    ) =>
                {
                    secrets.push(SubField {
                        before: Some(now),
                        ..sub
                    });
                }
                (Some(_), now) => parts.changed.push(SubField { before: now, ..sub }),
                // Never answered: set, as far as tenantsync knows, if it set it.
                (None, _) => secrets.push(SubField {
                    before: before.managed(k).then(|| SENSITIVE.into()),
                    ..sub
                }),
            }
            continue;
        }
        let now = live_member(k);
        let sub = SubField {
            name: k.clone(),
            before: now.clone(),
            after: Some(v.clone()),
        };
        // Unseen (left out, no default, no value of its own last applied, as in a hidden
        // field's record): unchanged if the field is as it was last applied. So is a member
        // of it an answer leaves out at any depth (`message.subject`).
        let unchanged = match (&now, last.and_then(|l| l.get(k))) {
            (Some(now), _) => alike(k, v, now, since.unchanged),
            (None, Some(was)) => same(k, was, v),
            (None, None) => since.unchanged,
        };
        if unchanged {
            parts.unchanged.push(sub);
        } else {
            parts.changed.push(sub);
        }
    }
    // A change of the field no visible member explains is its secret's. (With a visible one,
    // the record, one hash, cannot tell whether the secret changed too.)
    if since.secrets_changed && parts.changed.is_empty() {
        parts.changed.extend(secrets);
    } else {
        parts.unchanged.extend(secrets);
    }
    // A live member holding a secret the answer leaves out (`push.apn`, its `key` unseen) that
    // the manifest does not set: sent back without its secret it would be erased, so it cannot
    // be carried over; one the manifest managed goes (below).
    let blocked = unmanaged_holders(field, live, before, |k| want.contains_key(k));
    for (k, v) in live.iter().filter(|(k, v)| {
        (!want.contains_key(*k) || ignored.contains(k.as_str())) && !secret(k) && !v.is_null()
    }) {
        let at_default = field.member_default(k).is_some_and(|d| same(k, &d, v));
        let goes = !ignored.contains(k.as_str()) && !at_default && before.managed(k);
        if goes {
            parts.dropped.push(SubField {
                name: k.clone(),
                before: Some(v.clone()),
                after: None,
            });
        } else {
            sent.insert(k.clone(), v.clone());
            parts.carried_over.push(SubField {
                name: k.clone(),
                before: Some(v.clone()),
                after: Some(v.clone()),
            });
        }
    }
    // A secret the manifest managed and no longer sets: the replacement leaves it out, so it
    // goes (the live answer never shows it to carry over).
    let secrets_before: Vec<&str> = match before {
        Before::Applied(last) => last.keys().map(String::as_str).collect(),
        Before::Named(names) => names.iter().filter_map(Value::as_str).collect(),
        Before::Unknown => Vec::new(),
    };
    for k in secrets_before
        .into_iter()
        .filter(|k| secret(k) && !want.contains_key(*k) && !ignored.contains(k))
    {
        parts.dropped.push(SubField {
            name: k.to_owned(),
            before: Some(SENSITIVE.into()),
            after: None,
        });
    }
    let differs = !parts.changed.is_empty() || !parts.dropped.is_empty();
    let drift = last.is_some_and(|l| {
        l.iter().any(|(k, was)| {
            !secret(k)
                && !ignored.contains(k.as_str())
                && live_member(k).is_some_and(|now| !alike(k, was, &now, true))
        })
    });
    Members {
        sent,
        parts,
        differs,
        drift,
        blocked,
    }
}

/// The members of `live` (a value of `field`) holding a secret the answer leaves out that were
/// not managed `before` (`push.apn`, its `key` set by hand), but those `written`: no write of
/// the field without them can keep their secret.
pub(super) fn unmanaged_holders(
    field: &dyn FieldFacts,
    live: &Map<String, Value>,
    before: Before<'_>,
    written: impl Fn(&str) -> bool,
) -> Vec<String> {
    live.iter()
        .filter(|(k, v)| !written(k) && !v.is_null() && !before.managed(k))
        .filter(|(k, v)| field.member_visible(k, v).is_some())
        .map(|(k, _)| k.clone())
        .collect()
}

/// Whether `live` shows `want` (a value of a member whose row is `row`) as written, where it
/// shows it: every member `want` sets, at any depth, has that value in `live`, or, with
/// `unseen_alike`, is left out of `live` where the row does not say answers always carry it
/// (upstream's schemas let an answer leave an optional member out: unseen, it is no
/// difference while the manifest did not move, as a field's own members are not). A member
/// only the live value has is a difference (set by hand: a write drops it) unless it holds
/// upstream's documented default, or with `extras_alike` (a member holding a secret, whose
/// record, one hash, cannot tell the members it wrote from members set by hand).
pub(super) fn shows_as_written(
    row: Option<&Field>,
    want: &Value,
    live: &Value,
    (unseen_alike, extras_alike): (bool, bool),
) -> bool {
    match (want, live) {
        (Value::Object(want), Value::Object(live)) => {
            let member = |k: &str| row.and_then(|r| r.member_field(k));
            // A member only the live value has: set by hand (a difference), or, where
            // `extras_alike` does not say every one is alike, upstream's documented default.
            let extras = live.iter().filter(|(k, _)| !want.contains_key(*k));
            let extras_fine = extras_alike
                || extras.into_iter().all(|(k, v)| {
                    v.is_null()
                        || member(k)
                            .and_then(Field::response_default_value)
                            .is_some_and(|d| same_value(&d, v, false))
                });
            extras_fine
                && want
                    .iter()
                    .all(|(k, v)| match live.get(k).filter(|now| !now.is_null()) {
                        Some(now) => {
                            shows_as_written(member(k), v, now, (unseen_alike, extras_alike))
                        }
                        None => {
                            unseen_alike
                                && member(k).is_none_or(|m| m.presence != Presence::Required)
                        }
                    })
        }
        (want, live) => same_value(want, live, row.is_some_and(|r| r.set_like)),
    }
}

/// The members of object field `field` that a manifest's `rules` ignore and can leave alone:
/// not a secret one, nor one it writes hidden (from the environment). The live object never
/// shows a secret, and a saved plan cannot hold a hidden value, so those are sent as the
/// manifest writes them even when ignored (upstream replaces the field whole).
pub(super) fn ignored<'a>(
    facts: &dyn FieldFacts,
    rules: &'a FieldRules,
    field: &str,
) -> BTreeSet<&'a str> {
    rules
        .ignored_keys_of(field)
        .into_iter()
        .filter(|k| !facts.member_is_secret(k) && !rules.hides_member(field, k))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::catalogue::Field;
    use crate::model::kinds::ObjKind;
    use serde_json::json;

    fn field(name: &str) -> &'static Field {
        ObjKind::LoginPreferences.spec().field(name).unwrap()
    }

    use crate::plan::testing::map;

    fn cmp(
        field: &Field,
        want: &Map<String, Value>,
        live: &Map<String, Value>,
        before: Before<'_>,
    ) -> Members {
        compare(
            field,
            want,
            live,
            before,
            &BTreeSet::new(),
            Since::default(),
        )
    }

    fn names(subs: &[SubField]) -> Vec<&str> {
        subs.iter().map(|s| s.name.as_str()).collect()
    }

    #[test]
    fn defaults_upstream_fills_in_are_no_difference_and_are_carried_over() {
        let totp = field("totp");
        let want = map(json!({"period": 60}));
        // Upstream answers every member, the defaults it filled in among them.
        let live = map(json!({"algorithm": "sha1", "digits": 6, "period": 60, "window": 1}));
        let m = cmp(totp, &want, &live, Before::Applied(&want));
        assert!(!m.differs && !m.drift, "{m:?}");
        // An answer that leaves a defaulted member out means the default.
        let m = cmp(
            totp,
            &map(json!({"digits": 6})),
            &map(json!({})),
            Before::Unknown,
        );
        assert!(!m.differs, "{m:?}");
        // A change is sent with the unmanaged members as they are live.
        let m = cmp(
            totp,
            &map(json!({"period": 90})),
            &live,
            Before::Applied(&want),
        );
        assert!(m.differs, "{m:?}");
        assert_eq!(names(&m.parts.changed), ["period"]);
        assert_eq!(
            names(&m.parts.carried_over),
            ["algorithm", "digits", "window"]
        );
        assert_eq!(
            Value::Object(m.sent),
            json!({"algorithm": "sha1", "digits": 6, "period": 90, "window": 1})
        );
    }

    #[test]
    fn a_member_removed_from_the_manifest_is_dropped_and_drift_is_seen() {
        let totp = field("totp");
        let last = map(json!({"period": 60, "issuer": "Shop"}));
        let live = map(json!({"period": 60, "issuer": "Shop", "digits": 6}));
        let m = cmp(
            totp,
            &map(json!({"period": 60})),
            &live,
            Before::Applied(&last),
        );
        assert!(m.differs);
        assert_eq!(names(&m.parts.dropped), ["issuer"]);
        assert_eq!(Value::Object(m.sent), json!({"period": 60, "digits": 6}));
        // Changed by hand: drift, and the manifest's value is sent again.
        let live = map(json!({"period": 45, "issuer": "Shop"}));
        let m = cmp(totp, &last, &live, Before::Applied(&last));
        assert!(m.differs && m.drift, "{m:?}");
    }

    #[test]
    fn a_member_left_out_without_a_default_compares_with_the_last_applied_value() {
        let sms = field("sms");
        let want = map(json!({"expiresIn": 5, "maxFailures": 3}));
        let live = map(json!({"expiresIn": 5}));
        assert!(!cmp(sms, &want, &live, Before::Applied(&want)).differs);
        // Never applied (adopted): written.
        assert!(cmp(sms, &want, &live, Before::Unknown).differs);
    }

    #[test]
    fn a_hidden_field_keeps_its_live_members_until_the_manifest_changes_it() {
        let google = field("google");
        let want = map(json!({"clientId": "g", "clientSecret": "s"}));
        let live = map(json!({"clientId": "g", "redirectUris": ["https://a"]}));
        // Hidden (one hash in the state, no names): its live members are kept.
        let m = cmp(google, &want, &live, Before::Unknown);
        assert!(!m.differs, "{m:?}");
        assert_eq!(names(&m.parts.carried_over), ["redirectUris"]);
        // With the names: a member it managed and no longer sets goes, the secret too.
        let names_before = [
            json!("clientId"),
            json!("clientSecret"),
            json!("redirectUris"),
        ];
        let m = cmp(
            google,
            &map(json!({"clientId": "g"})),
            &live,
            Before::Named(&names_before),
        );
        assert!(m.differs, "{m:?}");
        assert_eq!(names(&m.parts.dropped), ["redirectUris", "clientSecret"]);
        assert_eq!(m.parts.dropped[1].before, Some(json!("(sensitive)")));
        assert_eq!(Value::Object(m.sent), json!({"clientId": "g"}));
        // The secret member is compared by the caller, and listed as it says, never shown.
        let m = cmp(google, &want, &live, Before::Unknown);
        assert_eq!(names(&m.parts.unchanged), ["clientId", "clientSecret"]);
        let m = compare(
            google,
            &want,
            &live,
            Before::Unknown,
            &BTreeSet::new(),
            Since {
                secrets_changed: true,
                ..Since::default()
            },
        );
        assert!(m.differs);
        assert_eq!(names(&m.parts.changed), ["clientSecret"]);
        assert_eq!(m.parts.changed[0].after, Some(json!("(sensitive)")));
    }

    #[test]
    fn a_hidden_fields_recorded_names_tell_managed_members_from_the_others() {
        let google = field("google");
        let want = map(json!({"clientId": "g", "clientSecret": "s"}));
        let live = map(json!({"clientId": "g", "redirectUris": ["https://a"], "scope": "x"}));
        let names_then = [
            json!("clientId"),
            json!("clientSecret"),
            json!("redirectUris"),
        ];
        let m = cmp(google, &want, &live, Before::Named(&names_then));
        assert_eq!(names(&m.parts.dropped), ["redirectUris"]);
        assert_eq!(names(&m.parts.carried_over), ["scope"]);
        assert!(m.differs && !m.drift);
    }

    #[test]
    fn a_member_holding_a_secret_deeper_is_compared_in_what_shows_and_never_carried_bare() {
        let push = field("push");
        let apn = json!({"key": "k", "keyId": "K1", "teamId": "T", "bundle": "b"});
        let want = map(json!({"apn": apn}));
        // Live without its key (never answered), and a member upstream filled in: the same.
        let live = map(json!({"apn": {"keyId": "K1", "teamId": "T", "bundle": "b",
            "isProduction": false}}));
        let m = cmp(push, &want, &live, Before::Unknown);
        assert!(!m.differs && m.blocked.is_empty(), "{m:?}");
        assert_eq!(names(&m.parts.unchanged), ["apn"]);
        // What shows of it changed by hand: written again, shown as sensitive by the caller.
        let moved = map(json!({"apn": {"keyId": "K2", "teamId": "T", "bundle": "b"}}));
        let m = cmp(push, &want, &moved, Before::Unknown);
        assert!(m.differs, "{m:?}");
        assert_eq!(names(&m.parts.changed), ["apn"]);
        assert_eq!(Value::Object(m.sent), json!({"apn": apn}));
        // Live, never set by the manifest: sending the field would erase its key, so it is
        // blocked, never carried over without it.
        let both = map(json!({"apn": {"keyId": "K1", "teamId": "T", "bundle": "b"}, "fcm": {}}));
        let m = cmp(push, &want, &both, Before::Unknown);
        assert_eq!(m.blocked, ["fcm"]);
        assert!(!m.sent.contains_key("fcm"));
        // One the manifest managed and no longer sets goes, as a secret does.
        let names_before = [json!("apn"), json!("fcm")];
        let m = cmp(push, &want, &both, Before::Named(&names_before));
        assert!(m.blocked.is_empty() && m.differs, "{m:?}");
        assert_eq!(names(&m.parts.dropped), ["fcm"]);
    }

    #[test]
    fn ignored_null_and_defaulted_members_are_never_dropped_nor_sent_as_null() {
        let totp = field("totp");
        let last = map(json!({"period": 60, "digits": 6, "issuer": "Shop"}));
        let live = map(json!({"period": 60, "digits": 6, "issuer": "Hand", "window": null}));
        // `issuer` ignored, `digits` removed from the manifest but at its default.
        let ignored = BTreeSet::from(["issuer"]);
        let want = map(json!({"period": 60, "issuer": "Shop"}));
        let m = compare(
            totp,
            &want,
            &live,
            Before::Applied(&last),
            &ignored,
            Since::default(),
        );
        assert!(!m.differs && !m.drift, "{m:?}");
        assert_eq!(
            Value::Object(m.sent),
            json!({"period": 60, "digits": 6, "issuer": "Hand"})
        );
    }

    #[test]
    fn a_member_an_answer_leaves_out_below_a_members_top_is_unseen_while_the_manifest_stays() {
        let email_otp = field("email_otp");
        let want =
            map(json!({"expiresIn": 5, "message": {"primaryColor": "#111", "subject": "Hi"}}));
        let live = map(json!({"expiresIn": 5, "message": {"primaryColor": "#111"}}));
        let last = want.clone();
        let applied = Since {
            unchanged: true,
            ..Since::default()
        };
        let compare_as = |since, live: &Map<String, Value>| {
            compare(
                email_otp,
                &want,
                live,
                Before::Applied(&last),
                &BTreeSet::new(),
                since,
            )
        };
        let m = compare_as(applied, &live);
        assert!(!m.differs && !m.drift, "{m:?}");
        // Shown, and another value: drift, written again.
        let moved =
            map(json!({"expiresIn": 5, "message": {"primaryColor": "#111", "subject": "Yo"}}));
        let m = compare_as(applied, &moved);
        assert!(m.differs && m.drift, "{m:?}");
        // A member set by hand beside them: a difference (a write drops it), and drift.
        let added = map(
            json!({"expiresIn": 5, "message": {"primaryColor": "#111", "subject": "Hi", "from": "hand@example.com"}}),
        );
        let m = compare_as(applied, &added);
        assert!(m.differs && m.drift, "{m:?}");
        // The manifest moved (the member is new to it): nothing shows it is live, so it is written.
        let m = compare_as(Since::default(), &live);
        assert!(m.differs, "{m:?}");
        // Of a member holding a secret: `apn.isProduction` left out.
        let push = field("push");
        let want = map(
            json!({"apn": {"key": "k", "keyId": "K1", "teamId": "T", "bundle": "b", "isProduction": true}}),
        );
        let live = map(json!({"apn": {"keyId": "K1", "teamId": "T", "bundle": "b"}}));
        let m = compare(
            push,
            &want,
            &live,
            Before::Unknown,
            &BTreeSet::new(),
            applied,
        );
        assert!(!m.differs, "{m:?}");
    }
}
