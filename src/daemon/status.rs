//! What the daemon reports: `/status` JSON, Prometheus metrics, and the HTTP server for
//! `/healthz`, `/readyz`, `/metrics`, `/status` and `POST /hooks/sync`.

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
use tokio::sync::mpsc;

use super::source::Trigger;
use crate::plan::Summary;
use crate::telemetry::prometheus::{CounterVec, HistogramVec};

/// Reconcile duration buckets, seconds.
const RECONCILE_BUCKETS: &[f64] = &[
    0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

/// The daemon's current condition, as `/status` shows it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Status {
    /// Ready: a reconcile has succeeded.
    pub ready: bool,
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
    /// Deletions waiting for --prune.
    pub skipped_deletes: Vec<String>,
    /// Objects under management.
    pub objects_managed: usize,
}

/// Metrics of the daemon.
pub struct Metrics {
    /// Reconciles by result.
    pub reconciles: CounterVec,
    /// Reconcile duration.
    pub duration: HistogramVec,
    /// Objects managed.
    pub managed: CounterVec,
    /// Drifted objects corrected.
    pub drift_corrected: CounterVec,
    /// Last success, Unix seconds.
    pub last_success: CounterVec,
    /// The revision in force (value 1).
    pub revision: CounterVec,
    /// Manifest errors in the last load.
    pub manifest_errors: CounterVec,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            reconciles: CounterVec::counter(
                "tenantsync_sync_reconciles_total",
                "Reconciles, by result and trigger.",
                &["result", "trigger"],
            ),
            duration: HistogramVec::new(
                "tenantsync_sync_reconcile_duration_seconds",
                "Time per reconcile.",
                &[],
                RECONCILE_BUCKETS,
            ),
            managed: CounterVec::gauge(
                "tenantsync_sync_objects_managed",
                "Objects in the reconciler state.",
                &[],
            ),
            drift_corrected: CounterVec::counter(
                "tenantsync_sync_drift_corrected_total",
                "Objects whose drift was corrected.",
                &[],
            ),
            last_success: CounterVec::gauge(
                "tenantsync_sync_last_success_timestamp_seconds",
                "When the last reconcile succeeded.",
                &[],
            ),
            revision: CounterVec::gauge(
                "tenantsync_sync_revision_info",
                "The manifest revision in force (value 1).",
                &["revision"],
            ),
            manifest_errors: CounterVec::gauge(
                "tenantsync_sync_manifest_errors",
                "Errors in the manifests at the last load (0: valid).",
                &[],
            ),
        }
    }
}

impl Metrics {
    fn render(&self) -> String {
        let mut out = String::new();
        self.reconciles.render(&mut out);
        self.duration.render(&mut out);
        self.managed.render(&mut out);
        self.drift_corrected.render(&mut out);
        self.last_success.render(&mut out);
        self.revision.render(&mut out);
        self.manifest_errors.render(&mut out);
        out
    }
}

/// Shared between the loop and the HTTP server.
pub struct Shared {
    /// The status.
    pub status: Mutex<Status>,
    /// The metrics.
    pub metrics: Metrics,
    /// Where hooks send triggers.
    pub triggers: mpsc::UnboundedSender<Trigger>,
}

async fn healthz() -> Response {
    (StatusCode::OK, Json(serde_json::json!({"status": "ok"}))).into_response()
}

async fn readyz(State(s): State<Arc<Shared>>) -> Response {
    let ready = s.status.lock().expect("not poisoned").ready;
    if ready {
        (StatusCode::OK, Json(serde_json::json!({"ready": true}))).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({"ready": false, "reason": "no successful reconcile yet"})),
        )
            .into_response()
    }
}

async fn status(State(s): State<Arc<Shared>>) -> Response {
    let status = s.status.lock().expect("not poisoned").clone();
    Json(status).into_response()
}

async fn metrics(State(s): State<Arc<Shared>>) -> Response {
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        s.metrics.render(),
    )
        .into_response()
}

async fn hook(State(s): State<Arc<Shared>>) -> Response {
    let _ = s.triggers.send(Trigger::Hook);
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
        .with_state(shared)
}
