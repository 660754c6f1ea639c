//! Choosing an environment of the project file (`tenantsync.yaml`): `--env NAME` fills in the
//! target, the state, the variables holding the credentials and the `${var:…}` values before a
//! command runs; a command about several environments chooses each in turn.

use anyhow::{bail, Context as _};

use crate::cli::{GlobalArgs, DEFAULT_STATE_DIR, DEFAULT_TARGET};
use crate::project::{self, EnvironmentSpec, Project, StateSpec};

/// Reads and validates the project file `--project` names.
pub fn load_project(global: &GlobalArgs) -> anyhow::Result<Project> {
    let path = &global.project;
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "reading the project file {} (it names the environments --env chooses from; --project FILE reads another)",
            path.display()
        )
    })?;
    project::parse(path, &text).map_err(|e| anyhow::anyhow!("{e}"))
}

/// `global` with the environment `name` of `project` chosen.
pub fn choose(global: &GlobalArgs, project: &Project, name: &str) -> anyhow::Result<GlobalArgs> {
    let env = project.environment(name).map_err(anyhow::Error::msg)?;
    let url = match &env.state {
        StateSpec::Url { url, .. } => Some(state_url(env, url)?),
        StateSpec::Dir(_) => None,
    };
    for warning in other_places(global, env, url.as_deref()).map_err(anyhow::Error::msg)? {
        eprintln!("warning: {warning}");
    }
    let mut chosen = global.clone();
    chosen.envs = vec![name.to_owned()];
    chosen.target.clone_from(&env.target);
    match &env.state {
        StateSpec::Dir(dir) => {
            chosen.state_dir.clone_from(dir);
            chosen.state_url = None;
        }
        StateSpec::Url { scope, .. } => {
            chosen.state_url = url;
            chosen.state_scope.clone_from(scope);
        }
    }
    chosen.environment = Some(env.clone());
    Ok(chosen)
}

/// What `--target`, `--state-dir` and `--state` say beside `--env` when they name another
/// place than the environment does: refused (`Err`) for an option on the command line (one of
/// the two is a mistake, and either guess could write to the wrong tenant or state); for one
/// set by its variable (a deployment's setting, like the container image's state directory)
/// a warning each, the environment's place being used. Options left at their defaults are the
/// environment's to fill in. A state URL is never shown (it may hold a password).
fn other_places(
    global: &GlobalArgs,
    env: &EnvironmentSpec,
    env_url: Option<&str>,
) -> Result<Vec<String>, String> {
    let name = &env.name;
    let from = global.from_variables;
    // (option, its variable, set by the variable, the value as shown, where the environment is)
    let mut disagree: Vec<(&str, &str, bool, Option<String>, String)> = Vec::new();
    if global.target != DEFAULT_TARGET && global.target != env.target {
        let says = format!("writes to {}", env.target);
        let given = Some(global.target.clone());
        disagree.push(("--target", "TENANTSYNC_TARGET", from.target, given, says));
    }
    let given_url = global.state_url.as_deref().filter(|u| !u.is_empty());
    let state_dir = (global.state_dir.as_os_str() != DEFAULT_STATE_DIR)
        .then(|| global.state_dir.display().to_string());
    let dir_option = ("--state-dir", "TENANTSYNC_STATE_DIR", from.state_dir);
    let url_option = ("--state", "TENANTSYNC_STATE", from.state_url);
    let (option, says) = match (&env.state, env_url) {
        (StateSpec::Dir(dir), _) if state_dir.is_some() && global.state_dir != *dir => (
            Some(dir_option),
            format!("keeps its state in {}", dir.display()),
        ),
        (StateSpec::Dir(_), _) if given_url.is_some() => (
            Some(url_option),
            "keeps its state in a directory".to_owned(),
        ),
        (StateSpec::Url { .. }, _) if state_dir.is_some() => {
            (Some(dir_option), "keeps its state in PostgreSQL".to_owned())
        }
        (StateSpec::Url { .. }, Some(url)) if given_url.is_some_and(|g| g != url) => (
            Some(url_option),
            "keeps its state in another PostgreSQL state".to_owned(),
        ),
        _ => (None, String::new()),
    };
    if let Some((flag, variable, from_variable)) = option {
        let given = (flag == "--state-dir").then(|| state_dir.clone()).flatten();
        disagree.push((flag, variable, from_variable, given, says));
    }
    let mut warnings = Vec::new();
    for (flag, variable, from_variable, given, says) in disagree {
        if from_variable {
            let given = given.map(|g| format!("={g}")).unwrap_or_default();
            warnings.push(format!(
                "{variable}{given} is set, and environment `{name}` {says}: the environment's is used"
            ));
        } else {
            let given = given.map(|g| format!(" {g}")).unwrap_or_default();
            return Err(format!(
                "{flag}{given} and --env {name} disagree: environment `{name}` {says}. \
                 Leave out {flag} to use the environment's"
            ));
        }
    }
    Ok(warnings)
}

