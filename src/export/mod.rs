//! Turning live objects into manifests (pure): drop what the server generates or owns, drop
//! values equal to the request defaults a create would store, leave out (into `ignore_fields`)
//! fields and values the manifest schema refuses, turn secret-by-nature values into `${env:…}`
//! references. `names` gives files and documents stable, unique names; `kinds` exports the
//! described kinds (`model::kinds`) and writes references by name.

pub mod kinds;
mod names;

use std::sync::LazyLock;

use serde_json::{json, Map, Value};

use crate::manifest::validate::client_rules;
use crate::model::catalogue::{self, request_form, Field, Lit, Object, Table};
use crate::model::field_path::{FieldPath, PathSegment};
use crate::model::schema::{did_you_mean, BodySchema, ProblemKind};
use crate::model::{AppInput, AuthenticationProtocol, OidcClientInput, SamlClientInput};
use crate::plan::fields::{same_value, ObjectKind};

pub use names::{app_names, client_names, slug, Managed, Named};

/// What a manifest writes of a live field of any kind (`row`: its row, if documented) holding
/// `value`, in request form; `None`: nothing. Not a field no manifest writes (generated or
/// read-only, create-only, an instruction, an application field that mirrors its default
/// client), and not a value that says nothing a manifest needs to: what a create that leaves
/// the field out stores (the request default), the neutral value of a required field never
/// set, what a removal would send (unless a create must send the field: a role group with no
/// roles still writes `role_ids: []`), an object whose members all hold their defaults (unless
/// being there is a setting of its own: a login method). Of an object it writes, a member
/// holding its default is left out, unless a request that sends the object must set it.
///
/// The request default, not the response one: a manifest without the field creates exactly this
/// value, so export then plan stays empty and a copy of the tenant made from the export is the
/// same. (`response_types`' response default `[code, id_token, none]` is the request default
/// once `none`, which only responses carry, is dropped by the request form.)
fn written_value(row: Option<&'static Field>, value: &Value) -> Option<Value> {
    if row.is_some_and(|r| !r.writable() || r.mirrors.is_some()) {
        return None;
    }
    let mut value = request_form(row, value);
    let Some(row) = row.filter(|_| !value.is_null()) else {
        return (!value.is_null()).then_some(value);
    };
    let says = |d: Option<Value>| d.is_some_and(|d| same_value(&d, &value, row.set_like));
    if says(row.request_default_value())
        || says(row.neutral.map(Lit::to_value))
        || (!row.required_on_create && says(row.reset_value()))
    {
        return None;
    }
    if let (Value::Object(members), Some(rows)) = (&mut value, row.member_table()) {
        let at_default = |k: &str, v: &Value| {
            rows.field(k)
                .and_then(Field::request_default_value)
                .is_some_and(|d| same_value(&d, v, false))
        };
        if !row.presence_is_setting
            && !members.is_empty()
            && members.iter().all(|(k, v)| at_default(k, v))
        {
            return None;
        }
        members.retain(|k, v| row.required_members().any(|m| m == k) || !at_default(k, v));
    }
    Some(value)
}

/// A live field or value export leaves out because the object's manifest schema does not
/// accept it (a field or enum value newer than this version, a value of another type).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeftOut {
    /// The object (`Application/shop`, `Client/shop/Web`).
    pub object: String,
    /// The field path left out (`post_logout_redirect_uris`, `token_expiration.x`).
    pub field: String,
    /// Why, without the live value.
    pub reason: &'static str,
    /// Listed in the object's `ignore_fields` (false only for an unknown name a manifest could
    /// not list: so close to a known one that it reads as a misspelling, or not a plain key).
    pub ignored: bool,
}

