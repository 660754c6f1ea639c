//! What a target's requests cost: every request sent (retries included) counted by method and
//! outcome, the configured rate and the rate in force, the one-line summary every command ends
//! with, the plan's `api` section, and the daemon's `tenantsync_api_*` metrics.
//!
//! Both targets record into an [`ApiUsage`] where the request is actually made: the HTTP target
//! once per attempt it sends (so a 429 and its retry are two requests, as the tenant's budget
//! counts them), the embedded target once per operation (it has no retries). A counting wrapper
//! around `dyn Target` would see calls, not requests, and would miss exactly the retries and 429s
//! a budget is about.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric as _};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use serde::{Deserialize, Serialize};

use super::http::aimd::Aimd;
use crate::plan::{Change, Op, Plan};

/// The request methods the Applications API uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiMethod {
    /// Reads.
    Get,
    /// Creates.
    Post,
    /// Updates.
    Put,
    /// Deletes.
    Delete,
}

impl ApiMethod {
    /// Every method, in the order summaries list them.
    pub const ALL: [ApiMethod; 4] = [Self::Get, Self::Post, Self::Put, Self::Delete];

    /// The method's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Delete => "DELETE",
        }
    }

    /// The method of an HTTP method name (anything unknown counts as a read: the API has none).
    pub fn of(name: &str) -> Self {
        match name {
            "POST" => Self::Post,
            "PUT" => Self::Put,
            "DELETE" => Self::Delete,
            _ => Self::Get,
        }
    }
}

/// How a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestOutcome {
    /// A 2xx answer.
    Ok,
    /// A 4xx answer other than 429 (a 404 of a lookup is one).
    ClientError,
    /// 429: the budget was spent; the request was not processed.
    RateLimited,
    /// A 5xx answer.
    ServerError,
    /// No answer: connection failure, timeout, unreadable response.
    Transport,
}

impl RequestOutcome {
    /// Every outcome, in the order summaries list them.
    pub const ALL: [RequestOutcome; 5] = [
        Self::Ok,
        Self::ClientError,
        Self::RateLimited,
        Self::ServerError,
        Self::Transport,
    ];

    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::ClientError => "4xx",
            Self::RateLimited => "429",
            Self::ServerError => "5xx",
            Self::Transport => "transport",
        }
    }

    /// The outcome of an HTTP status code.
    pub fn of_status(status: u16) -> Self {
        match status {
            429 => Self::RateLimited,
            400..=499 => Self::ClientError,
            500..=599 => Self::ServerError,
            _ => Self::Ok,
        }
    }
}

const METHODS: usize = ApiMethod::ALL.len();
const OUTCOMES: usize = RequestOutcome::ALL.len();

/// Requests counted so far: a copy, by method and outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    counts: [[u64; OUTCOMES]; METHODS],
}

impl Tally {
    /// Requests of one method with one outcome.
    pub fn get(&self, method: ApiMethod, outcome: RequestOutcome) -> u64 {
        self.counts[method as usize][outcome as usize]
    }

    /// Requests of one method.
    pub fn method(&self, method: ApiMethod) -> u64 {
        self.counts[method as usize].iter().sum()
    }

    /// Requests with one outcome.
    pub fn outcome(&self, outcome: RequestOutcome) -> u64 {
        self.counts.iter().map(|m| m[outcome as usize]).sum()
    }

    /// Every request.
    pub fn total(&self) -> u64 {
        self.counts.iter().flatten().sum()
    }

    /// GETs.
    pub fn reads(&self) -> u64 {
        self.method(ApiMethod::Get)
    }

    /// POSTs, PUTs and DELETEs.
    pub fn writes(&self) -> u64 {
        self.total() - self.reads()
    }

    /// The requests made between `earlier` and this tally.
    pub fn since(&self, earlier: &Tally) -> Tally {
        let mut out = *self;
        for (m, row) in out.counts.iter_mut().enumerate() {
            for (o, n) in row.iter_mut().enumerate() {
                *n = n.saturating_sub(earlier.counts[m][o]);
            }
        }
        out
    }
}

