//! `tenantsync doctor`: the requests that check a target (token, list, read, one read of each
//! described kind's collection, idempotency advertisement, rate-limit headers, and with
//! `--write` a throwaway app created, updated and deleted). What each answer means is decided
//! by the pure `crate::doctor`.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use rand::RngCore;
use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::{json, Value};

use super::common::{http_credentials, RequestSummary};
use crate::cli::{DoctorArgs, GlobalArgs, OutputFormat};
use crate::doctor::{self, Check, Expected, Operation, Report};
use crate::model::kinds::ObjKind;
use crate::targets::http::{advertises_idempotency, jwt_claims, request_token, Credentials};
use crate::targets::usage::{ApiMethod, ApiUsage, RequestOutcome};

struct Answer {
    status: u16,
    headers: HeaderMap,
    body: Value,
    text: String,
}

impl Answer {
    fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The error message of a failed answer (never more than a line).
    fn message(&self) -> String {
        let message = match self.body.get("message") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join("; "),
            _ => self.text.chars().take(200).collect(),
        };
        message.lines().next().unwrap_or_default().to_owned()
    }
}

/// One request doctor checks: its name in the report, the permission it needs, and what its
/// answer should be.
#[derive(Clone, Copy)]
struct Step {
    name: &'static str,
    operation: Operation,
    expected: Expected,
}

const fn step(name: &'static str, operation: Operation, expected: Expected) -> Step {
    Step {
        name,
        operation,
        expected,
    }
}

const LIST_APPS: Step = step("list applications", Operation::ListApps, Expected::APP_LIST);
const READ_APP: Step = step("read application", Operation::Read, Expected::APP);
const READ_CLIENTS: Step = step("read clients", Operation::Read, Expected::CLIENT_LIST);
const CREATE_APP: Step = step("create application", Operation::CreateApp, Expected::APP);
const CREATE_CLIENT: Step = step("create client", Operation::Edit, Expected::CLIENT);

/// Records the check of one answer: its failure, or how its body compares with upstream's
/// response schema. False when the request failed.
fn answered(report: &mut Report, step: &Step, what: &str, answer: &Answer) -> bool {
    let Step {
        name,
        operation,
        expected,
    } = *step;
    if !answer.ok() {
        let failed = doctor::request_failed(name, operation, answer.status, &answer.message());
        report.checks.push(failed);
        return false;
    }
    report
        .checks
        .push(doctor::shape(name, what, expected, &answer.body));
    true
}

struct Probe {
    http: reqwest::Client,
    base: String,
    origin: String,
    token: String,
    /// Every API request doctor sends, as a target counts them.
    usage: std::sync::Arc<ApiUsage>,
}

impl Probe {
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Answer> {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            request = request.json(b);
        }
        if method == Method::POST {
            request = request.header("Idempotency-Key", random_hex("tenantsync-doctor-"));
        }
        let counted = ApiMethod::of(method.as_str());
        let response = request.send().await.map_err(|e| {
            self.usage.record(counted, RequestOutcome::Transport);
            anyhow::anyhow!("{method} {path}: {}", e.without_url())
        })?;
        let status = response.status().as_u16();
        self.usage
            .record(counted, RequestOutcome::of_status(status));
        let headers = response.headers().clone();
        let text = response.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Ok(Answer {
            status,
            headers,
            body,
            text,
        })
    }
}

