//! The rules: one entry each in [`RULES`], with its check. Effective values are read as the API
//! would apply them: a field the manifest leaves out counts as its documented default (from the
//! field catalogue), so a client that never mentions `response_types` is judged by upstream's
//! default.

use serde::Deserialize;
use serde_json::Value;

use super::{Check, Hit, Rule, Severity, Subject};
use crate::model::catalogue::Object;
use crate::model::kinds::{AnyKind, ObjKind, Shape};
use crate::model::FieldPath;

/// Thresholds a policy file may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// TS007: access-token lifetime above this (seconds) is medium.
    pub access_token_ttl_medium: u64,
    /// TS008: access-token lifetime above this (seconds) is high.
    pub access_token_ttl_high: u64,
    /// TS009: refresh-token lifetime of native clients above this (seconds).
    pub native_refresh_token_ttl: u64,
    /// TS015: a Resource's `access_token_ttl` above this (seconds).
    pub resource_access_token_ttl: u64,
    /// TS015: a Resource's `refresh_token_ttl` above this (seconds).
    pub resource_refresh_token_ttl: u64,
    /// TS015: a Resource's `max_refresh_rotate` (the absolute lifetime of its refresh tokens)
    /// above this (seconds).
    pub resource_max_refresh_rotate: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            access_token_ttl_medium: 3_600,
            access_token_ttl_high: 86_400,
            native_refresh_token_ttl: 90 * 86_400,
            resource_access_token_ttl: 3_600,
            resource_refresh_token_ttl: 30 * 86_400,
            resource_max_refresh_rotate: 90 * 86_400,
        }
    }
}

const FAPI2: &str = "https://openid.net/specs/fapi-security-profile-2_0-final.html";

