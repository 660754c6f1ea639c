//! What the daemon reports: `/status` JSON, Prometheus metrics, and the HTTP server for
//! `/healthz`, `/readyz`, `/metrics`, `/status` and `POST /hooks/sync` (the web page's routes,
//! `daemon::ui`, are merged into it).

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
use tokio::sync::mpsc;

use super::leader::Role;
use super::source::Trigger;
use crate::plan::Summary;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::telemetry::prometheus;

/// Reconcile duration buckets, seconds.
const RECONCILE_BUCKETS: &[f64] = &[
    0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

/// The daemon's current condition, as `/status` shows it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Status {
    /// Ready: a reconcile has succeeded (leader), or the manifests loaded and the replica can
    /// take over (follower).
    pub ready: bool,
    /// `leader` (reconciles and writes) or `follower` (waits for a shared state's lock).
    pub role: Role,
    /// Where manifests come from.
    pub source: String,
    /// The target.
    pub target: String,
    /// The git commit (or `directory`) last reconciled successfully.
    pub revision: Option<String>,
    /// `success` or `error` of the last reconcile.
    pub last_result: Option<String>,
    /// When the last reconcile finished.
    pub last_reconcile: Option<String>,
    /// When the last successful reconcile finished.
    pub last_success: Option<String>,
    /// What the last trigger was.
    pub last_trigger: Option<String>,
    /// The last plan's counts.
    pub last_plan: Option<Summary>,
    /// Errors of the last reconcile (manifest errors one per line).
    pub errors: Vec<String>,
    /// Deletions not carried out, and why (waiting for --prune, protected, or held for the
    /// watch-mode quiet period).
    pub skipped_deletes: Vec<String>,
    /// Objects changed outside tenantsync, as the last reconcile saw them.
    pub drift: Vec<OpenDrift>,
    /// Objects under management.
    pub objects_managed: usize,
    /// Git fetches that failed in a row (three make the daemon not ready).
    pub failed_fetches: u32,
    /// While backing off after errors: seconds until the next attempt (2 doubling to 300).
    pub retry_in_seconds: Option<f64>,
    /// Requests sent to the target since start and the rate in force (filled in when shown).
    pub api: Option<crate::targets::usage::ApiStatus>,
    /// The drift sweep, once a round has run as leader.
    pub sweep: Option<SweepStatus>,
}

/// The drift sweep, as `/status` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct SweepStatus {
    /// `--interval`.
    pub interval_seconds: f64,
    /// The period in force: `--interval`, or longer when `--read-budget` cannot cover it.
    pub period_seconds: f64,
    /// Whether the period was stretched.
    pub stretched: bool,
    /// Every managed application was read within this many seconds.
    pub coverage_seconds: f64,
    /// Managed applications the sweep goes through.
    pub applications: usize,
}

/// One open drift episode, as `/status` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct OpenDrift {
    /// The object (`Client/shop/Web`).
    pub object: String,
    /// Its drifted fields.
    pub fields: Vec<String>,
    /// When a reconcile first saw it (RFC 3339).
    pub first_seen: String,
    /// When one last saw it.
    pub last_seen: String,
    /// Seconds since `first_seen`, at the last reconcile.
    pub age_seconds: u64,
}

/// The labels of a reconcile count.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReconcileLabels {
    /// `success` or `error`.
    pub result: &'static str,
    /// What started the reconcile.
    pub trigger: &'static str,
}

/// The label of the revision-info gauge.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RevisionLabels {
    /// The git commit or `directory`.
    pub revision: String,
}

/// Metrics of the daemon.
pub struct Metrics {
    registry: Registry,
    /// Reconciles by result and trigger.
    pub reconciles: Family<ReconcileLabels, Counter>,
    /// Reconcile duration.
    pub duration: Histogram,
    /// Objects managed.
    pub managed: Gauge,
    /// Drifted objects corrected.
    pub drift_corrected: Counter,
    /// Last success, Unix seconds.
    pub last_success: Gauge<f64, AtomicU64>,
    /// The revision in force (one series, value 1).
    pub revision: Family<RevisionLabels, Gauge>,
    /// Manifest errors in the last load.
    pub manifest_errors: Gauge,
    /// 1 while this replica leads (always, on a local state).
    pub leader: Gauge,
    /// Times this replica became leader.
    pub leader_changes: Counter,
    /// Objects with open drift.
    pub drift_objects: Gauge,
    /// Age of the oldest open drift, seconds.
    pub drift_oldest_seconds: Gauge,
    /// Drift episodes detected.
    pub drift_detected: Counter,
    /// `POST /hooks/sync` requests by outcome.
    pub hooks: Family<HookLabels, Counter>,
    /// Age of the oldest read of a managed application, seconds.
    pub sweep_coverage: Gauge<f64, AtomicU64>,
    /// The sweep period in force, seconds.
    pub sweep_period: Gauge<f64, AtomicU64>,
    /// The target's request accounting, once [`Metrics::watch_api`] is called.
    api: Option<Arc<crate::targets::usage::ApiUsage>>,
}

