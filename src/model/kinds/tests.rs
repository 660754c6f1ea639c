//! The kind descriptions checked against upstream's OpenAPI documents
//! (`tests/fixtures/upstream/`): every documented field has a row, required create fields and
//! always-returned fields agree, paths exist, and applications' and clients' schemas are the
//! catalogue's.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use crate::model::catalogue::Object;

use super::*;

/// A kind's upstream document (JSON or YAML: YAML reads both).
fn document(kind: AnyKind) -> Value {
    let path = format!(
        "{}/tests/fixtures/upstream/{}",
        env!("CARGO_MANIFEST_DIR"),
        kind.spec().upstream.document
    );
    serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn schema<'a>(doc: &'a Value, name: &str) -> &'a Value {
    &doc["components"]["schemas"][name]
}

fn names(schema: &Value, key: &str) -> BTreeSet<String> {
    match &schema[key] {
        Value::Object(m) => m.keys().cloned().collect(),
        Value::Array(a) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => BTreeSet::new(),
    }
}

#[test]
fn every_kind_agrees_with_upstreams_document() {
    for kind in ObjKind::ALL {
        let spec = kind.spec();
        let doc = document(AnyKind::Described(kind));
        let [Schemas {
            response,
            create,
            update,
        }] = spec.upstream.schemas
        else {
            panic!("{kind}: one shape");
        };
        assert!(spec.catalogue.is_empty(), "{kind}: fields listed here");
        let response = schema(&doc, response);
        // Responses carry every field but those read from another (`ReadFrom`), which they
        // carry there.
        let ours: BTreeSet<String> = spec
            .fields
            .iter()
            .filter(|f| f.read_from.is_none())
            .map(|f| f.name.to_owned())
            .collect();
        assert_eq!(
            ours,
            names(response, "properties"),
            "{kind}: fields vs response schema"
        );
        for f in spec.fields.iter().filter_map(|f| f.read_from) {
            let items = &response["properties"][f.list]["items"]["$ref"];
            let item = schema(&doc, items.as_str().unwrap().rsplit('/').next().unwrap());
            assert!(
                names(item, "required").contains(f.id),
                "{kind}: {}[].{} is always returned",
                f.list,
                f.id
            );
        }
        let always: BTreeSet<String> = spec
            .fields
            .iter()
            .filter(|f| f.presence == Presence::Required)
            .map(|f| f.name.to_owned())
            .collect();
        assert_eq!(
            always,
            names(response, "required"),
            "{kind}: always returned"
        );
        let writable: BTreeSet<String> = spec.writable().map(|f| f.name.to_owned()).collect();
        assert_eq!(
            writable,
            names(schema(&doc, update), "properties"),
            "{kind}: writable vs update body"
        );
        if let Some(create) = create {
            let required: BTreeSet<String> = spec
                .fields
                .iter()
                .filter(|f| f.required_on_create)
                .map(|f| f.name.to_owned())
                .collect();
            assert_eq!(
                required,
                names(schema(&doc, create), "required"),
                "{kind}: required on create"
            );
            assert_eq!(
                writable,
                names(schema(&doc, create), "properties"),
                "{kind}: create body"
            );
        }
        // An object field's schema: the one its response property references.
        let object_schema = |field: &Field| {
            let property = &response["properties"][field.name];
            let reference = property["allOf"][0]["$ref"]
                .as_str()
                .or_else(|| property["$ref"].as_str())
                .unwrap_or_else(|| panic!("{kind}.{}: {property}", field.name));
            schema(&doc, reference.rsplit('/').next().unwrap())
        };
        // An object field's required sub-fields are the referenced schema's.
        for field in spec
            .fields
            .iter()
            .filter(|f| f.ty == Some(FieldType::Object) && f.writable())
        {
            let documented = names(object_schema(field), "required");
            let ours: BTreeSet<String> = field.required_members().map(str::to_owned).collect();
            assert_eq!(
                ours, documented,
                "{kind}.{}: required sub-fields",
                field.name
            );
        }
        // An object field's sub-field defaults are the referenced schema's, every one of them.
        for field in spec
            .fields
            .iter()
            .filter(|f| f.ty == Some(FieldType::Object))
        {
            let target = object_schema(field);
            // Every member it lists is one the schema documents.
            let properties = names(target, "properties");
            for member in field.members {
                assert!(
                    properties.contains(member.name),
                    "{kind}.{}.{}: not a member upstream documents",
                    field.name,
                    member.name
                );
            }
            let documented: BTreeMap<String, Value> = target["properties"]
                .as_object()
                .into_iter()
                .flatten()
                .filter_map(|(name, p)| Some((name.clone(), p.get("default")?.clone())))
                .collect();
            let ours: BTreeMap<String, Value> = field
                .members
                .iter()
                .filter_map(|m| Some((m.name.to_owned(), m.request_default_value()?)))
                .collect();
            assert_eq!(
                ours, documented,
                "{kind}.{}: sub-field defaults",
                field.name
            );
        }
        let paths = doc["paths"].as_object().unwrap();
        let template = |p: &str| p.replace("{app_id}", "{x}").replace("{id}", "{x}");
        let upstream: BTreeSet<String> = paths
            .keys()
            .map(|p| {
                let mut out = String::new();
                for seg in p.split('/') {
                    if !out.is_empty() || !seg.is_empty() {
                        out.push('/');
                    }
                    out.push_str(if seg.starts_with('{') { "{x}" } else { seg });
                }
                out
            })
            .collect();
        let replaces = spec.api.replaces_one.map(|(path, _)| path);
        for path in [spec.api.collection, spec.api.item]
            .into_iter()
            .chain(replaces)
        {
            assert!(
                upstream.contains(&template(path)),
                "{kind}: {path} not in {upstream:?}"
            );
        }
        // The success status of an update and a delete: 202 where the description says
        // upstream accepts them, else 200 and 204 (where upstream documents one at all: for
        // role groups it documents none, so no answer of theirs is read).
        let same_template = |theirs: &str, ours: &str| {
            let (t, o): (Vec<&str>, Vec<&str>) =
                (theirs.split('/').collect(), ours.split('/').collect());
            t.len() == o.len()
                && t.iter()
                    .zip(&o)
                    .all(|(a, b)| a == b || (a.starts_with('{') && b.starts_with('{')))
        };
        let item = paths
            .iter()
            .find(|(p, _)| same_template(p, spec.api.item))
            .map(|(_, ops)| ops)
            .unwrap_or_else(|| panic!("{kind}: no item path"));
        let success = |method: &str| -> Option<String> {
            item[method]["responses"]
                .as_object()?
                .keys()
                .find(|code| code.starts_with('2'))
                .cloned()
        };
        // A one-field replacement: upstream's body for it requires just that field, and it is
        // one the kind writes.
        if let Some((path, field)) = spec.api.replaces_one {
            let (_, ops) = paths
                .iter()
                .find(|(p, _)| same_template(p, path))
                .unwrap_or_else(|| panic!("{kind}: {path}"));
            let body = ops["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
                .as_str()
                .unwrap_or_else(|| panic!("{kind}: POST {path} has a body"));
            let body = schema(&doc, body.rsplit('/').next().unwrap());
            assert_eq!(
                names(body, "required"),
                BTreeSet::from([field.to_owned()]),
                "{kind}: POST {path}"
            );
            assert!(spec.writable().any(|f| f.name == field), "{kind}.{field}");
        }
        let (update, delete) = if spec.api.accepted {
            ("202", "202")
        } else {
            ("200", "204")
        };
        if let Some(documented) = success("put") {
            assert_eq!(documented, update, "{kind}: update status");
        } else {
            assert!(!spec.api.update_answers_object, "{kind}: no update answer");
        }
        if let Some(documented) = success("delete").filter(|_| spec.api.delete) {
            assert_eq!(documented, delete, "{kind}: delete status");
        }
    }
}

/// Applications and clients: their paths are upstream's, and every success answer of their
/// list, read, create and update is wrapped in `result` exactly when their envelope says so.
#[test]
fn applications_and_clients_agree_with_upstreams_document() {
    let doc = document(AnyKind::Application);
    let paths = doc["paths"].as_object().unwrap();
    let shape = |p: &str| {
        p.split('/')
            .map(|seg| if seg.starts_with('{') { "{x}" } else { seg })
            .collect::<Vec<_>>()
            .join("/")
    };
    let find = |ours: &str| {
        paths
            .iter()
            .find(|(p, _)| shape(p) == shape(ours))
            .unwrap_or_else(|| panic!("{ours} is not one of upstream's paths"))
            .1
    };
    for kind in [&APPLICATION, &CLIENT] {
        let (collection, item) = (find(kind.api.collection), find(kind.api.item));
        let mut checked = 0;
        for (op, method) in [
            (collection, "get"),
            (collection, "post"),
            (item, "get"),
            (item, "put"),
        ] {
            let answers = op[method]["responses"].as_object().unwrap();
            for (status, answer) in answers.iter().filter(|(s, _)| s.starts_with('2')) {
                let schema = &answer["content"]["application/json"]["schema"];
                let wrapped = schema["required"]
                    .as_array()
                    .is_some_and(|r| r.iter().any(|f| f == "result"));
                assert_eq!(
                    wrapped,
                    kind.api.envelope == Envelope::Result,
                    "{} {method} {status}: {schema}",
                    kind.name
                );
                checked += 1;
            }
        }
        assert_eq!(
            checked, 4,
            "{}: one success answer per operation",
            kind.name
        );
        // Ids from answers are one path segment each.
        assert_eq!(
            kind.api.item_path(Some("a/b"), Some("../c?d")),
            kind.api
                .item
                .replace("{app_id}", "a%2Fb")
                .replace("{id}", "..%2Fc%3Fd")
        );
    }
    assert_eq!(APPLICATION.natural_key, NaturalKey::Field("app_name"));
    assert_eq!(CLIENT.natural_key, NaturalKey::Field("name"));
    assert_eq!(CLIENT.parent, Some(Parent::Application));
}

/// Which kinds' natural keys upstream keeps unique: the described kinds' (a second object with
/// the key answers 409, or, for login preferences, there is one per application; which is why
/// their creates need no journal: one a crash left unrecorded is found by its key), not
/// applications' or clients' names (their creates are
/// journaled, and one deleted outside tenantsync is created again, never swapped for a
/// namesake).
#[test]
fn only_the_described_kinds_keys_are_unique() {
    for kind in AnyKind::ALL {
        assert_eq!(kind.spec().unique_key, kind.described().is_some(), "{kind}");
    }
}

/// Applications' and clients' fields are the catalogue's: their descriptions list none, name one
/// catalogue object per shape, and each shape's schemas are in their upstream document (the
/// catalogue's tests check the fields against those schemas).
#[test]
fn applications_and_clients_fields_are_the_catalogues() {
    for kind in [AnyKind::Application, AnyKind::Client] {
        let spec = kind.spec();
        assert!(spec.fields.is_empty(), "{kind}");
        assert_eq!(spec.catalogue.len(), spec.upstream.schemas.len(), "{kind}");
        let doc = document(kind);
        for shape in spec.upstream.schemas {
            let documented = shape
                .create
                .into_iter()
                .chain([shape.response, shape.update]);
            for name in documented {
                assert!(schema(&doc, name).is_object(), "{kind}: {name}");
            }
        }
    }
    // Every kind once, in creation order: referenced kinds before their referrers, parents
    // before children.
    let order: Vec<&str> = AnyKind::ALL.iter().map(|k| k.name()).collect();
    assert_eq!(
        order,
        [
            "Resource",
            "ServiceProvider",
            "Application",
            "Role",
            "RoleGroup",
            "LoginPreferences",
            "Client"
        ]
    );
    for kind in ObjKind::ALL {
        assert!(
            AnyKind::ALL.contains(&AnyKind::Described(kind)),
            "{kind} in AnyKind::ALL"
        );
    }
    let at = |k| AnyKind::ALL.iter().position(|x| *x == k);
    for kind in AnyKind::ALL {
        assert_eq!(kind.spec().kind, kind);
        for reference in references_of(kind) {
            let target = AnyKind::Described(reference.target);
            assert!(at(target) < at(kind), "{kind} refers to the later {target}");
        }
        if kind.spec().parent == Some(Parent::Application) {
            assert!(
                at(AnyKind::Application) < at(kind),
                "{kind} before its application"
            );
        }
    }
}

#[test]
fn ids_in_paths_are_one_segment() {
    let spec = ObjKind::Role.spec();
    assert_eq!(
        spec.item_path(Some("a/b"), Some("r 1?")),
        "/v1/applications/a%2Fb/roles/r%201%3F"
    );
}

#[test]
fn secrets_are_found_at_any_depth() {
    let mut v = serde_json::json!({"clientId": "x", "clientSecret": "s", "nested": [{"clientSecret": "t"}]});
    let mut seen = Vec::new();
    assert!(map_secrets(&mut v, &|k| k == "clientSecret", &mut |s| {
        seen.push(s.clone());
        Value::from("#")
    }));
    assert_eq!(seen, vec![Value::from("s"), Value::from("t")]);
}

#[test]
fn kinds_round_trip_by_name() {
    for kind in ObjKind::ALL {
        assert_eq!(ObjKind::from_name(kind.name()), Some(kind));
    }
    assert_eq!(ObjKind::from_name("Application"), None);
}

#[test]
fn a_field_read_from_another_is_given_back_as_written() {
    let spec = ObjKind::RoleGroup.spec();
    let mut answered = serde_json::json!({
        "group_id": "g1", "name": "Counter",
        "roles": [{"role_id": "r1", "role_name": "clerk"}, {"role_id": "r2", "role_name": "lead"}],
    });
    let object = answered.as_object_mut().unwrap();
    read_as_written(spec, object);
    assert_eq!(object["role_ids"], serde_json::json!(["r1", "r2"]));
    assert_eq!(
        object["roles"][0]["role_name"], "clerk",
        "the answer is kept"
    );
    // No list in the answer: nothing is made up (the field stays unseen).
    let mut sparse = Map::new();
    sparse.insert("group_id".into(), "g2".into());
    read_as_written(spec, &mut sparse);
    assert!(!sparse.contains_key("role_ids"));
    // Other kinds are left as they are.
    let mut role = serde_json::json!({"role_id": "r1", "roles": [{"role_id": "x"}]});
    read_as_written(ObjKind::Role.spec(), role.as_object_mut().unwrap());
    assert!(role.get("role_ids").is_none());
}

#[test]
fn an_update_writes_a_field_with_its_own_path_where_the_kind_has_one() {
    let body = |v: serde_json::Value| v.as_object().unwrap().clone();
    let api = &ObjKind::RoleGroup.spec().api;
    let both = api.update_requests(&body(
        serde_json::json!({"name": "Staff", "role_ids": ["r1"]}),
    ));
    assert_eq!(both.put, Some(body(serde_json::json!({"name": "Staff"}))));
    assert_eq!(
        both.replace,
        Some((
            "/v1/applications/{app_id}/role-groups/{id}/roles/set",
            body(serde_json::json!({"role_ids": ["r1"]}))
        ))
    );
    assert_eq!(both.count(), 2);
    assert_eq!(
        api.path(both.replace.unwrap().0, Some("a 1"), Some("g/1")),
        "/v1/applications/a%201/role-groups/g%2F1/roles/set"
    );
    let roles_only = api.update_requests(&body(serde_json::json!({"role_ids": []})));
    assert_eq!((roles_only.count(), roles_only.put), (1, None));
    let name_only = api.update_requests(&body(serde_json::json!({"name": "Staff"})));
    assert_eq!((name_only.count(), name_only.replace), (1, None));
    // A kind without such a path: everything in the PUT.
    let resource = ObjKind::Resource
        .spec()
        .api
        .update_requests(&body(serde_json::json!({"name": "Payouts"})));
    assert_eq!((resource.count(), resource.replace), (1, None));
}

/// Every field a described kind lists says its JSON type: the manifest schema and the bundled
/// server check values by it, and a row without one would accept anything. Its members do not
/// (the object's schema is upstream's, checked member by member only where a row lists one).
#[test]
fn every_described_field_is_typed() {
    for kind in ObjKind::ALL {
        for field in kind.spec().fields {
            assert!(field.ty.is_some(), "{kind}.{}: no JSON type", field.name);
            // A member that lists members of its own is an object, and says so.
            for member in field.members.iter().filter(|m| !m.members.is_empty()) {
                assert_eq!(
                    member.ty,
                    Some(FieldType::Object),
                    "{kind}.{}.{}",
                    field.name,
                    member.name
                );
            }
        }
    }
}

/// A secret member is never answered by the bundled server where upstream's response schema
/// allows leaving it out (its row says `never_returned`, and answers are shaped by the rows:
/// `catalogue::shape_response`); where it requires it (the push keys), it is answered, and
/// whatever tenantsync reads has every secret removed, at any depth (`read_as_written`).
#[test]
fn secret_members_are_never_read() {
    for kind in ObjKind::ALL {
        let spec = kind.spec();
        for field in spec.fields {
            for (path, _) in field.secret_paths() {
                let mut object = Map::new();
                let mut value = json!("s3cret");
                for name in path.iter().rev() {
                    value = json!({ *name: value });
                }
                object.insert(field.name.to_owned(), value);
                read_as_written(spec, &mut object);
                assert!(
                    !Value::Object(object).to_string().contains("s3cret"),
                    "{kind}.{}.{}: read",
                    field.name,
                    path.join(".")
                );
            }
        }
    }
    // A social login's secret is never answered (upstream's schema lets it be left out); the
    // push keys are (it requires them).
    let lp = ObjKind::LoginPreferences.spec();
    assert!(!lp
        .field("google")
        .unwrap()
        .member_field("clientSecret")
        .unwrap()
        .returned());
    // At any depth: the push keys are secrets, and what holds them is not shown whole.
    let push = ObjKind::LoginPreferences.spec().field("push").unwrap();
    let paths: Vec<String> = push
        .secret_paths()
        .into_iter()
        .map(|(p, _)| p.join("."))
        .collect();
    assert_eq!(paths, ["apn.key", "fcm.key"]);
    assert!(push.holds_secrets() && push.member_is_secret("apn"));
    // An application's read-only view of them, too.
    let mut app = Map::new();
    app.insert(
        "login_preferences".into(),
        json!({"auth_methods": {"push": {"apn": {"key": "k", "keyId": "K1"}},
            "google": {"clientId": "g", "clientSecret": "s"}}}),
    );
    without_login_secrets(&mut app);
    assert_eq!(
        app["login_preferences"],
        json!({"auth_methods": {"push": {"apn": {"keyId": "K1"}}, "google": {"clientId": "g"}}})
    );
    let mut live = serde_json::json!({
        "apn": {"key": "k", "keyId": "K1", "teamId": "T", "bundle": "b"},
        "fcm": {"key": {"private_key": "p"}},
        "other": {"key": "kept"}
    });
    push.remove_secrets(&mut live);
    assert_eq!(
        live,
        serde_json::json!({
            "apn": {"keyId": "K1", "teamId": "T", "bundle": "b"},
            "fcm": {},
            "other": {"key": "kept"}
        })
    );
}

/// Every shape of every kind has its create and update bodies (what the bundled server checks
/// requests with): a create must set what the catalogue requires then, an update may not set
/// what a create alone accepts, and nothing undocumented passes.
#[test]
fn every_kind_says_what_its_requests_must_be() {
    use crate::model::schema::ProblemKind;
    let problems = |shape, create, body: Value| -> Vec<(String, ProblemKind)> {
        request_body(shape, create)
            .check(&body)
            .into_iter()
            .map(|p| (p.path.to_string(), p.kind))
            .collect()
    };
    for kind in AnyKind::ALL {
        let spec = kind.spec();
        let shapes: Vec<Shape> = match kind {
            AnyKind::Described(k) => vec![Shape::Described(k)],
            _ => spec
                .catalogue
                .iter()
                .map(|o| Shape::Catalogue(*o))
                .collect(),
        };
        for shape in shapes {
            let unknown = problems(shape, false, json!({"no_such_field": 1}));
            assert!(
                unknown.contains(&("no_such_field".to_owned(), ProblemKind::Unknown)),
                "{shape:?}: {unknown:?}"
            );
            let empty = problems(shape, true, json!({}));
            assert!(
                empty.iter().all(|(_, k)| *k == ProblemKind::Missing),
                "{shape:?}: {empty:?}"
            );
        }
    }
    let app = Shape::Catalogue(Object::App);
    assert_eq!(
        problems(app, true, json!({})),
        [
            ("app_name".to_owned(), ProblemKind::Missing),
            ("client_display_name".to_owned(), ProblemKind::Missing)
        ]
    );
    assert!(problems(app, false, json!({})).is_empty());
    let oidc = Shape::Catalogue(Object::OidcClient);
    assert!(
        problems(oidc, false, json!({"authentication_protocol": "oidc"}))
            .contains(&("authentication_protocol".to_owned(), ProblemKind::Unknown))
    );
    let resource = Shape::Described(ObjKind::Resource);
    let missing: BTreeSet<String> = problems(resource, true, json!({}))
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    let required: BTreeSet<String> = ObjKind::Resource
        .spec()
        .fields
        .iter()
        .filter(|f| f.required_on_create)
        .map(|f| f.name.to_owned())
        .collect();
    assert_eq!(missing, required);
}

/// Every member of a described kind's object fields that upstream's schema documents, at any
/// depth, has a row of the same JSON type, values and bounds: the manifest schema and the
/// bundled server check members by these rows, and a member without one would take anything.
#[test]
fn every_documented_member_has_a_row_of_its_type() {
    fn check(doc: &Value, at: &str, rows: &[Field], target: &Value) {
        let properties = target["properties"].as_object().expect("properties");
        for (name, property) in properties {
            let at = format!("{at}.{name}");
            let row = rows
                .iter()
                .find(|r| r.name == name)
                .unwrap_or_else(|| panic!("{at}: documented, no row"));
            let reference = property["$ref"]
                .as_str()
                .or_else(|| property["allOf"][0]["$ref"].as_str());
            let documented = match (reference, property["type"].as_str()) {
                (Some(_), _) | (None, Some("object")) => FieldType::Object,
                (None, Some("string")) => FieldType::String,
                (None, Some("number" | "integer")) => FieldType::Number,
                (None, Some("boolean")) => FieldType::Boolean,
                (None, Some("array")) => FieldType::Strings,
                other => panic!("{at}: {other:?}"),
            };
            assert_eq!(row.ty, Some(documented), "{at}: type");
            let values: Vec<&str> = property["enum"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            assert_eq!(row.one_of, values.as_slice(), "{at}: values");
            let bounds = property["minimum"]
                .as_u64()
                .zip(property["maximum"].as_u64());
            assert_eq!(row.range, bounds, "{at}: bounds");
            if let Some(reference) = reference {
                let inner = schema(doc, reference.rsplit('/').next().unwrap());
                if inner.get("properties").is_some() && !row.members.is_empty() {
                    check(doc, &at, row.members, inner);
                } else {
                    assert!(
                        row.members.is_empty(),
                        "{at}: members upstream does not list"
                    );
                }
            }
        }
    }
    for kind in ObjKind::ALL {
        let spec = kind.spec();
        let doc = document(AnyKind::Described(kind));
        for upstream in spec.upstream.schemas {
            let response = schema(&doc, upstream.response);
            for field in spec.fields.iter().filter(|f| !f.members.is_empty()) {
                let property = &response["properties"][field.name];
                let reference = property["allOf"][0]["$ref"]
                    .as_str()
                    .or_else(|| property["$ref"].as_str())
                    .unwrap();
                let target = schema(&doc, reference.rsplit('/').next().unwrap());
                check(
                    &doc,
                    &format!("{kind}.{}", field.name),
                    field.members,
                    target,
                );
            }
        }
    }
}
