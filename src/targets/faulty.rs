//! A fault layer over any [`Target`]: each request is numbered and a [`Decide`] chooses what
//! happens to it — the `serve --faults` faults ([`crate::server::faults`], the same decisions
//! the HTTP edge applies), or a halt (the caller vanishes mid-request, the deterministic
//! simulation's crash). In-process, so a paused tokio clock governs its delays.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;

use super::usage::ApiUsage;
use super::{JsonObject, Target, TargetError, TargetErrorKind};
use crate::model::kinds::{AnyKind, Api};
use crate::server::faults::{Fault, FaultSpec, Omissions, RequestClass};

/// What tells one listed item of `api` from another: its id (the whole item when it has none).
fn item_key(api: &Api, item: &JsonObject) -> String {
    api.id_of(item)
        .unwrap_or_else(|| serde_json::Value::Object(item.clone()).to_string())
}

/// One request as the fault layer sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    /// Its number, from 0, over the requests this layer passed.
    pub seq: u64,
    /// The operation: `list`, `get`, `create`, `update` or `delete` (the [`Target`] call).
    pub op: &'static str,
    /// The kind it addresses.
    pub kind: AnyKind,
    /// Whether its answer is a list (only lists can omit an item).
    pub class: RequestClass,
}

/// What happens to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Injected {
    /// One of the faults `serve --faults` injects.
    Fault(Fault),
    /// The caller is gone: the request is applied (`applied`) or not, and no answer ever comes
    /// (the future never completes). A simulation drops its reconciler here, as a crash would.
    Halt {
        /// Whether the tenant applied the request before the caller vanished.
        applied: bool,
    },
}

/// Chooses what happens to each request.
pub trait Decide: Send + Sync {
    /// What `request` gets (`None`: it passes untouched).
    fn inject(&self, request: Request) -> Option<Injected>;
}

impl Decide for FaultSpec {
    fn inject(&self, request: Request) -> Option<Injected> {
        self.decide(request.seq, request.class).map(Injected::Fault)
    }
}

/// A target whose requests pass a [`Decide`] first.
pub struct FaultyTarget {
    inner: Arc<dyn Target>,
    decide: Arc<dyn Decide>,
    seq: AtomicU64,
    idempotency_keys: bool,
    /// Per collection: the item its last answers left out, and in how many in a row.
    omitted: Omissions,
}

impl FaultyTarget {
    /// `inner` behind `decide`. It advertises `Idempotency-Key` deduplication only when
    /// `idempotency_keys` and `inner` does (upstream never promises it: a simulation of
    /// upstream says `false`).
    pub fn new(inner: Arc<dyn Target>, decide: Arc<dyn Decide>, idempotency_keys: bool) -> Self {
        Self {
            inner,
            decide,
            seq: AtomicU64::new(0),
            idempotency_keys,
            omitted: Omissions::default(),
        }
    }

    /// Numbers the request and asks what it gets.
    fn next(&self, op: &'static str, kind: AnyKind, class: RequestClass) -> Option<Injected> {
        let seq = self.seq.fetch_add(1, Ordering::SeqCst);
        self.decide.inject(Request {
            seq,
            op,
            kind,
            class,
        })
    }

    /// Runs `call` as `injected` says.
    async fn pass<T>(
        &self,
        injected: Option<Injected>,
        call: impl Future<Output = Result<T, TargetError>>,
    ) -> Result<T, TargetError> {
        let transient = |what: &str| Err(TargetError::new(TargetErrorKind::Transient, what));
        match injected {
            None | Some(Injected::Fault(Fault::OmitFromList { .. })) => call.await,
            Some(Injected::Fault(Fault::Slow { delay })) => {
                tokio::time::sleep(delay).await;
                call.await
            }
            Some(Injected::Fault(Fault::TooManyRequests { retry_after_secs })) => {
                Err(TargetError::new(
                    TargetErrorKind::RateLimited,
                    format!("429 Too Many Requests (injected; Retry-After: {retry_after_secs})"),
                ))
            }
            Some(Injected::Fault(Fault::Unavailable)) => {
                transient("503 Service Unavailable (injected)")
            }
            Some(Injected::Fault(Fault::Timeout { hold })) => {
                tokio::time::sleep(hold).await;
                transient("the request timed out (injected)")
            }
            Some(Injected::Fault(Fault::Reset)) => transient("connection reset (injected)"),
            Some(Injected::Fault(Fault::LostResponse)) => {
                let _ = call.await;
                transient("the connection closed before the answer (injected)")
            }
            Some(Injected::Halt { applied }) => {
                if applied {
                    let _ = call.await;
                }
                std::future::pending().await
            }
        }
    }

