//! What `tenantsync doctor` concludes (pure): one check per line, `ok` / `warn` / `fail` with what
//! to do, from the token, the responses and the headers that the command's edge
//! (`commands::doctor`) collected. Response shapes are judged against the field catalogue, i.e.
//! against what upstream's response schemas promise.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::model::catalogue::{self, Object};
use crate::model::kinds::{ObjKind, Returned};

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Fine.
    Ok,
    /// tenantsync can operate, but something deserves attention.
    Warn,
    /// tenantsync cannot operate safely until this is fixed.
    Fail,
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    /// What was checked.
    pub name: String,
    /// The outcome.
    pub status: Status,
    /// What was found.
    pub detail: String,
    /// What to do about it (warn and fail).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Check {
    /// A passed check.
    pub fn ok(name: &str, detail: impl Into<String>) -> Self {
        Self {
            name: name.to_owned(),
            status: Status::Ok,
            detail: detail.into(),
            fix: None,
        }
    }

    /// A warning with what to do.
    pub fn warn(name: &str, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            name: name.to_owned(),
            status: Status::Warn,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }

    /// A failure with what to do.
    pub fn fail(name: &str, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            name: name.to_owned(),
            status: Status::Fail,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }
}

/// The whole report.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Report {
    /// The target checked (no credentials).
    pub target: String,
    /// Every check, in the order run.
    pub checks: Vec<Check>,
}

impl Report {
    /// Whether tenantsync can operate safely (no check failed).
    pub fn safe(&self) -> bool {
        self.checks.iter().all(|c| c.status != Status::Fail)
    }

    /// One line per check, and a verdict.
    pub fn render_text(&self) -> String {
        let width = self.checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
        let mut out = format!("tenantsync doctor: {}\n", self.target);
        for c in &self.checks {
            let status = match c.status {
                Status::Ok => "ok  ",
                Status::Warn => "warn",
                Status::Fail => "fail",
            };
            out.push_str(&format!("{status}  {:width$}  {}", c.name, c.detail));
            if let Some(fix) = &c.fix {
                out.push_str(&format!(" — {fix}"));
            }
            out.push('\n');
        }
        out.push_str(if self.safe() {
            "tenantsync can operate safely against this target.\n"
        } else {
            "tenantsync cannot operate safely against this target yet: fix the failed checks.\n"
        });
        out
    }
}

/// The permission an operation needs (the API's verbs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// `GET /v1/applications`.
    ListApps,
    /// `GET` one app or its clients.
    Read,
    /// `POST /v1/applications`.
    CreateApp,
    /// Create or update a client, update an app.
    Edit,
    /// Delete an app or a client.
    Delete,
}

impl Operation {
    /// The permission it needs.
    pub fn permission(self) -> &'static str {
        match self {
            Operation::ListApps => "apps:list",
            Operation::Read => "apps:read",
            Operation::CreateApp => "apps:create",
            Operation::Edit => "apps:edit",
            Operation::Delete => "apps:delete",
        }
    }
}

/// A failed request, as a check: what the status means and what to do.
pub fn request_failed(name: &str, operation: Operation, status: u16, message: &str) -> Check {
    let permission = operation.permission();
    match status {
        401 => Check::fail(
            name,
            format!("401 Unauthorized: {message}"),
            "the credential is not accepted: check TENANTSYNC_CLIENT_ID / TENANTSYNC_CLIENT_SECRET (or TENANTSYNC_TOKEN)",
        ),
        403 => Check::fail(
            name,
            format!("403 Forbidden: the credential lacks `{permission}` ({message})"),
            format!("grant the management client `{permission}`, or use a credential that has it"),
        ),
        429 => Check::warn(
            name,
            format!("429 Too Many Requests: {message}"),
            "the tenant's rate budget is spent: lower --rate, or run again later",
        ),
        _ => Check::fail(
            name,
            format!("HTTP {status}: {message}"),
            "the target does not answer as the Applications API documents; check --target (it ends in /cis)",
        ),
    }
}