/// The label of a hook count.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HookLabels {
    /// `accepted` (a reconcile is triggered), `duplicate` (a delivery already seen) or `refused`.
    pub outcome: &'static str,
}

impl Default for Metrics {
    fn default() -> Self {
        let metrics = Self {
            registry: Registry::default(),
            reconciles: Family::default(),
            duration: Histogram::new(RECONCILE_BUCKETS.iter().copied()),
            managed: Gauge::default(),
            drift_corrected: Counter::default(),
            last_success: Gauge::default(),
            revision: Family::default(),
            manifest_errors: Gauge::default(),
            leader: Gauge::default(),
            leader_changes: Counter::default(),
            drift_objects: Gauge::default(),
            drift_oldest_seconds: Gauge::default(),
            drift_detected: Counter::default(),
            hooks: Family::default(),
            sweep_coverage: Gauge::default(),
            sweep_period: Gauge::default(),
            api: None,
        };
        let mut registry = Registry::default();
        crate::register_metrics!(registry.sub_registry_with_prefix("tenantsync_sync"),
            "reconciles", "Reconciles, by result and trigger." => metrics.reconciles;
            "reconcile_duration_seconds", "Time per reconcile." => metrics.duration;
            "objects_managed", "Objects in the reconciler state." => metrics.managed;
            "drift_corrected", "Objects whose drift was corrected." => metrics.drift_corrected;
            "last_success_timestamp_seconds", "When the last reconcile succeeded." => metrics.last_success;
            "revision_info", "The manifest revision in force (value 1)." => metrics.revision;
            "manifest_errors", "Errors in the manifests at the last load (0: valid)." => metrics.manifest_errors;
            "hooks", "POST /hooks/sync requests, by outcome (accepted, duplicate, refused)." => metrics.hooks;
        );
        crate::register_metrics!(registry.sub_registry_with_prefix("tenantsync"),
            "leader", "1 while this replica is the leader that reconciles and writes." => metrics.leader;
            "leader_changes", "Times this replica became the leader." => metrics.leader_changes;
        );
        crate::register_metrics!(registry.sub_registry_with_prefix("tenantsync_sweep"),
            "coverage_seconds", "Age of the oldest read of a managed application: every one was read within this long." => metrics.sweep_coverage;
            "period_seconds", "The drift sweep's period in force (--interval, or longer when --read-budget cannot cover it)." => metrics.sweep_period;
        );
        registry.register_collector(Box::new(crate::memory::HeapCollector));
        crate::register_metrics!(registry.sub_registry_with_prefix("tenantsync_drift"),
            "objects", "Managed objects changed outside tenantsync (open drift episodes)." => metrics.drift_objects;
            "oldest_seconds", "Age of the oldest open drift episode." => metrics.drift_oldest_seconds;
            "detected", "Drift episodes detected." => metrics.drift_detected;
        );
        Self {
            registry,
            ..metrics
        }
    }
}

impl Metrics {
    /// Counts one reconcile.
    pub fn reconciled(&self, result: &'static str, trigger: &'static str) {
        self.reconciles
            .get_or_create(&ReconcileLabels { result, trigger })
            .inc();
    }

    /// Marks `revision` as the one in force (the previous one's series is dropped).
    pub fn revision_in_force(&self, revision: &str) {
        self.revision.clear();
        self.revision
            .get_or_create(&RevisionLabels {
                revision: revision.to_owned(),
            })
            .set(1);
    }

    /// Exposes the target's requests and rate in force: `tenantsync_api_requests_total` and
    /// `tenantsync_api_rate_limit` on `/metrics`, `api` in `/status`.
    pub fn watch_api(&mut self, usage: Arc<crate::targets::usage::ApiUsage>) {
        self.registry
            .register_collector(Box::new(crate::targets::usage::ApiCollector(usage.clone())));
        self.api = Some(usage);
    }

