//! Who is calling and what they may do: the five `apps:*` verbs (one per operation) and the reach of a
//! token (the whole tenant for management credentials, one app for an app's own client).

use std::fmt;

use serde_json::Value;

use super::error::TenantError;
use crate::model::catalogue::{Object, Presence};

/// One permission verb.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Verb {
    /// `apps:list`
    List,
    /// `apps:read`
    Read,
    /// `apps:create`
    Create,
    /// `apps:edit`
    Edit,
    /// `apps:delete`
    Delete,
}

impl Verb {
    /// Every verb.
    pub const ALL: [Verb; 5] = [
        Verb::List,
        Verb::Read,
        Verb::Create,
        Verb::Edit,
        Verb::Delete,
    ];

    /// The permission string, e.g. `apps:edit`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::List => "apps:list",
            Verb::Read => "apps:read",
            Verb::Create => "apps:create",
            Verb::Edit => "apps:edit",
            Verb::Delete => "apps:delete",
        }
    }

    /// Parses a permission string.
    pub fn parse(s: &str) -> Option<Verb> {
        Verb::ALL.into_iter().find(|v| v.as_str() == s)
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for Verb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of verbs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Permissions(u8);

impl Permissions {
    /// All five verbs.
    pub fn all() -> Self {
        Verb::ALL.into_iter().collect()
    }

    /// The verbs both sets hold.
    pub fn intersection(self, other: Permissions) -> Permissions {
        Permissions(self.0 & other.0)
    }

    /// Parses `apps:list,apps:read` (`all` for every verb).
    pub fn parse_list(text: &str) -> Result<Permissions, String> {
        if text.trim() == "all" {
            return Ok(Permissions::all());
        }
        text.split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| {
                Verb::parse(p).ok_or_else(|| {
                    format!("unknown permission `{p}` (known: apps:list, apps:read, apps:create, apps:edit, apps:delete, or all)")
                })
            })
            .collect()
    }

    /// Whether `verb` is granted.
    pub fn has(self, verb: Verb) -> bool {
        self.0 & verb.bit() != 0
    }

    /// The granted verbs, in canonical order.
    pub fn verbs(self) -> impl Iterator<Item = Verb> {
        Verb::ALL.into_iter().filter(move |v| self.has(*v))
    }
}

impl FromIterator<Verb> for Permissions {
    fn from_iter<I: IntoIterator<Item = Verb>>(iter: I) -> Self {
        Self(iter.into_iter().fold(0, |acc, v| acc | v.bit()))
    }
}

/// What a caller can reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    /// Every app of the tenant (management / admin credentials).
    Tenant,
    /// Only this app (a token of one of its clients).
    App(String),
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The client id the token was issued to.
    pub client_id: String,
    /// What it can reach.
    pub reach: Reach,
    /// What it may do.
    pub permissions: Permissions,
}

impl Caller {
    /// A management caller with every permission (the embedded `local` target uses this).
    pub fn admin(client_id: impl Into<String>) -> Self {
        Self {
            client_id: client_id.into(),
            reach: Reach::Tenant,
            permissions: Permissions::all(),
        }
    }

    /// The app this caller is bound to, if any.
    pub fn own_app(&self) -> Option<&str> {
        match &self.reach {
            Reach::Tenant => None,
            Reach::App(id) => Some(id),
        }
    }

    /// Whether the caller may see the secret of client `client_id`: a management caller sees
    /// every secret, an app's client only its own (a native or SPA client's secret ships in a
    /// binary, so it must not yield a confidential sibling's).
    pub fn sees_secret_of(&self, client_id: &str) -> bool {
        match self.reach {
            Reach::Tenant => true,
            Reach::App(_) => self.client_id == client_id,
        }
    }

    /// Conceals, in a rendered `object` (an app: its default client's), the secrets the caller
    /// may not see: blanked where upstream's response schema requires the field (a client's
    /// `client_secret`), left out where it is optional (an app's deprecated `client_secret`).
    pub fn conceal_secrets(&self, object: Object, value: &mut Value) {
        let Some(map) = value.as_object_mut() else {
            return;
        };
        let owner = map.get("client_id").and_then(Value::as_str);
        if owner.is_some_and(|id| self.sees_secret_of(id)) {
            return;
        }
        for field in object.fields().iter().filter(|f| f.secret) {
            if !map.contains_key(field.name) {
                continue;
            }
            if field.presence == Presence::Required {
                map.insert(field.name.to_owned(), Value::String(String::new()));
            } else {
                map.remove(field.name);
            }
        }
    }

    /// Checks that the caller holds `verb` and can reach `app` (`None`: a tenant-wide operation).
    pub fn require(&self, verb: Verb, app: Option<&str>) -> Result<(), TenantError> {
        if !self.permissions.has(verb) {
            return Err(TenantError::Forbidden(format!(
                "this token lacks the `{verb}` permission required for this operation"
            )));
        }
        match (&self.reach, app) {
            (Reach::Tenant, _) => Ok(()),
            (Reach::App(own), Some(app)) if own == app => Ok(()),
            (Reach::App(own), Some(app)) => Err(TenantError::Forbidden(format!(
                "this token belongs to application `{own}` and cannot access application `{app}`; use a management token"
            ))),
            (Reach::App(_), None) => Err(TenantError::Forbidden(
                "an application's own token cannot perform tenant-wide operations such as creating applications; use a management token"
                    .to_owned(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_and_reach() {
        let reader = Caller {
            client_id: "c".into(),
            reach: Reach::App("a1".into()),
            permissions: [Verb::Read].into_iter().collect(),
        };
        assert!(reader.require(Verb::Read, Some("a1")).is_ok());
        assert!(matches!(
            reader.require(Verb::Edit, Some("a1")),
            Err(TenantError::Forbidden(_))
        ));
        assert!(matches!(
            reader.require(Verb::Read, Some("a2")),
            Err(TenantError::Forbidden(_))
        ));
        assert!(matches!(
            reader.require(Verb::Read, None),
            Err(TenantError::Forbidden(_))
        ));
        assert!(Caller::admin("x")
            .require(Verb::Delete, Some("any"))
            .is_ok());
        assert_eq!(Verb::parse("apps:list"), Some(Verb::List));
        assert_eq!(Permissions::all().verbs().count(), 5);
    }

    #[test]
    fn an_app_client_sees_only_its_own_secret() {
        let mobile = Caller {
            client_id: "ios".into(),
            reach: Reach::App("a1".into()),
            permissions: Permissions::all(),
        };
        let client =
            |id: &str| serde_json::json!({"client_id": id, "client_secret": "s", "name": "n"});
        let mut own = client("ios");
        mobile.conceal_secrets(Object::OidcClient, &mut own);
        assert_eq!(own["client_secret"], "s");
        // Required in ApiOidcClient / ApiSamlClient: blanked.
        let mut sibling = client("web");
        mobile.conceal_secrets(Object::OidcClient, &mut sibling);
        assert_eq!(sibling["client_secret"], "");
        mobile.conceal_secrets(Object::SamlClient, &mut sibling);
        assert_eq!(sibling["client_secret"], "");
        // Optional (deprecated) in ApiApp: left out.
        let mut app = client("web");
        mobile.conceal_secrets(Object::App, &mut app);
        assert!(app.get("client_secret").is_none(), "{app}");
        assert_eq!(app["name"], "n");
        let mut seen = client("web");
        Caller::admin("admin").conceal_secrets(Object::OidcClient, &mut seen);
        assert_eq!(seen["client_secret"], "s");
    }
}