/// What a response body should be, by upstream's response schemas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expected {
    /// The object answered (`None`: a client of the protocol it names).
    pub object: Option<Object>,
    /// An array of objects.
    pub list: bool,
    /// Items in the list form (fewer required fields).
    pub list_form: bool,
    /// Inside a `{"result": …}` envelope.
    pub wrapped: bool,
}

impl Expected {
    /// `GET /v1/applications`.
    pub const APP_LIST: Self = Self {
        object: Some(Object::App),
        list: true,
        list_form: true,
        wrapped: true,
    };
    /// One application (read, create).
    pub const APP: Self = Self {
        object: Some(Object::App),
        list: false,
        list_form: false,
        wrapped: true,
    };
    /// `GET …/clients`.
    pub const CLIENT_LIST: Self = Self {
        object: None,
        list: true,
        list_form: false,
        wrapped: false,
    };
    /// One client (read, create).
    pub const CLIENT: Self = Self {
        object: None,
        list: false,
        list_form: false,
        wrapped: false,
    };
}

/// A response body checked against upstream's response schema (and its envelope).
pub fn shape(name: &str, what: &str, expected: Expected, body: &Value) -> Check {
    let Expected {
        object,
        list,
        list_form,
        wrapped,
    } = expected;
    let inner =
        if wrapped {
            match body.get("result") {
                Some(v) => v,
                None => return Check::fail(
                    name,
                    format!("{what}: no `{{\"result\": …}}` envelope"),
                    "the target does not answer as the Applications API documents; check --target",
                ),
            }
        } else {
            body
        };
    let items: Vec<&Value> =
        if list {
            match inner.as_array() {
                Some(items) => items.iter().collect(),
                None => return Check::fail(
                    name,
                    format!("{what}: expected an array"),
                    "the target does not answer as the Applications API documents; check --target",
                ),
            }
        } else {
            vec![inner]
        };
    let mut problems = Vec::new();
    for item in &items {
        let Some(map) = item.as_object() else {
            problems.push("an item is not an object".to_owned());
            continue;
        };
        let object = object.unwrap_or_else(|| client_object(map));
        problems.extend(catalogue::response_problems(object, map, list_form));
    }
    problems.sort();
    problems.dedup();
    if problems.is_empty() {
        let count = if list {
            format!("{} item(s), ", items.len())
        } else {
            String::new()
        };
        Check::ok(
            name,
            format!("{what}: {count}as upstream's response schema promises"),
        )
    } else {
        Check::warn(
            name,
            format!("{what}: differs from upstream's response schema: {}", problems.join("; ")),
            "tenantsync relies only on documented fields, but report this: the target is not the documented API",
        )
    }
}

fn client_object(map: &Map<String, Value>) -> Object {
    Object::client(
        map.get("authentication_protocol")
            .and_then(Value::as_str)
            .unwrap_or_default(),
    )
}

