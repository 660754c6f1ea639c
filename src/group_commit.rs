//! Group commit for sled: writers note each write, then await durability; concurrent waiters
//! share one flush (whoever flushes covers every write made before the flush began), so
//! throughput does not collapse to one fsync per write. Used by the tenant store and the
//! reconciler state.

use std::sync::atomic::{AtomicU64, Ordering};

/// Durability bookkeeping for one sled database.
pub struct GroupCommit {
    db: sled::Db,
    written: AtomicU64,
    durable: AtomicU64,
    flush_lock: tokio::sync::Mutex<()>,
    /// A database nothing outlives (sled's temporary mode): never flushed.
    volatile: bool,
}

impl GroupCommit {
    /// Bookkeeping for `db`.
    pub fn new(db: sled::Db) -> Self {
        Self {
            db,
            written: AtomicU64::new(0),
            durable: AtomicU64::new(0),
            flush_lock: tokio::sync::Mutex::new(()),
            volatile: false,
        }
    }

    /// Bookkeeping for a temporary `db`: every write is as durable as it will ever be at once,
    /// so awaiting durability never leaves the caller's task (no blocking flush: a test on a
    /// paused clock stays deterministic).
    pub fn volatile(db: sled::Db) -> Self {
        Self {
            volatile: true,
            ..Self::new(db)
        }
    }

    /// Notes that a write was applied (call after each write, before awaiting durability).
    pub fn wrote(&self) {
        self.written.fetch_add(1, Ordering::SeqCst);
    }

    /// Returns once every write noted before the call is on disk.
    pub async fn durable(&self) -> Result<(), sled::Error> {
        if self.volatile {
            return Ok(());
        }
        let mine = self.written.load(Ordering::SeqCst);
        loop {
            if self.durable.load(Ordering::SeqCst) >= mine {
                return Ok(());
            }
            let _guard = self.flush_lock.lock().await;
            if self.durable.load(Ordering::SeqCst) >= mine {
                return Ok(());
            }
            let covers = self.written.load(Ordering::SeqCst);
            let db = self.db.clone();
            tokio::task::spawn_blocking(move || db.flush())
                .await
                .expect("the flush task does not panic")?;
            self.durable.fetch_max(covers, Ordering::SeqCst);
        }
    }
}
