//! Who may reconcile: the daemon's one local state, or the leadership of replicas sharing a
//! PostgreSQL state. Replicas contend for the scope's run lock; the holder is the leader and
//! alone reconciles and writes, the others keep their manifest source warm and wait. A leader
//! whose connection ends, or whose lease stops answering, halts its writes at once and steps
//! down; a follower takes the lock as soon as the server releases it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::watch;

use super::status::Shared;
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

/// One leadership: the state this replica writes while it leads, and the flag that halts its
/// writes the moment the leadership is lost.
#[derive(Clone)]
pub struct Term {
    /// The state, held with the run lock.
    pub state: Arc<StateStore>,
    /// Set when the leadership is lost: objects not yet started are skipped.
    pub halt: Arc<AtomicBool>,
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
    /// How long a takeover may take after the leader died (`--leader-timeout`): followers
    /// retry the lock well within it, and the leader checks its lease at a third of it.
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
                    halt: Arc::new(AtomicBool::new(false)),
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
    let check_every = (election.leader_timeout / 3).max(Duration::from_millis(300));
    while !stop.load(Ordering::SeqCst) {
        let (url, scope) = (election.url.clone(), election.scope.clone());
        // Waits for the lock up to `check_every`, trying it every 200 ms.
        let attempt = tokio::task::spawn_blocking(move || {
            let backend = PostgresBackend::open(
                &url,
                &scope,
                Access::Write {
                    lock_timeout: check_every,
                },
            )?;
            let lease = backend.lease().expect("a writer has a lease");
            Ok::<_, StateError>((StateStore::with_backend(Box::new(backend))?, lease))
        })
        .await;
        match attempt {
            Ok(Ok((state, lease))) => {
                let halt = Arc::new(AtomicBool::new(false));
                tracing::info!(epoch = lease.epoch(), "took the leadership");
                terms.send_replace(Some(Term {
                    state: Arc::new(state),
                    halt: halt.clone(),
                }));
                became(&shared, Role::Leader);
                lead(&lease, check_every, election.leader_timeout / 2, &stop).await;
                if stop.load(Ordering::SeqCst) {
                    // Shutting down: the loop flushes the term's state on its way out.
                    return;
                }
                // Stop writing before anyone else can start: the lock is gone or going.
                halt.store(true, Ordering::SeqCst);
                terms.send_replace(None);
                became(&shared, Role::Follower);
            }
            Ok(Err(StateError::Held { .. })) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "could not contend for the leadership; retrying");
                tokio::time::sleep(check_every).await;
            }
            Err(e) => {
                tracing::error!(error = %e, "the leadership attempt failed; retrying");
                tokio::time::sleep(check_every).await;
            }
        }
    }
}

/// Holds the leadership until the connection ends, the lease is not confirmed within
/// `answer_within` (half the leader timeout: a slow database is not yet a lost one, but a
/// silent one must not outlive the follower's wait), or `stop`.
async fn lead(lease: &Lease, check_every: Duration, answer_within: Duration, stop: &AtomicBool) {
    loop {
        tokio::select! {
            () = lease.lost() => {
                tracing::warn!("lost the state's connection: stepping down");
                return;
            }
            () = tokio::time::sleep(check_every) => {}
        }
        if stop.load(Ordering::SeqCst) {
            return;
        }
        if !lease.holds(answer_within).await {
            tracing::warn!("the lease did not answer or was taken: stepping down");
            return;
        }
    }
}
