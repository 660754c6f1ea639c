//! PURE: what a client credential delivery is made of. The credential of one managed client as
//! read live, its rendering as JSON or as shell `KEY='value'` lines, the salted hash that
//! records a delivery without keeping the secret, and which deliveries a sink needs: created,
//! changed or deleted, compared with what it was last given.
//!
//! The secret lives only in [`Secret`], whose `Debug` is redacted; it reaches the outside only
//! through [`Credential::document`] and [`Credential::env_lines`], the explicit deliveries.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::state::address::Address;
use crate::state::entry::salted_hash;

/// A client secret. `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value, for an explicit delivery.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(sensitive)")
    }
}

/// The credential of one managed client, as read live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    /// The client's manifest identity (`Client/shop/Web`).
    pub address: Address,
    /// Live application id.
    pub app_id: String,
    /// Live client id.
    pub client_id: String,
    /// The secret of a confidential OIDC client; `None` for public and SAML clients.
    pub client_secret: Option<Secret>,
    /// A confidential client whose secret the target withheld from this caller (blank or
    /// absent: an application's own client credential sees only its own secret). Nothing is
    /// delivered or withdrawn for it; what a sink was last given stays in force.
    pub secret_withheld: bool,
    /// Where the client gets tokens, when the target has one (`…/oidc/token`).
    pub token_url: Option<String>,
}

impl Credential {
    /// The credential in `live` (a client as the API returns it). A public client
    /// (`token_endpoint_auth_method: none`) and a SAML client carry no secret.
    pub fn from_live(
        address: Address,
        app_id: &str,
        live: &Map<String, Value>,
        token_url: Option<&str>,
    ) -> Option<Self> {
        let text = |field: &str| live.get(field).and_then(Value::as_str);
        let client_id = text("client_id")?.to_owned();
        let oidc = text("authentication_protocol").is_none_or(|p| p == "oidc");
        let public = text("token_endpoint_auth_method") == Some("none");
        let confidential = oidc && !public;
        let client_secret = confidential
            .then(|| {
                text("client_secret")
                    .filter(|s| !s.is_empty())
                    .map(Secret::new)
            })
            .flatten();
        Some(Self {
            address,
            app_id: app_id.to_owned(),
            client_id,
            secret_withheld: confidential && client_secret.is_none(),
            client_secret,
            token_url: token_url.map(str::to_owned),
        })
    }

    /// Whether the client has a secret to deliver.
    pub fn confidential(&self) -> bool {
        self.client_secret.is_some()
    }

    /// The JSON document a sink receives for `event` (the secret included).
    pub fn document(&self, event: Event) -> Value {
        let mut doc = json!({
            "event": event,
            "object": self.address.to_string(),
            "app_id": self.app_id,
            "client_id": self.client_id,
        });
        if let Some(secret) = &self.client_secret {
            doc["client_secret"] = json!(secret.expose());
        }
        if let Some(url) = &self.token_url {
            doc["token_url"] = json!(url);
        }
        doc
    }

    /// `KEY='value'` lines: `{prefix}CLIENT_ID`, `{prefix}CLIENT_SECRET` (confidential clients),
    /// and, when `with_token_url`, `{prefix}TOKEN_URL`; quoted for POSIX shells and `.env` files.
    pub fn env_lines(&self, prefix: &str, with_token_url: bool) -> String {
        let mut out = format!("{prefix}CLIENT_ID={}\n", shell_quote(&self.client_id));
        if let Some(secret) = &self.client_secret {
            out.push_str(&format!(
                "{prefix}CLIENT_SECRET={}\n",
                shell_quote(secret.expose())
            ));
        }
        if let (true, Some(url)) = (with_token_url, &self.token_url) {
            out.push_str(&format!("{prefix}TOKEN_URL={}\n", shell_quote(url)));
        }
        out
    }

    /// What a delivery of this credential is recorded as: a salted hash of everything delivered.
    pub fn fingerprint(&self, salt: &[u8]) -> String {
        salted_hash(
            salt,
            &json!({
                "client_id": self.client_id,
                "client_secret": self.client_secret.as_ref().map(Secret::expose),
                "token_url": self.token_url,
            }),
        )
    }
}

/// The variable-name prefix of a client in `credentials --format env` (`Client/shop/Web` →
/// `SHOP_WEB_`): letters and digits upper-cased, everything else `_`.
pub fn env_prefix(address: &Address) -> String {
    let text = format!(
        "{}_{}_",
        address.app_name(),
        address.client_name().unwrap_or("")
    );
    let mut prefix: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    if prefix.starts_with(|c: char| c.is_ascii_digit()) {
        prefix.insert(0, '_');
    }
    prefix
}

/// `value` in single quotes for a POSIX shell (`'` written as `'\''`).
pub fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

/// The format of a credentials file (`--credentials-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum FileFormat {
    /// `{"object", "app_id", "client_id", "client_secret", "token_url"}`.
    #[default]
    Json,
    /// `CLIENT_ID='…'`, `CLIENT_SECRET='…'`, `TOKEN_URL='…'` lines (`.env`, `source`).
    Env,
}

/// What a sink is told about a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// The sink has never been given this client.
    Created,
    /// The client's id or secret differs from what the sink was given (recreated, rotated).
    Changed,
    /// The client is no longer managed (pruned, or its application deleted).
    Deleted,
}

/// What a sink was last given for one client (kept in the state; no secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryRecord {
    /// [`Credential::fingerprint`] of what was delivered.
    pub fingerprint: String,
    /// Live application id then.
    pub app_id: String,
    /// Live client id then.
    pub client_id: String,
}