fn random_hex(prefix: &str) -> String {
    let mut bytes = [0u8; 4];
    rand::thread_rng().fill_bytes(&mut bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{prefix}{hex}")
}

fn rate_limit_headers(headers: &HeaderMap) -> Vec<String> {
    headers
        .iter()
        .filter(|(name, _)| {
            let n = name.as_str();
            n.starts_with("x-ratelimit") || n.starts_with("ratelimit") || n == "retry-after"
        })
        .map(|(name, value)| format!("{name}: {}", value.to_str().unwrap_or("?")))
        .collect()
}

/// Runs the checks.
pub async fn run(global: &GlobalArgs, args: &DoctorArgs) -> anyhow::Result<ExitCode> {
    let spec = global.target.trim();
    let mut report = Report {
        target: crate::targets::http::display_url(spec),
        checks: Vec::new(),
    };
    if !(spec.starts_with("http://") || spec.starts_with("https://")) {
        report.checks.push(Check::ok(
            "target",
            "the embedded tenant is this build's own implementation of the API: nothing to check",
        ));
        return finish(&report, args);
    }
    let base = spec.trim_end_matches('/').to_owned();
    let origin = url::Url::parse(&base)
        .with_context(|| {
            format!(
                "--target `{}` is not a URL",
                crate::targets::http::display_url(&base)
            )
        })?
        .origin()
        .ascii_serialization();
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30))
        .user_agent(concat!("tenantsync-doctor/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none())
        .build()?;

    // The token.
    let token = match http_credentials(global, spec)? {
        Credentials::Token(t) => {
            report
                .checks
                .extend(doctor::token(jwt_claims(&t).as_ref(), None, now()));
            t
        }
        Credentials::ClientCredentials {
            client_id,
            client_secret,
        } => {
            let url = format!("{origin}/oidc/token");
            let sent = request_token(&http, &url, &client_id, &client_secret).await;
            let response = match sent {
                Ok(r) => r,
                Err(e) => {
                    report.checks.push(Check::fail(
                        "token",
                        format!("could not reach {url}: {}", e.without_url()),
                        "check --target and the network path to the API host",
                    ));
                    return finish(&report, args);
                }
            };
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            let access = body["access_token"].as_str().filter(|t| !t.is_empty());
            match access {
                Some(t) if (200..300).contains(&status) => {
                    report.checks.extend(doctor::token(
                        jwt_claims(t).as_ref(),
                        body["expires_in"].as_u64(),
                        now(),
                    ));
                    t.to_owned()
                }
                _ => {
                    report.checks.push(Check::fail(
                        "token",
                        format!("{url} answered {status} without an access token"),
                        "check TENANTSYNC_CLIENT_ID / TENANTSYNC_CLIENT_SECRET: they must be a management application's client credentials",
                    ));
                    return finish(&report, args);
                }
            }
        }
        Credentials::None => unreachable!("http_credentials never returns None"),
    };
    let probe = Probe {
        http,
        base,
        origin: origin.clone(),
        token,
        usage: std::sync::Arc::new(ApiUsage::new(None)),
    };
    let _requests = RequestSummary::of_usage(probe.usage.clone());

    // The idempotency extension: only an explicit advertisement counts.
    let health = probe.http.get(format!("{origin}/healthz")).send().await;
    let advertised = health
        .as_ref()
        .is_ok_and(|r| advertises_idempotency(r.headers()));
    report.checks.push(Check::ok(
        "idempotency",
        if advertised {
            "the target advertises Idempotency-Key deduplication (tenantsync serve): an unanswered create may be sent again with its key"
        } else {
            "no Idempotency-Key deduplication advertised (as upstream): a create is never sent twice; an interrupted one is found by name"
        },
    ));

    // List and read.
    let list = probe.call(Method::GET, "/v1/applications", None).await?;
    let listed = "GET /v1/applications";
    if !answered(&mut report, &LIST_APPS, listed, &list) {
        return finish(&report, args);
    }
    let limits = rate_limit_headers(&list.headers);
    report.checks.push(Check::ok(
        "rate limits",
        if limits.is_empty() {
            "no rate-limit headers; tenantsync keeps to --rate (20 requests/s for remote targets) honours Retry-After and halves its rate on a 429".to_owned()
        } else {
            limits.join(", ")
        },
    ));
    let first = list.body["result"]
        .as_array()
        .and_then(|a| a.first())
        .and_then(|a| a["app_id"].as_str())
        .map(str::to_owned);
    match &first {
        Some(app_id) => read_app(&probe, app_id, &mut report).await?,
        None => report.checks.push(Check::ok(
            "read application",
            "no application to read yet (doctor --write reads one it creates)",
        )),
    }
    read_kinds(&probe, first.as_deref(), &mut report).await?;

    if args.write {
        write_checks(&probe, &mut report).await?;
    }
    finish(&report, args)
}

async fn read_app(probe: &Probe, app_id: &str, report: &mut Report) -> anyhow::Result<()> {
    let path = format!("/v1/applications/{app_id}");
    let app = probe.call(Method::GET, &path, None).await?;
    let what = format!("GET {path}");
    if !answered(report, &READ_APP, &what, &app) {
        return Ok(());
    }
    let clients_path = format!("{path}/clients");
    let clients = probe.call(Method::GET, &clients_path, None).await?;
    let what = format!("GET {clients_path}");
    answered(report, &READ_CLIENTS, &what, &clients);
    Ok(())
}

/// Reads each described kind's collection once: the tenant's resources and service providers,
/// and the objects of each parented kind (roles, role groups, login preferences) of `app_id` (the first application, if there is one).
async fn read_kinds(
    probe: &Probe,
    app_id: Option<&str>,
    report: &mut Report,
) -> anyhow::Result<()> {
    for kind in ObjKind::ALL {
        let spec = kind.spec();
        let app = match (spec.parent, app_id) {
            (None, _) => None,
            (Some(_), Some(app)) => Some(app),
            (Some(_), None) => continue, // no application to read them of
        };
        let path = spec.collection_path(app);
        let answer = probe.call(Method::GET, &path, None).await?;
        report.checks.push(doctor::kind_read(
            kind,
            &format!("GET {path}"),
            answer.status,
            &answer.message(),
            &answer.body,
        ));
    }
    Ok(())
}

/// Creates `tenantsync-doctor-<random>` with two clients, replaces a nested object, deletes it
/// all, and checks each step. Whatever fails, the app is deleted if it was created.
async fn write_checks(probe: &Probe, report: &mut Report) -> anyhow::Result<()> {
    let name = random_hex("tenantsync-doctor-");
    let body = json!({
        "app_name": name,
        "app_description": "Created by tenantsync doctor --write; deleted at once.",
        "client_display_name": "doctor-web",
        "first_client": {
            "name": "doctor-web",
            "redirect_uris": ["https://doctor.invalid/callback"],
            "token_expiration": {"access_token_ttl": THROWAWAY_TTL, "refresh_token_ttl": 3600}
        }
    });
    let created = probe
        .call(Method::POST, "/v1/applications", Some(&body))
        .await;
    let what = format!("POST /v1/applications ({name})");
    let created = match created {
        Ok(answer) if answer.ok() || answer.status < 500 => answer,
        // The create may have happened without its answer reaching us: look it up by its
        // random name, and delete it if it is there.
        lost => {
            let why = match &lost {
                Ok(answer) => format!("HTTP {}: {}", answer.status, answer.message()),
                Err(e) => format!("{e:#}"),
            };
            return lost_create(probe, report, &name, &why).await;
        }
    };
    if !answered(report, &CREATE_APP, &what, &created) {
        return Ok(());
    }
    let Some(app_id) = created.body["result"]["app_id"].as_str().map(str::to_owned) else {
        return lost_create(probe, report, &name, "the answer has no app_id").await;
    };
    let outcome = client_steps(probe, &app_id, report).await;
    let app_path = format!("/v1/applications/{app_id}");
    let left_behind = format!("; the application `{name}` is left behind");
    let deleted = delete(probe, report, "delete application", &app_path, &left_behind).await;
    if deleted {
        let gone = probe.call(Method::GET, &app_path, None).await?;
        report.checks.push(if gone.status == 404 {
            Check::ok("nothing left behind", format!("GET {app_path}: 404"))
        } else {
            Check::warn(
                "nothing left behind",
                format!(
                    "GET {app_path} still answers {} after the delete",
                    gone.status
                ),
                "deletes may take effect late; check that the application is gone",
            )
        });
    }
    outcome
}

/// The create of `name` got no usable answer (`why`): finds the application by its name (the
/// list may lag: a few tries), deletes it if it is there, and says what happened.
async fn lost_create(
    probe: &Probe,
    report: &mut Report,
    name: &str,
    why: &str,
) -> anyhow::Result<()> {
    let mut found = None;
    for attempt in 0..3 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let Ok(list) = probe.call(Method::GET, "/v1/applications", None).await else {
            continue;
        };
        found = list.body["result"].as_array().and_then(|apps| {
            apps.iter()
                .find(|a| a["app_name"] == name)
                .and_then(|a| a["app_id"].as_str())
                .map(str::to_owned)
        });
        if found.is_some() {
            break;
        }
    }
    let Some(app_id) = found else {
        report.checks.push(Check::fail(
            "create application",
            format!("POST /v1/applications ({name}) got no usable answer ({why}); no application named `{name}` was found afterwards"),
            "the target or the network path fails requests; run doctor again, and if it appears later delete the application named in this line",
        ));
        return Ok(());
    };
    report.checks.push(Check::fail(
        "create application",
        format!("POST /v1/applications ({name}) got no usable answer ({why}), but the application was created ({app_id}): found by its name"),
        "the target or the network path loses answers; tenantsync finds such creates by name, but check the network path",
    ));
    let path = format!("/v1/applications/{app_id}");
    let left_behind = format!("; the application `{name}` is left behind");
    delete(probe, report, "delete application", &path, &left_behind).await;
    Ok(())
}