/// A target's request accounting, shared by every task using it and by whoever reports on it
/// (the command's summary line, the daemon's `/metrics` and `/status`), and the rate in force:
/// the AIMD controller fed with the target's answers and read with the current clock, so a
/// rate that climbed back while the target sat idle reads as climbed back.
#[derive(Debug)]
pub struct ApiUsage {
    counts: [[AtomicU64; OUTCOMES]; METHODS],
    configured: Option<f64>,
    rate: Mutex<Aimd>,
    start: Instant,
}

impl ApiUsage {
    /// Accounting for a target limited to `configured` requests/s (`None`: no limit).
    pub fn new(configured: Option<f64>) -> Self {
        let configured = configured.filter(|r| *r > 0.0 && r.is_finite());
        Self {
            counts: Default::default(),
            configured,
            rate: Mutex::new(Aimd::new(configured)),
            start: Instant::now(),
        }
    }

    /// Counts one request.
    pub fn record(&self, method: ApiMethod, outcome: RequestOutcome) {
        self.counts[method as usize][outcome as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// The counts so far.
    pub fn tally(&self) -> Tally {
        let mut t = Tally::default();
        for (m, row) in self.counts.iter().enumerate() {
            for (o, n) in row.iter().enumerate() {
                t.counts[m][o] = n.load(Ordering::Relaxed);
            }
        }
        t
    }

    /// The rate `--rate` (or the remote default) set, requests/s.
    pub fn configured_rate(&self) -> Option<f64> {
        self.configured
    }

    /// The rate in force now (lowered after 429s, climbing back after quiet time), requests/s;
    /// `None` without a limit.
    pub fn rate_in_force(&self) -> Option<f64> {
        let now = self.start.elapsed();
        let mut aimd = self.rate.lock().expect("not poisoned");
        aimd.quiet(now);
        aimd.rate()
    }

    /// A request is about to be sent: the rate it must keep to.
    pub fn sending(&self) -> Option<f64> {
        let now = self.start.elapsed();
        let mut aimd = self.rate.lock().expect("not poisoned");
        aimd.quiet(now);
        aimd.sent(now);
        aimd.rate()
    }

    /// A request was answered (`rate_limited`: with 429): the rate in force after it.
    pub fn answered(&self, rate_limited: bool) -> Option<f64> {
        let now = self.start.elapsed();
        let mut aimd = self.rate.lock().expect("not poisoned");
        if rate_limited {
            aimd.rate_limited(now);
        } else {
            aimd.quiet(now);
        }
        aimd.rate()
    }

    /// The one-line summary of everything counted so far, at the rate in force.
    pub fn summary(&self) -> String {
        summary_line(&self.tally(), self.rate_in_force())
    }

    /// What `/status` shows.
    pub fn status(&self) -> ApiStatus {
        let tally = self.tally();
        let named = |pairs: Vec<(&'static str, u64)>| {
            pairs
                .into_iter()
                .filter(|(_, n)| *n > 0)
                .map(|(k, n)| (k.to_owned(), n))
                .collect()
        };
        ApiStatus {
            requests: tally.total(),
            by_method: named(
                ApiMethod::ALL
                    .iter()
                    .map(|m| (m.as_str(), tally.method(*m)))
                    .collect(),
            ),
            by_outcome: named(
                RequestOutcome::ALL
                    .iter()
                    .map(|o| (o.as_str(), tally.outcome(*o)))
                    .collect(),
            ),
            rate_limit: self.rate_in_force(),
            configured_rate: self.configured,
        }
    }
}

/// The API budget as `/status` shows it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ApiStatus {
    /// Requests sent since start (retries included).
    pub requests: u64,
    /// By method (only those used).
    pub by_method: std::collections::BTreeMap<String, u64>,
    /// By outcome: `ok`, `4xx`, `429`, `5xx`, `transport` (only those seen).
    pub by_outcome: std::collections::BTreeMap<String, u64>,
    /// The rate in force, requests/s (`null`: no limit).
    pub rate_limit: Option<f64>,
    /// The configured rate (`--rate`), requests/s (`null`: no limit).
    pub configured_rate: Option<f64>,
}

/// A rate for people: `20/s`, `2.5/s`, `0.33/s`.
fn rate_text(rate: f64) -> String {
    let text = format!("{rate:.2}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text}/s")
}

/// The summary line: `41 requests: 38 GET, 3 PUT; 2.1 s at 20/s`. Outcomes other than `ok`
/// follow the methods in parentheses (`(2 × 429)`); the time is what the requests take at
/// `rate` (the rate in force), or `no rate limit`.
pub fn summary_line(tally: &Tally, rate: Option<f64>) -> String {
    let total = tally.total();
    let mut line = format!("{total} request{}", if total == 1 { "" } else { "s" });
    let methods: Vec<String> = ApiMethod::ALL
        .iter()
        .map(|m| (m, tally.method(*m)))
        .filter(|(_, n)| *n > 0)
        .map(|(m, n)| format!("{n} {}", m.as_str()))
        .collect();
    if !methods.is_empty() {
        line.push_str(": ");
        line.push_str(&methods.join(", "));
    }
    let other: Vec<String> = RequestOutcome::ALL[1..]
        .iter()
        .map(|o| (o, tally.outcome(*o)))
        .filter(|(_, n)| *n > 0)
        .map(|(o, n)| format!("{n} × {}", o.as_str()))
        .collect();
    if !other.is_empty() {
        line.push_str(&format!(" ({})", other.join(", ")));
    }
    match rate {
        Some(r) if r > 0.0 => line.push_str(&format!(
            "; {:.1} s at {}",
            // Halves round up (2.05 s is shown as 2.1 s, not as 2.0 s by binary representation).
            total as f64 / r + 1e-9,
            rate_text(r)
        )),
        _ => line.push_str("; no rate limit"),
    }
    line
}

/// The JSON plan's `api` section: the reads made while planning, the writes the plan will send,
/// and the time those writes take at the configured rate (`null` without a limit: they are
/// bounded by the target's answers, not by tenantsync).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PlanApi {
    /// Requests made while planning (all GETs, retries included).
    pub reads: u64,
    /// Requests applying the plan will send (POST, PUT, DELETE), one per written object.
    pub writes_planned: u64,
    /// `writes_planned / rate` at the configured rate; `null` without a limit.
    pub seconds_at_rate: Option<f64>,
}