    /// Runs a list request of `collection` (of `kind`): an `omit-from-list` fault leaves one
    /// item out of a successful answer, never one the collection's last answers already left
    /// out too often ([`Omissions::choose`]). A singleton's read is not a list.
    async fn list_answer(
        &self,
        kind: AnyKind,
        collection: String,
        call: impl Future<Output = Result<Vec<JsonObject>, TargetError>>,
    ) -> Result<Vec<JsonObject>, TargetError> {
        let api = kind.api();
        if api.singleton_field.is_some() {
            return self.one("list", kind, call).await;
        }
        let injected = self.next("list", kind, RequestClass::List);
        let mut items = self.pass(injected, call).await?;
        let pick = match injected {
            Some(Injected::Fault(Fault::OmitFromList { pick })) => Some(pick),
            _ => None,
        };
        let key = |i: usize| item_key(api, &items[i]);
        if let Some(at) = self.omitted.choose(&collection, pick, items.len(), key) {
            items.remove(at);
        }
        Ok(items)
    }

    /// Runs any other request.
    async fn one<T>(
        &self,
        op: &'static str,
        kind: AnyKind,
        call: impl Future<Output = Result<T, TargetError>>,
    ) -> Result<T, TargetError> {
        let injected = self.next(op, kind, RequestClass::Other);
        self.pass(injected, call).await
    }
}

#[async_trait]
impl Target for FaultyTarget {
    fn describe(&self) -> String {
        format!("{} (with injected faults)", self.inner.describe())
    }

    fn usage(&self) -> Arc<ApiUsage> {
        self.inner.usage()
    }

    fn token_url(&self) -> Option<String> {
        self.inner.token_url()
    }

    async fn honors_idempotency_keys(&self) -> bool {
        self.idempotency_keys && self.inner.honors_idempotency_keys().await
    }

    async fn tenant_id(&self) -> Result<Option<String>, TargetError> {
        self.inner.tenant_id().await
    }

    async fn credential_view(&self) -> Result<crate::plan::CredentialView, TargetError> {
        self.inner.credential_view().await
    }

    async fn list(
        &self,
        kind: AnyKind,
        app_id: Option<&str>,
    ) -> Result<Vec<JsonObject>, TargetError> {
        let collection = format!("{kind} of {}", app_id.unwrap_or("the tenant"));
        self.list_answer(kind, collection, self.inner.list(kind, app_id))
            .await
    }

    async fn get(
        &self,
        kind: AnyKind,
        app_id: Option<&str>,
        id: &str,
    ) -> Result<Option<JsonObject>, TargetError> {
        self.one("get", kind, self.inner.get(kind, app_id, id))
            .await
    }

    async fn create(
        &self,
        kind: AnyKind,
        app_id: Option<&str>,
        body: &JsonObject,
        idempotency_key: &str,
    ) -> Result<JsonObject, TargetError> {
        let call = self.inner.create(kind, app_id, body, idempotency_key);
        self.one("create", kind, call).await
    }

    async fn update(
        &self,
        kind: AnyKind,
        app_id: Option<&str>,
        id: Option<&str>,
        body: &JsonObject,
    ) -> Result<Option<JsonObject>, TargetError> {
        let call = self.inner.update(kind, app_id, id, body);
        self.one("update", kind, call).await
    }