/// A shared state's URL: as written, or read from the variable `${env:NAME}` names (a URL
/// holding a password belongs in a variable, not in the repository).
fn state_url(env: &EnvironmentSpec, url: &str) -> anyhow::Result<String> {
    let Some(name) = url.strip_prefix("${env:").and_then(|r| r.strip_suffix('}')) else {
        return Ok(url.to_owned());
    };
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => Ok(v),
        _ => bail!(
            "environment `{}` keeps its state at ${{env:{name}}}, and {name} is not set",
            env.name
        ),
    }
}

/// The options a single-environment command runs with: unchanged without `--env`, the one
/// environment chosen with it; several are refused.
pub fn single(global: &GlobalArgs) -> anyhow::Result<GlobalArgs> {
    match global.envs.as_slice() {
        [] => Ok(global.clone()),
        [name] => choose(global, &load_project(global)?, name),
        _ => bail!(
            "this command works on one environment at a time (--env NAME); only `plan` takes several"
        ),
    }
}

/// The environments a command about several works on, in the project file's promotion order
/// (then by name): those `--env` names, or every one with `all`.
pub fn several(global: &GlobalArgs, all: bool) -> anyhow::Result<Vec<GlobalArgs>> {
    let project = load_project(global)?;
    let mut names: Vec<String> = if all {
        project.environments.keys().cloned().collect()
    } else {
        global.envs.clone()
    };
    let rank = |n: &String| {
        project
            .promotion
            .order
            .iter()
            .position(|o| o == n)
            .unwrap_or(usize::MAX)
    };
    names.sort_by(|a, b| rank(a).cmp(&rank(b)).then(a.cmp(b)));
    names.dedup();
    names
        .iter()
        .map(|name| choose(global, &project, name))
        .collect()
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;
    use crate::cli::Cli;

    /// What `other_places` says of `args` (the variables in `vars` set) beside an environment
    /// keeping its state in `state`: the refusal, or the warnings joined.
    fn said(args: &[&str], vars: &[&str], state: StateSpec) -> Result<String, String> {
        let mut cli = Cli::try_parse_from([&["tenantsync"], args, &["validate"]].concat()).unwrap();
        cli.global.from_variables = crate::cli::FromVariables {
            target: vars.contains(&"target"),
            state_dir: vars.contains(&"state_dir"),
            state_url: vars.contains(&"state_url"),
        };
        let env = EnvironmentSpec {
            name: "prod".into(),
            target: "https://prod.example/cis".into(),
            credentials: None,
            state: state.clone(),
            values: Default::default(),
            overlay: None,
            protected: false,
            git_ref: None,
        };
        let url = match &state {
            StateSpec::Url { url, .. } => Some(url.as_str()),
            StateSpec::Dir(_) => None,
        };
        other_places(&cli.global, &env, url).map(|w| w.join("\n"))
    }

    fn refused(args: &[&str], state: StateSpec) -> Option<String> {
        said(args, &[], state).err()
    }

    #[test]
    fn a_target_or_state_beside_env_must_be_the_environments() {
        let dir = || StateSpec::Dir(".tenantsync/prod".into());
        let pg = |url: &str| StateSpec::Url {
            url: url.into(),
            scope: "prod".into(),
        };
        // Left at their defaults, or naming what the environment names: the environment's.
        assert_eq!(refused(&[], dir()), None);
        assert_eq!(
            refused(&["--target", "https://prod.example/cis"], dir()),
            None
        );
        assert_eq!(refused(&["--state-dir", ".tenantsync/prod"], dir()), None);
        assert_eq!(
            refused(
                &["--state", "postgres://u:pw@db/x"],
                pg("postgres://u:pw@db/x")
            ),
            None
        );
        assert_eq!(refused(&["--state", ""], dir()), None);
        // Anything else is refused, naming the option.
        let other_target = refused(&["--target", "local"], dir());
        assert_eq!(
            other_target, None,
            "`local` is the default: the environment fills it in"
        );
        let text = refused(&["--target", "https://dev.example/cis"], dir()).unwrap();
        assert!(
            text.starts_with("--target https://dev.example/cis")
                && text.contains("writes to https://prod.example/cis"),
            "{text}"
        );
        let text = refused(&["--state-dir", "elsewhere"], dir()).unwrap();
        assert!(
            text.contains("keeps its state in .tenantsync/prod"),
            "{text}"
        );
        assert!(
            refused(&["--state-dir", "elsewhere"], pg("postgres://db/x"))
                .unwrap()
                .contains("PostgreSQL")
        );
        let text = refused(
            &["--state", "postgres://u:hunter2@db/y"],
            pg("postgres://u:pw@db/x"),
        )
        .unwrap();
        assert!(
            text.contains("another PostgreSQL state") && !text.contains("hunter2"),
            "a URL is never shown: {text}"
        );
        assert!(refused(&["--state", "postgres://u:hunter2@db/y"], dir())
            .unwrap()
            .contains("in a directory"));
    }
}
