//! Logging setup (tracing-subscriber; text or JSON on stderr, filtered by `RUST_LOG`).

pub mod prometheus;

use tracing_subscriber::EnvFilter;

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The default log level: long-running commands log at `info`; one-shot commands show only
/// their output (warnings and errors) unless `-v` (`info`) or `-vv` (`debug`) asks for more.
pub fn default_level(long_running: bool, verbose: u8) -> &'static str {
    match (long_running, verbose) {
        (_, 2..) => "debug",
        (true, _) | (false, 1) => "info",
        (false, 0) => "warn",
    }
}

/// Installs the global subscriber at `level`; `RUST_LOG` overrides it.
pub fn init(format: LogFormat, color: bool, level: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let _ = match format {
        LogFormat::Text => builder.with_ansi(color).try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}