async fn client_steps(probe: &Probe, app_id: &str, report: &mut Report) -> anyhow::Result<()> {
    let clients_path = format!("/v1/applications/{app_id}/clients");
    let second = probe
        .call(
            Method::POST,
            &clients_path,
            Some(&json!({"name": "doctor-second", "redirect_uris": ["https://doctor.invalid/second"]})),
        )
        .await?;
    let what = format!("POST {clients_path}");
    if !answered(report, &CREATE_CLIENT, &what, &second) {
        return Ok(());
    }
    let listed = probe.call(Method::GET, &clients_path, None).await?;
    let default = listed
        .body
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["name"] == "doctor-web"))
        .cloned()
        .unwrap_or(Value::Null);
    let default_id = default["client_id"].as_str().map(str::to_owned);
    let Some(default_id) = default_id else {
        report.checks.push(Check::fail(
            "read clients",
            format!("GET {clients_path} does not list the default client `doctor-web`"),
            "the target does not answer as the Applications API documents",
        ));
        return Ok(());
    };
    match default["client_secret"].as_str() {
        Some(secret) => token_units(probe, report, &default_id, secret).await,
        None => report.checks.push(Check::warn(
            "token lifetime units",
            format!("GET {clients_path} shows no client_secret for `doctor-web`: no token could be fetched with its credentials"),
            "check by hand that access_token_ttl is read as seconds before relying on lifetimes",
        )),
    }
    let client_path = format!("{clients_path}/{default_id}");
    let sent = json!({"access_token_ttl": 600});
    let updated = probe
        .call(
            Method::PUT,
            &client_path,
            Some(&json!({"token_expiration": sent})),
        )
        .await?;
    if !updated.ok() {
        report.checks.push(doctor::request_failed(
            "update nested object",
            Operation::Edit,
            updated.status,
            &updated.message(),
        ));
        return Ok(());
    }
    let read = probe.call(Method::GET, &client_path, None).await?;
    let sent = sent.as_object().expect("an object");
    report.checks.push(doctor::nested_update(
        "token_expiration",
        sent,
        &default["token_expiration"],
        &read.body["token_expiration"],
    ));
    let second_id = second.body["client_id"].as_str().unwrap_or_default();
    let second_path = format!("{clients_path}/{second_id}");
    delete(probe, report, "delete client", &second_path, "").await;
    Ok(())
}

