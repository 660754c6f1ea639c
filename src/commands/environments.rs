//! Choosing an environment of the project file (`tenantsync.yaml`): `--env NAME` fills in the
//! target, the state, the variables holding the credentials and the `${var:…}` values before a
//! command runs; a command about several environments chooses each in turn.

use anyhow::{bail, Context as _};

use crate::cli::GlobalArgs;
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
    let mut chosen = global.clone();
    chosen.envs = vec![name.to_owned()];
    chosen.target.clone_from(&env.target);
    match &env.state {
        StateSpec::Dir(dir) => {
            chosen.state_dir.clone_from(dir);
            chosen.state_url = None;
        }
        StateSpec::Url { url, scope } => {
            chosen.state_url = Some(state_url(env, url)?);
            chosen.state_scope.clone_from(scope);
        }
    }
    chosen.environment = Some(env.clone());
    Ok(chosen)
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
