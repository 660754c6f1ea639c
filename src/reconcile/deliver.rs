//! Credential delivery, the I/O around [`crate::credentials`]: reads the managed clients live
//! and gives each configured sink what it lacks — a file per client in a directory, or a JSON
//! event on a command's stdin — recording each delivery in the state as a salted hash, so an
//! unchanged secret is delivered once and a sink added later receives every client.
//!
//! A failed delivery is reported and not recorded: the next run delivers it again. Nothing here
//! logs or prints a secret; a command's own output is discarded. Files go only into directories
//! of this user that nobody else can write, reached without links
//! ([`crate::private_dir::SecretDir`]); a command runs in its own process group, killed whole
//! at its timeout.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncWriteExt as _;

use crate::credentials::{self, Credential, Delivery, DeliveryRecord, Event, FileFormat};
use crate::model::kinds::AnyKind;
use crate::model::kinds::CLIENT;
use crate::model::ClientKey;
use crate::private_dir::{SecretDir, SecretDirError};
use crate::state::address::Address;
use crate::state::entry::{salted_hash, StateSnapshot};
use crate::state::store::{StateError, StateStore};
use crate::targets::{Target, TargetError};

/// Where credentials go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sink {
    /// `DIR/<app>/<client>.json` (or `.env`), mode 0600 in 0700 directories; `DIR` and
    /// `DIR/<app>` refused unless this user's, closed to others' writes, and not links.
    Files {
        /// The directory.
        dir: PathBuf,
        /// File format.
        format: FileFormat,
    },
    /// A command run once per delivery with the JSON event on stdin (no shell).
    Exec {
        /// Program and arguments.
        argv: Vec<String>,
        /// How long it may run.
        timeout: Duration,
    },
}

impl Sink {
    /// A command sink from a command line (`vault kv put …`; quotes as in a shell, but no shell
    /// runs unless the command is `sh -c …`).
    pub fn exec(command: &str, timeout: Duration) -> Result<Self, String> {
        match shlex::split(command) {
            Some(argv) if !argv.is_empty() => Ok(Self::Exec { argv, timeout }),
            _ => Err(format!(
                "--credentials-exec `{command}`: not a command line (unbalanced quotes?)"
            )),
        }
    }

