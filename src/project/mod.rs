//! The project file, `tenantsync.yaml`: the environments one repository drives (each with its
//! target, the names of the variables holding its credentials, its state, its values, an
//! optional overlay, and the git ref it follows) and the promotion order. Parsed with
//! positions like manifests and validated into [`Project`]; pure: text in, values out.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::manifest::yaml::{self, Mark, Node, NodeValue};
use crate::manifest::{ManifestError, ManifestErrors};
use crate::model::schema::did_you_mean;

pub mod diff;
pub mod promote;

/// The file name looked for beside the manifests.
pub const FILE_NAME: &str = "tenantsync.yaml";

/// A validated project file.
#[derive(Debug, Clone, PartialEq)]
pub struct Project {
    /// Where it was read from; relative paths in it are relative to its directory.
    pub path: PathBuf,
    /// The environments, by name.
    pub environments: BTreeMap<String, EnvironmentSpec>,
    /// The promotion order and soak time.
    pub promotion: Promotion,
}

/// One environment: one tenant.
#[derive(Debug, Clone, PartialEq)]
pub struct EnvironmentSpec {
    /// Its name (`dev`, `prod`).
    pub name: String,
    /// `local`, `local:DIR` or an Applications API base URL.
    pub target: String,
    /// The names of the variables holding its management client's credentials.
    pub credentials: Option<CredentialVars>,
    /// Its state.
    pub state: StateSpec,
    /// What `${var:NAME}` reads.
    pub values: BTreeMap<String, String>,
    /// A directory of extra documents and patches, resolved against the project's directory.
    pub overlay: Option<PathBuf>,
    /// Whether a promotion into it goes through review (a branch) rather than a push.
    pub protected: bool,
    /// The git ref its daemon follows (`env/prod`).
    pub git_ref: Option<String>,
}

/// The names of the two variables that hold an environment's credentials (never the values).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialVars {
    /// The variable holding the client id.
    pub client_id: String,
    /// The variable holding the client secret.
    pub client_secret: String,
}

/// Where an environment's state lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateSpec {
    /// A local state directory, resolved against the project's directory.
    Dir(PathBuf),
    /// A scope of a shared PostgreSQL state. The URL may be `${env:NAME}` (read when used).
    Url {
        /// The URL as written.
        url: String,
        /// The scope.
        scope: String,
    },
}

/// The order environments are promoted in, and how long one must have converged first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Promotion {
    /// Environment names, first to last.
    pub order: Vec<String>,
    /// How long an environment must have been converged on a commit before it moves on.
    pub soak: Duration,
}

impl Project {
    /// The environment `name`, or an error naming the ones there are.
    pub fn environment(&self, name: &str) -> Result<&EnvironmentSpec, String> {
        self.environments.get(name).ok_or_else(|| {
            let known: Vec<&str> = self.environments.keys().map(String::as_str).collect();
            let hint = did_you_mean(name, known.iter().copied())
                .map(|s| format!("; did you mean `{s}`?"))
                .unwrap_or_default();
            format!(
                "{}: no environment `{name}` (it has {}){hint}",
                self.path.display(),
                known.join(", ")
            )
        })
    }
}

struct Ctx<'a> {
    file: &'a Path,
    errors: Vec<ManifestError>,
}

impl Ctx<'_> {
    fn error(&mut self, mark: Mark, field: &str, message: impl Into<String>) {
        self.errors.push(ManifestError {
            file: self.file.to_owned(),
            line: mark.line,
            column: mark.col,
            field: field.to_owned(),
            message: message.into(),
        });
    }

    /// A mapping's entries, checked against `known` keys (unknown ones reported with a
    /// suggestion); `None` when it is not a mapping.
    fn map<'n>(
        &mut self,
        node: &'n Node,
        field: &str,
        known: &[&str],
    ) -> Option<Vec<(&'n str, &'n Node, Mark)>> {
        let NodeValue::Map(entries) = &node.value else {
            self.error(node.mark, field, "must be a mapping");
            return None;
        };
        let mut out = Vec::new();
        for (k, v) in entries {
            let NodeValue::Scalar(key) = &k.value else {
                self.error(k.mark, field, "keys must be plain names");
                continue;
            };
            if !known.is_empty() && !known.contains(&key.text.as_str()) {
                let hint = did_you_mean(&key.text, known.iter().copied())
                    .map(|s| format!("; did you mean `{s}`?"))
                    .unwrap_or_default();
                self.error(
                    k.mark,
                    &join(field, &key.text),
                    format!("unknown field (known: {}){hint}", known.join(", ")),
                );
                continue;
            }
            out.push((key.text.as_str(), v, k.mark));
        }
        Some(out)
    }

    fn string(&mut self, node: &Node, field: &str) -> Option<String> {
        match &node.value {
            NodeValue::Scalar(s) if !s.text.is_empty() => Some(s.text.clone()),
            _ => {
                self.error(node.mark, field, "must be a non-empty string");
                None
            }
        }
    }
}

fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

fn valid_env_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        && name.starts_with(|c: char| c.is_ascii_lowercase())
}

fn valid_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// What makes two targets the same tenant: the URL without a trailing slash, or the embedded
/// store's directory (`local:DIR`, resolved when parsed; `local` alone lives in its state
/// directory, under `local`).
fn tenant_of(env: &EnvironmentSpec) -> Option<String> {
    match env.target.strip_prefix("local") {
        Some("") => match &env.state {
            StateSpec::Dir(dir) => Some(format!("local:{}", normal(&dir.join("local")).display())),
            StateSpec::Url { .. } => None,
        },
        Some(dir) if dir.starts_with(':') => Some(format!("local:{}", &dir[1..])),
        _ => Some(target_url_key(&env.target)),
    }
}

/// An http(s) target as a tenant: lower-case, without a trailing slash or the scheme's
/// default port.
fn target_url_key(target: &str) -> String {
    let lower = target.trim_end_matches('/').to_ascii_lowercase();
    for (scheme, port) in [("https://", ":443"), ("http://", ":80")] {
        if let Some(rest) = lower.strip_prefix(scheme) {
            let (host, path) = rest.split_once('/').map_or((rest, ""), |(h, p)| (h, p));
            let host = host.strip_suffix(port).unwrap_or(host);
            return match path {
                "" => format!("{scheme}{host}"),
                path => format!("{scheme}{host}/{path}"),
            };
        }
    }
    lower
}

/// `path` without `.` components and with `..` folded (lexically; the directory may not
/// exist yet). A `..` with nothing before it to fold is kept (`../other/x` stays so).
fn normal(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => match out.components().next_back() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                Some(Component::RootDir | Component::Prefix(_)) => {}
                _ => out.push(".."),
            },
            other => out.push(other),
        }
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

const TOP: &[&str] = &["apiVersion", "kind", "environments", "promotion"];
const ENV: &[&str] = &[
    "target",
    "credentials",
    "state",
    "values",
    "overlay",
    "protected",
    "ref",
];

/// Parses and validates a project file read from `path`; every problem, positioned.
pub fn parse(path: &Path, text: &str) -> Result<Project, ManifestErrors> {
    let mut ctx = Ctx {
        file: path,
        errors: Vec::new(),
    };
    let base = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_owned);
    let documents = match yaml::parse(text) {
        Ok(d) => d,
        Err(e) => {
            ctx.error(
                e.mark,
                "(document)",
                format!("YAML syntax error: {}", e.message),
            );
            return Err(ManifestErrors(ctx.errors));
        }
    };
    let roots: Vec<&Node> = documents.iter().filter_map(|d| d.root.as_ref()).collect();
    let [root] = roots.as_slice() else {
        ctx.error(
            Mark { line: 1, col: 1 },
            "(document)",
            "a project file holds exactly one document (kind: Project)",
        );
        return Err(ManifestErrors(ctx.errors));
    };
    let mut project = Project {
        path: path.to_owned(),
        environments: BTreeMap::new(),
        promotion: Promotion::default(),
    };
    let Some(top) = ctx.map(root, "", TOP) else {
        return Err(ManifestErrors(ctx.errors));
    };
    let get = |key: &str| {
        top.iter()
            .find(|(k, _, _)| *k == key)
            .map(|(_, v, m)| (*v, *m))
    };
    match get("apiVersion").map(|(v, _)| ctx.string(v, "apiVersion")) {
        Some(Some(v)) if v == "tenantsync/v1" => {}
        Some(Some(v)) => ctx.error(
            root.mark,
            "apiVersion",
            format!("`{v}` is not supported; use tenantsync/v1"),
        ),
        Some(None) => {}
        None => ctx.error(
            root.mark,
            "apiVersion",
            "missing; write apiVersion: tenantsync/v1",
        ),
    }
    match get("kind").map(|(v, _)| ctx.string(v, "kind")) {
        Some(Some(v)) if v == "Project" => {}
        Some(Some(v)) => ctx.error(
            root.mark,
            "kind",
            format!("`{v}`: a project file's kind is Project"),
        ),
        Some(None) => {}
        None => ctx.error(root.mark, "kind", "missing; write kind: Project"),
    }
    let mut seen_tenants: BTreeMap<String, String> = BTreeMap::new();
    let mut seen_states: BTreeMap<String, String> = BTreeMap::new();
    match get("environments") {
        None => ctx.error(
            root.mark,
            "environments",
            "missing: name at least one environment",
        ),
        Some((node, _)) => {
            for (name, spec, mark) in ctx.map(node, "environments", &[]).unwrap_or_default() {
                let field = format!("environments.{name}");
                if !valid_env_name(name) {
                    ctx.error(
                        mark,
                        &field,
                        "an environment's name is lower-case letters, digits, `-` and `_`, starting with a letter",
                    );
                    continue;
                }
                let Some(env) = environment(&mut ctx, name, spec, &field, &base) else {
                    continue;
                };
                if let Some(tenant) = tenant_of(&env) {
                    if let Some(other) = seen_tenants.insert(tenant, name.to_owned()) {
                        ctx.error(
                            spec.mark,
                            &format!("{field}.target"),
                            format!("`{name}` and `{other}` have the same target: two environments are two tenants; give each its own"),
                        );
                    }
                }
                let state_key = match &env.state {
                    StateSpec::Dir(dir) => format!("dir:{}", normal(dir).display()),
                    StateSpec::Url { url, scope } => format!("url:{url}#{scope}"),
                };
                if let Some(other) = seen_states.insert(state_key, name.to_owned()) {
                    ctx.error(
                        spec.mark,
                        &format!("{field}.state"),
                        format!("`{name}` and `{other}` have the same state: each environment needs its own (a directory, or a scope of a shared state)"),
                    );
                }
                project.environments.insert(name.to_owned(), env);
            }
            if project.environments.is_empty() && ctx.errors.is_empty() {
                ctx.error(node.mark, "environments", "name at least one environment");
            }
        }
    }
    if let Some((node, _)) = get("promotion") {
        promotion(&mut ctx, node, &mut project);
    }
    if ctx.errors.is_empty() {
        Ok(project)
    } else {
        ctx.errors.sort();
        Err(ManifestErrors(ctx.errors))
    }
}

