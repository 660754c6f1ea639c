//! JSON Schemas generated from the wire types, and a validator that reports every problem of a
//! body at once (unknown fields with a "did you mean", wrong types, enum values with the allowed
//! list, missing required fields), each with its field path.
//!
//! The schemas come from `schemars`, so the Rust types stay the one source of truth; the server
//! validates requests with them before deserializing, and the manifest loader reuses the walker.

use std::fmt;

pub use super::field_path::{FieldPath, PathSegment};

use schemars::generate::SchemaSettings;
use schemars::JsonSchema;
use serde_json::{Map, Value};

/// The most problems reported for one body; the rest are counted.
pub const MAX_PROBLEMS: usize = 100;

/// Names longer than this get no "did you mean".
pub const MAX_SUGGESTED_LEN: usize = 64;

/// At most [`MAX_PROBLEMS`], then one more that counts the rest.
pub fn cap_problems(mut problems: Vec<Problem>) -> Vec<Problem> {
    if problems.len() > MAX_PROBLEMS {
        let more = problems.len() - MAX_PROBLEMS;
        problems.truncate(MAX_PROBLEMS);
        problems.push(Problem {
            path: FieldPath::root(),
            kind: ProblemKind::Invalid,
            message: format!("… and {more} more problems"),
        });
    }
    problems
}

/// One thing wrong with a body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The field it is about (for unknown and missing fields: that field).
    pub path: FieldPath,
    /// What kind of problem: what callers act on (where to point, what to coerce).
    pub kind: ProblemKind,
    /// What is wrong and, where possible, how to fix it.
    pub message: String,
}

/// What kind of thing is wrong with a field. Callers decide by this, never by message text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemKind {
    /// A required field is absent (the path names it).
    Missing,
    /// A field the object does not have, or one not accepted where it stands.
    Unknown,
    /// A value of another JSON type; the type expected when exactly one scalar type is.
    WrongType(Option<ScalarType>),
    /// Any other rule: an enumeration, a constant, a minimum or maximum, a cross-field rule.
    Invalid,
}

/// A JSON scalar type a field may expect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScalarType {
    /// A whole number.
    Integer,
    /// Any number.
    Number,
    /// `true` or `false`.
    Boolean,
    /// Text.
    String,
}