    /// What identifies the sink in the state's delivery records. A command is recorded as a
    /// salted hash of its arguments (`salt`: the state's), never as text: a command line may
    /// carry a token (`--vault-token …`).
    fn id(&self, salt: &[u8]) -> String {
        match self {
            Self::Files { dir, format } => {
                let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.clone());
                format!("files:{format:?}:{}", dir.display())
            }
            Self::Exec { argv, .. } => {
                let hash = salted_hash(salt, &serde_json::json!(argv));
                format!("exec-hash:{}", &hash[..32])
            }
        }
    }

    /// The id earlier versions recorded a command's deliveries under (the command line in
    /// clear): its records are moved to [`Sink::id`]. It starts `exec:`, which no current id
    /// does.
    fn legacy_id(&self) -> Option<String> {
        match self {
            Self::Files { .. } => None,
            Self::Exec { argv, .. } => Some(format!("exec:{}", argv.join(" "))),
        }
    }

    /// The sink as reports name it.
    pub fn describe(&self) -> String {
        match self {
            Self::Files { dir, .. } => format!("--credentials-out {}", dir.display()),
            Self::Exec { argv, .. } => format!("--credentials-exec {}", argv[0]),
        }
    }

    /// The file name of the client at `address` in its application's directory (characters
    /// other than letters, digits, `-`, `_` and `.` in the client's name are percent-encoded,
    /// so every name has its own file).
    fn file_name(format: FileFormat, address: &Address) -> String {
        let name: String = address
            .client_name()
            .unwrap_or_default()
            .bytes()
            .map(|b| match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' => (b as char).to_string(),
                b'.' => ".".to_owned(),
                other => format!("%{other:02X}"),
            })
            .collect();
        let ext = match format {
            FileFormat::Json => "json",
            FileFormat::Env => "env",
        };
        format!("{name}.{ext}")
    }

    /// The file of the client at `address`: `DIR/<app>/<file name>`.
    #[cfg(test)]
    fn file(dir: &Path, format: FileFormat, address: &Address) -> PathBuf {
        dir.join(address.app_name())
            .join(Self::file_name(format, address))
    }

    async fn give(&self, credential: &Credential, event: Event) -> Result<(), String> {
        match self {
            Self::Files { dir, format } => {
                let text = match format {
                    FileFormat::Json => {
                        let mut doc = credential.document(event);
                        doc.as_object_mut().map(|d| d.remove("event"));
                        format!("{doc:#}\n")
                    }
                    FileFormat::Env => credential.env_lines("", true),
                };
                let address = &credential.address;
                let write = || -> Result<(), SecretDirError> {
                    let root = SecretDir::open(dir, true)?.ok_or_else(|| gone(dir))?;
                    let app = root
                        .child(address.app_name(), true)?
                        .ok_or_else(|| gone(&dir.join(address.app_name())))?;
                    app.write(&Self::file_name(*format, address), text.as_bytes())
                };
                write().map_err(|e| e.to_string())
            }
            Self::Exec { argv, timeout } => {
                run_with_stdin(argv, *timeout, &credential.document(event)).await
            }
        }
    }

    async fn withdraw(&self, key: &str, record: &DeliveryRecord) -> Result<(), String> {
        match self {
            Self::Files { dir, format } => {
                let Some(address) = Address::parse(key) else {
                    return Ok(());
                };
                // Relative to the opened directories: a link swapped in for one of them
                // redirects nothing (it is refused), and a missing one has nothing to remove.
                let remove = || -> Result<(), SecretDirError> {
                    let Some(root) = SecretDir::open(dir, false)? else {
                        return Ok(());
                    };
                    match root.child(address.app_name(), false)? {
                        Some(app) => app.remove(&Self::file_name(*format, &address)),
                        None => Ok(()),
                    }
                };
                remove().map_err(|e| e.to_string())
            }
            Self::Exec { argv, timeout } => {
                let doc = serde_json::json!({
                    "event": Event::Deleted,
                    "object": key,
                    "app_id": record.app_id,
                    "client_id": record.client_id,
                });
                run_with_stdin(argv, *timeout, &doc).await
            }
        }
    }
}

/// A directory that vanished between its creation and its opening.
fn gone(path: &Path) -> SecretDirError {
    SecretDirError::Io {
        path: path.to_owned(),
        source: std::io::ErrorKind::NotFound.into(),
    }
}

/// Runs `argv` with `doc` on stdin and without tenantsync's own `TENANTSYNC_*` variables; its
/// output is discarded (it may hold the secret).
async fn run_with_stdin(
    argv: &[String],
    timeout: Duration,
    doc: &serde_json::Value,
) -> Result<(), String> {
    let program = &argv[0];
    let mut command = tokio::process::Command::new(program);
    // The command gets the one client's credential on stdin, never tenantsync's own.
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("TENANTSYNC_") {
            command.env_remove(name);
        }
    }
    let mut child = command
        .args(&argv[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        // Its own process group: a timeout kills what it started too, not only the command.
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("could not start `{program}`: {e}"))?;
    let mut group = GroupGuard(
        child
            .id()
            .and_then(|id| rustix::process::Pid::from_raw(id as i32)),
    );
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let bytes = serde_json::to_vec(doc).expect("a JSON document serializes");
    let run = async {
        // A command that exits without reading its input is judged by its exit status.
        let _ = stdin.write_all(&bytes).await;
        drop(stdin);
        child.wait().await
    };
    let outcome = tokio::time::timeout(timeout, run).await;
    if matches!(outcome, Ok(Ok(_))) {
        // Reaped: what it left running on purpose is its own business.
        group.0 = None;
    } else {
        group.kill();
        let _ = child.wait().await;
    }
    match outcome {
        Err(_) => Err(format!(
            "`{program}` did not finish within {}s; it was killed with its process group",
            timeout.as_secs()
        )),
        Ok(Err(e)) => Err(format!("`{program}`: {e}")),
        Ok(Ok(status)) if status.success() => Ok(()),
        Ok(Ok(status)) => Err(format!("`{program}` failed ({status})")),
    }
}