fn environment(
    ctx: &mut Ctx<'_>,
    name: &str,
    node: &Node,
    field: &str,
    base: &Path,
) -> Option<EnvironmentSpec> {
    let entries = ctx.map(node, field, ENV)?;
    let mut env = EnvironmentSpec {
        name: name.to_owned(),
        target: String::new(),
        credentials: None,
        state: StateSpec::Dir(normal(&base.join(".tenantsync").join(name))),
        values: BTreeMap::new(),
        overlay: None,
        protected: false,
        git_ref: None,
    };
    let mut has_target = false;
    for (key, value, _) in entries {
        let here = join(field, key);
        match key {
            "target" => {
                if let Some(t) = ctx.string(value, &here) {
                    // An embedded tenant's directory is the project file's, as a state's is.
                    env.target = match t.strip_prefix("local:") {
                        Some(dir) => format!("local:{}", normal(&base.join(dir)).display()),
                        None => t,
                    };
                    has_target = true;
                }
            }
            "credentials" => {
                let mut vars = (None, None);
                for (k, v, _) in ctx
                    .map(value, &here, &["client_id", "client_secret"])
                    .unwrap_or_default()
                {
                    let at = join(&here, k);
                    let Some(var) = ctx.string(v, &at) else {
                        continue;
                    };
                    if !valid_var_name(&var) {
                        ctx.error(v.mark, &at, "the name of an environment variable (its value is read when the environment is used; never write the credential itself here)");
                        continue;
                    }
                    match k {
                        "client_id" => vars.0 = Some(var),
                        _ => vars.1 = Some(var),
                    }
                }
                match vars {
                    (Some(client_id), Some(client_secret)) => {
                        env.credentials = Some(CredentialVars {
                            client_id,
                            client_secret,
                        });
                    }
                    _ => ctx.error(
                        value.mark,
                        &here,
                        "name both variables: {client_id: VAR, client_secret: VAR}",
                    ),
                }
            }
            "state" => {
                let entries = ctx
                    .map(value, &here, &["dir", "url", "scope"])
                    .unwrap_or_default();
                let pick = |k: &str| entries.iter().find(|(n, _, _)| *n == k).map(|e| e.1);
                match (pick("dir"), pick("url")) {
                    (Some(dir), None) => {
                        if let Some(d) = ctx.string(dir, &join(&here, "dir")) {
                            env.state = StateSpec::Dir(normal(&base.join(d)));
                        }
                    }
                    (None, Some(url)) => {
                        let scope = match pick("scope") {
                            Some(s) => ctx.string(s, &join(&here, "scope")),
                            None => Some(name.to_owned()),
                        };
                        if let (Some(url), Some(scope)) =
                            (ctx.string(url, &join(&here, "url")), scope)
                        {
                            env.state = StateSpec::Url { url, scope };
                        }
                    }
                    _ => ctx.error(
                        value.mark,
                        &here,
                        "either {dir: PATH} or {url: postgres://…, scope: NAME}",
                    ),
                }
            }
            "values" => {
                for (k, v, mark) in ctx.map(value, &here, &[]).unwrap_or_default() {
                    let at = join(&here, k);
                    if !valid_var_name(k) {
                        ctx.error(mark, &at, "a value's name is letters, digits and `_`");
                        continue;
                    }
                    match &v.value {
                        NodeValue::Scalar(s) if !s.text.contains('\n') => {
                            env.values.insert(k.to_owned(), s.text.clone());
                        }
                        _ => ctx.error(v.mark, &at, "a value is one line of text"),
                    }
                }
            }
            "overlay" => env.overlay = ctx.string(value, &here).map(|d| normal(&base.join(d))),
            "protected" => match &value.value {
                NodeValue::Scalar(s) if s.text == "true" || s.text == "false" => {
                    env.protected = s.text == "true";
                }
                _ => ctx.error(value.mark, &here, "true or false"),
            },
            _ => env.git_ref = ctx.string(value, &here),
        }
    }
    if !has_target {
        ctx.error(
            node.mark,
            &join(field, "target"),
            "missing: local, local:DIR or the Applications API base URL",
        );
        return None;
    }
    Some(env)
}

