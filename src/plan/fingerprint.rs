//! Fingerprints a saved plan is checked with: of the managed fields of each live object, and
//! of the whole desired state.

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::fields::{self, ObjectKind};
use crate::manifest::DesiredState;
use crate::model::catalogue::{Field, Object};
use crate::model::kinds::{AnyKind, KindSpec};
use crate::model::AuthenticationProtocol;
use crate::model::FieldRules;
use crate::state::entry::{hash_hidden, salted_hash};

/// Fingerprint of the `fields` of a live object: what a saved plan checks before it writes.
/// Each field the object holds goes in as `form` gives it; fields nobody manages (an app's
/// `logo`, server timestamps) are not part of it, so they never make a saved plan refuse.
/// Unsalted, so a plan made before the state existed still matches; `tag` is the model's,
/// unchanged since plans of earlier releases were saved with it.
fn fingerprint_of(
    tag: &[u8],
    object: &Map<String, Value>,
    fields: &[String],
    form: impl Fn(&str, &Value) -> Value,
) -> String {
    let covered: Map<String, Value> = fields
        .iter()
        .filter_map(|field| Some((field.clone(), form(field, object.get(field)?))))
        .collect();
    salted_hash(tag, &Value::Object(covered))
}

/// Fingerprint ([`fingerprint_of`]) of the `fields` of a live application or client: each in
/// the form requests use, sets in a canonical order.
fn live_fingerprint(kind: ObjectKind, object: &Map<String, Value>, fields: &[String]) -> String {
    let catalogue_object = kind.object();
    fingerprint_of(
        b"tenantsync/live-fingerprint/v2",
        object,
        fields,
        |field, v| {
            let fact = catalogue_object.field(field);
            let v = crate::model::catalogue::request_form(fact, v);
            fields::canonical(catalogue_object, field, &v)
        },
    )
}

/// Fingerprint ([`fingerprint_of`]) of the `fields` of a live object of a described kind: each
/// as responses show it, without the secrets its row names at any depth
/// ([`Field::remove_secrets`]: a member that holds a secret deeper, as `push.apn` holds its
/// key, keeps its other members), a set's items in canonical order. Its tag is the one plans
/// of format 7 hashed in too: the two forms agree on every object without such a member.
fn object_fingerprint(spec: &KindSpec, object: &Map<String, Value>, fields: &[String]) -> String {
    fingerprint_of(
        b"tenantsync/object-fingerprint/v1",
        object,
        fields,
        |field, v| {
            let row = spec.field(field);
            let mut v = v.clone();
            if let Some(row) = row {
                row.remove_secrets(&mut v);
            }
            canonical_set(row, v)
        },
    )
}

/// [`object_fingerprint`] as plans of format 7 and earlier made it: a member holding a secret
/// at any depth was left out whole (and any deeper member of the same name), so a change of
/// `push.apn.keyId` went unseen. Kept only to check such plans.
fn object_fingerprint_format_7(
    spec: &KindSpec,
    object: &Map<String, Value>,
    fields: &[String],
) -> String {
    fn without(value: &Value, is_secret: &dyn Fn(&str) -> bool) -> Value {
        match value {
            Value::Object(map) => Value::Object(
                map.iter()
                    .filter(|(k, _)| !is_secret(k))
                    .map(|(k, v)| (k.clone(), without(v, is_secret)))
                    .collect(),
            ),
            Value::Array(items) => {
                Value::Array(items.iter().map(|v| without(v, is_secret)).collect())
            }
            other => other.clone(),
        }
    }
    fingerprint_of(
        b"tenantsync/object-fingerprint/v1",
        object,
        fields,
        |field, v| {
            let row = spec.field(field);
            let v = without(v, &|m| row.is_some_and(|r| r.member_is_secret(m)));
            canonical_set(row, v)
        },
    )
}

/// `v` with its items in canonical order when `row` is a set.
fn canonical_set(row: Option<&Field>, mut v: Value) -> Value {
    if let (Some(items), true) = (v.as_array_mut(), row.is_some_and(|r| r.set_like)) {
        items.sort_by_cached_key(Value::to_string);
    }
    v
}

/// Fingerprint of the `fields` of a live object of any kind: [`live_fingerprint`] of an
/// application or a client, [`object_fingerprint`] of a described kind's object.
pub fn fingerprint_live(kind: AnyKind, object: &Map<String, Value>, fields: &[String]) -> String {
    match kind {
        AnyKind::Application => live_fingerprint(ObjectKind::App, object, fields),
        AnyKind::Client => live_fingerprint(
            ObjectKind::Client(AuthenticationProtocol::of(object)),
            object,
            fields,
        ),
        AnyKind::Described(kind) => object_fingerprint(kind.spec(), object, fields),
    }
}

