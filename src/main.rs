//! The `tenantsync` binary: parse the command line, set up logging, run the command, and map the
//! outcome to an exit code (0 success, 1 error, 2 only for `plan --detailed-exitcode` changes).

use std::io::IsTerminal as _;
use std::process::ExitCode;

use clap::Parser as _;
use tenantsync::cli::Cli;

fn main() -> ExitCode {
    let mut cli = match Cli::try_parse() {
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
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
