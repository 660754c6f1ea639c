//! One YAML document turned into JSON: positions of every value (for `file:line:col`
//! errors), interpolation of `${env:…}`/`${file:…}` with its secrets tracked, scalar typing, and
//! the private-key and duplicate-key checks made while converting.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use serde_json::{Map, Number, Value};

use super::desired::Pos;
use super::error::ManifestError;
use super::interpolate::{has_reference, interpolate, Environment, Reference};
use super::yaml::{self, Mark, Node, NodeValue, Resolved};
use crate::model::catalogue;
use crate::model::schema::{BodySchema, FieldPath, PathSegment, ProblemKind, ScalarType};

/// JWK members that only private keys have.
pub(super) const PRIVATE_JWK_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// One document turned into JSON, with where each value came from.
pub(super) struct DocContext<'a> {
    pub(super) file: &'a Path,
    pub(super) base_dir: PathBuf,
    pub(super) env: &'a dyn Environment,
    pub(super) positions: HashMap<FieldPath, Pos>,
    pub(super) interpolated: Vec<(FieldPath, Vec<Reference>, String)>,
    pub(super) failed: Vec<FieldPath>,
    /// Secret paths: by catalogue name or private JWK member; compared by hash with the last
    /// applied value.
    pub(super) sensitive: BTreeSet<FieldPath>,
    /// Paths whose value was read by interpolation (from a variable or a file): never shown,
    /// hashed in the state, but compared with the live value like any other.
    pub(super) masked: BTreeSet<FieldPath>,
    /// Every secret and interpolated value of the document, to redact from any message.
    pub(super) sensitive_values: Vec<String>,
    pub(super) errors: Vec<ManifestError>,
}

impl<'a> DocContext<'a> {
    pub(super) fn new(file: &'a Path, env: &'a dyn Environment) -> Self {
        Self {
            file,
            base_dir: super::overlay::file_of(file)
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default(),
            env,
            positions: HashMap::new(),
            interpolated: Vec::new(),
            failed: Vec::new(),
            sensitive: BTreeSet::new(),
            masked: BTreeSet::new(),
            sensitive_values: Vec::new(),
            errors: Vec::new(),
        }
    }

    pub(super) fn locate(&self, path: &FieldPath, prefer_key: bool) -> Mark {
        let mut probe = path.clone();
        loop {
            if let Some(pos) = self.positions.get(&probe) {
                return match (prefer_key, pos.key) {
                    (true, Some(k)) => k,
                    _ => pos.value,
                };
            }
            if probe.0.pop().is_none() {
                return Mark { line: 1, col: 1 };
            }
        }
    }

    /// Where every value of the document is written, once the document is parsed: what the
    /// objects' [`super::SourceInfo`] share.
    pub(super) fn take_positions(&mut self) -> HashMap<FieldPath, Pos> {
        std::mem::take(&mut self.positions)
    }