/// What the access token tells: lifetime, roles, permissions and clock skew.
pub fn token(
    claims: Option<&Map<String, Value>>,
    expires_in: Option<u64>,
    now_unix: i64,
) -> Vec<Check> {
    let mut out = Vec::new();
    let lifetime = expires_in.map_or("no expires_in".to_owned(), |s| format!("valid {s}s"));
    let Some(claims) = claims else {
        out.push(Check::ok(
            "token",
            format!("bearer token obtained ({lifetime}); not a JWT, claims not read"),
        ));
        return out;
    };
    let roles: Vec<&str> = claims
        .get("roles")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    out.push(Check::ok(
        "token",
        format!(
            "bearer token obtained ({lifetime}); roles [{}]",
            roles.join(", ")
        ),
    ));
    if !roles.contains(&"Admin") {
        out.push(Check::warn(
            "token kind",
            "not a management (Admin) token: it may see only its own application",
            "use the client credentials of a management application, so that every application is visible",
        ));
    }
    let permissions: Vec<&str> = claims
        .get("ts_permissions")
        .or_else(|| claims.get("permissions"))
        .and_then(Value::as_array)
        .map(|p| p.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if !permissions.is_empty() {
        let missing: Vec<&str> = [
            Operation::ListApps,
            Operation::Read,
            Operation::CreateApp,
            Operation::Edit,
            Operation::Delete,
        ]
        .iter()
        .map(|o| o.permission())
        .filter(|p| !permissions.contains(p))
        .collect();
        if missing.is_empty() {
            out.push(Check::ok(
                "permissions",
                "apps:list, apps:read, apps:create, apps:edit, apps:delete",
            ));
        } else {
            out.push(Check::warn(
                "permissions",
                format!("the token lacks {}", missing.join(", ")),
                "enough for plan if apps:list and apps:read are there; apply needs all five",
            ));
        }
        out.push(kind_permissions(&permissions));
    }
    if let Some(iat) = claims.get("iat").and_then(Value::as_i64) {
        let skew = iat - now_unix;
        if skew.abs() > 60 {
            out.push(Check::warn(
                "clock",
                format!("the token was issued {skew}s from this machine's clock"),
                "synchronise this machine's clock (NTP): tokens may look expired or not yet valid",
            ));
        } else {
            out.push(Check::ok("clock", format!("skew {skew}s")));
        }
    }
    out
}

/// The lifetime a token answer shows: `exp − iat` of the JWT when it has both (what the API
/// enforces when it verifies the token), else `expires_in` (only advice to the client on how
/// long to cache it), and a note when the two disagree.
fn shown_lifetime(
    claims: Option<&Map<String, Value>>,
    expires_in: Option<u64>,
) -> Option<(u64, &'static str, Option<String>)> {
    let from_claims = claims.and_then(|c| {
        let iat = c.get("iat")?.as_i64()?;
        let exp = c.get("exp")?.as_i64()?;
        u64::try_from(exp - iat).ok()
    });
    match (from_claims, expires_in) {
        (Some(jwt), Some(e)) if e.abs_diff(jwt) > 2 => Some((
            jwt,
            "exp − iat",
            Some(format!("the answer's expires_in says {e}s")),
        )),
        (Some(jwt), _) => Some((jwt, "exp − iat", None)),
        (None, Some(e)) => Some((e, "expires_in", None)),
        (None, None) => None,
    }
}

/// What a ratio between a token's lifetime and the configured `access_token_ttl` means.
fn unit_of(factor: f64) -> Option<&'static str> {
    const UNITS: [(f64, &str); 4] = [
        (60.0, "upstream reads token lifetimes as minutes"),
        (3600.0, "upstream reads token lifetimes as hours"),
        (86400.0, "upstream reads token lifetimes as days"),
        (0.001, "upstream reads token lifetimes as milliseconds"),
    ];
    UNITS
        .iter()
        .find(|(f, _)| (factor / f - 1.0).abs() < 0.02)
        .map(|(_, unit)| *unit)
}

/// Whether a token fetched with a client's own credentials lasts the `access_token_ttl` the
/// client was created with (tenantsync writes lifetimes as seconds): a mismatch names the
/// factor, e.g. ×60 when upstream reads them as minutes.
pub fn token_lifetime(
    configured: u64,
    claims: Option<&Map<String, Value>>,
    expires_in: Option<u64>,
) -> Check {
    const NAME: &str = "token lifetime units";
    let Some((lifetime, source, disagreement)) = shown_lifetime(claims, expires_in) else {
        return Check::warn(
            NAME,
            "the token answer tells no lifetime (neither a JWT with iat and exp nor expires_in)",
            "check by hand that access_token_ttl is read as seconds before relying on lifetimes",
        );
    };
    let also = disagreement.map_or(String::new(), |d| format!("; {d}"));
    if lifetime.abs_diff(configured) <= 2 {
        return Check::ok(
            NAME,
            format!("access_token_ttl {configured} gave a token valid {lifetime}s ({source}): seconds, as tenantsync writes them{also}"),
        );
    }
    let factor = lifetime as f64 / configured.max(1) as f64;
    let shown = if factor >= 1.0 {
        format!("×{}", trim_float(factor))
    } else {
        format!("÷{}", trim_float(1.0 / factor))
    };
    let meaning = unit_of(factor).map_or_else(
        || "upstream does not apply access_token_ttl as seconds (it may cap it, or ignore it for client-credentials tokens)".to_owned(),
        str::to_owned,
    );
    Check::fail(
        NAME,
        format!(
            "{shown}: {meaning}: access_token_ttl {configured} gave a token valid {lifetime}s ({source}){also}"
        ),
        "token_expiration values in the manifests do not mean seconds on this target: convert them, and the lint thresholds (TS007–TS009) with them, before applying",
    )
}

