//! [`Address`], the identity of a managed object of any kind (its kind, the application it is or
//! belongs to, its natural key), and [`AddressRef`], an object as the command line names it.
//! Pure data.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::model::kinds::{AnyKind, NaturalKey, ObjKind};

/// The identity of a managed object of any kind: its kind, the `metadata.name` of the
/// application it is or belongs to, and its natural key within that (a client's `name`, a
/// role's `role_name`; a parentless kind's `uri` or `entity_id`; empty for an application and a
/// singleton). Shown as `Application/food`, `Client/food/iOS`, `Role/food/courier`,
/// `LoginPreferences/food`, `Resource/https://api.example.com/payouts`.
///
/// Ordered by kind (applications, then clients, then the described kinds), application and
/// key. Serialized in the form each kind always had: `{kind, app}` for an application,
/// `{kind, app, client}` for a client, `{kind, app?, key}` for a described kind.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Address {
    /// Its kind.
    pub kind: AnyKind,
    /// The `metadata.name` of the application it is (an application) or belongs to (none: a
    /// kind that belongs to no application).
    pub app: Option<String>,
    /// Its natural key within its application, or in the tenant (empty: an application, a
    /// singleton).
    pub key: String,
}

impl Address {
    /// An application's address.
    pub fn app(app: &str) -> Self {
        Self {
            kind: AnyKind::Application,
            app: Some(app.to_owned()),
            key: String::new(),
        }
    }

    /// A client's address.
    pub fn client(app: &str, client: &str) -> Self {
        Self {
            kind: AnyKind::Client,
            app: Some(app.to_owned()),
            key: client.to_owned(),
        }
    }

    /// A described kind's object's address.
    pub fn new(kind: ObjKind, app: Option<&str>, key: &str) -> Self {
        Self {
            kind: AnyKind::Described(kind),
            app: app.map(str::to_owned),
            key: key.to_owned(),
        }
    }

    /// Parses what [`fmt::Display`] shows. A parentless kind's key is the whole rest (a URI
    /// holds slashes); a parented kind's is what follows the application's name.
    pub fn parse(text: &str) -> Option<Self> {
        let (kind, rest) = text.split_once('/')?;
        let kind = AnyKind::ALL.into_iter().find(|k| k.name() == kind)?;
        if rest.is_empty() {
            return None;
        }
        let spec = kind.spec();
        let address = match (kind, spec.parent, spec.natural_key) {
            (AnyKind::Application, ..) => (!rest.contains('/')).then(|| Self::app(rest))?,
            (_, None, _) => Self {
                kind,
                app: None,
                key: rest.to_owned(),
            },
            (_, Some(_), NaturalKey::Singleton) => (!rest.contains('/')).then(|| Self {
                kind,
                app: Some(rest.to_owned()),
                key: String::new(),
            })?,
            (_, Some(_), NaturalKey::Field(_)) => {
                let (app, key) = rest.split_once('/')?;
                (!app.is_empty() && !key.is_empty()).then(|| Self {
                    kind,
                    app: Some(app.to_owned()),
                    key: key.to_owned(),
                })?
            }
        };
        Some(address)
    }

    /// The key under which the state stores what belongs to it.
    pub fn key(&self) -> String {
        self.to_string()
    }

    /// The `metadata.name` of the application it is or belongs to (none: a kind that belongs
    /// to no application).
    pub fn application(&self) -> Option<&str> {
        self.app.as_deref()
    }

    /// The `metadata.name` of the application it is or belongs to, empty for a kind that
    /// belongs to none.
    pub fn app_name(&self) -> &str {
        self.app.as_deref().unwrap_or_default()
    }

    /// A client's `name` (none: not a client).
    pub fn client_name(&self) -> Option<&str> {
        (self.kind == AnyKind::Client).then_some(self.key.as_str())
    }

    /// Whether it is an application's or a client's.
    pub fn is_app(&self) -> bool {
        matches!(self.kind, AnyKind::Application | AnyKind::Client)
    }