/// How a plan of format 7 or earlier is read: each described kind's fingerprint marked with
/// the form it was made in ([`FORMAT_7_FORM`] and the hash), so it is checked in that form.
pub fn mark_format_7(fingerprint: &str) -> String {
    format!("{FORMAT_7_FORM}{fingerprint}")
}

/// The mark of a described kind's fingerprint made by a plan of format 7 or earlier
/// ([`object_fingerprint_format_7`]). Never the start of a hash (hex digits only).
const FORMAT_7_FORM: &str = "format-7:";

/// Whether `object` still has the `fields` a saved plan fingerprinted as `expected`: by this
/// release's [`fingerprint_live`], or, for a described kind's fingerprint a plan of format 7
/// or earlier made ([`mark_format_7`]), in the form it was made in.
pub fn fingerprint_matches(
    kind: AnyKind,
    object: &Map<String, Value>,
    fields: &[String],
    expected: &str,
) -> bool {
    match (expected.strip_prefix(FORMAT_7_FORM), kind) {
        (None, _) => fingerprint_live(kind, object, fields) == expected,
        (Some(made), AnyKind::Described(k)) => {
            object_fingerprint_format_7(k.spec(), object, fields) == made
        }
        (Some(_), _) => false,
    }
}

/// A spec as it is hashed: set-like lists in canonical order, so that reordering one in a
/// manifest (which plans no change) does not make a saved plan refuse either.
struct CanonicalSpec<'a> {
    object: Object,
    spec: &'a Map<String, Value>,
}

impl serde::Serialize for CanonicalSpec<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.spec.iter().map(|(k, v)| {
            let set = v.is_array() && self.object.field(k).is_some_and(|f| f.set_like);
            let v = if set {
                Cow::Owned(fields::canonical(self.object, k, v))
            } else {
                Cow::Borrowed(v)
            };
            (k, v)
        }))
    }
}