fn promotion(ctx: &mut Ctx<'_>, node: &Node, project: &mut Project) {
    for (key, value, _) in ctx
        .map(node, "promotion", &["order", "soak"])
        .unwrap_or_default()
    {
        let here = join("promotion", key);
        match (key, &value.value) {
            ("order", NodeValue::Seq(items)) => {
                for item in items {
                    let Some(name) = ctx.string(item, &here) else {
                        continue;
                    };
                    if !project.environments.contains_key(&name) {
                        ctx.error(item.mark, &here, format!("`{name}` is not an environment"));
                    } else if project.promotion.order.contains(&name) {
                        ctx.error(item.mark, &here, format!("`{name}` is named twice"));
                    } else {
                        project.promotion.order.push(name);
                    }
                }
            }
            ("order", _) => ctx.error(value.mark, &here, "a list of environment names"),
            _ => {
                if let Some(text) = ctx.string(value, &here) {
                    match crate::cli::parse_duration(&text) {
                        Ok(d) => project.promotion.soak = d,
                        Err(e) => ctx.error(value.mark, &here, e),
                    }
                }
            }
        }
    }
}

/// The JSON Schema of the project file (`tenantsync schema --project`), for editors; the
/// checks above are the ones in force (they also refuse shared targets and states).
pub fn json_schema() -> serde_json::Value {
    let name = serde_json::json!({"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"});
    serde_json::json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "urn:tenantsync:project-schema:v1",
        "title": "tenantsync project file (tenantsync.yaml)",
        "description": "The environments one repository drives: each one's target, the variables holding its credentials, its state, its values for ${var:NAME}, an overlay, and the git ref it follows; and the promotion order.",
        "type": "object",
        "required": ["apiVersion", "kind", "environments"],
        "additionalProperties": false,
        "properties": {
            "apiVersion": {"const": "tenantsync/v1"},
            "kind": {"const": "Project"},
            "environments": {
                "type": "object",
                "minProperties": 1,
                "propertyNames": {"pattern": "^[a-z][a-z0-9_-]{0,62}$"},
                "additionalProperties": {
                    "type": "object",
                    "required": ["target"],
                    "additionalProperties": false,
                    "properties": {
                        "target": {"type": "string", "minLength": 1, "description": "local, local:DIR or the Applications API base URL"},
                        "credentials": {
                            "type": "object",
                            "required": ["client_id", "client_secret"],
                            "additionalProperties": false,
                            "description": "The names of the variables holding the management client's credentials (never the values)",
                            "properties": {"client_id": name, "client_secret": name}
                        },
                        "state": {
                            "oneOf": [
                                {"type": "object", "required": ["dir"], "additionalProperties": false,
                                 "properties": {"dir": {"type": "string", "minLength": 1}}},
                                {"type": "object", "required": ["url"], "additionalProperties": false,
                                 "properties": {"url": {"type": "string", "minLength": 1}, "scope": {"type": "string", "minLength": 1}}}
                            ]
                        },
                        "values": {
                            "type": "object",
                            "propertyNames": {"pattern": "^[A-Za-z_][A-Za-z0-9_]*$"},
                            "additionalProperties": {"type": ["string", "number", "boolean"]}
                        },
                        "overlay": {"type": "string", "minLength": 1},
                        "protected": {"type": "boolean"},
                        "ref": {"type": "string", "minLength": 1}
                    }
                }
            },
            "promotion": {
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "order": {"type": "array", "items": {"type": "string"}, "uniqueItems": true},
                    "soak": {"type": "string", "pattern": "^[0-9.]+(ms|s|m|h)?$"}
                }
            }
        }
    })
}

#[cfg(test)]
mod tests;