impl ScalarType {
    /// The one scalar type a schema's `type` names, if it names exactly one.
    fn of(expected: &Value) -> Option<Self> {
        match expected.as_str()? {
            "integer" => Some(ScalarType::Integer),
            "number" => Some(ScalarType::Number),
            "boolean" => Some(ScalarType::Boolean),
            "string" => Some(ScalarType::String),
            _ => None,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_root() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// A generated JSON Schema (draft 2020-12) with its `$defs`, ready to validate values.
#[derive(Debug, Clone)]
pub struct BodySchema {
    root: Value,
}

impl BodySchema {
    /// The schema of `T` as it is deserialized. `null` is never accepted: an absent field and a
    /// null one would otherwise mean different things to different readers.
    pub fn of<T: JsonSchema>() -> Self {
        let generator = SchemaSettings::draft2020_12().into_generator();
        let mut root = generator.into_root_schema_for::<T>().to_value();
        strip_null(&mut root);
        Self { root }
    }

    /// A schema written as JSON (draft 2020-12, no `$defs`), e.g. one derived from a kind's
    /// catalogue.
    pub fn from_value(root: Value) -> Self {
        Self { root }
    }

    /// Adds top-level required fields.
    pub fn require(mut self, fields: &[&str]) -> Self {
        let required = self
            .root
            .as_object_mut()
            .expect("a generated struct schema is an object")
            .entry("required")
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(list) = required {
            for field in fields {
                if !list.iter().any(|v| v == field) {
                    list.push(Value::String((*field).to_owned()));
                }
            }
        }
        self
    }

    /// Removes top-level fields (they become unknown).
    pub fn without(mut self, fields: &[&str]) -> Self {
        if let Some(props) = self
            .root
            .get_mut("properties")
            .and_then(Value::as_object_mut)
        {
            for field in fields {
                props.shift_remove(*field);
            }
        }
        self
    }

    /// The top-level fields it accepts (its `properties`).
    pub fn fields(&self) -> impl Iterator<Item = &str> {
        self.root
            .get("properties")
            .and_then(Value::as_object)
            .into_iter()
            .flat_map(|p| p.keys().map(String::as_str))
    }

    /// The schema as JSON.
    pub fn as_value(&self) -> &Value {
        &self.root
    }

    /// The schema as JSON, consumed.
    pub fn into_value(self) -> Value {
        self.root
    }

    /// Every problem of `value` against this schema; empty when valid.
    pub fn check(&self, value: &Value) -> Vec<Problem> {
        let mut problems = Vec::new();
        self.walk(&self.root, value, &FieldPath::root(), &mut problems);
        cap_problems(problems)
    }

    fn resolve<'a>(&'a self, reference: &str) -> Option<&'a Value> {
        let pointer = reference.strip_prefix('#')?;
        self.root.pointer(pointer)
    }

    fn walk(&self, schema: &Value, value: &Value, path: &FieldPath, out: &mut Vec<Problem>) {
        let schema = match schema {
            Value::Bool(true) => return,
            Value::Bool(false) => {
                out.push(problem(
                    path,
                    ProblemKind::Unknown,
                    "this field is not allowed here",
                ));
                return;
            }
            Value::Object(map) => map,
            _ => return,
        };
        if let Some(target) = schema
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| self.resolve(r))
        {
            self.walk(target, value, path, out);
        }
        for key in ["anyOf", "oneOf"] {
            if let Some(branches) = schema.get(key).and_then(Value::as_array) {
                self.walk_alternatives(branches, value, path, out);
            }
        }
        if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
            for branch in all {
                self.walk(branch, value, path, out);
            }
        }
        if let Some(expected) = schema.get("type") {
            if !type_matches(expected, value) {
                out.push(problem(
                    path,
                    ProblemKind::WrongType(ScalarType::of(expected)),
                    format!(
                        "expected {}, found {}",
                        describe_types(expected),
                        describe_value(value)
                    ),
                ));
                return;
            }
        }
        if let Some(allowed) = schema.get("enum").and_then(Value::as_array) {
            if !allowed.contains(value) {
                out.push(problem(
                    path,
                    ProblemKind::Invalid,
                    enum_message(value, allowed),
                ));
                return;
            }
        }
        if let Some(constant) = schema.get("const") {
            if constant != value {
                out.push(problem(
                    path,
                    ProblemKind::Invalid,
                    format!("expected {constant}, found {}", describe_value(value)),
                ));
                return;
            }
        }
        if let (Some(min), Some(n)) = (
            schema.get("minimum").and_then(Value::as_f64),
            value.as_f64(),
        ) {
            if n < min {
                out.push(problem(
                    path,
                    ProblemKind::Invalid,
                    format!("must be at least {min}, found {n}"),
                ));
            }
        }
        if let (Some(max), Some(n)) = (
            schema.get("maximum").and_then(Value::as_f64),
            value.as_f64(),
        ) {
            if n > max {
                out.push(problem(
                    path,
                    ProblemKind::Invalid,
                    format!("must be at most {max}, found {n}"),
                ));
            }
        }
        match value {
            Value::Object(fields) => self.walk_object(schema, fields, path, out),
            Value::Array(items) => {
                if let Some(item_schema) = schema.get("items") {
                    for (i, item) in items.iter().enumerate() {
                        if out.len() > MAX_PROBLEMS * 10 {
                            break; // enough to report; a huge body is not walked to its end
                        }
                        self.walk(item_schema, item, &path.index(i), out);
                    }
                }
            }
            _ => {}
        }
    }

    fn walk_alternatives(
        &self,
        branches: &[Value],
        value: &Value,
        path: &FieldPath,
        out: &mut Vec<Problem>,
    ) {
        let mut best: Option<Vec<Problem>> = None;
        for branch in branches {
            let mut found = Vec::new();
            self.walk(branch, value, path, &mut found);
            if found.is_empty() {
                return;
            }
            if best.as_ref().is_none_or(|b| found.len() < b.len()) {
                best = Some(found);
            }
        }
        out.extend(best.unwrap_or_default());
    }

    fn walk_object(
        &self,
        schema: &Map<String, Value>,
        fields: &Map<String, Value>,
        path: &FieldPath,
        out: &mut Vec<Problem>,
    ) {
        let properties = schema.get("properties").and_then(Value::as_object);
        let closed = schema.get("additionalProperties") == Some(&Value::Bool(false));
        for (name, field_value) in fields {
            match properties.and_then(|p| p.get(name)) {
                Some(field_schema) => self.walk(field_schema, field_value, &path.key(name), out),
                None if closed => {
                    let known = properties
                        .map(|p| p.keys().map(String::as_str).collect::<Vec<_>>())
                        .unwrap_or_default();
                    let mut message = format!("unknown field `{name}`");
                    if let Some(close) = did_you_mean(name, known.iter().copied()) {
                        message.push_str(&format!(" (did you mean `{close}`?)"));
                    }
                    out.push(problem(&path.key(name), ProblemKind::Unknown, message));
                }
                None => {
                    if let Some(extra) = schema.get("additionalProperties") {
                        self.walk(extra, field_value, &path.key(name), out);
                    }
                }
            }
        }
        if let Some(required) = schema.get("required").and_then(Value::as_array) {
            for name in required.iter().filter_map(Value::as_str) {
                if !fields.contains_key(name) {
                    out.push(problem(
                        &path.key(name),
                        ProblemKind::Missing,
                        "required field is missing",
                    ));
                }
            }
        }
    }
}