fn trim_float(x: f64) -> String {
    let rounded = (x * 100.0).round() / 100.0;
    if rounded.fract() == 0.0 {
        format!("{rounded:.0}")
    } else {
        format!("{rounded}")
    }
}

/// Whether a nested object was replaced whole: after sending `sent` for a field that read
/// `before`, every sub-field sent reads as sent, and no sub-field left out still reads its old
/// value (a sub-field the target fills in with another value, a default, is fine).
pub fn nested_update(
    field: &str,
    sent: &Map<String, Value>,
    before: &Value,
    after: &Value,
) -> Check {
    const NAME: &str = "update nested object";
    let after_map = after.as_object();
    let read = |k: &str| after_map.and_then(|m| m.get(k));
    let not_taken: Vec<String> = sent
        .iter()
        .filter(|(k, v)| read(k) != Some(*v))
        .map(|(k, v)| {
            format!(
                "{k} sent {v}, reads {}",
                read(k).map_or("nothing".to_owned(), Value::to_string)
            )
        })
        .collect();
    if !not_taken.is_empty() {
        return Check::warn(
            NAME,
            format!("after the update, {field}: {}", not_taken.join("; ")),
            "the target did not store what was sent; report it",
        );
    }
    let kept: Vec<String> = before
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, v)| !sent.contains_key(*k) && read(k) == Some(*v))
        .map(|(k, v)| format!("{k} still {v}"))
        .collect();
    if kept.is_empty() {
        Check::ok(
            NAME,
            format!("{field} replaced whole, as documented (tenantsync sends whole objects)"),
        )
    } else {
        Check::warn(
            NAME,
            format!(
                "after sending {} for {field}, sub-fields left out kept their values ({})",
                Value::Object(sent.clone()),
                kept.join(", ")
            ),
            "the target merges object fields; tenantsync sends whole objects, so plans stay right, but report it",
        )
    }
}

/// The permissions upstream documents for one kind's operations ("**Required permissions**" in
/// each operation's description): any one of a list suffices. App-scoped forms
/// (`[appId]:read`) are left out: a management credential holds tenant-wide ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KindPermissions {
    /// The kind.
    pub kind: ObjKind,
    /// Listing its collection (`GET`).
    pub read: &'static [&'static str],
    /// Creating one (`POST`; empty: the kind is never created).
    pub create: &'static [&'static str],
    /// Updating one (`PUT`).
    pub edit: &'static [&'static str],
    /// Deleting one (`DELETE`; empty: the kind is never deleted).
    pub delete: &'static [&'static str],
}

/// Every described kind's permissions, as upstream's OpenAPI documents state them (checked
/// against them by the tests).
pub const KIND_PERMISSIONS: [KindPermissions; 4] = [
    KindPermissions {
        kind: ObjKind::Resource,
        read: &["resources:list", "resources:read"],
        create: &["resources:create", "apps:create"],
        edit: &["resources:edit", "apps:edit"],
        delete: &["resources:delete", "apps:delete"],
    },
    KindPermissions {
        kind: ObjKind::ServiceProvider,
        read: &[
            "service-providers:list",
            "service-providers:read",
            "apps:list",
            "apps:read",
        ],
        create: &["service-providers:create", "apps:create"],
        edit: &["service-providers:edit", "apps:edit"],
        delete: &["service-providers:delete", "apps:delete"],
    },
    KindPermissions {
        kind: ObjKind::Role,
        read: &[
            "organizations:read",
            "roles:read",
            "organizations:list",
            "roles:list",
        ],
        create: &["organizations:create", "roles:create"],
        edit: &["organizations:edit", "roles:edit"],
        delete: &["organizations:delete", "roles:delete"],
    },
    KindPermissions {
        kind: ObjKind::LoginPreferences,
        read: &[
            "apps:read",
            "*:read",
            "config:read",
            "authentication-methods:read",
        ],
        create: &[],
        edit: &[
            "apps:edit",
            "*:edit",
            "config:edit",
            "authentication-methods:edit",
        ],
        delete: &[],
    },
];