/// Every rule, in id order.
pub static RULES: &[Rule] = &[
    Rule {
        id: "TS001",
        severity: Severity::High,
        title: "native client without PKCE enforcement",
        rationale: "A native app cannot keep a secret; without PKCE an intercepted authorization code can be redeemed by another app.",
        reference: "https://www.rfc-editor.org/rfc/rfc8252#section-8.1",
        applies_to: CLIENTS,
        check: Check(native_without_pkce),
    },
    Rule {
        id: "TS002",
        severity: Severity::High,
        title: "native client with a confidential token-endpoint auth method",
        rationale: "A secret shipped inside a mobile or desktop app is extractable; native clients are public clients (`token_endpoint_auth_method: none`) with PKCE.",
        reference: "https://www.rfc-editor.org/rfc/rfc8252#section-8.5",
        applies_to: CLIENTS,
        check: Check(native_confidential),
    },
    Rule {
        id: "TS003",
        severity: Severity::Medium,
        title: "custom-scheme redirect URI not in reverse-domain notation",
        rationale: "Private-use URI schemes should be a reverse domain name the publisher controls (com.example.app:/cb) so two apps do not claim the same scheme.",
        reference: "https://www.rfc-editor.org/rfc/rfc8252#section-7.1",
        applies_to: CLIENTS,
        check: Check(custom_scheme_not_reverse_domain),
    },
    Rule {
        id: "TS004",
        severity: Severity::Low,
        title: "loopback redirect URI spelled `localhost`",
        rationale: "`localhost` may resolve elsewhere or be blocked by firewalls; loopback redirects should use the IP literal 127.0.0.1 or [::1].",
        reference: "https://www.rfc-editor.org/rfc/rfc8252#section-8.3",
        applies_to: CLIENTS,
        check: Check(loopback_named_localhost),
    },
    Rule {
        id: "TS005",
        severity: Severity::High,
        title: "loopback redirect URI in a production application",
        rationale: "In production a loopback redirect sends codes to whatever listens on the user's machine; labelled `environment: production`, an app should redirect only to its own hosts.",
        reference: "https://www.rfc-editor.org/rfc/rfc9700#section-2.1",
        applies_to: CLIENTS,
        check: Check(loopback_in_production),
    },
    Rule {
        id: "TS006",
        severity: Severity::Medium,
        title: "`response_types` includes `id_token` (front-channel tokens)",
        rationale: "Tokens in the front channel leak through browser history, referrers and logs; the authorization code flow alone is recommended (the API's default also allows `id_token`).",
        reference: "https://www.rfc-editor.org/rfc/rfc9700#section-2.1.2",
        applies_to: CLIENTS,
        check: Check(front_channel_id_token),
    },
    Rule {
        id: "TS007",
        severity: Severity::Medium,
        title: "access-token lifetime above 1 hour",
        rationale: "A stolen bearer access token works until it expires; keep access tokens short-lived and use refresh tokens.",
        reference: "https://www.rfc-editor.org/rfc/rfc9700#section-2.2",
        applies_to: CLIENTS,
        check: Check(access_token_over_medium),
    },
    Rule {
        id: "TS008",
        severity: Severity::High,
        title: "access-token lifetime above 1 day",
        rationale: "An access token valid for days is a long-lived credential in every place it was logged or cached.",
        reference: "https://www.rfc-editor.org/rfc/rfc9700#section-2.2",
        applies_to: CLIENTS,
        check: Check(access_token_over_high),
    },
    Rule {
        id: "TS009",
        severity: Severity::Medium,
        title: "native client refresh-token lifetime above 90 days",
        rationale: "Refresh tokens of public clients should be bounded in lifetime (and rotated); a device compromise should not grant months of access.",
        reference: "https://www.rfc-editor.org/rfc/rfc9700#section-4.14.2",
        applies_to: CLIENTS,
        check: Check(native_refresh_too_long),
    },
    Rule {
        id: "TS010",
        severity: Severity::High,
        title: "FAPI client without pushed authorization requests",
        rationale: "FAPI 2.0 requires PAR, so authorization parameters cannot be tampered with in the front channel.",
        reference: FAPI2,
        applies_to: CLIENTS,
        check: Check(fapi_without_par),
    },
    Rule {
        id: "TS011",
        severity: Severity::High,
        title: "FAPI client without a sender-constrained auth method",
        rationale: "FAPI 2.0 requires private_key_jwt or mutual-TLS client authentication; shared secrets do not meet it.",
        reference: FAPI2,
        applies_to: CLIENTS,
        check: Check(fapi_without_strong_auth),
    },
    Rule {
        id: "TS012",
        severity: Severity::High,
        title: "SAML client with unsigned assertions",
        rationale: "An unsigned assertion can be forged or altered on its way to the service provider; sign assertions (`sign_assertion: true`).",
        reference: "https://cheatsheetseries.owasp.org/cheatsheets/SAML_Security_Cheat_Sheet.html",
        applies_to: CLIENTS,
        check: Check(saml_unsigned),
    },
    Rule {
        id: "TS013",
        severity: Severity::Medium,
        title: "session cookies with `SameSite=None`",
        rationale: "`SameSite=None` sends the login session cookie on cross-site requests, re-opening CSRF; `lax` (the default) or `strict` is safer.",
        reference: "https://datatracker.ietf.org/doc/html/draft-ietf-httpbis-rfc6265bis#section-8.8",
        applies_to: CLIENTS,
        check: Check(samesite_none),
    },
    Rule {
        id: "TS014",
        severity: Severity::Medium,
        title: "first-party OIDC client without `role_ids` (implicit global management access)",
        rationale: "Upstream gives a client with no roles an implicit role with global access to the management APIs: whoever holds its credentials can change the tenant. Assign the roles it needs (`role_ids`, Role documents of its application), or mark a partner's client `is_third_party: true`. Public clients (`token_endpoint_auth_method: none`) cannot get tokens of their own and are not reported.",
        reference: "https://developer.transmitsecurity.com/guides/user/manage_client_roles/",
        applies_to: CLIENTS,
        check: Check(first_party_without_roles),
    },
    Rule {
        id: "TS015",
        severity: Severity::Medium,
        title: "Resource token lifetimes above the policy limits",
        rationale: "A resource's lifetimes apply to every token issued for it: long-lived access tokens and refresh tokens are long-lived credentials wherever they leak. The limits are `limits.resource_*` in the policy file.",
        reference: "https://www.rfc-editor.org/rfc/rfc9700#section-2.2",
        applies_to: &[AnyKind::Described(ObjKind::Resource)],
        check: Check(resource_lifetimes),
    },
    Rule {
        id: "TS016",
        severity: Severity::High,
        title: "push credential written in the manifest",
        rationale: "The APN private key and the FCM service-account key of login preferences' `push` sign notifications for the app: written in the manifest, they are in git and in tenantsync's state in clear. Read the APN `key`, and the FCM key's `private_key`, with `${env:…}` or `${file:…}`.",
        reference: "https://developer.transmitsecurity.com/openapi/user/login-preferences/",
        applies_to: &[AnyKind::Described(ObjKind::LoginPreferences)],
        check: Check(push_credentials_written),
    },
];