impl PlanApi {
    /// The section for `plan`, made after `reads` requests, at `rate` requests/s.
    pub fn new(plan: &Plan, reads: u64, rate: Option<f64>) -> Self {
        let writes_planned = writes_planned(plan);
        Self {
            reads,
            writes_planned,
            seconds_at_rate: rate
                .filter(|r| *r > 0.0)
                .map(|r| (writes_planned as f64 / r * 1000.0).round() / 1000.0),
        }
    }
}

/// The requests executing `plan` sends: one per create, per update whose live object differs
/// (an adoption or update without a body only writes the state; an update of a field a
/// one-field replacement path writes is one more, `Api::update_requests`), and per deletion of
/// an object that still exists. Changes that are not valid operations send nothing (execution
/// refuses them).
pub fn writes_planned(plan: &Plan) -> u64 {
    let writes = |c: &Change| match c.op() {
        Ok(Op::CreateApp { .. } | Op::Create { .. }) => 1,
        Ok(Op::Update { object, body, .. }) => {
            body.map_or(0, |b| object.kind.api().update_requests(b).count())
        }
        Ok(Op::Delete { already_gone, .. }) => usize::from(!already_gone),
        Err(_) => 0,
    };
    plan.changes.iter().map(writes).sum::<usize>() as u64
}

/// `tenantsync_api_requests_total{method,outcome}` and `tenantsync_api_rate_limit` (the rate in
/// force, requests/s; 0 without a limit), read from an [`ApiUsage`] at each scrape.
#[derive(Debug)]
pub struct ApiCollector(pub std::sync::Arc<ApiUsage>);

