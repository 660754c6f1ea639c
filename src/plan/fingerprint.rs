//! Fingerprints a saved plan is checked with: of the managed fields of each live object, and
//! of the whole desired state.

use serde_json::{Map, Value};

use super::bodies::str_field;
use super::fields::{self, ObjectKind};
use crate::manifest::DesiredState;
use crate::model::AuthenticationProtocol;
use crate::model::FieldRules;
use crate::state::entry::{redact_spec, salted_hash, Kind};

/// The kind of a live object of state kind `kind` (a client's protocol is read from it).
pub fn live_kind(kind: Kind, live: &Map<String, Value>) -> ObjectKind {
    match kind {
        Kind::Application => ObjectKind::App,
        Kind::Client => ObjectKind::Client(live_protocol(live)),
    }
}

pub(super) fn live_protocol(live: &Map<String, Value>) -> AuthenticationProtocol {
    match str_field(live, "authentication_protocol") {
        "saml" => AuthenticationProtocol::Saml,
        _ => AuthenticationProtocol::Oidc,
    }
}

/// Fingerprint of the `fields` of a live object, in the form requests use and with sets in a
/// canonical order: what a saved plan checks before it writes. Fields nobody manages (an app's
/// `logo`, server timestamps) are not part of it, so they never make a saved plan refuse.
/// Unsalted so a plan made before the state existed still matches.
pub fn live_fingerprint(
    kind: ObjectKind,
    object: &Map<String, Value>,
    fields: &[String],
) -> String {
    let catalogue_object = kind.object();
    let mut covered = Map::new();
    for field in fields {
        if let Some(v) = object.get(field) {
            let fact = catalogue_object.field(field);
            let v = crate::model::catalogue::request_form(fact, v);
            covered.insert(
                field.clone(),
                fields::canonical(catalogue_object, field, &v),
            );
        }
    }
    salted_hash(b"tenantsync/live-fingerprint/v2", &Value::Object(covered))
}

/// Fingerprint of a desired state (secrets hashed first), so a saved plan can tell whether the
/// manifests changed since. Streamed into the hash: no copy of the state is built.
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
    let spec = |w: &mut HashWriter, spec: &Map<String, Value>, rules: &FieldRules| {
        if rules.sensitive.is_empty() && rules.masked.is_empty() {
            serde_json::to_writer(&mut *w, spec).expect("hashing cannot fail");
        } else {
            serde_json::to_writer(&mut *w, &redact_spec(spec, rules, salt))
                .expect("hashing cannot fail");
        }
    };
    let rules = |w: &mut HashWriter, rules: &FieldRules| {
        let ignored: Vec<String> = rules.ignored.iter().map(ToString::to_string).collect();
        serde_json::to_writer(&mut *w, &ignored).expect("hashing cannot fail");
    };
    for (key, app) in &desired.apps {
        w.0.update(format!("\0app\0{key}\0{}\0", app.protect).as_bytes());
        spec(&mut w, &app.spec, &app.rules);
        rules(&mut w, &app.rules);
        for (name, c) in &app.clients {
            w.0.update(
                format!(
                    "\0client\0{name}\0{}\0{}\0",
                    c.protocol.as_str(),
                    c.is_default
                )
                .as_bytes(),
            );
            spec(&mut w, &c.spec, &c.rules);
            rules(&mut w, &c.rules);
        }
    }
    w.0.finalize().iter().map(|b| format!("{b:02x}")).collect()
}