/// What the client rules look at: clients, of every protocol.
const CLIENTS: &[AnyKind] = &[AnyKind::Client];

fn field<'a>(s: &'a Subject<'_>, name: &str) -> Option<&'a Value> {
    s.object.spec.get(name)
}

fn text<'a>(s: &'a Subject<'_>, name: &str) -> Option<&'a str> {
    field(s, name).and_then(Value::as_str)
}

fn oidc(s: &Subject<'_>) -> bool {
    s.object.shape() == Shape::Catalogue(Object::OidcClient)
}

fn native(s: &Subject<'_>) -> bool {
    oidc(s) && text(s, "client_type") == Some("native")
}

fn path(field: &str) -> FieldPath {
    FieldPath::root().key(field)
}

fn hit(path: FieldPath, message: impl Into<String>) -> Vec<Hit> {
    vec![Hit {
        path,
        message: message.into(),
    }]
}

/// What a client that leaves the field out gets (the request default), from the catalogue.
fn default_of(name: &str) -> Option<Value> {
    Object::OidcClient
        .field(name)
        .and_then(|f| f.request_default_value())
}

/// Whether the client redirects (uses the authorization endpoint at all); a device-flow or
/// backend client has no redirect URI.
fn redirects(s: &Subject<'_>) -> bool {
    redirect_uris(s).next().is_some()
}

fn native_without_pkce(s: &Subject<'_>, _: &Limits) -> Vec<Hit> {
    if !native(s) || !redirects(s) {
        return Vec::new();
    }
    match text(s, "pkce") {
        None => hit(
            FieldPath::root(),
            "native client does not set `pkce`; set `pkce: enforcePkceInsteadOfClientCredentials`",
        ),
        Some(mode @ "allowPkceAlongsideClientCredentials") => hit(
            path("pkce"),
            format!(
                "`pkce: {mode}` lets a client skip PKCE; use enforcePkceInsteadOfClientCredentials"
            ),
        ),
        Some(_) => Vec::new(),
    }
}

/// The auth method the API applies, and where the manifest says so (if it does).
fn auth_method(s: &Subject<'_>) -> (String, Option<FieldPath>) {
    if let Some(m) = field(s, "authentication_configuration")
        .and_then(|c| c.get("method"))
        .and_then(Value::as_str)
    {
        let p = path("authentication_configuration").key("method");
        return (m.to_owned(), Some(p));
    }
    match text(s, "token_endpoint_auth_method") {
        Some(m) => (m.to_owned(), Some(path("token_endpoint_auth_method"))),
        None => {
            let default = default_of("token_endpoint_auth_method");
            let m = default
                .as_ref()
                .and_then(Value::as_str)
                .unwrap_or("client_secret_basic");
            (m.to_owned(), None)
        }
    }
}