/// One delivery a sink needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery<'a> {
    /// Give the sink this credential.
    Give {
        /// Created or changed.
        event: Event,
        /// The credential.
        credential: &'a Credential,
        /// Its fingerprint, recorded once the sink took it.
        fingerprint: String,
    },
    /// Tell the sink a client is gone.
    Withdraw {
        /// The client's address key.
        key: String,
        /// What the sink was given.
        record: &'a DeliveryRecord,
    },
}

/// The deliveries a sink needs, given what it was last given (`records`, by address key) and
/// the credentials of the clients managed now: new clients are created, clients whose
/// fingerprint differs are changed, recorded clients no longer managed are deleted. Unchanged
/// ones need nothing.
pub fn deliveries<'a>(
    records: &'a BTreeMap<String, DeliveryRecord>,
    current: &'a [Credential],
    salt: &[u8],
) -> Vec<Delivery<'a>> {
    let mut out = Vec::new();
    let mut managed = std::collections::BTreeSet::new();
    for credential in current {
        let key = credential.address.key();
        if credential.secret_withheld {
            // Unseen is not changed: keep what the sink has (neither given again nor withdrawn).
            managed.insert(key);
            continue;
        }
        let fingerprint = credential.fingerprint(salt);
        let event = match records.get(&key) {
            None => Event::Created,
            Some(r) if r.fingerprint != fingerprint => Event::Changed,
            Some(_) => {
                managed.insert(key);
                continue;
            }
        };
        managed.insert(key);
        out.push(Delivery::Give {
            event,
            credential,
            fingerprint,
        });
    }
    for (key, record) in records {
        if !managed.contains(key) {
            out.push(Delivery::Withdraw {
                key: key.clone(),
                record,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    fn web(secret: &str) -> Credential {
        Credential::from_live(
            Address::client("shop", "Web"),
            "a1",
            &live(json!({"client_id": "c1", "client_secret": secret, "authentication_protocol": "oidc"})),
            Some("http://127.0.0.1:1/oidc/token"),
        )
        .unwrap()
    }

    #[test]
    fn public_and_saml_clients_carry_no_secret() {
        let public = live(
            json!({"client_id": "c2", "client_secret": "x", "token_endpoint_auth_method": "none"}),
        );
        let saml = live(
            json!({"client_id": "c3", "client_secret": "x", "authentication_protocol": "saml"}),
        );
        for client in [public, saml] {
            let c =
                Credential::from_live(Address::client("shop", "x"), "a1", &client, None).unwrap();
            assert!(!c.confidential());
            assert!(!c.env_lines("", true).contains("SECRET"));
        }
        assert!(web("s").confidential());
    }

    #[test]
    fn a_withheld_secret_is_neither_delivered_nor_withdrawn() {
        let delivered = web("s");
        let salt = b"salt";
        let mut records = BTreeMap::new();
        records.insert(
            delivered.address.key(),
            DeliveryRecord {
                fingerprint: delivered.fingerprint(salt),
                app_id: "a1".into(),
                client_id: "c1".into(),
            },
        );
        for blank in [json!(""), Value::Null] {
            let mut answer = json!({"client_id": "c1", "authentication_protocol": "oidc"});
            if !blank.is_null() {
                answer["client_secret"] = blank;
            }
            let withheld =
                Credential::from_live(Address::client("shop", "Web"), "a1", &live(answer), None)
                    .unwrap();
            assert!(withheld.secret_withheld && !withheld.confidential());
            let current = [withheld];
            assert!(deliveries(&records, &current, salt).is_empty());
            assert_eq!(deliveries(&BTreeMap::new(), &current, salt), Vec::new());
        }
        assert!(!delivered.secret_withheld);
    }

    #[test]
    fn renderings_quote_values_and_debug_never_shows_the_secret() {
        let c = web("it's-secret");
        assert_eq!(
            c.env_lines("SHOP_WEB_", false),
            "SHOP_WEB_CLIENT_ID='c1'\nSHOP_WEB_CLIENT_SECRET='it'\\''s-secret'\n"
        );
        assert!(c
            .env_lines("", true)
            .ends_with("TOKEN_URL='http://127.0.0.1:1/oidc/token'\n"));
        assert_eq!(c.document(Event::Created)["client_secret"], "it's-secret");
        assert_eq!(c.document(Event::Created)["event"], "created");
        assert!(!format!("{c:?}").contains("it's-secret"));
        assert_eq!(
            env_prefix(&Address::client("2fa-app", "Reporting exporter")),
            "_2FA_APP_REPORTING_EXPORTER_"
        );
    }

    #[test]
    fn deliveries_are_created_changed_deleted_or_nothing() {
        let salt = b"salt";
        let current = vec![web("s1")];
        let none = BTreeMap::new();
        let first = deliveries(&none, &current, salt);
        assert!(matches!(
            first[..],
            [Delivery::Give {
                event: Event::Created,
                ..
            }]
        ));
        let record = |c: &Credential| DeliveryRecord {
            fingerprint: c.fingerprint(salt),
            app_id: c.app_id.clone(),
            client_id: c.client_id.clone(),
        };
        let given = BTreeMap::from([("Client/shop/Web".to_owned(), record(&current[0]))]);
        assert!(
            deliveries(&given, &current, salt).is_empty(),
            "unchanged: nothing"
        );
        let rotated = vec![web("s2")];
        assert!(matches!(
            deliveries(&given, &rotated, salt)[..],
            [Delivery::Give {
                event: Event::Changed,
                ..
            }]
        ));
        let gone = deliveries(&given, &[], salt);
        assert!(matches!(&gone[..], [Delivery::Withdraw { key, .. }] if key == "Client/shop/Web"));
        assert_ne!(web("s1").fingerprint(salt), web("s1").fingerprint(b"other"));
    }
}