/// What one object's manifest accepts: the rows that document its fields, the schema its spec
/// must pass, a field that schema requires which export writes afterwards (a parented kind's
/// `application`), and whether the API's prose rules for clients apply (and for which protocol).
/// Applications' and clients' schemas are the wire input types manifests are checked with; a
/// described kind's is derived from its catalogue.
pub(crate) struct Accepts<'a> {
    /// The rows of the object's fields.
    pub table: Table,
    /// The schema its spec must pass.
    pub schema: &'a BodySchema,
    /// A field the schema requires that export writes after this step.
    pub written_after: Option<&'static str>,
    /// The client prose rules (redirect URIs, userinfo claims) of this protocol.
    pub client_rules: Option<AuthenticationProtocol>,
}

/// The schemas of the fields a manifest writes for applications and clients (the wire input
/// types manifests are checked with).
static INPUT_SCHEMAS: LazyLock<[(Object, BodySchema); 3]> = LazyLock::new(|| {
    [
        (Object::App, BodySchema::of::<AppInput>()),
        (Object::OidcClient, BodySchema::of::<OidcClientInput>()),
        (Object::SamlClient, BodySchema::of::<SamlClientInput>()),
    ]
});

impl Accepts<'static> {
    /// What an application's or a client's manifest accepts.
    fn object(object: Object) -> Self {
        let schema = &INPUT_SCHEMAS
            .iter()
            .find(|(o, _)| *o == object)
            .expect("a schema per exported object")
            .1;
        let client_rules = match object {
            Object::App => None,
            Object::SamlClient => Some(AuthenticationProtocol::Saml),
            _ => Some(AuthenticationProtocol::Oidc),
        };
        Accepts {
            table: object.into(),
            schema,
            written_after: None,
            client_rules,
        }
    }
}

/// Where a problem's field lies, as deep as `ignore_fields` reaches (a top-level field or one
/// member of an object field); `None` when it cannot be left out alone.
fn left_out_path(path: &FieldPath) -> Option<Vec<String>> {
    let keys: Vec<String> = path
        .0
        .iter()
        .map_while(|s| match s {
            PathSegment::Key(k) => Some(k.clone()),
            PathSegment::Index(_) => None,
        })
        .take(2)
        .collect();
    (!keys.is_empty()).then_some(keys)
}

fn remove_path(spec: &mut Map<String, Value>, path: &[String]) -> bool {
    match path {
        [field] => spec.remove(field).is_some(),
        [field, member] => match spec.get_mut(field) {
            Some(Value::Object(inner)) => inner.remove(member).is_some(),
            _ => false,
        },
        _ => false,
    }
}

/// The manifest spec of one live object of any kind, by the rule every kind's export follows:
/// each field as a manifest writes it ([`written_value`]), escaped; then every field and member
/// its manifest refuses left out ([`leave_out_refused`]). Secrets are still in it.
pub(crate) fn manifest_fields(
    accepts: &Accepts<'_>,
    live: &Map<String, Value>,
    location: &str,
    left_out: &mut Vec<LeftOut>,
) -> Map<String, Value> {
    let mut spec = live
        .iter()
        .filter_map(|(k, v)| {
            let value = written_value(accepts.table.field(k), v)?;
            Some((k.clone(), escaped(&value)))
        })
        .collect();
    leave_out_refused(accepts, &mut spec, location, left_out);
    spec
}