fn native_confidential(s: &Subject<'_>, _: &Limits) -> Vec<Hit> {
    if !native(s) {
        return Vec::new();
    }
    match auth_method(s) {
        (m, _) if m == "none" => Vec::new(),
        (m, Some(p)) => hit(p, format!("native client authenticates with `{m}`; use `token_endpoint_auth_method: none` with PKCE")),
        (m, None) => hit(
            FieldPath::root(),
            format!("native client authenticates with `{m}` (the API's default); set `token_endpoint_auth_method: none`"),
        ),
    }
}

/// The redirect URIs, each with its path.
fn redirect_uris<'a>(s: &'a Subject<'_>) -> impl Iterator<Item = (FieldPath, &'a str)> {
    field(s, "redirect_uris")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
        .filter_map(|(i, v)| Some((path("redirect_uris").index(i), v.as_str()?)))
}

fn scheme(uri: &str) -> Option<&str> {
    let (scheme, _) = uri.split_once(':')?;
    let valid = !scheme.is_empty()
        && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    valid.then_some(scheme)
}

/// The host of an http(s) URI.
fn host(uri: &str) -> Option<&str> {
    let rest = uri.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if host_port.starts_with('[') {
        return host_port.find(']').map(|end| &host_port[..=end]);
    }
    host_port.split(':').next()
}

/// Whether a private-use scheme is a domain name in reverse order: reversed, it must have a
/// registrable domain under a public suffix (`com.example.app` → `app.example.com`). The
/// validator already requires a dot; this also catches `myapp.auth` or `co.uk`.
fn reverse_domain(scheme: &str) -> bool {
    let domain = scheme
        .split('.')
        .rev()
        .collect::<Vec<_>>()
        .join(".")
        .to_ascii_lowercase();
    psl::suffix(domain.as_bytes()).is_some_and(|s| s.is_known())
        && psl::domain(domain.as_bytes()).is_some()
}

fn custom_scheme_not_reverse_domain(s: &Subject<'_>, _: &Limits) -> Vec<Hit> {
    redirect_uris(s)
        .filter_map(|(p, uri)| {
            let scheme = scheme(uri)?;
            let web = matches!(scheme.to_ascii_lowercase().as_str(), "http" | "https");
            (!web && !reverse_domain(scheme)).then(|| Hit {
                path: p,
                message: format!("`{uri}`: the scheme `{scheme}` is not a domain name in reverse order; use one you control (com.example.app:/callback)"),
            })
        })
        .collect()
}

fn loopback_named_localhost(s: &Subject<'_>, _: &Limits) -> Vec<Hit> {
    redirect_uris(s)
        .filter(|(_, uri)| host(uri).is_some_and(|h| h.eq_ignore_ascii_case("localhost")))
        .map(|(p, uri)| Hit {
            path: p,
            message: format!("`{uri}` names `localhost`; use http://127.0.0.1 (or [::1]) with a port chosen at run time"),
        })
        .collect()
}

fn loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost") || host.starts_with("127.") || host == "[::1]"
}

fn loopback_in_production(s: &Subject<'_>, _: &Limits) -> Vec<Hit> {
    let labels = s.application.map(|a| &a.source.labels);
    if labels
        .and_then(|l| l.get("environment"))
        .map(String::as_str)
        != Some("production")
    {
        return Vec::new();
    }
    redirect_uris(s)
        .filter(|(_, uri)| host(uri).is_some_and(loopback))
        .map(|(p, uri)| Hit {
            path: p,
            message: format!(
                "`{uri}` is a loopback address in an application labelled environment: production"
            ),
        })
        .collect()
}

fn front_channel_id_token(s: &Subject<'_>, _: &Limits) -> Vec<Hit> {
    if !oidc(s) || !redirects(s) {
        return Vec::new();
    }
    let (types, p) = match field(s, "response_types") {
        Some(v) => (v.clone(), Some(path("response_types"))),
        None => (default_of("response_types").unwrap_or(Value::Null), None),
    };
    let has_id_token = types
        .as_array()
        .is_some_and(|t| t.iter().any(|v| v == "id_token"));
    match (has_id_token, p) {
        (false, _) => Vec::new(),
        (true, Some(p)) => hit(p, "`response_types` includes `id_token`; use `[code]`"),
        (true, None) => hit(
            FieldPath::root(),
            "`response_types` is not set and the API's default is [code, id_token]; set `response_types: [code]`",
        ),
    }
}

