//! Who is calling and what they may do: the permissions upstream names (the applications API's
//! five `apps:*` verbs, one per operation, and those the kinds' descriptions document for
//! theirs) and the reach of a token (the whole tenant for management credentials, one app for
//! an app's own client).

use std::fmt;
use std::sync::LazyLock;

use serde_json::Value;

use super::error::TenantError;
use crate::model::catalogue::{Object, Presence};
use crate::model::kinds::AnyKind;

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
}

impl fmt::Display for Verb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every permission the bundled server knows, as upstream names them: the applications API's
/// five verbs, then each one the kinds' descriptions document for their operations
/// (`model::kinds::Permissions`), once each, in that order.
static KNOWN: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    let mut known: Vec<&'static str> = Verb::ALL.iter().map(|v| v.as_str()).collect();
    for kind in AnyKind::ALL {
        let p = &kind.spec().permissions;
        for name in [p.read, p.create, p.edit, p.delete].into_iter().flatten() {
            if !known.contains(name) {
                known.push(name);
            }
        }
    }
    assert!(known.len() <= 64, "a permission set holds at most 64 names");
    known
});

/// A set of permissions, of those the bundled server knows ([`Permissions::known`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Permissions(u64);

impl Permissions {
    /// Every permission the bundled server knows, as upstream names them.
    pub fn known() -> &'static [&'static str] {
        &KNOWN
    }

    /// Every permission it knows.
    pub fn all() -> Self {
        Self(u64::MAX >> (64 - KNOWN.len()))
    }

    fn bit(name: &str) -> Option<u64> {
        KNOWN.iter().position(|k| *k == name).map(|i| 1 << i)
    }

    /// The permissions named, or the first name it does not know.
    pub fn from_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Self, String> {
        names.into_iter().try_fold(Self::default(), |acc, name| {
            Self::bit(name)
                .map(|bit| Self(acc.0 | bit))
                .ok_or_else(|| format!("unknown permission `{name}`"))
        })
    }

    /// The permissions both sets hold.
    pub fn intersection(self, other: Permissions) -> Permissions {
        Permissions(self.0 & other.0)
    }

    /// Every read it knows (`…:list`, `…:read`): of applications and of every kind.
    pub fn reads() -> Self {
        Self::from_names(
            KNOWN
                .iter()
                .copied()
                .filter(|p| p.ends_with(":list") || p.ends_with(":read")),
        )
        .expect("known names")
    }

    /// Parses `apps:list,apps:read` (`all` for every one it knows, `reads` for every read).
    pub fn parse_list(text: &str) -> Result<Permissions, String> {
        match text.trim() {
            "all" => return Ok(Permissions::all()),
            "reads" => return Ok(Permissions::reads()),
            _ => {}
        }
        Self::from_names(text.split(',').map(str::trim).filter(|p| !p.is_empty()))
            .map_err(|e| format!("{e} (known: {}, or all)", KNOWN.join(", ")))
    }

    /// Whether the applications API's `verb` is granted.
    pub fn has(self, verb: Verb) -> bool {
        self.has_any(&[verb.as_str()])
    }

    /// Whether any of `names` is granted (upstream documents several for some operations, any
    /// one of which suffices).
    pub fn has_any(self, names: &[&str]) -> bool {
        names
            .iter()
            .filter_map(|n| Self::bit(n))
            .any(|bit| self.0 & bit != 0)
    }

    /// The granted permissions' names, in the order [`Permissions::known`] lists them.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        KNOWN
            .iter()
            .enumerate()
            .filter(move |(i, _)| self.0 & (1 << i) != 0)
            .map(|(_, name)| *name)
    }
}

impl FromIterator<Verb> for Permissions {
    fn from_iter<I: IntoIterator<Item = Verb>>(iter: I) -> Self {
        Self::from_names(iter.into_iter().map(Verb::as_str))
            .expect("the applications API's verbs are known")
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
        self.reaches(app)
    }

    /// Checks that the caller holds one of `any` (the permissions upstream documents for an
    /// operation of a kind) and can reach `app`.
    pub fn require_any(&self, any: &[&str], app: Option<&str>) -> Result<(), TenantError> {
        if !self.permissions.has_any(any) {
            let names: Vec<String> = any.iter().map(|p| format!("`{p}`")).collect();
            return Err(TenantError::Forbidden(format!(
                "this token lacks the permission required for this operation (one of {})",
                names.join(", ")
            )));
        }
        self.reaches(app)
    }

    /// Checks that the caller can reach `app` (`None`: a tenant-wide operation).
    fn reaches(&self, app: Option<&str>) -> Result<(), TenantError> {
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
        assert!(Permissions::all().names().count() > 5);
        let apps_only = Permissions::parse_list("apps:list,apps:read,apps:create").unwrap();
        assert!(!apps_only.has_any(&["resources:list", "resources:read"]));
        assert!(apps_only.has_any(&["resources:create", "apps:create"]));
        assert!(Permissions::all().has_any(&["roles:read"]));
        assert!(Permissions::parse_list("roles:fly").is_err());
        let reads = Permissions::parse_list("reads").unwrap();
        assert!(reads.has(Verb::List) && reads.has_any(&["roles:read"]));
        assert!(!reads.has(Verb::Edit) && !reads.has_any(&["resources:create"]));
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