/// The throwaway default client was created with `access_token_ttl: 300`: fetches a token with
/// its own credentials and checks how long it lasts.
async fn token_units(probe: &Probe, report: &mut Report, client_id: &str, secret: &str) {
    let url = format!("{}/oidc/token", probe.origin);
    let answer = match request_token(&probe.http, &url, client_id, secret).await {
        Ok(r) => r,
        Err(e) => {
            report.checks.push(Check::warn(
                "token lifetime units",
                format!("no token for the throwaway client: {}", e.without_url()),
                "check by hand that access_token_ttl is read as seconds before relying on lifetimes",
            ));
            return;
        }
    };
    let status = answer.status().as_u16();
    let body: Value = answer.json().await.unwrap_or(Value::Null);
    let Some(token) = body["access_token"]
        .as_str()
        .filter(|_| (200..300).contains(&status))
    else {
        report.checks.push(Check::warn(
            "token lifetime units",
            format!("{url} answered {status} without an access token for the throwaway client"),
            "check by hand that access_token_ttl is read as seconds before relying on lifetimes",
        ));
        return;
    };
    report.checks.push(doctor::token_lifetime(
        THROWAWAY_TTL,
        jwt_claims(token).as_ref(),
        body["expires_in"].as_u64(),
    ));
}

/// Attempts at a DELETE that fails with a 5xx, a 429 or no answer (a DELETE may be repeated).
const DELETE_ATTEMPTS: u32 = 4;
/// The longest `Retry-After` a DELETE waits.
const DELETE_MAX_WAIT: Duration = Duration::from_secs(10);