    fn render(&self) -> String {
        prometheus::render(&self.registry)
    }
}

/// Shared between the loop and the HTTP server.
pub struct Shared {
    /// The status.
    pub status: Mutex<Status>,
    /// The metrics.
    pub metrics: Metrics,
    /// Where the file watcher sends triggers.
    pub triggers: mpsc::UnboundedSender<Trigger>,
    /// Who may trigger a reconcile through `POST /hooks/sync`.
    pub hooks: HookPolicy,
    /// Set by an accepted hook; the loop reconciles once for any number of them (a burst
    /// coalesces), never while it is backing off after errors, and at most once per
    /// [`HOOK_MIN_INTERVAL`](super::HOOK_MIN_INTERVAL).
    pub hook: Arc<tokio::sync::Notify>,
    /// The `X-GitHub-Delivery` ids of the last accepted hooks: a replayed delivery is answered
    /// but triggers nothing.
    pub deliveries: Mutex<RecentIds>,
    /// The web page: who may see it and the board of the last reconcile.
    pub ui: super::ui::Ui,
}

impl Shared {
    /// The status as `/status` and the web page show it now (with the target's request
    /// accounting).
    pub fn status_now(&self) -> Status {
        let mut status = self.status.lock().expect("not poisoned").clone();
        status.api = self.metrics.api.as_ref().map(|usage| usage.status());
        status
    }
}

/// The last [`RecentIds::CAPACITY`] ids seen, oldest forgotten first: bounded memory however
/// many deliveries arrive.
#[derive(Debug, Default)]
pub struct RecentIds {
    order: std::collections::VecDeque<String>,
    seen: std::collections::HashSet<String>,
}

impl RecentIds {
    /// How many ids are remembered.
    pub const CAPACITY: usize = 1024;

    /// Records `id`; false when it was already among the remembered ones.
    pub fn insert(&mut self, id: &str) -> bool {
        if self.seen.contains(id) {
            return false;
        }
        if self.order.len() == Self::CAPACITY {
            if let Some(oldest) = self.order.pop_front() {
                self.seen.remove(&oldest);
            }
        }
        self.order.push_back(id.to_owned());
        self.seen.insert(id.to_owned());
        true
    }
}

/// Who may trigger a reconcile through `POST /hooks/sync`.
#[derive(Clone)]
pub enum HookPolicy {
    /// Requests signed with this secret: GitHub's `X-Hub-Signature-256` (HMAC-SHA256 of the
    /// body) or GitLab's `X-Gitlab-Token`.
    Signed(Vec<u8>),
    /// Anyone who can reach the listener: only when it listens on loopback.
    Loopback,
    /// Nobody (no secret, and the listener is reachable from elsewhere).
    Closed,
}

impl HookPolicy {
    /// Whether a hook request with these headers and body is let through, and if not, why.
    pub fn verify(&self, headers: &HeaderMap, body: &[u8]) -> Result<(), &'static str> {
        use hmac::{Hmac, Mac};
        use subtle::ConstantTimeEq as _;
        match self {
            HookPolicy::Loopback => Ok(()),
            HookPolicy::Closed => {
                Err("hooks need --webhook-secret-file when the daemon listens beyond loopback")
            }
            HookPolicy::Signed(secret) => {
                if let Some(signature) = headers.get("x-hub-signature-256") {
                    let given = signature
                        .to_str()
                        .ok()
                        .and_then(|s| s.strip_prefix("sha256="))
                        .and_then(decode_hex)
                        .ok_or("malformed X-Hub-Signature-256")?;
                    let mut mac = <Hmac<sha2::Sha256>>::new_from_slice(secret)
                        .expect("HMAC takes keys of any length");
                    mac.update(body);
                    return mac.verify_slice(&given).map_err(|_| "wrong signature");
                }
                if let Some(token) = headers.get("x-gitlab-token") {
                    return if bool::from(token.as_bytes().ct_eq(secret)) {
                        Ok(())
                    } else {
                        Err("wrong token")
                    };
                }
                Err("unsigned: send X-Hub-Signature-256 (GitHub) or X-Gitlab-Token (GitLab)")
            }
        }
    }
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if hex.len() % 2 != 0 {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

async fn healthz() -> Response {
    (StatusCode::OK, Json(serde_json::json!({"status": "ok"}))).into_response()
}

/// Consecutive failed git fetches after which the daemon is not ready.
pub const UNREADY_AFTER_FAILED_FETCHES: u32 = 3;

async fn readyz(State(s): State<Arc<Shared>>) -> Response {
    let (ready, failures) = {
        let status = s.status.lock().expect("not poisoned");
        (status.ready, status.failed_fetches)
    };
    let reason = if failures >= UNREADY_AFTER_FAILED_FETCHES {
        format!("the last {failures} git fetches failed")
    } else if !ready {
        "no successful reconcile yet".to_owned()
    } else {
        return (StatusCode::OK, Json(serde_json::json!({"ready": true}))).into_response();
    };
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(serde_json::json!({"ready": false, "reason": reason})),
    )
        .into_response()
}