    async fn delete(
        &self,
        kind: AnyKind,
        app_id: Option<&str>,
        id: &str,
    ) -> Result<(), TargetError> {
        self.one("delete", kind, self.inner.delete(kind, app_id, id))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Gives every request the same answer.
    struct Always(Option<Injected>);

    impl Decide for Always {
        fn inject(&self, _: Request) -> Option<Injected> {
            self.0
        }
    }

    fn faulty(
        dir: &std::path::Path,
        injected: Option<Injected>,
    ) -> (Arc<dyn Target>, FaultyTarget) {
        let inner: Arc<dyn Target> =
            Arc::new(super::super::local::LocalTarget::open(dir, true).unwrap());
        let layer = FaultyTarget::new(inner.clone(), Arc::new(Always(injected)), true);
        (inner, layer)
    }

    fn app(name: &str) -> JsonObject {
        json!({"app_name": name, "client_display_name": "Web",
               "first_client": {"name": "Web", "redirect_uris": []}})
        .as_object()
        .unwrap()
        .clone()
    }

    #[tokio::test(start_paused = true)]
    async fn each_fault_does_what_it_says_to_the_request() {
        let dir = tempfile::tempdir().unwrap();
        // A lost response: applied, answered with a transient error.
        let (inner, lost) = faulty(dir.path(), Some(Injected::Fault(Fault::LostResponse)));
        let err = lost.create_app(&app("Lost"), "k1").await.unwrap_err();
        assert_eq!(err.kind, TargetErrorKind::Transient);
        assert!(!err.certainly_not_applied());
        assert_eq!(inner.list_apps().await.unwrap().len(), 1);
        // 429 and 5xx: nothing applied.
        for fault in [
            Fault::TooManyRequests {
                retry_after_secs: 1,
            },
            Fault::Unavailable,
        ] {
            let layer = FaultyTarget::new(
                inner.clone(),
                Arc::new(Always(Some(Injected::Fault(fault)))),
                true,
            );
            let err = layer.create_app(&app("Refused"), "k2").await.unwrap_err();
            assert_ne!(err.kind, TargetErrorKind::NotFound);
        }
        assert_eq!(inner.list_apps().await.unwrap().len(), 1);
        // A slow answer takes its delay on the (paused) clock, then answers.
        let slow = FaultyTarget::new(
            inner.clone(),
            Arc::new(Always(Some(Injected::Fault(Fault::Slow {
                delay: std::time::Duration::from_millis(700),
            })))),
            true,
        );
        let t0 = tokio::time::Instant::now();
        assert_eq!(slow.list_apps().await.unwrap().len(), 1);
        assert!(t0.elapsed() >= std::time::Duration::from_millis(700));
        // A list omits one item.
        inner.create_app(&app("Second"), "k3").await.unwrap();
        let omit = FaultyTarget::new(
            inner.clone(),
            Arc::new(Always(Some(Injected::Fault(Fault::OmitFromList {
                pick: 3,
            })))),
            true,
        );
        assert_eq!(omit.list_apps().await.unwrap().len(), 1);
        assert_eq!(inner.list_apps().await.unwrap().len(), 2);
        // Upstream is never assumed to deduplicate creates.
        let upstream = FaultyTarget::new(inner.clone(), Arc::new(Always(None)), false);
        assert!(!upstream.honors_idempotency_keys().await);
        assert!(lost.honors_idempotency_keys().await);
    }

    #[tokio::test(start_paused = true)]
    async fn no_item_is_left_out_of_more_answers_in_a_row_than_the_streak_allows() {
        let dir = tempfile::tempdir().unwrap();
        let omit_first = Some(Injected::Fault(Fault::OmitFromList { pick: 0 }));
        let (inner, layer) = faulty(dir.path(), omit_first);
        inner.create_app(&app("Only"), "k1").await.unwrap();
        // The one item: left out twice, then shown, then left out again.
        let sizes: Vec<usize> = {
            let mut v = Vec::new();
            for _ in 0..4 {
                v.push(layer.list_apps().await.unwrap().len());
            }
            v
        };
        assert_eq!(sizes, vec![0, 0, 1, 0]);
        // With two items the third omission leaves out the other one instead.
        inner.create_app(&app("Other"), "k2").await.unwrap();
        let layer = FaultyTarget::new(inner.clone(), Arc::new(Always(omit_first)), true);
        let mut left_out = Vec::new();
        for _ in 0..3 {
            let shown: Vec<String> = layer
                .list_apps()
                .await
                .unwrap()
                .iter()
                .map(|a| a["app_name"].as_str().unwrap().to_owned())
                .collect();
            assert_eq!(shown.len(), 1);
            left_out.extend(
                ["Only", "Other"]
                    .into_iter()
                    .filter(|n| !shown.iter().any(|s| s == n)),
            );
        }
        assert_eq!(left_out[0], left_out[1]);
        assert_ne!(left_out[1], left_out[2], "{left_out:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_halt_applies_or_not_and_never_answers() {
        let dir = tempfile::tempdir().unwrap();
        let (inner, halted) = faulty(dir.path(), Some(Injected::Halt { applied: true }));
        let pending = tokio::time::timeout(
            std::time::Duration::from_secs(3600),
            halted.create_app(&app("Halted"), "k"),
        )
        .await;
        assert!(pending.is_err(), "a halted request never answers");
        assert_eq!(inner.list_apps().await.unwrap().len(), 1);
        let not_applied = FaultyTarget::new(
            inner.clone(),
            Arc::new(Always(Some(Injected::Halt { applied: false }))),
            true,
        );
        let pending = tokio::time::timeout(
            std::time::Duration::from_secs(3600),
            not_applied.create_app(&app("Never"), "k2"),
        )
        .await;
        assert!(pending.is_err());
        assert_eq!(inner.list_apps().await.unwrap().len(), 1);
    }
}