    pub(super) fn redact(&self, path: &FieldPath, message: &str) -> String {
        let mut out = message.to_owned();
        // Values interpolated at this path first (so the message names the right reference),
        // then any other interpolated value long enough to be recognisable.
        for pass_related in [true, false] {
            for (p, references, resolved) in &self.interpolated {
                let related = p.starts_with(path) || path.starts_with(p);
                if related != pass_related
                    || resolved.is_empty()
                    || (!related && resolved.len() < 3)
                {
                    continue;
                }
                if out.contains(resolved.as_str()) {
                    let names: Vec<String> = references.iter().map(ToString::to_string).collect();
                    out = out.replace(
                        resolved.as_str(),
                        &format!("(value of {})", names.join(" ")),
                    );
                }
            }
        }
        for secret in &self.sensitive_values {
            if !secret.is_empty() && out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), "(sensitive)");
            }
        }
        out
    }

    pub(super) fn error_at(&mut self, path: &FieldPath, mark: Mark, message: impl Into<String>) {
        let message = self.redact(path, &message.into());
        self.errors.push(ManifestError {
            file: self.file.to_owned(),
            line: mark.line,
            column: mark.col,
            field: path.to_string(),
            message,
        });
    }

    /// Reports a problem that is not about a missing or unknown field, at the field's value.
    pub(super) fn error(&mut self, path: &FieldPath, message: impl Into<String>) {
        self.problem(path, ProblemKind::Invalid, message);
    }

    /// Reports a problem where its kind says to point: a missing field at the key of the
    /// Reports a required field that is absent; `what_to_do` says what to add.
    pub(super) fn missing(&mut self, path: &FieldPath, what_to_do: impl AsRef<str>) {
        let message = format!("required field is missing: {}", what_to_do.as_ref());
        self.problem(path, ProblemKind::Missing, message);
    }

    /// mapping that lacks it, an unknown field at its key, anything else at the value.
    pub(super) fn problem(
        &mut self,
        path: &FieldPath,
        kind: ProblemKind,
        message: impl Into<String>,
    ) {
        let mark = match kind {
            ProblemKind::Missing if !self.positions.contains_key(path) => {
                let mut parent = path.clone();
                parent.0.pop();
                self.locate(&parent, true)
            }
            ProblemKind::Unknown => self.locate(path, true),
            _ => self.locate(path, false),
        };
        self.error_at(path, mark, message);
    }

    /// Gives an interpolated value the type the schema expects where its text allows: a
    /// reference is text, so `"${env:TTL}"` may fill a number field and `${env:NAME}` a string
    /// field whatever the variable holds. Returns whether anything changed.
    pub(super) fn coerce(
        &self,
        value: &mut Value,
        problems: &[crate::model::schema::Problem],
        prefix: &FieldPath,
    ) -> bool {
        let mut changed = false;
        for p in problems {
            let full = p.path.prefixed(prefix);
            let Some((_, _, resolved)) = self.interpolated.iter().find(|(ip, _, _)| *ip == full)
            else {
                continue;
            };
            let Some(slot) = pointer_mut(value, &p.path) else {
                continue;
            };
            let ProblemKind::WrongType(Some(expected)) = p.kind else {
                continue;
            };
            let replacement = match expected {
                ScalarType::Integer => resolved
                    .trim()
                    .parse::<i64>()
                    .ok()
                    .map(|i| Value::Number(i.into())),
                ScalarType::Number => resolved
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .and_then(Number::from_f64)
                    .map(Value::Number),
                ScalarType::Boolean => match resolved.trim() {
                    "true" => Some(Value::Bool(true)),
                    "false" => Some(Value::Bool(false)),
                    _ => None,
                },
                ScalarType::String if !slot.is_string() => Some(Value::String(resolved.clone())),
                ScalarType::String => None,
            };
            if let Some(r) = replacement {
                *slot = r;
                changed = true;
            }
        }
        changed
    }

    /// Reports schema problems of `value` (at `prefix`), skipping paths whose interpolation
    /// already failed. Interpolated values are first coerced to the expected type.
    pub(super) fn check(
        &mut self,
        schema: &BodySchema,
        value: &mut Value,
        prefix: &FieldPath,
    ) -> bool {
        let mut problems = schema.check(value);
        if !problems.is_empty() && self.coerce(value, &problems, prefix) {
            problems = schema.check(value);
        }
        let mut any = false;
        for p in problems {
            let full = p.path.prefixed(prefix);
            if self.failed.iter().any(|f| full.starts_with(f)) {
                continue;
            }
            any = true;
            self.problem(&full, p.kind, p.message);
        }
        !any
    }

    pub(super) fn scalar_value(
        &mut self,
        node: &Node,
        text: &str,
        plain: bool,
        path: &FieldPath,
    ) -> Value {
        if let Some(what) = identity_position(path).filter(|_| has_reference(text)) {
            self.error_at(
                path,
                node.mark,
                format!("{what} is an identity and must be written literally: ${{env:…}} and ${{file:…}} are not allowed here (a value read from outside the manifest would be shown wherever the object is named)"),
            );
            self.failed.push(path.clone());
            return Value::Null;
        }
        let (text, plain) = if text.contains('$') {
            match interpolate(text, &self.base_dir, self.env) {
                Ok(done) => {
                    // Any value read from a variable or a file is never shown (plans, errors,
                    // lint, status, logs) and is hashed in the state; only a `:-default`
                    // written in the manifest itself is not.
                    if done.external {
                        self.masked.insert(path.clone());
                        self.sensitive_values.push(done.text.clone());
                        self.sensitive_values.extend(done.read.iter().cloned());
                    }
                    if !done.references.is_empty() {
                        self.interpolated
                            .push((path.clone(), done.references, done.text.clone()));
                    }
                    (done.text, plain)
                }
                Err(messages) => {
                    for m in messages {
                        self.error_at(path, node.mark, m);
                    }
                    self.failed.push(path.clone());
                    return Value::Null;
                }
            }
        } else {
            (text.to_owned(), plain)
        };
        if !plain {
            return Value::String(text);
        }
        match yaml::resolve_plain(&text) {
            Resolved::Null => Value::Null,
            Resolved::Bool(b) => Value::Bool(b),
            Resolved::Int(i) => Value::Number(i.into()),
            Resolved::Float(f) => Number::from_f64(f).map_or(Value::String(text), Value::Number),
            Resolved::Str => Value::String(text),
        }
    }

    pub(super) fn node_to_json(
        &mut self,
        node: &Node,
        path: &FieldPath,
        key: Option<Mark>,
    ) -> Value {
        self.positions.insert(
            path.clone(),
            Pos {
                key,
                value: node.mark,
            },
        );
        match &node.value {
            NodeValue::Scalar(s) => self.scalar_value(node, &s.text, s.plain, path),
            NodeValue::Seq(items) => Value::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| self.node_to_json(item, &path.index(i), None))
                    .collect(),
            ),
            NodeValue::Map(entries) => {
                let mut map = Map::new();
                let mut first_seen: HashMap<String, Mark> = HashMap::new();
                let in_jwks = path
                    .0
                    .iter()
                    .any(|s| matches!(s, PathSegment::Key(k) if k == "jwks"));
                for (k, v) in entries {
                    let NodeValue::Scalar(key_scalar) = &k.value else {
                        self.error_at(path, k.mark, "mapping keys must be plain strings");
                        continue;
                    };
                    let name = key_scalar.text.clone();
                    if let Some(first) = first_seen.get(&name) {
                        let message = format!(
                            "duplicate key `{name}` (first at line {}); YAML keeps only one, so remove the other",
                            first.line
                        );
                        self.error_at(&path.key(&name), k.mark, message);
                        continue;
                    }
                    first_seen.insert(name.clone(), k.mark);
                    let child = path.key(&name);
                    let value = self.node_to_json(v, &child, Some(k.mark));
                    let private_jwk = in_jwks && PRIVATE_JWK_MEMBERS.contains(&name.as_str());
                    // A secret is a string at a field the catalogue names as secret, or a private
                    // JWK member; a flag whose name mentions a password is not.
                    if (value.is_string() && catalogue::is_secret_name(&name)) || private_jwk {
                        self.sensitive.insert(child.clone());
                        collect_strings(&value, &mut self.sensitive_values);
                    }
                    if private_jwk {
                        self.error_at(
                            &child,
                            k.mark,
                            format!("`{name}` is a private-key member: jwks must hold public keys only; remove it and keep the private key out of git"),
                        );
                    }
                    map.insert(name, value);
                }
                Value::Object(map)
            }
        }
    }
}