/// Deletes `path`, again after a 5xx, a 429 or a lost answer (a few times; a 404 after such a
/// retry means the earlier attempt took), and records the check; `on_failure` is added to a
/// failure's detail. True when it is gone.
async fn delete(
    probe: &Probe,
    report: &mut Report,
    name: &str,
    path: &str,
    on_failure: &str,
) -> bool {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let answer = probe.call(Method::DELETE, path, None).await;
        let retried = if attempt > 1 {
            format!(" (attempt {attempt})")
        } else {
            String::new()
        };
        let wait = match &answer {
            Ok(a) if a.ok() || (attempt > 1 && a.status == 404) => {
                report.checks.push(Check::ok(
                    name,
                    format!("DELETE {path}: {}{retried}", a.status),
                ));
                return true;
            }
            Ok(a) if a.status >= 500 || a.status == 429 => a
                .headers
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map_or(Duration::from_secs(u64::from(attempt)), Duration::from_secs),
            Ok(_) => DELETE_MAX_WAIT.saturating_mul(2),
            Err(_) => Duration::from_secs(u64::from(attempt)),
        };
        if attempt < DELETE_ATTEMPTS && wait <= DELETE_MAX_WAIT {
            tokio::time::sleep(wait).await;
            continue;
        }
        let mut failed = match answer {
            Ok(a) => doctor::request_failed(name, Operation::Delete, a.status, &a.message()),
            Err(e) => Check::fail(
                name,
                format!("{e:#}"),
                "the target or the network path fails requests",
            ),
        };
        failed.detail.push_str(&retried);
        failed.detail.push_str(on_failure);
        report.checks.push(failed);
        return false;
    }
}

/// The `access_token_ttl` the throwaway default client is created with (seconds, as tenantsync
/// writes lifetimes).
const THROWAWAY_TTL: u64 = 300;

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn finish(report: &Report, args: &DoctorArgs) -> anyhow::Result<ExitCode> {
    match args.format {
        OutputFormat::Json => {
            let mut value = serde_json::to_value(report)?;
            value["safe"] = Value::Bool(report.safe());
            outln!("{}", serde_json::to_string_pretty(&value)?);
        }
        _ => out!("{}", report.render_text()),
    }
    Ok(if report.safe() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