/// Leaves out of `spec` every field and member its manifest refuses (`accepts`: a field this
/// version does not know, a value of another type or outside its enum, a value the prose rules
/// refuse), and lists each in the spec's `ignore_fields`, so that the export validates and
/// tenantsync leaves those live values alone. A name a manifest could not list there (so close
/// to a known one that it reads as a misspelling, or not a plain key) is left out unlisted. A
/// required field that is missing cannot be fixed this way and stays for the validator to
/// report.
fn leave_out_refused(
    accepts: &Accepts<'_>,
    spec: &mut Map<String, Value>,
    location: &str,
    out: &mut Vec<LeftOut>,
) {
    let mut ignore: Vec<String> = Vec::new();
    let mut leave_out = |spec: &mut Map<String, Value>, path: &FieldPath, reason| {
        let Some(path) = left_out_path(path) else {
            return false;
        };
        if !remove_path(spec, &path) {
            return false;
        }
        let unknown = accepts.table.field(&path[0]).is_none();
        let candidates = accepts
            .schema
            .fields()
            .filter(|f| Some(*f) != accepts.written_after);
        let field = path.join(".");
        // Listed only where a manifest reads the entry back as this very path: a plain name
        // (no `.`, `[` or `${` inside a key), and not one taken for a misspelling.
        let plain = !field.contains('$')
            && FieldPath::parse(&field).is_some_and(|p| {
                p.0.iter()
                    .map(|s| match s {
                        PathSegment::Key(k) => Some(k.as_str()),
                        PathSegment::Index(_) => None,
                    })
                    .eq(path.iter().map(|k| Some(k.as_str())))
            });
        let ignored = plain && (!unknown || did_you_mean(&path[0], candidates).is_none());
        if ignored {
            ignore.push(field.clone());
        }
        out.push(LeftOut {
            object: location.to_owned(),
            field,
            reason,
            ignored,
        });
        true
    };
    // Each pass removes every refused field it sees; problems are capped per check.
    for _ in 0..8 {
        let mut probe = spec.clone();
        if let Some(field) = accepts.written_after {
            probe.insert(field.to_owned(), Value::String(String::new()));
        }
        let problems = accepts.schema.check(&Value::Object(probe));
        let mut removed = false;
        for problem in problems.iter().filter(|p| p.kind != ProblemKind::Missing) {
            let reason = match problem.kind {
                ProblemKind::Unknown => "a field this version of tenantsync does not know",
                _ => "a value the manifest schema does not accept",
            };
            removed |= leave_out(spec, &problem.path, reason);
        }
        if !removed {
            break;
        }
    }
    // The API's prose rules, which the validator applies to clients too (stricter here than
    // the live tenant turned out to be).
    if let Some(protocol) = accepts.client_rules {
        for (path, _) in client_rules(spec, protocol) {
            leave_out(spec, &path, "a value the manifest rules do not accept");
        }
    }
    if !ignore.is_empty() {
        ignore.sort();
        ignore.dedup();
        spec.insert(
            "ignore_fields".to_owned(),
            Value::Array(ignore.into_iter().map(Value::String).collect()),
        );
    }
}

/// A secret value found in a live object and the variable that now stands for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretReference {
    /// The environment variable name.
    pub variable: String,
    /// Where it was (`Application/x` `field`).
    pub location: String,
}

pub(super) fn env_name(parts: &[&str]) -> String {
    let joined = parts.iter().map(|p| slug(p)).collect::<Vec<_>>().join("_");
    // Not TENANTSYNC_*: manifests may never read tenantsync's own variables.
    format!("SECRET_{}", joined.replace('-', "_").to_ascii_uppercase())
}

fn replace_secrets(
    map: &mut Map<String, Value>,
    prefix: &[&str],
    location: &str,
    out: &mut Vec<SecretReference>,
) {
    for (k, v) in map.iter_mut() {
        // A secret named by a variable already (a push key, by the kind's rows) stays so.
        let named = v.as_str().is_some_and(|s| s.starts_with("${env:"));
        if catalogue::is_secret_name(k) && v.is_string() && !named {
            let mut parts = prefix.to_vec();
            parts.push(k);
            let variable = env_name(&parts);
            out.push(SecretReference {
                variable: variable.clone(),
                location: format!("{location} {k}"),
            });
            *v = Value::String(format!("${{env:{variable}}}"));
        } else if let Value::Object(inner) = v {
            let mut parts = prefix.to_vec();
            parts.push(k);
            replace_secrets(inner, &parts, location, out);
        }
    }
}

/// A live value as a manifest writes it: every `${` in a string becomes `$${`, which the loader
/// reads back as a literal `${`. Live data is never interpolated.
pub fn escaped(value: &Value) -> Value {
    match value {
        Value::String(s) => Value::String(s.replace("${", "$${")),
        Value::Array(items) => Value::Array(items.iter().map(escaped).collect()),
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), escaped(v))).collect()),
        other => other.clone(),
    }
}