impl KindPermissions {
    /// The permissions of `kind`.
    pub fn of(kind: ObjKind) -> &'static KindPermissions {
        KIND_PERMISSIONS
            .iter()
            .find(|p| p.kind == kind)
            .expect("a row per kind")
    }

    /// The operations none of whose documented permissions `granted` holds, each with the
    /// permission to grant for it: the first of the family the kind's read permission belongs
    /// to (`roles:…` for roles, `apps:…` for service providers), else the first documented.
    pub fn missing(&self, granted: &[&str]) -> Vec<(&'static str, &'static str)> {
        let family = self
            .kind
            .spec()
            .read_permission
            .split_once(':')
            .map_or("", |(f, _)| f);
        [
            ("read", self.read),
            ("create", self.create),
            ("edit", self.edit),
            ("delete", self.delete),
        ]
        .into_iter()
        .filter(|(_, any)| !any.is_empty() && !any.iter().any(|p| granted.contains(p)))
        .map(|(op, any)| {
            let own = any
                .iter()
                .find(|p| p.split_once(':').is_some_and(|(f, _)| f == family));
            (op, *own.unwrap_or(&any[0]))
        })
        .collect()
    }
}

/// What the token's permissions allow of the described kinds, by upstream's documents: one
/// check, a warning naming what to grant (only needed where the manifests manage that kind).
pub fn kind_permissions(granted: &[&str]) -> Check {
    const NAME: &str = "kind permissions";
    let gaps: Vec<String> = KIND_PERMISSIONS
        .iter()
        .filter_map(|p| {
            let missing = p.missing(granted);
            (!missing.is_empty()).then(|| {
                let ops: Vec<String> = missing
                    .iter()
                    .map(|(op, grant)| format!("{op} (`{grant}`)"))
                    .collect();
                format!("{} {}", p.kind, ops.join(", "))
            })
        })
        .collect();
    if gaps.is_empty() {
        Check::ok(
            NAME,
            "Resource, ServiceProvider, Role and LoginPreferences: read and write",
        )
    } else {
        Check::warn(
            NAME,
            format!(
                "the token's permissions include none of those upstream documents for {}",
                gaps.join("; ")
            ),
            "grant them to the management client if the manifests manage those kinds (plan needs read, apply the rest); a read below that succeeds means the target grants it otherwise",
        )
    }
}