fn problem(path: &FieldPath, kind: ProblemKind, message: impl Into<String>) -> Problem {
    Problem {
        path: path.clone(),
        kind,
        message: message.into(),
    }
}

/// Removes `null` from every `type` list and every `{"type": "null"}` alternative (absent
/// means unset; null is never accepted).
pub fn strip_null(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            if let Some(Value::Array(types)) = map.get_mut("type") {
                types.retain(|t| t != "null");
                if types.len() == 1 {
                    let only = types.remove(0);
                    map.insert("type".into(), only);
                }
            }
            for key in ["anyOf", "oneOf"] {
                if let Some(Value::Array(branches)) = map.get_mut(key) {
                    branches.retain(|b| b.get("type").and_then(Value::as_str) != Some("null"));
                    if branches.len() == 1 {
                        let only = branches.remove(0);
                        map.remove(key);
                        if let Value::Object(inner) = only {
                            for (k, v) in inner {
                                map.entry(k).or_insert(v);
                            }
                        }
                    }
                }
            }
            if let Some(Value::Array(values)) = map.get_mut("enum") {
                values.retain(|v| !v.is_null());
            }
            for value in map.values_mut() {
                strip_null(value);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(strip_null),
        _ => {}
    }
}

fn type_matches(expected: &Value, value: &Value) -> bool {
    match expected {
        Value::String(t) => single_type_matches(t, value),
        Value::Array(ts) => ts
            .iter()
            .filter_map(Value::as_str)
            .any(|t| single_type_matches(t, value)),
        _ => true,
    }
}

fn single_type_matches(expected: &str, value: &Value) -> bool {
    match expected {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "null" => value.is_null(),
        _ => true,
    }
}

