//! `tenantsync serve`: bootstrap credentials, open the store, listen, serve until a signal.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context as _};
use base64::Engine as _;
use rand::RngCore;
use serde::Deserialize;

use crate::cli::ServeArgs;
use crate::server::auth::ManagementCredential;
use crate::server::{self, ServerState};
use crate::tenant::{Permissions, Responses, Tenant, TenantStore};

/// Name of the generated admin credentials file inside the data directory.
pub const ADMIN_CREDENTIALS_FILE: &str = "admin-credentials";

/// Where the admin credentials came from (logged; the values never are).
#[derive(Debug, PartialEq, Eq)]
enum CredentialSource {
    Environment,
    ExistingFile(PathBuf),
    Generated(PathBuf),
}

fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut buf);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

fn read_credentials_file(path: &Path) -> anyhow::Result<(String, String)> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("could not read {}", path.display()))?;
    let mut id = None;
    let mut secret = None;
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("TENANTSYNC_CLIENT_ID=") {
            id = Some(v.trim().to_owned());
        } else if let Some(v) = line.strip_prefix("TENANTSYNC_CLIENT_SECRET=") {
            secret = Some(v.trim().to_owned());
        }
    }
    match (id, secret) {
        (Some(id), Some(secret)) => Ok((id, secret)),
        _ => bail!(
            "{} must hold TENANTSYNC_CLIENT_ID=… and TENANTSYNC_CLIENT_SECRET=… lines; delete it to generate new credentials",
            path.display()
        ),
    }
}

fn write_credentials_file(path: &Path, id: &str, secret: &str) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("could not create {}", path.display()))?;
    writeln!(
        file,
        "# tenantsync serve: admin (management) credentials. Use them with:\n#   set -a; . {}; set +a\nTENANTSYNC_CLIENT_ID={id}\nTENANTSYNC_CLIENT_SECRET={secret}",
        path.display()
    )?;
    file.sync_all()?;
    Ok(())
}

/// Admin credentials: the environment, else the data dir's file, else generated (mode 0600).
fn admin_credentials(data: &Path) -> anyhow::Result<(String, String, CredentialSource)> {
    let env_id = std::env::var("TENANTSYNC_ADMIN_CLIENT_ID")
        .ok()
        .filter(|v| !v.is_empty());
    let env_secret = std::env::var("TENANTSYNC_ADMIN_CLIENT_SECRET")
        .ok()
        .filter(|v| !v.is_empty());
    match (env_id, env_secret) {
        (Some(id), Some(secret)) => return Ok((id, secret, CredentialSource::Environment)),
        (Some(_), None) | (None, Some(_)) => bail!(
            "set both TENANTSYNC_ADMIN_CLIENT_ID and TENANTSYNC_ADMIN_CLIENT_SECRET, or neither"
        ),
        (None, None) => {}
    }
    let path = data.join(ADMIN_CREDENTIALS_FILE);
    if path.exists() {
        let (id, secret) = read_credentials_file(&path)?;
        return Ok((id, secret, CredentialSource::ExistingFile(path)));
    }
    let id = format!("admin-{}", &random_token(12));
    let secret = random_token(32);
    write_credentials_file(&path, &id, &secret)?;
    Ok((id, secret, CredentialSource::Generated(path)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExtraCredential {
    client_id: String,
    client_secret: String,
    permissions: Vec<String>,
}

fn extra_credentials(path: &Path) -> anyhow::Result<Vec<ManagementCredential>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("could not read {}", path.display()))?;
    let entries: Vec<ExtraCredential> = serde_yaml::from_str(&text)
        .with_context(|| format!("{} is not a list of credentials", path.display()))?;
    entries
        .into_iter()
        .map(|e| {
            let permissions = Permissions::from_names(e.permissions.iter().map(String::as_str))
                .map_err(|problem| {
                    anyhow::anyhow!(
                        "{}: client `{}`: {problem} (known: {})",
                        path.display(),
                        e.client_id,
                        Permissions::known().join(", ")
                    )
                })?;
            Ok(ManagementCredential::new(
                &e.client_id,
                &e.client_secret,
                permissions,
            ))
        })
        .collect()
}

/// Runs the server until SIGINT/SIGTERM.
pub async fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    crate::private_dir::create(&args.data).with_context(|| {
        format!(
            "could not create the data directory {}",
            args.data.display()
        )
    })?;
    let store = TenantStore::open(&args.data.join("store"))?;
    let (admin_id, admin_secret, source) = admin_credentials(&args.data)?;
    match &source {
        CredentialSource::Environment => {
            tracing::info!("admin credentials taken from TENANTSYNC_ADMIN_CLIENT_ID/SECRET");
        }
        CredentialSource::ExistingFile(p) => {
            tracing::info!(path = %p.display(), "admin credentials read from file");
        }
        CredentialSource::Generated(p) => {
            tracing::info!(path = %p.display(), "admin credentials generated (mode 0600); source the file to use them");
        }
    }
    let mut credentials = vec![ManagementCredential::new(
        &admin_id,
        &admin_secret,
        Permissions::all(),
    )];
    drop(admin_secret);
    if let Some(path) = &args.credentials {
        credentials.extend(extra_credentials(path)?);
    }
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("could not listen on {}", args.listen))?;
    let local = listener.local_addr()?;
    let public_url = args
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{local}"));
    let mut tenant = Tenant::new(store, &public_url)?;
    if let Some(seed) = args.response_variation {
        tracing::info!(
            seed,
            "response variation on: optional fields left out, lists shuffled"
        );
        tenant = tenant.with_responses(Responses::varied(seed));
    }
    let base = args.base_path.trim_end_matches('/').to_owned();
    if !base.is_empty() && !base.starts_with('/') {
        bail!("--base-path must start with `/` (got `{}`)", args.base_path);
    }
    let mut state = ServerState::new(tenant, credentials)
        .with_app_token_permissions(args.app_token_permissions);
    if let Some(spec) = args.faults {
        tracing::warn!(faults = %spec, "injecting faults into API answers (--faults); this server misbehaves on purpose");
        state = state.with_faults(spec);
    }
    let state = Arc::new(state);
    // Idempotency records expire after their window; purge them hourly, not only at start.
    let purging = state.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(3600));
        every.tick().await;
        loop {
            every.tick().await;
            match purging.tenant.purge_expired_idempotency() {
                Ok(0) => {}
                Ok(n) => tracing::debug!(purged = n, "expired idempotency records removed"),
                Err(e) => tracing::warn!(error = %e, "could not purge idempotency records"),
            }
        }
    });
    let shutdown = super::shutdown_signal();
    tracing::info!(address = %local, base_path = %base, tenant_id = %state.tenant.tenant_id(), "listening");
    outln!("tenantsync serve: listening on http://{local} (API at http://{local}{base})");
    std::io::stdout().flush()?;
    server::serve(listener, state, &base, shutdown).await?;
    tracing::info!("server stopped; store flushed");
    Ok(ExitCode::SUCCESS)
}
