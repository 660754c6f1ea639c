//! `tenantsync sync`: the long-running daemon (watch or poll, reconcile, self-heal, serve health
//! and metrics).

use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use tokio::sync::mpsc;

use super::common::{delivery_sinks, open_state, open_target, plan_options, RequestSummary};
use crate::cli::{GlobalArgs, SyncArgs};
use crate::daemon::environment::EnvironmentSource;
use crate::daemon::notify::Notifier;
use crate::daemon::source::{GitCredentials, GitSource};
use crate::daemon::status::{router, HookPolicy, Metrics, Shared, Status};
use crate::daemon::ui::{Access, Ui};
use crate::daemon::watch::watch_directories;
use crate::daemon::{self, Config, Election, OnDrift, Source, StateAccess};

/// Runs the daemon until SIGTERM/SIGINT.
pub async fn run(global: &GlobalArgs, args: &SyncArgs) -> anyhow::Result<ExitCode> {
    if args.on_drift == OnDrift::Propose && args.git.is_none() {
        anyhow::bail!("--on-drift propose commits to the git source: it needs --git");
    }
    let shutdown = super::shutdown_signal();
    let state = match super::common::state_location(global) {
        crate::state::Location::Postgres { url, scope } => StateAccess::Elected(Election {
            url,
            scope,
            leader_timeout: args.leader_timeout,
        }),
        crate::state::Location::Dir(_) => StateAccess::Exclusive(open_state(global)?),
    };
    let target = open_target(global, true, args.reconcile.rate)?;
    let (tx, rx) = mpsc::unbounded_channel();
    let (source, source_text, _watcher) = match &args.git {
        Some(url) => {
            let credentials = args
                .git_credentials_file
                .as_deref()
                .map(GitCredentials::from_file)
                .transpose()?;
            // git resolves relative paths from wherever it runs (inside --work-tree for
            // GIT_INDEX_FILE), so every path handed to it is absolute: resolved once, here.
            let work = global.state_dir.join("git");
            crate::private_dir::create(&work)
                .with_context(|| format!("creating the git directory {}", work.display()))?;
            let work = work
                .canonicalize()
                .with_context(|| format!("resolving the git directory {}", work.display()))?;
            let branch = args
                .branch
                .clone()
                .or_else(|| global.environment.as_ref()?.git_ref.clone())
                .unwrap_or_else(|| "main".to_owned());
            let branch = branch
                .strip_prefix("refs/heads/")
                .unwrap_or(&branch)
                .to_owned();
            let git = GitSource::new(url, &branch, &args.git_path, &work, credentials)
                .with_timeout(args.git_timeout);
            // Only the URL without credentials is ever shown.
            let text = format!(
                "git {} branch {} path {}",
                git.url(),
                branch,
                args.git_path.display()
            );
            (Source::Git(git), text, None)
        }
        None => {
            // The chosen environment's overlay is watched with the manifests.
            let watched: Vec<_> = args
                .manifests
                .paths
                .iter()
                .cloned()
                .chain(super::validate::overlay_dir(global))
                .chain(global.environment.as_ref().map(|_| global.project.clone()))
                .collect();
            let watcher = watch_directories(&watched, tx.clone())
                .context("watching the manifest directories")?;
            let text = args
                .manifests
                .paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ");
            (
                Source::Directories(args.manifests.paths.clone()),
                format!("directory {text}"),
                Some(watcher),
            )
        }
    };
    let _requests = RequestSummary::of(&*target);
    let mut metrics = Metrics::default();
    metrics.watch_api(target.usage());
    let ui_access = Access::decide(args.listen, args.ui_token_file.as_deref())?;
    if let Access::Off(why) = &ui_access {
        tracing::warn!(listen = %args.listen, "web page off: {why}");
    }
    let shared = Arc::new(Shared {
        status: Mutex::new(Status {
            source: source_text.clone(),
            target: target.describe(),
            ..Status::default()
        }),
        metrics,
        triggers: tx,
        hooks: match &args.webhook_secret_file {
            Some(path) => {
                let secret = std::fs::read(path)
                    .with_context(|| format!("reading the webhook secret {}", path.display()))?;
                let secret = secret.trim_ascii().to_vec();
                if secret.is_empty() {
                    anyhow::bail!("the webhook secret file {} is empty", path.display());
                }
                HookPolicy::Signed(secret)
            }
            None if args.listen.ip().is_loopback() => HookPolicy::Loopback,
            None => {
                tracing::warn!(listen = %args.listen, "POST /hooks/sync is closed: the listener is reachable beyond loopback and no --webhook-secret-file is given");
                HookPolicy::Closed
            }
        },
        hook: Arc::new(tokio::sync::Notify::new()),
        deliveries: Mutex::default(),
        ui: Ui::new(ui_access, args.ui_badge),
    });
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("could not listen on {}", args.listen))?;
    let local = listener.local_addr()?;
    tokio::spawn(serve_status(listener, router(shared.clone())));
    tracing::info!(listen = %local, source = %source_text, target = %target.describe(), "sync started");
    outln!("tenantsync sync: listening on http://{local}");
    use std::io::Write as _;
    std::io::stdout().flush()?;
    let config = Config {
        source,
        interval: args.interval,
        read_budget: args
            .read_budget
            .or_else(|| target.usage().configured_rate().map(|r| r / 4.0)),
        poll: args.poll,
        plan_options: plan_options(&args.reconcile),
        concurrency: args.reconcile.concurrency,
        rebind_target: args.reconcile.rebind_target,
        reads: global.read_allowance(),
        overlay: super::validate::overlay_dir(global),
        environment: global.environment.as_ref().map(|env| EnvironmentSource {
            name: env.name.clone(),
            project: match args.git {
                Some(_) => daemon::environment::path_in_repository(&global.project),
                None => global.project.clone(),
            },
        }),
        sinks: delivery_sinks(&args.delivery)?,
        on_drift: args.on_drift,
        notify: args
            .notify_url
            .clone()
            .map(|url| Notifier::start(url, args.notify_after)),
    };
    daemon::run(config, target, state, shared, rx, shutdown).await?;
    Ok(ExitCode::SUCCESS)
}

/// How long a client of the daemon's listener may take to send a request's headers before its
/// connection is closed (a half-sent request must not hold a connection open forever).
pub const HEADER_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Serves the daemon's routes on `listener`, HTTP/1.1 with a header-read timeout.
async fn serve_status(listener: tokio::net::TcpListener, app: axum::Router) {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use hyper_util::service::TowerToHyperService;
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors and the like: wait rather than spin.
                tracing::warn!(error = %e, "the status listener could not accept a connection");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let service = TowerToHyperService::new(app.clone());
        tokio::spawn(async move {
            let served = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service)
                .await;
            if let Err(e) = served {
                tracing::debug!(error = %e, "status connection ended");
            }
        });
    }
}