/// A read of a kind's collection as a check: the permission a refusal points at, a target that
/// does not serve the kind, or the answer's shape against upstream's response schema (the
/// fields it always returns). A kind the manifests do not use needs none of this, so a refusal
/// is a warning.
pub fn kind_read(kind: ObjKind, what: &str, status: u16, message: &str, body: &Value) -> Check {
    let spec = kind.spec();
    let name = format!("read {}", spec.noun);
    let grant = KindPermissions::of(kind).read;
    match status {
        200..=299 => {}
        401 | 403 => {
            return Check::warn(
                &name,
                format!(
                    "{what}: {status}: the credential lacks `{}` ({message})",
                    spec.read_permission
                ),
                format!(
                    "grant the management client one of {} if the manifests manage {}s",
                    grant
                        .iter()
                        .map(|p| format!("`{p}`"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    spec.noun
                ),
            )
        }
        404 => {
            return Check::warn(
                &name,
                format!(
                    "{what}: 404: the target does not serve {}s ({message})",
                    spec.noun
                ),
                format!("{} documents cannot be applied to this target", kind),
            )
        }
        _ => {
            return Check::warn(
                &name,
                format!("{what}: HTTP {status}: {message}"),
                "run doctor again; if it persists the target does not answer as upstream documents",
            )
        }
    }
    let Some(result) = body.get("result") else {
        return Check::warn(
            &name,
            format!("{what}: no `{{\"result\": …}}` envelope"),
            "the target does not answer as upstream documents; check --target",
        );
    };
    let items: Vec<&Value> = match (spec.api.singleton_field, result) {
        (Some(field), Value::Object(m)) => {
            m.get(field).filter(|v| !v.is_null()).into_iter().collect()
        }
        (None, Value::Array(items)) => items.iter().collect(),
        _ => {
            return Check::warn(
                &name,
                format!("{what}: the result is not what upstream documents"),
                "the target does not answer as upstream documents; check --target",
            )
        }
    };
    let mut problems: Vec<String> = items
        .iter()
        .flat_map(|item| {
            spec.fields
                .iter()
                .filter(|f| f.returned == Returned::Always && item.get(f.name).is_none())
                .map(|f| format!("`{}` missing", f.name))
                .collect::<Vec<_>>()
        })
        .collect();
    problems.sort();
    problems.dedup();
    if problems.is_empty() {
        Check::ok(
            &name,
            format!(
                "{what}: {} item(s), as upstream's response schema promises",
                items.len()
            ),
        )
    } else {
        Check::warn(
            &name,
            format!("{what}: differs from upstream's response schema: {}", problems.join("; ")),
            "tenantsync relies only on documented fields, but report this: the target is not the documented API",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn forbidden_names_the_missing_permission() {
        let c = request_failed("create application", Operation::CreateApp, 403, "no");
        assert_eq!(c.status, Status::Fail);
        assert!(c.detail.contains("`apps:create`"), "{}", c.detail);
    }

    #[test]
    fn shapes_and_envelopes() {
        let ok = shape(
            "list",
            "GET /v1/applications",
            Expected::APP_LIST,
            &json!({"result": []}),
        );
        assert_eq!(ok.status, Status::Ok);
        let bare = shape(
            "list",
            "GET /v1/applications",
            Expected::APP_LIST,
            &json!([]),
        );
        assert_eq!(bare.status, Status::Fail);
        let client = json!({"name": "x", "authentication_protocol": "oidc", "role_ids": []});
        let odd = shape("client", "GET …/clients/x", Expected::CLIENT, &client);
        assert_eq!(odd.status, Status::Warn);
        assert!(
            odd.detail.contains("role_ids: upstream never returns it"),
            "{}",
            odd.detail
        );
    }

    #[test]
    fn token_claims_are_reported() {
        let claims =
            json!({"roles": ["Admin"], "ts_permissions": ["apps:list", "apps:read"], "iat": 1000})
                .as_object()
                .unwrap()
                .clone();
        let checks = token(Some(&claims), Some(3600), 1000);
        assert!(checks.iter().any(|c| c.name == "permissions"
            && c.status == Status::Warn
            && c.detail.contains("apps:create")));
        assert!(checks.iter().all(|c| c.status != Status::Fail));
        let skewed = token(Some(&claims), Some(3600), 5000);
        assert!(skewed
            .iter()
            .any(|c| c.name == "clock" && c.status == Status::Warn));
        let report = Report {
            target: "t".into(),
            checks: vec![request_failed("x", Operation::Delete, 403, "no")],
        };
        assert!(!report.safe());
        assert!(report.render_text().contains("fail  x"));
    }

    #[test]
    fn jwt_payload_is_read() {
        use base64::Engine as _;
        let payload =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"roles":["Admin"]}"#);
        let claims = crate::targets::http::jwt_claims(&format!("h.{payload}.s")).unwrap();
        assert_eq!(claims["roles"], json!(["Admin"]));
        assert!(crate::targets::http::jwt_claims("opaque").is_none());
    }

    fn claims(iat: i64, exp: i64) -> Map<String, Value> {
        json!({"iat": iat, "exp": exp}).as_object().unwrap().clone()
    }

    #[test]
    fn token_lifetimes_name_the_factor() {
        let ok = token_lifetime(300, Some(&claims(1000, 1300)), Some(300));
        assert_eq!(ok.status, Status::Ok, "{}", ok.detail);
        let minutes = token_lifetime(300, Some(&claims(1000, 19000)), Some(18000));
        assert_eq!(minutes.status, Status::Fail);
        assert!(
            minutes
                .detail
                .starts_with("×60: upstream reads token lifetimes as minutes"),
            "{}",
            minutes.detail
        );
        let capped = token_lifetime(300, None, Some(3600));
        assert_eq!(capped.status, Status::Fail);
        assert!(
            capped.detail.starts_with("×12: upstream does not apply"),
            "{}",
            capped.detail
        );
        let short = token_lifetime(300, None, Some(5));
        assert!(short.detail.starts_with("÷60"), "{}", short.detail);
        // The JWT's own claims win over expires_in, and a disagreement is told.
        let lying = token_lifetime(300, Some(&claims(1000, 1300)), Some(18000));
        assert_eq!(lying.status, Status::Ok);
        assert!(
            lying.detail.contains("expires_in says 18000s"),
            "{}",
            lying.detail
        );
        assert_eq!(token_lifetime(300, None, None).status, Status::Warn);
    }

    #[test]
    fn a_nested_update_compares_only_what_was_sent() {
        let sent = json!({"access_token_ttl": 600});
        let sent = sent.as_object().unwrap();
        let before = json!({"access_token_ttl": 300, "refresh_token_ttl": 3600});
        let replaced = nested_update(
            "token_expiration",
            sent,
            &before,
            &json!({"access_token_ttl": 600}),
        );
        assert_eq!(replaced.status, Status::Ok);
        // Sub-fields filled in with defaults are not a merge.
        let filled =
            json!({"access_token_ttl": 600, "refresh_token_ttl": 0, "max_refresh_rotate": 0});
        assert_eq!(
            nested_update("token_expiration", sent, &before, &filled).status,
            Status::Ok
        );
        let merged = json!({"access_token_ttl": 600, "refresh_token_ttl": 3600});
        let check = nested_update("token_expiration", sent, &before, &merged);
        assert_eq!(check.status, Status::Warn);
        assert!(
            check.detail.contains("refresh_token_ttl still 3600"),
            "{}",
            check.detail
        );
        let ignored = nested_update("token_expiration", sent, &before, &before);
        assert!(
            ignored
                .detail
                .contains("access_token_ttl sent 600, reads 300"),
            "{}",
            ignored.detail
        );
    }

    /// The "**Required permissions**" of `method path` in a kind's upstream document, without
    /// the app-scoped forms.
    fn documented(kind: ObjKind, method: &str, path: &str) -> Vec<String> {
        let file = kind.spec().upstream.document;
        let text = std::fs::read_to_string(format!(
            "{}/tests/fixtures/upstream/{file}.openapi.2025.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        let doc: Value = serde_json::from_str(&text).unwrap();
        // Upstream names path parameters its own way (`{appId}`, `{resourceId}`).
        let shape = |p: &str| -> Vec<String> {
            p.split('/')
                .map(|s| {
                    if s.starts_with('{') {
                        "{}".to_owned()
                    } else {
                        s.to_owned()
                    }
                })
                .collect()
        };
        let (_, op) = doc["paths"]
            .as_object()
            .unwrap()
            .iter()
            .find(|(p, _)| shape(p) == shape(path))
            .unwrap_or_else(|| panic!("{kind}: no {path} upstream"));
        let description = op[method]["description"].as_str().unwrap_or_default();
        let (_, after) = description
            .split_once("Required permissions")
            .unwrap_or_else(|| panic!("{kind}: {method} {path} documents no permissions"));
        after
            .lines()
            .next()
            .unwrap()
            .split('`')
            .skip(1)
            .step_by(2)
            .filter(|p| !p.starts_with('['))
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn kind_permissions_are_upstreams() {
        for p in KIND_PERMISSIONS {
            let spec = p.kind.spec();
            let as_strings = |l: &[&str]| l.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
            assert_eq!(
                as_strings(p.read),
                documented(p.kind, "get", spec.api.collection),
                "{}: read",
                p.kind
            );
            assert!(p.read.contains(&spec.read_permission), "{}", p.kind);
            let writes = [
                (spec.api.create, "post", spec.api.collection, p.create),
                (true, "put", spec.api.item, p.edit),
                (spec.api.delete, "delete", spec.api.item, p.delete),
            ];
            for (exists, method, path, ours) in writes {
                if exists {
                    assert_eq!(
                        as_strings(ours),
                        documented(p.kind, method, path),
                        "{}: {method}",
                        p.kind
                    );
                } else {
                    assert!(ours.is_empty(), "{}: {method} is not an operation", p.kind);
                }
            }
        }
    }

    #[test]
    fn a_token_without_a_kinds_permissions_is_told_what_to_grant() {
        let apps_only = [
            "apps:list",
            "apps:read",
            "apps:create",
            "apps:edit",
            "apps:delete",
        ];
        let check = kind_permissions(&apps_only);
        assert_eq!(check.status, Status::Warn);
        assert!(
            check.detail.contains(
                "Role read (`roles:read`), create (`roles:create`), edit (`roles:edit`), delete (`roles:delete`)"
            ),
            "{}",
            check.detail
        );
        // Resources accept the apps permissions for writes, not for the list.
        assert!(
            check.detail.contains("Resource read (`resources:list`);"),
            "{}",
            check.detail
        );
        // Service providers and login preferences need nothing more than apps:*.
        assert!(
            !check.detail.contains("ServiceProvider") && !check.detail.contains("LoginPreferences")
        );
        let all = [
            "apps:read",
            "apps:edit",
            "apps:create",
            "apps:delete",
            "resources:read",
            "roles:read",
            "roles:create",
            "roles:edit",
            "roles:delete",
        ];
        assert_eq!(kind_permissions(&all).status, Status::Ok);
        // The check is part of what a token's claims tell.
        let claims = json!({"roles": ["Admin"], "ts_permissions": apps_only})
            .as_object()
            .unwrap()
            .clone();
        assert!(token(Some(&claims), None, 0)
            .iter()
            .any(|c| c.name == "kind permissions" && c.status == Status::Warn));
    }

    #[test]
    fn a_kinds_read_is_judged_by_status_and_shape() {
        let what = "GET /v1/resources";
        let good = json!({"result": [{"resource_id": "r", "tenant_id": "t", "name": "P", "uri": "u",
            "access_token_ttl": 1, "refresh_token_ttl": 0, "max_refresh_rotate": 0,
            "created_at": "c", "updated_at": "u"}]});
        let ok = kind_read(ObjKind::Resource, what, 200, "", &good);
        assert_eq!(ok.status, Status::Ok, "{}", ok.detail);
        assert!(ok.detail.contains("1 item(s)"));
        let mut sparse = good;
        sparse["result"][0].as_object_mut().unwrap().remove("uri");
        let odd = kind_read(ObjKind::Resource, what, 200, "", &sparse);
        assert_eq!(odd.status, Status::Warn);
        assert!(odd.detail.contains("`uri` missing"), "{}", odd.detail);
        let refused = kind_read(
            ObjKind::Role,
            "GET /v1/applications/a/roles",
            403,
            "no",
            &Value::Null,
        );
        assert_eq!(
            refused.status,
            Status::Warn,
            "a kind the manifests may not use"
        );
        assert!(
            refused.detail.contains("`roles:read`"),
            "{}",
            refused.detail
        );
        assert!(refused.fix.as_deref().unwrap().contains("`roles:list`"));
        let unserved = kind_read(
            ObjKind::ServiceProvider,
            "GET /v1/serviceprovider/saml2",
            404,
            "",
            &Value::Null,
        );
        assert!(
            unserved
                .detail
                .contains("does not serve SAML service providers"),
            "{}",
            unserved.detail
        );
        // A singleton: its one object, or none.
        let lp = json!({"result": {"auth_methods": {"email": {}}}});
        let one = kind_read(
            ObjKind::LoginPreferences,
            "GET /loginPreferences/a",
            200,
            "",
            &lp,
        );
        assert_eq!(
            (one.status, one.detail.contains("1 item(s)")),
            (Status::Ok, true)
        );
        let bare = kind_read(
            ObjKind::LoginPreferences,
            "GET /loginPreferences/a",
            200,
            "",
            &json!({"auth_methods": {}}),
        );
        assert_eq!(bare.status, Status::Warn);
    }
}
