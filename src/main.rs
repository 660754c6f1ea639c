//! The `tenantsync` binary: parse the command line, set up logging, run the command, and map the
//! outcome to an exit code (0 success, 1 error, 2 only for `plan --detailed-exitcode` changes).

use std::io::IsTerminal as _;
use std::process::ExitCode;

use tenantsync::cli::Cli;

/// jemalloc, where `tenantsync::memory` can give its freed pages back (Linux with glibc).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc reads its options from this symbol (a C string) before `main`: see
/// `tenantsync::memory::JEMALLOC_CONF`.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code, non_upper_case_globals)]
#[export_name = "_rjem_malloc_conf"]
static malloc_conf: &u8 = &tenantsync::memory::JEMALLOC_CONF[0];

fn main() -> ExitCode {
    let mut cli = match Cli::parse_with_sources() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 1 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    // An empty TENANTSYNC_STATE (a CI secret left unset) means the local state.
    if cli.global.state_url.as_deref().is_some_and(str::is_empty) {
        cli.global.state_url = None;
    }
    let color = !cli.global.no_color
        && std::env::var_os("NO_COLOR").is_none()
        && std::io::stderr().is_terminal();
    let long_running = matches!(
        cli.command,
        tenantsync::cli::Command::Serve(_) | tenantsync::cli::Command::Sync(_)
    );
    let level = tenantsync::telemetry::default_level(long_running, cli.global.verbose);
    tenantsync::telemetry::init(cli.global.log_format, color, level);
    match tenantsync::commands::run(cli) {
        Ok(code) => code,
        // The reader of stdout went away (`… | head -1`): end as a pipe's writer does, quietly
        // with 128 + SIGPIPE, not with an error message.
        Err(e) if broken_pipe(&e) => ExitCode::from(141),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// Whether `e` is (or was caused by) a write to a closed pipe.
fn broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