/// Fingerprint of a desired state (secrets hashed first, set-like lists in canonical order), so
/// a saved plan can tell whether the manifests changed since. Streamed into the hash: no copy of
/// the state is built.
pub fn desired_fingerprint(desired: &DesiredState, salt: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    struct HashWriter(Sha256);
    impl std::io::Write for HashWriter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.update(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut w = HashWriter(Sha256::new());
    w.0.update(salt);
    let spec =
        |w: &mut HashWriter, kind: ObjectKind, spec: &Map<String, Value>, rules: &FieldRules| {
            let object = kind.object();
            if rules.sensitive.is_empty() && rules.masked.is_empty() {
                serde_json::to_writer(&mut *w, &CanonicalSpec { object, spec })
                    .expect("hashing cannot fail");
            } else {
                let redacted = hash_hidden(spec, rules, salt);
                serde_json::to_writer(
                    &mut *w,
                    &CanonicalSpec {
                        object,
                        spec: &redacted,
                    },
                )
                .expect("hashing cannot fail");
            }
        };
    let rules = |w: &mut HashWriter, rules: &FieldRules| {
        let ignored: Vec<String> = rules.ignored.iter().map(ToString::to_string).collect();
        serde_json::to_writer(&mut *w, &ignored).expect("hashing cannot fail");
    };
    let references = |w: &mut HashWriter, refs: &crate::manifest::References| {
        for (field, items) in refs {
            w.0.update(format!("\0ref\0{field}").as_bytes());
            // Reference fields are sets: order and repeats do not change the plan.
            let mut texts: Vec<String> = items
                .iter()
                .map(|item| match item {
                    crate::manifest::Ref::Managed { address, name } => {
                        format!("\0{address}\0{name}")
                    }
                    crate::manifest::Ref::Id(id) => format!("\0id\0{id}"),
                })
                .collect();
            texts.sort();
            texts.dedup();
            for text in texts {
                w.0.update(text.as_bytes());
            }
        }
    };
    // The bytes of earlier releases (a saved plan's fingerprint still matches): each
    // application with its clients before its references, then the other kinds.
    for app in desired.apps() {
        let key = &app.name;
        w.0.update(format!("\0app\0{key}\0{}\0", app.protect).as_bytes());
        spec(&mut w, ObjectKind::App, &app.spec, &app.rules);
        rules(&mut w, &app.rules);
        for (c, facts) in desired.clients(key) {
            let name = &c.name;
            w.0.update(
                format!(
                    "\0client\0{name}\0{}\0{}\0",
                    facts.protocol.as_str(),
                    facts.is_default
                )
                .as_bytes(),
            );
            spec(
                &mut w,
                ObjectKind::Client(facts.protocol),
                &c.spec,
                &c.rules,
            );
            rules(&mut w, &c.rules);
            references(&mut w, &c.refs);
        }
        references(&mut w, &app.refs);
    }
    for (address, object) in desired.described() {
        w.0.update(
            format!("\0object\0{address}\0{}\0{}\0", object.name, object.protect).as_bytes(),
        );
        let spec = if object.rules.sensitive.is_empty() && object.rules.masked.is_empty() {
            Cow::Borrowed(&object.spec)
        } else {
            Cow::Owned(hash_hidden(&object.spec, &object.rules, salt))
        };
        serde_json::to_writer(&mut w, &*spec).expect("hashing cannot fail");
        rules(&mut w, &object.rules);
        references(&mut w, &object.refs);
    }
    w.0.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    use crate::plan::testing::map;

    #[test]
    fn an_objects_references_are_part_of_the_manifests_fingerprint() {
        let tree = |roles: &str| {
            format!(
                "apiVersion: tenantsync/v1
kind: Application
metadata: {{name: shop}}
spec: {{app_name: Shop, clients: [{{name: Web, redirect_uris: []}}]}}
---
apiVersion: tenantsync/v1
kind: Role
metadata: {{name: clerk}}
spec: {{application: shop, role_name: clerk}}
---
apiVersion: tenantsync/v1
kind: Role
metadata: {{name: lead}}
spec: {{application: shop, role_name: lead}}
---
apiVersion: tenantsync/v1
kind: RoleGroup
metadata: {{name: staff}}
spec: {{application: shop, name: Staff, role_ids: {roles}}}
"
            )
        };
        let fingerprint = |roles: &str| {
            let desired = crate::manifest::load(
                &[crate::manifest::SourceFile {
                    path: "/m/a.yaml".into(),
                    bytes: tree(roles).into_bytes(),
                }],
                &crate::manifest::interpolate::tests::FakeEnvironment::default(),
            )
            .unwrap_or_else(|e| panic!("{e}"));
            desired_fingerprint(&desired, b"salt")
        };
        assert_ne!(fingerprint("[clerk]"), fingerprint("[clerk, lead]"));
        assert_eq!(
            fingerprint("[clerk, lead]"),
            fingerprint("[lead, clerk]"),
            "a set"
        );
    }

    #[test]
    fn sets_hash_alike_in_any_order_lists_do_not() {
        let oidc = ObjectKind::Client(AuthenticationProtocol::Oidc);
        let fields = [
            "redirect_uris".to_owned(),
            "default_custom_claims".to_owned(),
        ];
        let a = map(json!({"redirect_uris": ["a", "b"], "default_custom_claims": ["x", "y"]}));
        let b = map(json!({"redirect_uris": ["b", "a", "a"], "default_custom_claims": ["x", "y"]}));
        let c = map(json!({"redirect_uris": ["a", "b"], "default_custom_claims": ["y", "x"]}));
        assert_eq!(
            live_fingerprint(oidc, &a, &fields),
            live_fingerprint(oidc, &b, &fields)
        );
        assert_ne!(
            live_fingerprint(oidc, &a, &fields),
            live_fingerprint(oidc, &c, &fields)
        );
        let hash = |spec: &Map<String, Value>| {
            serde_json::to_string(&CanonicalSpec {
                object: Object::SamlClient,
                spec,
            })
            .unwrap()
        };
        assert_eq!(
            hash(&map(json!({"supported_prompts": ["none", "login"]}))),
            hash(&map(json!({"supported_prompts": ["login", "none"]})))
        );
    }

    #[test]
    fn a_visible_member_beside_a_secret_is_fingerprinted_and_format_7_plans_still_match() {
        let kind = AnyKind::Described(crate::model::kinds::ObjKind::LoginPreferences);
        let fields = ["push".to_owned()];
        let push = |key_id: &str, key: &str| {
            map(
                json!({"push": {"apn": {"keyId": key_id, "key": key, "teamId": "T", "bundle": "b"}}}),
            )
        };
        let (before, rotated_key, new_key_id) =
            (push("K1", "s1"), push("K1", "s2"), push("K2", "s1"));
        let print = fingerprint_live(kind, &before, &fields);
        assert_eq!(
            print,
            fingerprint_live(kind, &rotated_key, &fields),
            "the key is no part of it"
        );
        assert_ne!(
            print,
            fingerprint_live(kind, &new_key_id, &fields),
            "its key id is"
        );
        // A plan of format 7 fingerprinted `push` without `apn`: read, it is checked in that
        // form, and a fingerprint of this release only in this one.
        let format_7 = mark_format_7(&object_fingerprint_format_7(kind.spec(), &before, &fields));
        assert!(fingerprint_matches(kind, &new_key_id, &fields, &format_7));
        assert!(fingerprint_matches(kind, &rotated_key, &fields, &print));
        assert!(!fingerprint_matches(kind, &new_key_id, &fields, &print));
        assert!(!fingerprint_matches(
            kind,
            &before,
            &fields,
            &mark_format_7(&print)
        ));
        assert!(!fingerprint_matches(
            kind,
            &map(json!({})),
            &fields,
            &format_7
        ));
    }
}