    /// The described kind it is of, if it is one.
    pub fn described(&self) -> Option<ObjKind> {
        self.kind.described()
    }

    /// The address, if it is an application's or a client's.
    pub fn as_app(&self) -> Option<&Address> {
        self.is_app().then_some(self)
    }

    /// The address, if it is a described kind's object's.
    pub fn as_object(&self) -> Option<&Address> {
        (!self.is_app()).then_some(self)
    }

    /// Reads an application's or a client's address, refusing another kind's (a record of
    /// the applications' tree).
    pub fn deserialize_app<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::deserialize_where(d, true)
    }

    /// Reads a described kind's object's address, refusing an application's or a client's (a
    /// record of the other kinds' tree).
    pub fn deserialize_described<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::deserialize_where(d, false)
    }

    fn deserialize_where<'de, D: serde::Deserializer<'de>>(
        d: D,
        app: bool,
    ) -> Result<Self, D::Error> {
        let address = Self::deserialize(d)?;
        if address.is_app() != app {
            let expected = if app {
                "an application's or a client's"
            } else {
                "a Resource's, ServiceProvider's, Role's, RoleGroup's or LoginPreferences'"
            };
            return Err(serde::de::Error::custom(format!(
                "`{address}` is not {expected} address"
            )));
        }
        Ok(address)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.kind)?;
        if let Some(app) = &self.app {
            write!(f, "/{app}")?;
        }
        if !self.key.is_empty() {
            write!(f, "/{}", self.key)?;
        }
        Ok(())
    }
}

impl From<&Address> for Address {
    fn from(a: &Address) -> Self {
        a.clone()
    }
}

/// The serialized form: what each kind's address was always written as.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize)]
struct Written {
    kind: AnyKind,
    app: Option<String>,
    client: Option<String>,
    key: Option<String>,
}

impl Serialize for Address {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let (client, key) = match self.kind {
            AnyKind::Application => (None, None),
            AnyKind::Client => (Some(self.key.clone()), None),
            AnyKind::Described(_) => (None, Some(self.key.clone())),
        };
        Written {
            kind: self.kind,
            app: self.app.clone(),
            client,
            key,
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Address {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let w = Written::deserialize(deserializer)?;
        let missing =
            |field: &str| D::Error::custom(format!("a {} address needs `{field}`", w.kind));
        let address = match w.kind {
            AnyKind::Application => Address::app(w.app.as_deref().ok_or_else(|| missing("app"))?),
            AnyKind::Client => Address::client(
                w.app.as_deref().ok_or_else(|| missing("app"))?,
                w.client.as_deref().ok_or_else(|| missing("client"))?,
            ),
            AnyKind::Described(kind) => Address::new(
                kind,
                w.app.as_deref(),
                w.key.as_deref().ok_or_else(|| missing("key"))?,
            ),
        };
        Ok(address)
    }
}

/// An object as a user names it on the command line: an address, or `Client/DOCUMENT`, the
/// `metadata.name` of a `kind: Client` document (resolved against the manifests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddressRef {
    /// `Application/APP` or `Client/APP/NAME`.
    Address(Address),
    /// `Client/DOCUMENT`: a `Client` document's `metadata.name`.
    ClientDocument(String),
}

impl AddressRef {
    /// The forms every command that reads an address accepts, for messages.
    pub const FORMS: &'static str =
        "Application/NAME, Client/APP/NAME or Client/DOCUMENT (a Client document's metadata.name)";

