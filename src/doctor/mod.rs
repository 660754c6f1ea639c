//! What `tenantsync doctor` concludes (pure): one check per line, `ok` / `warn` / `fail` with what
//! to do, from the token, the responses and the headers that the command's edge
//! (`commands::doctor`) collected. Response shapes are judged against the field catalogue, i.e.
//! against what upstream's response schemas promise.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::model::catalogue::{self, Object};
use crate::model::kinds::{AnyKind, APPLICATION};
use crate::model::AuthenticationProtocol;

mod kinds;
#[cfg(test)]
mod tests;

pub use kinds::{kind_permissions, kind_read, missing_permissions};

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
    /// The permission to grant for it, from the application's description: the first upstream
    /// documents for the operation (for a read, the one that both lists and reads one).
    pub fn permission(self) -> &'static str {
        let p = &APPLICATION.permissions;
        let first = |any: &[&'static str]| any.first().copied().unwrap_or_default();
        match self {
            Operation::ListApps | Operation::Read => APPLICATION.read_permission,
            Operation::CreateApp => first(p.create),
            Operation::Edit => first(p.edit),
            Operation::Delete => first(p.delete),
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
    Object::client(AuthenticationProtocol::of(map))
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
        out.push(app_permissions(&permissions));
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

/// What the token's permissions allow of applications and clients, by their descriptions (the
/// permissions upstream documents for each operation, any one of which suffices): every
/// operation's, or a warning naming what to grant for those it lacks.
fn app_permissions(granted: &[&str]) -> Check {
    const NAME: &str = "permissions";
    let (mut reads, mut writes) = (Vec::new(), Vec::new());
    for kind in [AnyKind::Application, AnyKind::Client] {
        for (op, grant) in missing_permissions(kind, granted) {
            let list = if op == "read" {
                &mut reads
            } else {
                &mut writes
            };
            if !list.contains(&grant) {
                list.push(grant);
            }
        }
    }
    if reads.is_empty() && writes.is_empty() {
        return Check::ok(NAME, "applications and clients: read and write");
    }
    let lacks: Vec<&str> = reads.iter().chain(&writes).copied().collect();
    let fix = if reads.is_empty() {
        "enough for plan; apply needs the rest"
    } else {
        "plan needs the reads, apply the rest"
    };
    Check::warn(
        NAME,
        format!("the token lacks {}", lacks.join(", ")),
        format!("grant the management client {}: {fix}", lacks.join(", ")),
    )
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
