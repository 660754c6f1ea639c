//! Responses shaped as upstream's response schemas promise, from the field rows of each kind
//! (`catalogue::shape_response`, one rule for every kind): fields upstream never returns are
//! left out (write-only fields are stored and enforced, never shown), required fields are
//! always present, documented defaults are filled in.
//!
//! With a response variation seed (`tenantsync serve --response-variation SEED`), each object
//! of every kind also leaves out a deterministic share of what upstream's schema leaves open,
//! and lists come back in a shuffled order ([`Responses::vary`]). That exists to prove the
//! reconciler relies on nothing upstream does not promise: a field whose response schema
//! documents a default is only left out while it holds that default (a response without it
//! means the default, by upstream's own schema); any other optional field may be left out
//! whatever its value (`token_endpoint_auth_method`, `signing_key_enabled`: their defaults are
//! request defaults only); an object field's member only while it holds its default.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::model::catalogue::{self, Object, Presence, Table};
use crate::model::kinds::KindSpec;
use crate::model::{App, Client};

/// How responses are rendered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Responses {
    variation: Option<u64>,
}

impl Responses {
    /// Responses as upstream's schemas promise, nothing more.
    pub fn exact() -> Self {
        Self::default()
    }

    /// Responses that also vary, deterministically from `seed`, in what upstream leaves open.
    pub fn varied(seed: u64) -> Self {
        Self {
            variation: Some(seed),
        }
    }

    /// The variation seed, if any.
    pub fn variation(&self) -> Option<u64> {
        self.variation
    }

    /// An app as `ApiApp` (or, with `list_form`, as an item of `GET /v1/applications`).
    pub fn app(&self, app: &App, list_form: bool) -> Value {
        let mut map = to_map(app);
        catalogue::shape_response(Object::App, &mut map);
        if list_form {
            map.retain(|name, _| Object::App.field(name).is_none_or(|f| f.in_list));
        }
        self.vary(Object::App.into(), false, &app.core.app_id, &mut map);
        Value::Object(map)
    }

    /// A client as `ApiOidcClient` / `ApiSamlClient`.
    pub fn client(&self, client: &Client) -> Value {
        let object = match client {
            Client::Oidc(_) => Object::OidcClient,
            Client::Saml(_) => Object::SamlClient,
        };
        let mut map = to_map(client);
        catalogue::shape_response(object, &mut map);
        self.vary(object.into(), false, &client.identity().client_id, &mut map);
        Value::Object(map)
    }

    /// A list response in the order the variation gives (unchanged without one).
    pub fn order<T>(&self, mut items: Vec<T>, id: impl Fn(&T) -> &str) -> Vec<T> {
        if let Some(seed) = self.variation {
            items.sort_by_cached_key(|item| draw(seed, &[id(item)]));
        }
        items
    }

    /// An object of a described kind, varied by the rule every kind's responses follow
    /// ([`Responses::vary`]).
    pub fn vary_object(&self, spec: &KindSpec, map: &mut Map<String, Value>) {
        let id = spec
            .id_of(map)
            .unwrap_or_else(|| spec.key_str(map).to_owned());
        self.vary(spec.table(), spec.api.replace_whole, &id, map);
    }

    /// One rule for every kind (`table`: its rows): a deterministic share of what upstream's
    /// response schema leaves open is left out, and sets come back shuffled.
    ///
    /// - A field the schema does not require may be left out, unless it documents a default the
    ///   value differs from (an answer without it would mean that default). Not for a kind
    ///   updated by whole replacement (`whole`: login preferences): such an update sends back
    ///   what the manifest does not manage as it is live, so an answer leaving a field out would
    ///   make the next update erase it; upstream's document lets it, and nothing could tell a
    ///   field left out from one that is not there, so the reconciler relies on upstream
    ///   answering every field it holds.
    /// - Within an object field, a member the schema does not require and that holds the
    ///   default it documents may be left out. Only that one: object fields are replaced whole,
    ///   so an update carries the live members over, and one left out with another value would
    ///   be erased.
    fn vary(&self, table: Table, whole: bool, id: &str, map: &mut Map<String, Value>) {
        let Some(seed) = self.variation else {
            return;
        };
        for (name, value) in map.iter_mut() {
            let (Some(field), Value::Object(members)) = (table.field(name), value) else {
                continue;
            };
            let Some(rows) = field.member_table() else {
                continue;
            };
            members.retain(|member, v| {
                let Some(row) = rows.field(member) else {
                    return true;
                };
                row.presence == Presence::Required
                    || row.response_default_value().as_ref() != Some(v)
                    || draw(seed, &[id, name, member]) % 3 != 0
            });
        }
        if !whole {
            map.retain(|name, value| {
                let Some(field) = table.field(name) else {
                    return true;
                };
                if field.presence == Presence::Required {
                    return true;
                }
                if field.response_default_value().is_some_and(|d| d != *value) {
                    return true;
                }
                draw(seed, &[id, name]) % 3 != 0
            });
        }
        for (name, value) in map.iter_mut() {
            let set_like = table.field(name).is_some_and(|f| f.set_like);
            if let (true, Value::Array(items)) = (set_like, value) {
                items.sort_by_cached_key(|item| draw(seed, &[id, name, &item.to_string()]));
            }
        }
    }
}