    /// Parses `Application/APP`, `Client/APP/NAME` or `Client/DOCUMENT`.
    pub fn parse(text: &str) -> Option<Self> {
        if let Some(address) = Address::parse(text).filter(Address::is_app) {
            return Some(Self::Address(address));
        }
        match text.split_once('/') {
            Some(("Client", name)) if !name.is_empty() && !name.contains('/') => {
                Some(Self::ClientDocument(name.to_owned()))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_written_as_it_always_was_and_reads_back() {
        for (address, json) in [
            (
                Address::app("food"),
                r#"{"kind":"Application","app":"food"}"#,
            ),
            (
                Address::client("food", "iOS"),
                r#"{"kind":"Client","app":"food","client":"iOS"}"#,
            ),
            (
                Address::new(ObjKind::Role, Some("food"), "courier"),
                r#"{"kind":"Role","app":"food","key":"courier"}"#,
            ),
            (
                Address::new(ObjKind::LoginPreferences, Some("food"), ""),
                r#"{"kind":"LoginPreferences","app":"food","key":""}"#,
            ),
            (
                Address::new(ObjKind::Resource, None, "https://api.example.com/x"),
                r#"{"kind":"Resource","key":"https://api.example.com/x"}"#,
            ),
        ] {
            assert_eq!(serde_json::to_string(&address).unwrap(), json);
            assert_eq!(serde_json::from_str::<Address>(json).unwrap(), address);
        }
        for bad in [
            r#"{"kind":"Client","app":"food"}"#,
            r#"{"kind":"Application"}"#,
            r#"{"kind":"Role","app":"food"}"#,
            r#"{"kind":"Widget","app":"food"}"#,
        ] {
            assert!(serde_json::from_str::<Address>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_record_of_one_tree_refuses_another_trees_address() {
        #[derive(Deserialize)]
        struct Apps {
            #[serde(deserialize_with = "Address::deserialize_app")]
            #[allow(dead_code)]
            address: Address,
        }
        #[derive(Deserialize)]
        struct Kinds {
            #[serde(deserialize_with = "Address::deserialize_described")]
            #[allow(dead_code)]
            address: Address,
        }
        let role = r#"{"address":{"kind":"Role","app":"food","key":"courier"}}"#;
        let client = r#"{"address":{"kind":"Client","app":"food","client":"iOS"}}"#;
        assert!(serde_json::from_str::<Kinds>(role).is_ok());
        assert!(serde_json::from_str::<Apps>(client).is_ok());
        let err = serde_json::from_str::<Apps>(role)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("`Role/food/courier` is not an application's"),
            "{err}"
        );
        let err = serde_json::from_str::<Kinds>(client)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("`Client/food/iOS` is not a Resource's"),
            "{err}"
        );
    }

    #[test]
    fn addresses_round_trip_with_slashes_in_keys() {
        for text in [
            "Application/food",
            "Client/food/iOS",
            "Resource/https://api.example.com/payouts",
            "ServiceProvider/https://wiki.example.com/saml",
            "Role/food/courier",
            "LoginPreferences/food",
        ] {
            assert_eq!(Address::parse(text).unwrap().to_string(), text);
        }
        assert_eq!(
            Address::parse("Role/food/courier").unwrap(),
            Address::new(ObjKind::Role, Some("food"), "courier")
        );
        assert_eq!(
            Address::parse("Client/food/iOS").unwrap(),
            Address::client("food", "iOS")
        );
        for bad in [
            "Role/food",
            "LoginPreferences/a/b",
            "Resource/",
            "Widget/x",
            "Application/x/y",
            "Client/food",
            "Client/food/",
        ] {
            assert_eq!(Address::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn applications_and_clients_order_before_the_described_kinds() {
        let mut all = [
            Address::new(ObjKind::Resource, None, "a"),
            Address::client("a", "x"),
            Address::new(ObjKind::Role, Some("a"), "r"),
            Address::app("b"),
            Address::app("a"),
        ];
        all.sort();
        let shown: Vec<String> = all.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "Application/a",
                "Application/b",
                "Client/a/x",
                "Resource/a",
                "Role/a/r"
            ]
        );
    }

    #[test]
    fn a_command_line_reference_is_an_application_a_client_or_a_client_document() {
        assert_eq!(
            AddressRef::parse("Client/web"),
            Some(AddressRef::ClientDocument("web".into()))
        );
        assert_eq!(
            AddressRef::parse("Client/shop/web"),
            Some(AddressRef::Address(Address::client("shop", "web")))
        );
        assert_eq!(AddressRef::parse("Role/shop/clerk"), None);
    }
}
