//! Where the options `--env` also decides came from: the command line, or their variables
//! (clap's value sources, read once when the command line is parsed).

use super::Cli;

/// Which of the options `--env` also decides were set by their variables
/// (`TENANTSYNC_TARGET`, `TENANTSYNC_STATE_DIR`, `TENANTSYNC_STATE`): a deployment's
/// setting an environment may override with a warning, where the same option on the command
/// line is refused.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FromVariables {
    /// `--target`.
    pub target: bool,
    /// `--state-dir`.
    pub state_dir: bool,
    /// `--state`.
    pub state_url: bool,
}

impl Cli {
    /// Parses the command line (and the variables options read), noting which options came
    /// from variables.
    pub fn parse_with_sources() -> Result<Self, clap::Error> {
        Self::parse_from_with_sources(std::env::args_os())
    }

    /// [`Cli::parse_with_sources`] of `args`.
    pub fn parse_from_with_sources<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        use clap::{CommandFactory as _, FromArgMatches as _};
        let mut matches = Self::command().try_get_matches_from(args)?;
        let from_variable =
            |id: &str| matches.value_source(id) == Some(clap::parser::ValueSource::EnvVariable);
        let from_variables = FromVariables {
            target: from_variable("target"),
            state_dir: from_variable("state_dir"),
            state_url: from_variable("state_url"),
        };
        let mut cli = Self::from_arg_matches_mut(&mut matches)?;
        cli.global.from_variables = from_variables;
        Ok(cli)
    }
}