fn ttl(s: &Subject<'_>, name: &str) -> Option<(u64, FieldPath)> {
    let value = field(s, "token_expiration")?.get(name)?.as_u64()?;
    Some((value, path("token_expiration").key(name)))
}

fn human(seconds: u64) -> String {
    match seconds {
        s if s % 86_400 == 0 => format!("{} days", s / 86_400),
        s if s % 3_600 == 0 => format!("{} hours", s / 3_600),
        s => format!("{s} seconds"),
    }
}

/// An access-token lifetime above `above` (and at most `up_to`).
fn access_token_over(s: &Subject<'_>, above: u64, up_to: u64) -> Vec<Hit> {
    match ttl(s, "access_token_ttl") {
        Some((v, p)) if v > above && v <= up_to => hit(
            p,
            format!("access tokens live {} (limit {})", human(v), human(above)),
        ),
        _ => Vec::new(),
    }
}

fn access_token_over_medium(s: &Subject<'_>, limits: &Limits) -> Vec<Hit> {
    access_token_over(
        s,
        limits.access_token_ttl_medium,
        limits.access_token_ttl_high,
    )
}

fn access_token_over_high(s: &Subject<'_>, limits: &Limits) -> Vec<Hit> {
    access_token_over(s, limits.access_token_ttl_high, u64::MAX)
}

fn native_refresh_too_long(s: &Subject<'_>, limits: &Limits) -> Vec<Hit> {
    match ttl(s, "refresh_token_ttl") {
        Some((v, p)) if native(s) && v > limits.native_refresh_token_ttl => hit(
            p,
            format!(
                "refresh tokens of this native client live {} (limit {})",
                human(v),
                human(limits.native_refresh_token_ttl)
            ),
        ),
        _ => Vec::new(),
    }
}

fn fapi(s: &Subject<'_>) -> bool {
    oidc(s) && field(s, "fapi_version_compliancy") == Some(&Value::Bool(true))
}

fn fapi_without_par(s: &Subject<'_>, _: &Limits) -> Vec<Hit> {
    if !fapi(s) || field(s, "enforce_par") == Some(&Value::Bool(true)) {
        return Vec::new();
    }
    let p = if field(s, "enforce_par").is_some() {
        path("enforce_par")
    } else {
        path("fapi_version_compliancy")
    };
    hit(
        p,
        "a FAPI client must require pushed authorization requests: set `enforce_par: true`",
    )
}

fn fapi_without_strong_auth(s: &Subject<'_>, _: &Limits) -> Vec<Hit> {
    if !fapi(s) {
        return Vec::new();
    }
    let (m, p) = auth_method(s);
    if matches!(
        m.as_str(),
        "private_key_jwt" | "tls_client_auth" | "self_signed_tls_client_auth"
    ) {
        return Vec::new();
    }
    hit(
        p.unwrap_or_else(|| path("fapi_version_compliancy")),
        format!("a FAPI client authenticates with `{m}`; use private_key_jwt, tls_client_auth or self_signed_tls_client_auth"),
    )
}

fn saml_unsigned(s: &Subject<'_>, _: &Limits) -> Vec<Hit> {
    if s.object.shape() != Shape::Catalogue(Object::SamlClient) {
        return Vec::new();
    }
    match field(s, "sign_assertion") {
        Some(Value::Bool(true)) => Vec::new(),
        Some(_) => hit(
            path("sign_assertion"),
            "assertions are not signed; set `sign_assertion: true`",
        ),
        None => hit(
            FieldPath::root(),
            "`sign_assertion` is not set (the API answers false); set `sign_assertion: true`",
        ),
    }
}

