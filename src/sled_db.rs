//! Opening a sled database for one owner: a second opener (another process, or this one again)
//! is told the database is locked, and files sled cannot read are reported as corrupt instead
//! of panicking. Used by the tenant store and the reconciler state.

use std::panic::AssertUnwindSafe;

/// Why a database could not be opened.
#[derive(Debug)]
pub enum OpenError {
    /// Another opener holds it.
    Locked,
    /// sled panicked reading its files.
    Corrupt,
    /// Any other sled error (permissions, disk).
    Other(sled::Error),
}

/// How long an open waits for a lock held by a database of this process that was just dropped:
/// sled lets go of its file lock from its flusher thread, a moment after the drop.
const RELEASE_WAIT: std::time::Duration = std::time::Duration::from_millis(500);

/// Opens the database `config` describes, exclusively. A lock that is still held after
/// [`RELEASE_WAIT`] is [`OpenError::Locked`].
pub fn open_exclusive(config: &sled::Config) -> Result<sled::Db, OpenError> {
    let deadline = std::time::Instant::now() + RELEASE_WAIT;
    loop {
        match open_once(config) {
            Err(OpenError::Locked) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            opened => return opened,
        }
    }
}

fn open_once(config: &sled::Config) -> Result<sled::Db, OpenError> {
    match std::panic::catch_unwind(AssertUnwindSafe(|| config.open())) {
        Ok(Ok(db)) => Ok(db),
        Ok(Err(sled::Error::Io(e)))
            if e.kind() == std::io::ErrorKind::WouldBlock
                || e.to_string().contains("could not acquire lock") =>
        {
            Err(OpenError::Locked)
        }
        Ok(Err(e)) => Err(OpenError::Other(e)),
        Err(_) => Err(OpenError::Corrupt),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_opener_in_the_same_process_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let config = sled::Config::new().path(dir.path());
        let _first = open_exclusive(&config).unwrap();
        // sled locks with flock, which is per open file description: a second open in the same
        // process must fail too, because sled opens a new description.
        assert!(matches!(open_exclusive(&config), Err(OpenError::Locked)));
    }
}
