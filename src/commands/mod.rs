//! One module per subcommand; [`run`] dispatches. Commands return the process exit code and use
//! `anyhow` for errors, which `main` prints once.

/// `print!` that returns the write's error instead of panicking (a closed pipe, as in
/// `tenantsync state show … | head -1`); `main` ends quietly on a broken pipe.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        write!(std::io::stdout().lock(), $($arg)*)?
    }};
}

/// `println!` that returns the write's error instead of panicking (see [`out!`]).
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)?
    }};
}

pub mod apply;
pub mod common;
pub mod credentials;
pub mod doctor;
pub mod drift;
pub mod env;
pub mod environments;
pub mod export;
pub mod history;
pub mod import;
pub mod lint;
pub mod plan;
pub mod promote;
pub mod render;
pub mod serve;
pub mod state;
pub mod sync;
pub mod validate;

use std::process::ExitCode;

use crate::cli::{Cli, Command};

/// Runs the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    // Everything a command creates from here on (state, tenant store, git mirror, credentials)
    // is private to this user, whatever the umask. Commands that only print are left alone.
    if !matches!(
        cli.command,
        Command::Schema(_) | Command::Completions { .. } | Command::Man
    ) {
        crate::private_dir::restrict_umask();
    }
    // Thread caches for every command but the daemon (see `memory::JEMALLOC_CONF`).
    if !matches!(cli.command, Command::Sync(_)) {
        crate::memory::cache_threads();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .on_thread_start(|| {
            crate::memory::cache_this_thread();
        })
        .build()?;
    // `--env NAME` chooses the target, state, credentials and values of one environment.
    let global = match &cli.command {
        Command::Serve(_)
        | Command::Env(_)
        | Command::Promote(_)
        | Command::Schema(_)
        | Command::Completions { .. }
        | Command::Man => cli.global.clone(),
        Command::Plan(args) if args.all_envs || cli.global.envs.len() > 1 => cli.global.clone(),
        _ => environments::single(&cli.global)?,
    };
    let global = &global;
    match cli.command {
        Command::Serve(args) => runtime.block_on(serve::run(args)),
        Command::Validate(args) => validate::run(global, &args),
        Command::Render(args) => render::run(global, &args),
        Command::Env(args) => runtime.block_on(env::run(global, &args)),
        Command::Promote(args) => runtime.block_on(promote::run(global, &args)),
        Command::Schema(args) => validate::schema(&args),
        Command::Plan(args) if args.all_envs || global.envs.len() > 1 => {
            runtime.block_on(plan::run_environments(global, &args))
        }
        Command::Plan(args) => runtime.block_on(plan::run(global, &args)),
        Command::Drift(args) => runtime.block_on(drift::run(global, &args)),
        Command::Apply(args) => runtime.block_on(apply::run(global, &args)),
        Command::State(args) => state::run(global, &args),
        Command::History(args) => history::run(global, &args),
        Command::Sync(args) => runtime.block_on(sync::run(global, &args)),
        Command::Export(args) => runtime.block_on(export::run(global, &args)),
        Command::Import(args) => runtime.block_on(import::run(global, &args)),
        Command::Doctor(args) => runtime.block_on(doctor::run(global, &args)),
        Command::Lint(args) => lint::run(global, &args),
        Command::Credentials(args) => runtime.block_on(credentials::run(global, &args)),
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            let shell = match shell {
                crate::cli::Shell::Bash => clap_complete::Shell::Bash,
                crate::cli::Shell::Zsh => clap_complete::Shell::Zsh,
                crate::cli::Shell::Fish => clap_complete::Shell::Fish,
            };
            clap_complete::generate(shell, &mut command, "tenantsync", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
        Command::Man => {
            let command = <Cli as clap::CommandFactory>::command();
            clap_mangen::Man::new(command).render(&mut std::io::stdout())?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// A future that resolves when SIGINT or SIGTERM arrives. The handlers are installed when this
/// is called (not when the future is first polled), so a signal sent right after start-up is
/// never lost. Must be called inside the tokio runtime.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).ok();
    let mut interrupt = signal(SignalKind::interrupt()).ok();
    async move {
        let term = async {
            match term.as_mut() {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        let interrupt = async {
            match interrupt.as_mut() {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = term => {},
            _ = interrupt => {},
        }
        tracing::info!("shutdown signal received; finishing requests in flight");
    }
}