/// The identity a path names, if interpolation is refused there: a document's name, an
/// application's `app_name` and a client's name (both matched live by name, and kept in the
/// create journal in clear for that), the application a `Client` document belongs to.
fn identity_position(path: &FieldPath) -> Option<&'static str> {
    use PathSegment::{Index, Key};
    match path.0.as_slice() {
        [Key(m), Key(n)] if m == "metadata" && n == "name" => Some("`metadata.name`"),
        [Key(s), Key(n)] if s == "spec" && n == "name" => Some("a client's `name`"),
        [Key(s), Key(n)] if s == "spec" && n == "app_name" => {
            Some("`app_name` (an application is matched live by it)")
        }
        [Key(s), Key(a)] if s == "spec" && a == "application" => {
            Some("`application` (the Application a Client belongs to)")
        }
        [Key(s), Key(k)] if s == "spec" && crate::model::kinds::is_natural_key_field(k) => {
            Some("a natural key (the live object is matched by it)")
        }
        [Key(s), Key(c), Index(_), Key(n)] if s == "spec" && c == "clients" && n == "name" => {
            Some("a client's `name`")
        }
        _ => None,
    }
}

pub(super) fn pointer_mut<'v>(value: &'v mut Value, path: &FieldPath) -> Option<&'v mut Value> {
    let mut current = value;
    for segment in &path.0 {
        current = match segment {
            PathSegment::Key(k) => current.as_object_mut()?.get_mut(k)?,
            PathSegment::Index(i) => current.as_array_mut()?.get_mut(*i)?,
        };
    }
    Some(current)
}

pub(super) fn collect_strings(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|v| collect_strings(v, out)),
        Value::Object(map) => map.values().for_each(|v| collect_strings(v, out)),
        _ => {}
    }
}