fn to_map<T: serde::Serialize>(value: &T) -> Map<String, Value> {
    match serde_json::to_value(value).expect("API types serialize") {
        Value::Object(m) => m,
        _ => unreachable!("apps and clients serialize to objects"),
    }
}

/// A number drawn deterministically from the seed and the parts.
fn draw(seed: u64, parts: &[&str]) -> u64 {
    let mut hasher = Sha256::new();
    hasher.update(seed.to_be_bytes());
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    let digest = hasher.finalize();
    u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn client() -> Client {
        serde_json::from_value(json!({
            "app_id": "a", "tenant_id": "t", "client_id": "c1", "client_secret": "s",
            "created_at": "x", "updated_at": "x", "authentication_protocol": "oidc",
            "name": "Web", "redirect_uris": ["https://a/cb", "https://b/cb", "https://c/cb"],
            "role_ids": ["admin"], "client_type": "native", "pkce": "allowPkceAlongsideClientCredentials",
            "description": "d", "default_user_info_claims": ["email"],
            "token_endpoint_auth_method": "none"
        }))
        .unwrap()
    }

    #[test]
    fn exact_responses_conform_and_never_show_write_only_fields() {
        let body = Responses::exact().client(&client());
        let map = body.as_object().unwrap();
        assert!(catalogue::response_problems(Object::OidcClient, map, false).is_empty());
        assert!(!map.contains_key("role_ids"));
        assert_eq!(map["response_types"], json!(["code", "id_token"]));
    }

    #[test]
    fn variation_is_deterministic_conforms_and_keeps_non_default_values() {
        let mut dropped_somewhere = false;
        let (mut auth_method_dropped, mut auth_method_kept) = (false, false);
        for seed in 0..32 {
            let r = Responses::varied(seed);
            let a = r.client(&client());
            assert_eq!(a, r.client(&client()), "deterministic");
            let map = a.as_object().unwrap();
            assert!(catalogue::response_problems(Object::OidcClient, map, false).is_empty());
            // A value other than the documented default is never hidden behind "absent means
            // the default".
            assert_eq!(map["client_type"], "native");
            dropped_somewhere |= !map.contains_key("pkce");
            // No response default: left out now and then although it is not the request
            // default, as upstream may.
            auth_method_dropped |= !map.contains_key("token_endpoint_auth_method");
            auth_method_kept |= map.get("token_endpoint_auth_method") == Some(&json!("none"));
        }
        assert!(dropped_somewhere, "some seed leaves out an optional field");
        assert!(auth_method_dropped && auth_method_kept);
        let ids = vec!["a", "b", "c", "d", "e", "f"];
        let shuffled = Responses::varied(7).order(ids.clone(), |s| s);
        assert_ne!(shuffled, ids);
        let mut sorted = shuffled.clone();
        sorted.sort();
        assert_eq!(sorted, ids);
    }

    /// Within an object field, a member is left out only while it holds the default its schema
    /// documents, and never when the schema requires it; the same rule for every kind.
    #[test]
    fn members_are_left_out_only_at_their_documented_default() {
        let triggers = "refresh_token_invalidation_trigger_configuration";
        let (mut dropped, mut kept) = (false, false);
        for seed in 0..32 {
            let r = Responses::varied(seed);
            let mut app = json!({
                triggers: {"invalidateOnMemberSuspension": true,
                           "invalidateOnMemberPasswordReset": false}
            })
            .as_object()
            .cloned()
            .unwrap();
            r.vary(Object::App.into(), false, "a", &mut app);
            if let Some(members) = app.get(triggers) {
                assert_eq!(
                    members["invalidateOnMemberPasswordReset"], false,
                    "seed {seed}"
                );
                match members.get("invalidateOnMemberSuspension") {
                    Some(v) => {
                        assert_eq!(*v, true);
                        kept = true;
                    }
                    None => dropped = true,
                }
            }
            let mut client = json!({"device_authorization": {"enabled": false}})
                .as_object()
                .cloned()
                .unwrap();
            r.vary(Object::OidcClient.into(), false, "c", &mut client);
            if let Some(members) = client.get("device_authorization") {
                assert_eq!(members["enabled"], false, "a required member stays");
            }
        }
        assert!(dropped && kept);
    }
}