/// The process group of a command not yet reaped: killed when the command times out, or when
/// the delivery is abandoned (the future dropped, e.g. at shutdown).
struct GroupGuard(Option<rustix::process::Pid>);

impl GroupGuard {
    fn kill(&mut self) {
        if let Some(group) = self.0.take() {
            let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
        }
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

/// What a delivery run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DeliveryReport {
    /// Credentials given (created or changed), over all sinks.
    pub delivered: usize,
    /// Deletions told, over all sinks.
    pub withdrawn: usize,
    /// What failed (no secret): delivered again on the next run.
    pub failures: Vec<String>,
}

/// Why delivery could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum DeliverError {
    /// Reading the clients failed.
    #[error("reading the managed clients: {0}")]
    Target(#[from] TargetError),
    /// The state failed.
    #[error(transparent)]
    State(#[from] StateError),
}

/// The credentials of the managed clients in `snapshot` (or of `only` of them), read live: one
/// list per application, and a direct read for a client a list leaves out. A client that is
/// gone has none.
pub async fn read_credentials(
    target: &dyn Target,
    snapshot: &StateSnapshot,
    only: Option<&[Address]>,
) -> Result<Vec<Credential>, TargetError> {
    let token_url = target.token_url();
    let mut by_app: BTreeMap<&str, Vec<(&Address, &str)>> = BTreeMap::new();
    for (address, entry) in snapshot.app_entries() {
        let wanted = only.is_none_or(|o| o.contains(address));
        if let (AnyKind::Client, Some(client_id), true) =
            (address.kind, entry.id.as_deref(), wanted)
        {
            by_app
                .entry(entry.application_id())
                .or_default()
                .push((address, client_id));
        }
    }
    let mut out = Vec::new();
    for (app_id, clients) in by_app {
        let listed = match target.list_clients(app_id).await {
            Ok(list) => list,
            Err(e) if e.kind == crate::targets::TargetErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        for (address, client_id) in clients {
            let found = listed
                .iter()
                .find(|c| c.get(CLIENT.id_field()).and_then(|v| v.as_str()) == Some(client_id))
                .cloned();
            let live = match found {
                Some(live) => Some(live),
                None => target.get_client(ClientKey::new(app_id, client_id)).await?,
            };
            if let Some(c) = live.and_then(|live| {
                Credential::from_live(address.clone(), app_id, &live, token_url.as_deref())
            }) {
                out.push(c);
            }
        }
    }
    Ok(out)
}

/// Moves the delivery records kept under `legacy` to `id`, so the sink is not given everything
/// again and the old id (a command line, perhaps with a token) leaves the state.
fn upgrade_records(state: &StateStore, legacy: &str, id: &str) -> Result<(), StateError> {
    for (key, record) in state.deliveries(legacy)? {
        state.record_delivery(id, &key, Some(&record))?;
        state.record_delivery(legacy, &key, None)?;
    }
    Ok(())
}

/// Gives every sink what it lacks for the clients managed now (see the module doc).
pub async fn deliver(
    target: &dyn Target,
    state: &StateStore,
    sinks: &[Sink],
) -> Result<DeliveryReport, DeliverError> {
    let mut report = DeliveryReport::default();
    if sinks.is_empty() {
        return Ok(report);
    }
    let snapshot = state.snapshot()?;
    let current = read_credentials(target, &snapshot, None).await?;
    for sink in sinks {
        let id = sink.id(&snapshot.salt);
        if let Some(legacy) = sink.legacy_id() {
            upgrade_records(state, &legacy, &id)?;
        }
        let records = state.deliveries(&id)?;
        for delivery in credentials::deliveries(&records, &current, &snapshot.salt) {
            match delivery {
                Delivery::Give {
                    event,
                    credential,
                    fingerprint,
                } => match sink.give(credential, event).await {
                    Ok(()) => {
                        let record = DeliveryRecord {
                            fingerprint,
                            app_id: credential.app_id.clone(),
                            client_id: credential.client_id.clone(),
                        };
                        let key = credential.address.key();
                        state.record_delivery(&id, &key, Some(&record))?;
                        report.delivered += 1;
                    }
                    Err(e) => report.failures.push(format!(
                        "{}: {} ({event:?}): {e}",
                        sink.describe(),
                        credential.address
                    )),
                },
                Delivery::Withdraw { key, record } => match sink.withdraw(&key, record).await {
                    Ok(()) => {
                        state.record_delivery(&id, &key, None)?;
                        report.withdrawn += 1;
                    }
                    Err(e) => report
                        .failures
                        .push(format!("{}: {key} (deleted): {e}", sink.describe())),
                },
            }
        }
    }
    for failure in &report.failures {
        tracing::warn!(failure = %failure, "credential delivery failed; it is retried on the next run");
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_command_that_hangs_is_killed_at_its_timeout_and_a_failing_one_is_reported() {
        let hang = Sink::exec("sleep 30", Duration::from_millis(200)).unwrap();
        let Sink::Exec { argv, timeout } = &hang else {
            unreachable!()
        };
        let started = std::time::Instant::now();
        let err = run_with_stdin(argv, *timeout, &serde_json::json!({}))
            .await
            .unwrap_err();
        assert!(err.contains("did not finish within"), "{err}");
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "it was not killed"
        );
        let failing = run_with_stdin(&["false".to_owned()], *timeout, &serde_json::json!({}))
            .await
            .unwrap_err();
        assert!(failing.contains("failed"), "{failing}");
        assert!(Sink::exec("sh -c 'unbalanced", *timeout).is_err());
        assert_eq!(
            Sink::exec("sh -c 'cat > \"a b\"'", *timeout).unwrap(),
            Sink::Exec {
                argv: vec!["sh".into(), "-c".into(), "cat > \"a b\"".into()],
                timeout: *timeout
            }
        );
    }

    #[test]
    fn client_names_map_to_distinct_file_names() {
        let path = |name: &str| {
            Sink::file(
                Path::new("/d"),
                FileFormat::Env,
                &Address::client("shop", name),
            )
        };
        assert_eq!(path("Web"), Path::new("/d/shop/Web.env"));
        assert_eq!(path("Mobile app"), Path::new("/d/shop/Mobile%20app.env"));
        assert_ne!(path("a b"), path("a_b"));
        assert_eq!(path("../x"), Path::new("/d/shop/..%2Fx.env"));
    }

    #[test]
    fn a_command_sink_is_recorded_by_a_salted_hash_and_old_records_move_to_it() {
        let sink = Sink::exec("sink --vault-token hunter2", Duration::from_secs(1)).unwrap();
        let id = sink.id(b"salt");
        assert!(!id.contains("hunter2") && !id.contains("sink"), "{id}");
        assert_eq!(id, sink.id(b"salt"), "stable");
        assert_ne!(id, sink.id(b"other"), "salted");
        let other = Sink::exec("sink --vault-token hunter3", Duration::from_secs(1)).unwrap();
        assert_ne!(id, other.id(b"salt"));

        let dir = tempfile::tempdir().unwrap();
        let state = StateStore::open(dir.path()).unwrap();
        let legacy = sink.legacy_id().unwrap();
        assert_eq!(legacy, "exec:sink --vault-token hunter2");
        let record = DeliveryRecord {
            fingerprint: "f".into(),
            app_id: "a1".into(),
            client_id: "c1".into(),
        };
        state
            .record_delivery(&legacy, "Client/shop/Web", Some(&record))
            .unwrap();
        upgrade_records(&state, &legacy, &id).unwrap();
        assert!(state.deliveries(&legacy).unwrap().is_empty());
        assert_eq!(
            state.deliveries(&id).unwrap(),
            BTreeMap::from([("Client/shop/Web".to_owned(), record)])
        );
        // Nothing left to move: a second run changes nothing.
        upgrade_records(&state, &legacy, &id).unwrap();
        assert_eq!(state.deliveries(&id).unwrap().len(), 1);
    }
}
