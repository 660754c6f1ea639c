//! The addresses of the described kinds' objects (`model::kinds`), by kind and natural key, and
//! [`AnyAddress`], the address of an object of any kind. Pure data.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::entry::{Address, Kind};
use crate::model::kinds::{AnyKind, NaturalKey, ObjKind};

/// The identity of an object of a described kind: its kind, its application's `metadata.name`
/// (parented kinds) and its natural key (`uri`, `entity_id`, `role_name`; empty for a
/// singleton). Shown as `Resource/https://api.example.com/payouts`, `Role/food/courier`,
/// `LoginPreferences/food`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ObjectAddress {
    /// The kind.
    pub kind: ObjKind,
    /// The `metadata.name` of its application (parented kinds only).
    pub app: Option<String>,
    /// The natural key (empty for a singleton).
    pub key: String,
}

impl ObjectAddress {
    /// An address.
    pub fn new(kind: ObjKind, app: Option<&str>, key: &str) -> Self {
        Self {
            kind,
            app: app.map(str::to_owned),
            key: key.to_owned(),
        }
    }

    /// Parses what [`fmt::Display`] shows. A parentless kind's key is the whole rest (a URI
    /// holds slashes); a parented kind's is what follows the application's name.
    pub fn parse(text: &str) -> Option<Self> {
        let (kind, rest) = text.split_once('/')?;
        let kind = ObjKind::from_name(kind)?;
        let spec = kind.spec();
        if rest.is_empty() {
            return None;
        }
        match (spec.parent, spec.natural_key) {
            (None, _) => Some(Self::new(kind, None, rest)),
            (Some(_), NaturalKey::Singleton) => {
                (!rest.contains('/')).then(|| Self::new(kind, Some(rest), ""))
            }
            (Some(_), NaturalKey::Field(_)) => {
                let (app, key) = rest.split_once('/')?;
                (!app.is_empty() && !key.is_empty()).then(|| Self::new(kind, Some(app), key))
            }
        }
    }

    /// The key under which the state stores it.
    pub fn storage_key(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for ObjectAddress {
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

/// Any managed object's address: an application or client, or an object of a described kind.
/// Serialized as the address it holds (the two never parse as each other: their kinds differ),
/// so a record written with a bare [`Address`] reads back unchanged.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AnyAddress {
    /// An application or a client.
    App(Address),
    /// An object of a described kind.
    Object(ObjectAddress),
}

impl AnyAddress {
    /// The key under which the state stores what belongs to it.
    pub fn key(&self) -> String {
        self.to_string()
    }

    /// The application or client address, if it is one.
    pub fn as_app(&self) -> Option<&Address> {
        match self {
            AnyAddress::App(a) => Some(a),
            AnyAddress::Object(_) => None,
        }
    }

    /// The described kind's address, if it is one.
    pub fn as_object(&self) -> Option<&ObjectAddress> {
        match self {
            AnyAddress::App(_) => None,
            AnyAddress::Object(o) => Some(o),
        }
    }

    /// Its kind.
    pub fn kind(&self) -> AnyKind {
        match self {
            AnyAddress::App(a) => match a.kind {
                Kind::Application => AnyKind::Application,
                Kind::Client => AnyKind::Client,
            },
            AnyAddress::Object(o) => AnyKind::Described(o.kind),
        }
    }

    /// The `metadata.name` of the application it is or belongs to (none: a kind that belongs to
    /// no application).
    pub fn app(&self) -> Option<&str> {
        match self {
            AnyAddress::App(a) => Some(&a.app),
            AnyAddress::Object(o) => o.app.as_deref(),
        }
    }
}

impl fmt::Display for AnyAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AnyAddress::App(a) => a.fmt(f),
            AnyAddress::Object(o) => o.fmt(f),
        }
    }
}

impl From<Address> for AnyAddress {
    fn from(a: Address) -> Self {
        AnyAddress::App(a)
    }
}

impl From<&Address> for AnyAddress {
    fn from(a: &Address) -> Self {
        AnyAddress::App(a.clone())
    }
}

impl From<&ObjectAddress> for AnyAddress {
    fn from(o: &ObjectAddress) -> Self {
        AnyAddress::Object(o.clone())
    }
}

impl From<&AnyAddress> for AnyAddress {
    fn from(a: &AnyAddress) -> Self {
        a.clone()
    }
}

impl From<ObjectAddress> for AnyAddress {
    fn from(o: ObjectAddress) -> Self {
        AnyAddress::Object(o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_address_reads_what_a_bare_address_wrote_and_keeps_its_kind() {
        let client = Address::client("food", "iOS");
        let written = serde_json::to_string(&client).unwrap();
        let read: AnyAddress = serde_json::from_str(&written).unwrap();
        assert_eq!(read, AnyAddress::App(client));
        let role = ObjectAddress::new(ObjKind::Role, Some("food"), "courier");
        let written = serde_json::to_string(&AnyAddress::from(role.clone())).unwrap();
        assert_eq!(written, serde_json::to_string(&role).unwrap());
        let read: AnyAddress = serde_json::from_str(&written).unwrap();
        assert_eq!(read, AnyAddress::Object(role));
        assert_eq!(read.key(), "Role/food/courier");
        let app: AnyAddress =
            serde_json::from_str(r#"{"kind":"Application","app":"food"}"#).unwrap();
        assert_eq!(app.as_app(), Some(&Address::app("food")));
    }

    #[test]
    fn addresses_round_trip_with_slashes_in_keys() {
        for text in [
            "Resource/https://api.example.com/payouts",
            "ServiceProvider/https://wiki.example.com/saml",
            "Role/food/courier",
            "LoginPreferences/food",
        ] {
            assert_eq!(ObjectAddress::parse(text).unwrap().to_string(), text);
        }
        assert_eq!(
            ObjectAddress::parse("Role/food/courier").unwrap(),
            ObjectAddress::new(ObjKind::Role, Some("food"), "courier")
        );
        for bad in [
            "Role/food",
            "LoginPreferences/a/b",
            "Resource/",
            "Widget/x",
            "Application/x",
        ] {
            assert_eq!(ObjectAddress::parse(bad), None, "{bad}");
        }
    }
}
