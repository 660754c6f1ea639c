//! Who may reconcile: the daemon's one local state, or the leadership of replicas sharing a
//! PostgreSQL state. Replicas contend for the scope's run lock, held as a lease of half
//! `--leader-timeout` on the server; the holder is the leader and alone reconciles and
//! writes, the others keep their manifest source warm and wait. The leader renews its lease
//! every quarter of its length, and writes to the tenant only through a [`WriteGate`] open
//! until half a lease after its last confirmed renewal was *sent*: it stops writing (halting
//! writes in flight) and steps down at least half a lease before anyone can take over, which
//! nobody does before the lease runs out on the server's clock. A leader whose connection
//! ends steps down at once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::watch;
use tokio::time::Instant;

use super::status::Shared;
use crate::reconcile::execute::{GateKeeper, WriteGate};
use crate::state::postgres::{Access, Lease, PostgresBackend};
use crate::state::store::{StateError, StateStore};

/// A replica's part in the election, as `/status` shows it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reconciles and writes (a daemon on a local state is always the leader).
    Leader,
    /// Waits for the leader's lock; keeps its manifest source warm.
    #[default]
    Follower,
}

/// One leadership: the state this replica writes while it leads, and the gate that closes on
/// its writes to the tenant before the leadership can pass to anyone else.
#[derive(Clone)]
pub struct Term {
    /// The state, held with the run lock.
    pub state: Arc<StateStore>,
    /// Open while the lease is confirmed: writes not yet sent are skipped, writes in flight
    /// abandoned, once it closes.
    pub gate: WriteGate,
}

/// Where the daemon's state comes from.
pub enum StateAccess {
    /// A state held for the daemon's whole life (a local directory: its file lock keeps other
    /// processes out).
    Exclusive(StateStore),
    /// A shared PostgreSQL state: replicas elect a leader.
    Elected(Election),
}

/// How replicas on one shared state elect their leader.
#[derive(Debug, Clone)]
pub struct Election {
    /// The PostgreSQL URL.
    pub url: String,
    /// The state scope (one leader per scope).
    pub scope: String,
    /// How long a takeover may take after the leader died (`--leader-timeout`): the lease
    /// lasts half of it, followers retry the lock every third of it.
    pub leader_timeout: Duration,
}

/// The current term (if this replica leads), as it changes.
pub struct Leadership {
    terms: watch::Receiver<Option<Term>>,
    /// Keeps the channel open for an exclusive state, whose term never ends.
    _exclusive: Option<watch::Sender<Option<Term>>>,
}

impl Leadership {
    /// Starts leading (exclusive state) or contending (elected).
    pub fn start(access: StateAccess, shared: Arc<Shared>, stop: Arc<AtomicBool>) -> Self {
        match access {
            StateAccess::Exclusive(state) => {
                let term = Term {
                    state: Arc::new(state),
                    gate: WriteGate::default(),
                };
                became(&shared, Role::Leader);
                let (tx, terms) = watch::channel(Some(term));
                Self {
                    terms,
                    _exclusive: Some(tx),
                }
            }
            StateAccess::Elected(election) => {
                let (tx, terms) = watch::channel(None);
                became(&shared, Role::Follower);
                tokio::spawn(contend(election, tx, shared, stop));
                Self {
                    terms,
                    _exclusive: None,
                }
            }
        }
    }

    /// The term in force, if this replica leads.
    pub fn current(&self) -> Option<Term> {
        self.terms.borrow().clone()
    }

    /// Resolves when this replica becomes leader or stops being one.
    pub async fn changed(&mut self) {
        if self.terms.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Records a role change in `/status` and the metrics.
fn became(shared: &Shared, role: Role) {
    let previous = {
        let mut status = shared.status.lock().expect("not poisoned");
        std::mem::replace(&mut status.role, role)
    };
    shared.metrics.leader.set(i64::from(role == Role::Leader));
    if role == Role::Leader {
        shared.metrics.leader_changes.inc();
    }
    if previous != role {
        tracing::info!(role = ?role, "leadership changed");
    }
}

/// Contends for the lock until `stop`; leads while it holds it.
async fn contend(
    election: Election,
    terms: watch::Sender<Option<Term>>,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
) {
    let wait = (election.leader_timeout / 3).max(Duration::from_millis(300));
    let lease_for = election.leader_timeout / 2;
    while !stop.load(Ordering::SeqCst) {
        let (url, scope) = (election.url.clone(), election.scope.clone());
        // Waits for the lock up to `wait`, trying it every 200 ms.
        let attempt = tokio::task::spawn_blocking(move || {
            let backend = PostgresBackend::open(
                &url,
                &scope,
                Access::Lead {
                    lock_timeout: wait,
                    lease: lease_for,
                },
            )?;
            let lease = backend.lease().expect("a writer has a lease");
            Ok::<_, StateError>((StateStore::with_backend(Box::new(backend))?, lease))
        })
        .await;
        match attempt {
            Ok(Ok((state, lease))) => {
                // The gate opens on a renewal this replica saw confirmed, timed from its
                // sending.
                let sent = Instant::now();
                if !matches!(
                    tokio::time::timeout(lease_for / 4, lease.renew()).await,
                    Ok(Ok(true))
                ) {
                    tracing::warn!("took the lock but could not confirm the lease; retrying");
                    lease.abandon();
                    continue;
                }
                let (keeper, gate) = WriteGate::until(sent + lease_for / 2);
                tracing::info!(epoch = lease.epoch(), "took the leadership");
                terms.send_replace(Some(Term {
                    state: Arc::new(state),
                    gate,
                }));
                became(&shared, Role::Leader);
                lead(&lease, &keeper, lease_for).await;
                // No write to the tenant from here on, and none in flight.
                keeper.close();
                lease.abandon();
                terms.send_replace(None);
                became(&shared, Role::Follower);
            }
            Ok(Err(StateError::Held { holder, .. })) => {
                tracing::debug!(%holder, "another replica leads");
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "could not contend for the leadership; retrying");
                tokio::time::sleep(wait).await;
            }
            Err(e) => {
                tracing::error!(error = %e, "the leadership attempt failed; retrying");
                tokio::time::sleep(wait).await;
            }
        }
    }
}

/// Leads while the lease holds: renews it every quarter of its length, each confirmed renewal
/// keeping the gate open until half a lease after it was sent. Returns (to step down) when the
/// connection ends, another replica took the scope, or the gate's deadline passed without a
/// confirmed renewal. Shutting down does not end it: the last round's writes finish under the
/// lease.
async fn lead(lease: &Lease, keeper: &GateKeeper, lease_for: Duration) {
    loop {
        let Some(deadline) = keeper.deadline() else {
            return;
        };
        tokio::select! {
            () = lease.lost() => {
                tracing::warn!("lost the state's connection: stepping down");
                return;
            }
            () = tokio::time::sleep_until(deadline) => {
                tracing::warn!("the lease was not renewed in time: stepping down");
                return;
            }
            () = tokio::time::sleep(lease_for / 4) => {}
        }
        let sent = Instant::now();
        match tokio::time::timeout_at(deadline, lease.renew()).await {
            Ok(Ok(true)) => keeper.extend(sent + lease_for / 2),
            Ok(Ok(false)) => {
                tracing::warn!("another replica took the lease: stepping down");
                return;
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "could not renew the lease"),
            Err(_) => {
                tracing::warn!("the lease was not renewed in time: stepping down");
                return;
            }
        }
    }
}