async fn status(State(s): State<Arc<Shared>>) -> Response {
    Json(s.status_now()).into_response()
}

async fn metrics(State(s): State<Arc<Shared>>) -> Response {
    (
        [(CONTENT_TYPE, prometheus::CONTENT_TYPE)],
        s.metrics.render(),
    )
        .into_response()
}

async fn hook(State(s): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let count = |outcome| s.metrics.hooks.get_or_create(&HookLabels { outcome }).inc();
    if let Err(why) = s.hooks.verify(&headers, &body) {
        count("refused");
        tracing::warn!(reason = why, "hook refused");
        let status = if matches!(s.hooks, HookPolicy::Closed) {
            StatusCode::FORBIDDEN
        } else {
            StatusCode::UNAUTHORIZED
        };
        return (
            status,
            Json(serde_json::json!({"triggered": false, "error": why})),
        )
            .into_response();
    }
    // A replayed delivery (same id) is answered, and triggers nothing. Only signed or
    // loopback requests get this far, so nobody else can fill the list. An id longer than any
    // GitHub sends (a UUID) is not remembered.
    if let Some(id) = headers
        .get("x-github-delivery")
        .and_then(|v| v.to_str().ok())
        .filter(|id| id.len() <= 128)
    {
        if !s.deliveries.lock().expect("not poisoned").insert(id) {
            count("duplicate");
            tracing::info!(delivery = id, "hook delivery already seen; ignored");
            return (
                StatusCode::OK,
                Json(serde_json::json!({"triggered": false, "duplicate": true})),
            )
                .into_response();
        }
    }
    count("accepted");
    s.hook.notify_one();
    (
        StatusCode::ACCEPTED,
        Json(serde_json::json!({"triggered": true})),
    )
        .into_response()
}

/// The daemon's HTTP routes.
pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/status", get(status))
        .route("/metrics", get(metrics))
        .route("/hooks/sync", post(hook))
        .merge(super::ui::routes())
        .with_state(shared)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_ids_refuse_a_repeat_and_forget_the_oldest() {
        let mut ids = RecentIds::default();
        assert!(ids.insert("a"));
        assert!(!ids.insert("a"));
        for i in 0..RecentIds::CAPACITY {
            assert!(ids.insert(&format!("n{i}")));
        }
        assert_eq!(ids.order.len(), RecentIds::CAPACITY);
        assert_eq!(ids.seen.len(), RecentIds::CAPACITY);
        // `a` was the oldest and is forgotten; the newest are still refused.
        assert!(ids.insert("a"));
        assert!(!ids.insert(&format!("n{}", RecentIds::CAPACITY - 1)));
    }
    use crate::telemetry::prometheus::sample;

    #[test]
    fn only_the_revision_in_force_has_a_series() {
        let metrics = Metrics::default();
        metrics.revision_in_force("aaaa");
        metrics.revision_in_force("bbbb");
        metrics.reconciled("success", "watch");
        let text = metrics.render();
        let info = "tenantsync_sync_revision_info";
        assert_eq!(sample(&text, info, &[("revision", "bbbb")]), Some(1.0));
        assert_eq!(sample(&text, info, &[("revision", "aaaa")]), None);
        assert_eq!(sample(&text, info, &[]), Some(1.0), "{text}");
        assert_eq!(
            sample(
                &text,
                "tenantsync_sync_reconciles_total",
                &[("result", "success")]
            ),
            Some(1.0)
        );
    }
}