fn sorted(map: Map<String, Value>, first: &str) -> Map<String, Value> {
    let mut keys: Vec<String> = map.keys().cloned().collect();
    keys.sort_by(|a, b| (a != first, a).cmp(&(b != first, b)));
    let mut out = Map::new();
    let mut map = map;
    for k in keys {
        if let Some(v) = map.remove(&k) {
            out.insert(k, sort_nested(v));
        }
    }
    out
}

fn sort_nested(value: Value) -> Value {
    match value {
        Value::Object(m) => Value::Object(sorted(m, "")),
        Value::Array(items) => Value::Array(items.into_iter().map(sort_nested).collect()),
        other => other,
    }
}

/// The manifest spec of a live app's own fields. Fields and values its manifest schema refuses
/// are left out (into `left_out`) and listed in `ignore_fields`.
pub fn app_spec(
    app: &Map<String, Value>,
    key: &str,
    secrets: &mut Vec<SecretReference>,
    left_out: &mut Vec<LeftOut>,
) -> Map<String, Value> {
    let location = format!("Application/{key}");
    let mut spec = manifest_fields(&Accepts::object(Object::App), app, &location, left_out);
    replace_secrets(&mut spec, &[key], &location, secrets);
    sorted(spec, "app_name")
}

/// The manifest form of a live client. Fields and values its manifest schema refuses are left
/// out (into `left_out`) and listed in `ignore_fields`.
pub fn client_spec(
    client: &Map<String, Value>,
    app_key: &str,
    is_default_client: bool,
    secrets: &mut Vec<SecretReference>,
    left_out: &mut Vec<LeftOut>,
) -> Map<String, Value> {
    let protocol = AuthenticationProtocol::of(client);
    let object = ObjectKind::Client(protocol).object();
    let name = client
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let location = format!("Client/{app_key}/{name}");
    let mut spec = manifest_fields(&Accepts::object(object), client, &location, left_out);
    replace_secrets(&mut spec, &[app_key, &name], &location, secrets);
    let mut spec = sorted(spec, "name");
    if protocol == AuthenticationProtocol::Saml {
        spec.insert("authentication_protocol".into(), json!("saml"));
    }
    if is_default_client {
        spec.insert("default".into(), json!(true));
    }
    spec
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `client` exported as a non-default client of app `shop`, with what was left out.
    fn shop_client(client: &Value) -> (Map<String, Value>, Vec<LeftOut>) {
        let mut left_out = Vec::new();
        let spec = client_spec(
            client.as_object().unwrap(),
            "shop",
            false,
            &mut Vec::new(),
            &mut left_out,
        );
        (spec, left_out)
    }

    #[test]
    fn server_fields_defaults_and_mirrors_are_left_out() {
        let app = json!({"app_id": "a", "tenant_id": "t", "app_name": "Shop", "allow_public_signup": false,
            "invite_member_email_expiration_minutes": 2880, "service_providers": [], "client_secret": "s",
            "custom_domain": {"domain": "login.shop.example", "status": "pending", "updated_at": "x"},
            "login_uri": "https://shop.example/login", "login_preferences": {"auth_methods": {}}});
        let mut secrets = Vec::new();
        let spec = app_spec(
            app.as_object().unwrap(),
            "shop",
            &mut secrets,
            &mut Vec::new(),
        );
        assert_eq!(
            Value::Object(spec),
            json!({"app_name": "Shop", "custom_domain": "login.shop.example", "login_uri": "https://shop.example/login"})
        );
        let client = json!({"client_id": "c", "client_secret": "SECRET", "name": "Web", "client_type": "web",
            "response_types": ["code", "id_token"], "redirect_uris": ["https://x/cb"], "authentication_protocol": "oidc",
            "token_expiration": {"access_token_ttl": 60}});
        let spec = client_spec(
            client.as_object().unwrap(),
            "shop",
            true,
            &mut secrets,
            &mut Vec::new(),
        );
        assert_eq!(
            Value::Object(spec),
            json!({"name": "Web", "redirect_uris": ["https://x/cb"], "token_expiration": {"access_token_ttl": 60}, "default": true})
        );
        assert!(secrets.is_empty());
    }

    #[test]
    fn request_defaults_are_left_out_response_only_values_dropped() {
        let client = json!({"name": "Web", "authentication_protocol": "oidc",
            "response_types": ["code", "id_token", "none"], "token_endpoint_auth_method": "client_secret_basic",
            "redirect_uris": ["https://x/cb"]});
        let (spec, _) = shop_client(&client);
        assert_eq!(
            Value::Object(spec),
            json!({"name": "Web", "redirect_uris": ["https://x/cb"]})
        );
        let client = json!({"name": "Web", "response_types": ["none", "code"]});
        let (spec, _) = shop_client(&client);
        assert_eq!(spec["response_types"], json!(["code"]));
        let app =
            json!({"app_name": "Shop", "signing_key_enabled": false, "allow_public_signup": false});
        let spec = app_spec(
            app.as_object().unwrap(),
            "shop",
            &mut Vec::new(),
            &mut Vec::new(),
        );
        assert_eq!(Value::Object(spec), json!({"app_name": "Shop"}));
    }

    #[test]
    fn refused_fields_and_values_are_left_out_and_ignored() {
        let client = json!({"name": "Web", "authentication_protocol": "oidc",
            "redirect_uris": ["https://x/cb"], "post_logout_redirect_uris": [],
            "client_type": "hybrid", "token_expiration": {"access_token_ttl": 60, "idle_ttl": 5},
            "redirect_uri": "https://x/cb", "strange.key": 1});
        let (spec, left_out) = shop_client(&client);
        assert_eq!(
            Value::Object(spec),
            json!({"name": "Web", "redirect_uris": ["https://x/cb"],
                "token_expiration": {"access_token_ttl": 60},
                "ignore_fields": ["client_type", "post_logout_redirect_uris", "token_expiration.idle_ttl"]})
        );
        let mut seen: Vec<_> = left_out
            .iter()
            .map(|l| (l.field.as_str(), l.ignored, l.object.as_str()))
            .collect();
        seen.sort();
        assert_eq!(
            seen,
            vec![
                ("client_type", true, "Client/shop/Web"),
                ("post_logout_redirect_uris", true, "Client/shop/Web"),
                // So close to `redirect_uris` that a manifest would read it as a misspelling.
                ("redirect_uri", false, "Client/shop/Web"),
                ("strange.key", false, "Client/shop/Web"),
                ("token_expiration.idle_ttl", true, "Client/shop/Web"),
            ]
        );
        assert!(left_out.iter().all(|l| !l.reason.contains("hybrid")));
        // A value the API's prose rules refuse (claims and the sync flag together).
        let client = json!({"name": "Web", "redirect_uris": ["https://x/cb"],
            "default_user_info_claims": ["email"], "sync_id_token_claims_to_userinfo": true});
        let (spec, left_out) = shop_client(&client);
        assert_eq!(spec["ignore_fields"], json!(["default_user_info_claims"]));
        assert!(!spec.contains_key("default_user_info_claims"));
        assert_eq!(left_out.len(), 1, "{left_out:?}");
    }

    #[test]
    fn secret_fields_become_environment_references() {
        let client = json!({"name": "Web", "authentication_protocol": "oidc",
            "authentication_configuration": {"method": "private_key_jwt",
                "jwks": {"client_secret": "hunter2", "invalidateOnMemberPasswordReset": true}},
            "unknown": {"client_secret": "never-exported"}});
        let mut secrets = Vec::new();
        let spec = client_spec(
            client.as_object().unwrap(),
            "shop",
            false,
            &mut secrets,
            &mut Vec::new(),
        );
        let jwks = &spec["authentication_configuration"]["jwks"];
        assert_eq!(
            jwks["client_secret"],
            "${env:SECRET_SHOP_WEB_AUTHENTICATION_CONFIGURATION_JWKS_CLIENT_SECRET}"
        );
        assert_eq!(secrets.len(), 1, "{secrets:?}");
        // A flag whose name mentions a password is not a secret.
        assert_eq!(jwks["invalidateOnMemberPasswordReset"], true);
        // A field left out takes its secrets with it.
        assert!(!Value::Object(spec).to_string().contains("never-exported"));
    }

    #[test]
    fn live_references_are_escaped_and_read_back_literally() {
        let app = json!({"app_name": "Shop ${env:HOME}", "app_description": "${file:/etc/passwd} $${x} $5"});
        let mut secrets = Vec::new();
        let spec = app_spec(
            app.as_object().unwrap(),
            "shop",
            &mut secrets,
            &mut Vec::new(),
        );
        assert_eq!(spec["app_name"], "Shop $${env:HOME}");
        assert_eq!(spec["app_description"], "$${file:/etc/passwd} $$${x} $5");
        let env = crate::manifest::interpolate::tests::FakeEnvironment::default();
        for (field, live) in [
            ("app_name", &app["app_name"]),
            ("app_description", &app["app_description"]),
        ] {
            let back = crate::manifest::interpolate::interpolate(
                spec[field].as_str().unwrap(),
                std::path::Path::new("/m"),
                &env,
            )
            .unwrap();
            assert_eq!(back.text, live.as_str().unwrap());
            assert!(back.references.is_empty());
        }
    }

    /// One rule for every kind's fields: an object whose members all hold their defaults says
    /// nothing, unless being there is a setting (a login method); of one that says something, a
    /// member at its default is left out unless a request must set it; a reset value is left out
    /// unless a create must send the field.
    #[test]
    fn every_kinds_fields_are_written_by_one_rule() {
        use crate::model::kinds::ObjKind;
        let app = |f: &str| Object::App.field(f);
        let client = |f: &str| Object::OidcClient.field(f);
        let described = |k: ObjKind, f: &str| k.spec().field(f);
        let triggers = "refresh_token_invalidation_trigger_configuration";
        let all_default =
            json!({"invalidateOnMemberSuspension": true, "invalidateOnMemberPasswordReset": true});
        assert_eq!(written_value(app(triggers), &all_default), None);
        assert_eq!(
            written_value(
                app(triggers),
                &json!({"invalidateOnMemberSuspension": true, "invalidateOnMemberPasswordReset": false})
            ),
            Some(json!({"invalidateOnMemberPasswordReset": false}))
        );
        // Every member of `device_authorization` is one a request must set.
        let device = json!({"enabled": false, "approval_uri": "https://a/ok",
            "success_uri": "https://a/done", "input_uri": "https://a/in"});
        assert_eq!(
            written_value(client("device_authorization"), &device),
            Some(device.clone())
        );
        // A login method is on while it is there, whatever its members hold.
        let login = ObjKind::LoginPreferences;
        assert_eq!(
            written_value(
                described(login, "totp"),
                &json!({"digits": 6, "period": 30})
            ),
            Some(json!({}))
        );
        assert_eq!(
            written_value(described(login, "push"), &json!({})),
            Some(json!({}))
        );
        // A reset value, unless a create must send the field.
        let group = ObjKind::RoleGroup;
        assert_eq!(
            written_value(described(group, "description"), &json!("")),
            None
        );
        assert_eq!(
            written_value(described(group, "role_ids"), &json!([])),
            Some(json!([]))
        );
        // Generated, or mirroring the default client: never written.
        assert_eq!(
            written_value(described(group, "group_id"), &json!("g1")),
            None
        );
        assert_eq!(
            written_value(app("redirect_uris"), &json!(["https://a/cb"])),
            None
        );
        // Not documented: written as it is (the schema check leaves it out, and says so).
        assert_eq!(written_value(None, &json!(1)), Some(json!(1)));
    }
}