impl Collector for ApiCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let tally = self.0.tally();
        let mut requests = encoder.encode_descriptor(
            "tenantsync_api_requests",
            "Requests sent to the target (retries included), by method and outcome (ok, 4xx, 429, 5xx, transport).",
            None,
            MetricType::Counter,
        )?;
        for m in ApiMethod::ALL {
            for o in RequestOutcome::ALL {
                let n = tally.get(m, o);
                if n == 0 {
                    continue;
                }
                let labels = [("method", m.as_str()), ("outcome", o.as_str())];
                ConstCounter::new(n).encode(requests.encode_family(&labels)?)?;
            }
        }
        let rate = encoder.encode_descriptor(
            "tenantsync_api_rate_limit",
            "The request rate in force for the target, requests/s (lowered after 429s; 0: no limit).",
            None,
            MetricType::Gauge,
        )?;
        ConstGauge::new(self.0.rate_in_force().unwrap_or(0.0)).encode(rate)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tally(entries: &[(ApiMethod, RequestOutcome, u64)]) -> Tally {
        let usage = ApiUsage::new(None);
        for (m, o, n) in entries {
            for _ in 0..*n {
                usage.record(*m, *o);
            }
        }
        usage.tally()
    }

    #[test]
    fn the_summary_line_counts_by_method_and_prices_at_the_rate() {
        use ApiMethod::*;
        use RequestOutcome::*;
        let t = tally(&[(Get, Ok, 38), (Put, Ok, 3)]);
        assert_eq!(
            summary_line(&t, Some(20.0)),
            "41 requests: 38 GET, 3 PUT; 2.1 s at 20/s"
        );
        assert_eq!(
            summary_line(&t, None),
            "41 requests: 38 GET, 3 PUT; no rate limit"
        );
        let t = tally(&[(Get, Ok, 4), (Get, RateLimited, 2), (Post, ServerError, 1)]);
        assert_eq!(
            summary_line(&t, Some(2.5)),
            "7 requests: 6 GET, 1 POST (2 × 429, 1 × 5xx); 2.8 s at 2.5/s"
        );
        assert_eq!(
            summary_line(&Tally::default(), Some(20.0)),
            "0 requests; 0.0 s at 20/s"
        );
        assert_eq!(
            summary_line(&tally(&[(Delete, Ok, 1)]), None),
            "1 request: 1 DELETE; no rate limit"
        );
    }

    #[test]
    fn outcomes_follow_the_status_class() {
        assert_eq!(RequestOutcome::of_status(200), RequestOutcome::Ok);
        assert_eq!(RequestOutcome::of_status(404), RequestOutcome::ClientError);
        assert_eq!(RequestOutcome::of_status(429), RequestOutcome::RateLimited);
        assert_eq!(RequestOutcome::of_status(503), RequestOutcome::ServerError);
    }

    #[test]
    fn the_rate_in_force_follows_the_answers_and_zero_is_no_limit() {
        let usage = ApiUsage::new(Some(20.0));
        assert_eq!(usage.rate_in_force(), Some(20.0));
        assert_eq!(usage.answered(false), Some(20.0));
        assert_eq!(usage.answered(true), Some(10.0));
        assert_eq!(usage.sending(), Some(10.0));
        assert_eq!(usage.rate_in_force(), Some(10.0));
        assert_eq!(usage.configured_rate(), Some(20.0));
        assert_eq!(ApiUsage::new(Some(0.0)).configured_rate(), None);
        assert_eq!(ApiUsage::new(None).rate_in_force(), None);
    }

    #[test]
    fn since_subtracts_and_status_names_only_what_was_used() {
        let usage = ApiUsage::new(Some(10.0));
        usage.record(ApiMethod::Get, RequestOutcome::Ok);
        let before = usage.tally();
        usage.record(ApiMethod::Put, RequestOutcome::RateLimited);
        usage.record(ApiMethod::Put, RequestOutcome::Ok);
        let diff = usage.tally().since(&before);
        assert_eq!((diff.reads(), diff.writes()), (0, 2));
        let status = usage.status();
        assert_eq!(status.requests, 3);
        assert_eq!(status.by_method.get("PUT"), Some(&2));
        assert_eq!(status.by_method.get("POST"), None);
        assert_eq!(status.by_outcome.get("429"), Some(&1));
        assert_eq!(status.rate_limit, Some(10.0));
    }

    #[test]
    fn the_collector_exposes_counts_and_the_rate() {
        let usage = std::sync::Arc::new(ApiUsage::new(Some(15.0)));
        usage.record(ApiMethod::Get, RequestOutcome::Ok);
        usage.record(ApiMethod::Get, RequestOutcome::Ok);
        usage.record(ApiMethod::Post, RequestOutcome::RateLimited);
        let mut registry = prometheus_client::registry::Registry::default();
        registry.register_collector(Box::new(ApiCollector(usage.clone())));
        let text = crate::telemetry::prometheus::render(&registry);
        let sample = |labels: &[(&str, &str)]| {
            crate::telemetry::prometheus::sample(&text, "tenantsync_api_requests_total", labels)
        };
        assert_eq!(sample(&[("method", "GET"), ("outcome", "ok")]), Some(2.0));
        assert_eq!(sample(&[("outcome", "429")]), Some(1.0));
        assert_eq!(
            crate::telemetry::prometheus::sample(&text, "tenantsync_api_rate_limit", &[]),
            Some(15.0)
        );
        usage.answered(true);
        let text = crate::telemetry::prometheus::render(&registry);
        assert_eq!(
            crate::telemetry::prometheus::sample(&text, "tenantsync_api_rate_limit", &[]),
            Some(7.5)
        );
        // Without a limit the gauge reads 0.
        let mut registry = prometheus_client::registry::Registry::default();
        registry.register_collector(Box::new(ApiCollector(std::sync::Arc::new(ApiUsage::new(
            None,
        )))));
        let text = crate::telemetry::prometheus::render(&registry);
        assert_eq!(
            crate::telemetry::prometheus::sample(&text, "tenantsync_api_rate_limit", &[]),
            Some(0.0)
        );
        assert_eq!(
            crate::telemetry::prometheus::sample(&text, "tenantsync_api_requests_total", &[]),
            None
        );
    }

    #[test]
    fn planned_writes_count_the_described_kinds_requests() {
        let change = |kind: &str, app: Option<&str>, action: &str, extra: serde_json::Value| {
            let mut c = serde_json::json!({
                "kind": kind, "action": action, "name": format!("{kind}/{action}"),
                "phase": match (action, app) {
                    ("delete", None) => "delete_objects",
                    ("delete", Some(_)) => "delete_app_objects",
                    (_, None) => "create_objects",
                    _ => "app_objects",
                },
                "address": {"kind": kind, "app": app, "key": action},
            });
            c.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            c
        };
        let record = serde_json::json!({"name": "x", "ownership": "created", "last_applied": {}, "protect": false});
        let plan: Plan = serde_json::from_value(serde_json::json!({
            "format_version": crate::plan::FORMAT_VERSION,
            "summary": {"create": 1, "update": 1, "delete": 2, "adopt": 1, "unchanged": 0, "skipped_delete": 0},
            "changes": [
                change("Resource", None, "create", serde_json::json!({"body": {"name": "P"}, "record": record})),
                change("RoleGroup", Some("shop"), "update",
                       serde_json::json!({"id": "g", "app_id": "a", "body": {"name": "S", "role_ids": ["r"]}, "record": record})),
                change("Role", Some("shop"), "adopt", serde_json::json!({"id": "r", "app_id": "a", "record": record})),
                change("Role", Some("shop"), "delete", serde_json::json!({"id": "r2", "app_id": "a"})),
                change("Resource", None, "delete", serde_json::json!({"id": "p2", "state_only": true})),
            ],
            "target": "t", "state_lineage": "l", "manifests_fingerprint": "f",
        }))
        .unwrap();
        // The create, the group's PUT and its roles' POST, the role's DELETE; the adoption
        // and the state-only deletion send nothing.
        assert_eq!(plan.check(), Ok(()));
        assert_eq!(writes_planned(&plan), 4);
    }
}