fn samesite_none(s: &Subject<'_>, _: &Limits) -> Vec<Hit> {
    match text(s, "short_cookies_samesite_type") {
        Some(v) if v.eq_ignore_ascii_case("none") => hit(
            path("short_cookies_samesite_type"),
            "session cookies are sent cross-site (`SameSite=None`); use `lax` or `strict`",
        ),
        _ => Vec::new(),
    }
}

/// The implicit role applies to the tokens a client gets with its own credentials (the client
/// credentials grant), which only a client that authenticates can get: a public client
/// (`token_endpoint_auth_method: none`) is not reported.
fn first_party_without_roles(s: &Subject<'_>, _: &Limits) -> Vec<Hit> {
    let third_party = field(s, "is_third_party") == Some(&Value::Bool(true));
    if !oidc(s) || third_party || auth_method(s).0 == "none" {
        return Vec::new();
    }
    // Roles by name wait in `refs`; roles written only as `{id: …}` are in the spec already.
    let count = match (s.object.refs.get("role_ids"), field(s, "role_ids")) {
        (Some(roles), _) => Some(roles.len()),
        (None, Some(Value::Array(ids))) => Some(ids.len()),
        (None, _) => None,
    };
    match count {
        Some(n) if n > 0 => Vec::new(),
        Some(_) => hit(
            path("role_ids"),
            "`role_ids` is empty, so the client's own tokens get global management API access; name the Role documents it needs",
        ),
        None => hit(
            FieldPath::root(),
            "no `role_ids`, so the client's own tokens get global management API access; name the Role documents it needs, or set `is_third_party: true` for a partner's client",
        ),
    }
}

/// Each of a Resource's lifetimes above its limit, at the field.
fn resource_lifetimes(s: &Subject<'_>, limits: &Limits) -> Vec<Hit> {
    let object = &s.object;
    [
        (
            "access_token_ttl",
            "access tokens live",
            limits.resource_access_token_ttl,
        ),
        (
            "refresh_token_ttl",
            "refresh tokens live",
            limits.resource_refresh_token_ttl,
        ),
        (
            "max_refresh_rotate",
            "refresh tokens may be rotated for",
            limits.resource_max_refresh_rotate,
        ),
    ]
    .into_iter()
    .filter_map(|(name, what, limit)| {
        let value = object.spec.get(name)?.as_f64()?;
        (value > limit as f64).then(|| {
            let shown = if value.fract() == 0.0 && value >= 0.0 {
                human(value as u64)
            } else {
                format!("{value} seconds")
            };
            Hit {
                path: path(name),
                message: format!(
                    "{what} {shown} (limit {}, `limits.resource_{name}`)",
                    human(limit)
                ),
            }
        })
    })
    .collect()
}

/// TS016: the secret parts of a LoginPreferences' push credentials written as they are, not
/// read by interpolation: the APN `key`, and the FCM `key`'s `private_key` (the whole key
/// where it is a string).
fn push_credentials_written(s: &Subject<'_>, _: &Limits) -> Vec<Hit> {
    let object = &s.object;
    // Read by interpolation (the keys are sensitive wherever they come from: that they are is
    // no sign they are kept out of git).
    let read = |p: &FieldPath| {
        object
            .rules
            .masked
            .iter()
            .any(|m| p.starts_with(m) || m.starts_with(p))
    };
    let mut out = Vec::new();
    for (provider, what) in [
        ("apn", "APN private key"),
        ("fcm", "FCM service-account key"),
    ] {
        let key = path("push").key(provider).key("key");
        let secret = match object
            .spec
            .get("push")
            .and_then(|p| p.get(provider))
            .and_then(|p| p.get("key"))
        {
            Some(Value::Object(members)) if members.contains_key("private_key") => {
                key.key("private_key")
            }
            Some(Value::Object(_)) | None => continue,
            Some(_) => key,
        };
        if !read(&secret) {
            out.extend(hit(
                secret.clone(),
                format!("the {what} (`{secret}`) is written in the manifest; read it with `${{env:…}}` or `${{file:…}}`"),
            ));
        }
    }
    out
}
