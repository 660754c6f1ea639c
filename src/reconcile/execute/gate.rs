//! The caller's word on whether a run may still write ([`WriteGate`]) and the side that keeps
//! it open ([`GateKeeper`]): a daemon replica's leadership, renewed with its lease.

/// The caller's word on whether this run may still write to the target: open until a
/// deadline its keeper moves forward, closed for good once the deadline passes, the keeper
/// closes it or is dropped. Execution asks it before sending each write and abandons a write
/// in flight the moment it closes; it decides nothing itself.
#[derive(Clone, Default)]
pub struct WriteGate(Option<tokio::sync::watch::Receiver<Option<tokio::time::Instant>>>);

/// The side of a [`WriteGate`] that keeps it open (the leader's lease renewals).
pub struct GateKeeper(tokio::sync::watch::Sender<Option<tokio::time::Instant>>);

impl std::fmt::Debug for WriteGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            None => f.write_str("WriteGate(always open)"),
            Some(_) => write!(f, "WriteGate(open: {})", self.is_open()),
        }
    }
}

impl WriteGate {
    /// A gate open until `deadline`, and its keeper.
    pub fn until(deadline: tokio::time::Instant) -> (GateKeeper, WriteGate) {
        let (tx, rx) = tokio::sync::watch::channel(Some(deadline));
        (GateKeeper(tx), WriteGate(Some(rx)))
    }

    /// Whether a write may be sent now.
    pub fn is_open(&self) -> bool {
        let Some(rx) = &self.0 else {
            return true;
        };
        rx.has_changed().is_ok()
            && matches!(*rx.borrow(), Some(d) if tokio::time::Instant::now() < d)
    }

    /// Resolves once the gate is closed (never, for a gate that is always open).
    pub async fn closed(&self) {
        let Some(rx) = &self.0 else {
            return std::future::pending().await;
        };
        let mut rx = rx.clone();
        loop {
            let deadline = *rx.borrow_and_update();
            let Some(deadline) = deadline else {
                return;
            };
            if tokio::time::Instant::now() >= deadline {
                return;
            }
            tokio::select! {
                () = tokio::time::sleep_until(deadline) => {}
                changed = rx.changed() => if changed.is_err() { return },
            }
        }
    }
}

impl GateKeeper {
    /// The instant the gate closes unless moved.
    pub fn deadline(&self) -> Option<tokio::time::Instant> {
        *self.0.borrow()
    }

    /// Moves the deadline to `deadline`, unless the gate has closed already (it never reopens).
    pub fn extend(&self, deadline: tokio::time::Instant) {
        self.0.send_if_modified(|current| match current {
            Some(d) if tokio::time::Instant::now() < *d => {
                *d = deadline;
                true
            }
            _ => false,
        });
    }

    /// Closes the gate now.
    pub fn close(&self) {
        self.0.send_replace(None);
    }
}

#[cfg(test)]
mod tests {
    use super::WriteGate;
    use tokio::time::{Duration, Instant};

    #[tokio::test]
    async fn a_gate_is_open_until_its_deadline_and_never_reopens() {
        assert!(
            WriteGate::default().is_open(),
            "no caller's word: always open"
        );
        let start = Instant::now();
        let (keeper, gate) = WriteGate::until(start + Duration::from_millis(50));
        assert!(gate.is_open());
        keeper.extend(start + Duration::from_millis(100));
        gate.closed().await;
        assert!(
            start.elapsed() >= Duration::from_millis(100),
            "moved forward"
        );
        assert!(!gate.is_open());
        keeper.extend(Instant::now() + Duration::from_secs(60));
        assert!(!gate.is_open(), "a closed gate stays closed");
    }

    #[tokio::test]
    async fn closing_or_dropping_the_keeper_closes_the_gate_at_once() {
        let far = Instant::now() + Duration::from_secs(3600);
        let (keeper, gate) = WriteGate::until(far);
        let waiting = tokio::spawn({
            let gate = gate.clone();
            async move { gate.closed().await }
        });
        keeper.close();
        waiting.await.unwrap();
        assert!(!gate.is_open());
        let (keeper, gate) = WriteGate::until(far);
        drop(keeper);
        assert!(!gate.is_open());
        gate.closed().await;
    }
}