fn describe_types(expected: &Value) -> String {
    let names: Vec<&str> = match expected {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    let described: Vec<&str> = names
        .iter()
        .map(|t| match *t {
            "object" => "an object",
            "array" => "a list",
            "string" => "a string",
            "boolean" => "a boolean (true or false)",
            "integer" => "a whole number",
            "number" => "a number",
            "null" => "null",
            other => other,
        })
        .collect();
    described.join(" or ")
}

/// A short description of a value's type for messages, e.g. "a string" or "null".
pub fn describe_value(value: &Value) -> &'static str {
    match value {
        Value::Null => "null (omit the field instead of sending null)",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a decimal number",
        Value::Number(n) if n.is_i64() && n.as_i64().is_some_and(|v| v < 0) => "a negative number",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn enum_message(value: &Value, allowed: &[Value]) -> String {
    let names: Vec<String> = allowed
        .iter()
        .map(|v| {
            v.as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| v.to_string())
        })
        .collect();
    let shown = match value {
        Value::String(s) => format!("`{s}`"),
        other => other.to_string(),
    };
    let mut message = format!(
        "{shown} is not an allowed value; expected one of: {}",
        names.join(", ")
    );
    if let Some(s) = value.as_str() {
        if let Some(close) = did_you_mean(s, names.iter().map(String::as_str)) {
            message.push_str(&format!(" (did you mean `{close}`?)"));
        }
    }
    message
}

/// The closest candidate to `input`, if one is close enough to be a likely typo: at most a third
/// of the input's characters differ (one edit for short words).
pub fn did_you_mean<'a>(input: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    // Field names are short; comparing a huge input with each would cost seconds of CPU.
    if input.len() > MAX_SUGGESTED_LEN {
        return None;
    }
    let lowered = input.to_ascii_lowercase();
    let budget = (lowered.chars().count() / 3).max(1);
    candidates
        .map(|c| {
            (
                strsim::damerau_levenshtein(&lowered, &c.to_ascii_lowercase()),
                c,
            )
        })
        .filter(|(distance, _)| *distance <= budget)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AppInput, OidcClientInput};
    use serde_json::json;

    fn messages(problems: &[Problem]) -> Vec<String> {
        problems.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn reports_every_problem_with_its_path() {
        let schema = BodySchema::of::<OidcClientInput>().require(&["name", "redirect_uris"]);
        let body = json!({
            "redirect_uri": ["https://a"],
            "client_type": "webb",
            "token_expiration": {"access_token_ttl": "60"},
            "supported_prompts": ["login", "maybe"],
        });
        let got = messages(&schema.check(&body));
        assert_eq!(
            got,
            vec![
                "redirect_uri: unknown field `redirect_uri` (did you mean `redirect_uris`?)",
                "client_type: `webb` is not an allowed value; expected one of: web, native (did you mean `web`?)",
                "token_expiration.access_token_ttl: expected a whole number, found a string",
                "supported_prompts[1]: `maybe` is not an allowed value; expected one of: login, consent, none",
                "name: required field is missing",
                "redirect_uris: required field is missing",
            ]
        );
    }

    #[test]
    fn every_problem_carries_its_kind() {
        let schema = BodySchema::of::<OidcClientInput>().require(&["name"]);
        let body = json!({
            "redirect_uri": ["https://a"],
            "client_type": "webb",
            "token_expiration": {"access_token_ttl": "60"},
            "enforce_par": "yes",
            "description": 5,
            "session_expiration": -5,
        });
        let kinds: Vec<(String, ProblemKind)> = schema
            .check(&body)
            .into_iter()
            .map(|p| (p.path.to_string(), p.kind))
            .collect();
        let kind_of = |field: &str| {
            kinds
                .iter()
                .find(|(f, _)| f == field)
                .map(|(_, k)| *k)
                .unwrap_or_else(|| panic!("no problem at {field}: {kinds:?}"))
        };
        assert_eq!(kind_of("name"), ProblemKind::Missing);
        assert_eq!(kind_of("redirect_uri"), ProblemKind::Unknown);
        assert_eq!(kind_of("client_type"), ProblemKind::Invalid);
        assert_eq!(kind_of("session_expiration"), ProblemKind::Invalid);
        assert_eq!(
            kind_of("token_expiration.access_token_ttl"),
            ProblemKind::WrongType(Some(ScalarType::Integer))
        );
        assert_eq!(
            kind_of("enforce_par"),
            ProblemKind::WrongType(Some(ScalarType::Boolean))
        );
        assert_eq!(
            kind_of("description"),
            ProblemKind::WrongType(Some(ScalarType::String))
        );
    }

    #[test]
    fn null_and_negative_numbers_are_rejected() {
        let schema = BodySchema::of::<OidcClientInput>();
        let got = messages(&schema.check(&json!({"name": null, "session_expiration": -5})));
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got[0].starts_with("name: expected a string, found null"));
        assert!(got[1].starts_with("session_expiration:"), "{got:?}");
    }

    #[test]
    fn valid_bodies_have_no_problems() {
        let schema = BodySchema::of::<AppInput>().require(&["app_name"]);
        let body = json!({
            "app_name": "A",
            "first_client": {"anything": "checked separately"},
            "authenticator_preferences": {"is_centralized": false, "login_uri": "https://x"},
            "refresh_token_invalidation_trigger_configuration": {"invalidateOnMemberSuspension": false},
        });
        assert_eq!(messages(&schema.check(&body)), Vec::<String>::new());
        let update = BodySchema::of::<OidcClientInput>().without(&["authentication_protocol"]);
        let got = messages(&update.check(&json!({"authentication_protocol": "oidc"})));
        assert_eq!(
            got,
            vec!["authentication_protocol: unknown field `authentication_protocol`"]
        );
    }
}
