//! Raw documents → [`DesiredState`]: every check of the manifest format, collecting all errors
//! with their file, line, column and field path. Pure: input is file contents, an
//! [`Environment`] for `${env:…}`/`${file:…}`, output is values.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use serde_json::{Map, Number, Value};

use super::desired::{DesiredApp, DesiredClient, DesiredState, Origin};
use super::error::{ManifestError, ManifestErrors};
use super::interpolate::{interpolate, Environment, Reference};
use super::raw::{
    rejected_app_fields, RawInlineOidcClient, RawInlineSamlClient, RawMetadata, RawOidcClientSpec,
    RawSamlClientSpec, API_VERSION,
};
use super::yaml::{self, Mark, Node, NodeValue, Resolved};
use crate::model::catalogue::{self, Object};
use crate::model::schema::{did_you_mean, BodySchema, FieldPath, PathSegment};
use crate::model::{rules, AppInput, AuthenticationProtocol, Claim, ClientType};

/// One manifest file's contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    /// Its path, as the user named it (used in messages).
    pub path: PathBuf,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

/// The annotation that protects an object from deletion.
pub const PROTECT_ANNOTATION: &str = "tenantsync/protect";

struct Schemas {
    metadata: BodySchema,
    app_spec: BodySchema,
    inline_oidc: BodySchema,
    inline_saml: BodySchema,
    doc_oidc: BodySchema,
    doc_saml: BodySchema,
}

/// What a manifest must set: the fields the API requires on create, except those a manifest
/// cannot write and those tenantsync fills in when left out.
fn manifest_required(object: Object) -> Vec<&'static str> {
    object
        .fields()
        .iter()
        .filter(|f| {
            f.required_on_create && f.manifest_hint.is_none() && f.manifest_default.is_none()
        })
        .map(|f| f.name)
        .collect()
}

static SCHEMAS: LazyLock<Schemas> = LazyLock::new(|| {
    let rejected: Vec<&str> = rejected_app_fields().map(|(f, _)| f).collect();
    let oidc = manifest_required(Object::OidcClient);
    let saml = manifest_required(Object::SamlClient);
    Schemas {
        metadata: BodySchema::of::<RawMetadata>(),
        app_spec: BodySchema::of::<AppInput>()
            .without(&rejected)
            .require(&manifest_required(Object::App)),
        inline_oidc: BodySchema::of::<RawInlineOidcClient>().require(&oidc),
        inline_saml: BodySchema::of::<RawInlineSamlClient>().require(&saml),
        doc_oidc: BodySchema::of::<RawOidcClientSpec>().require(&oidc),
        doc_saml: BodySchema::of::<RawSamlClientSpec>().require(&saml),
    }
});

/// Fields of an object schema (for `ignore_fields` checks).
fn schema_fields(schema: &BodySchema) -> Vec<String> {
    schema
        .as_value()
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default()
}

/// JWK members that only private keys have.
const PRIVATE_JWK_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

#[derive(Debug, Clone, Copy)]
struct Pos {
    key: Option<Mark>,
    value: Mark,
}

/// One document turned into JSON, with where each value came from.
struct DocContext<'a> {
    file: &'a Path,
    base_dir: PathBuf,
    env: &'a dyn Environment,
    positions: HashMap<FieldPath, Pos>,
    interpolated: Vec<(FieldPath, Vec<Reference>, String)>,
    failed: Vec<FieldPath>,
    sensitive: BTreeSet<FieldPath>,
    sensitive_values: Vec<String>,
    errors: Vec<ManifestError>,
}

fn starts_with(path: &FieldPath, prefix: &FieldPath) -> bool {
    path.0.len() >= prefix.0.len() && path.0[..prefix.0.len()] == prefix.0[..]
}

impl<'a> DocContext<'a> {
    fn new(file: &'a Path, env: &'a dyn Environment) -> Self {
        Self {
            file,
            base_dir: file.parent().map(Path::to_path_buf).unwrap_or_default(),
            env,
            positions: HashMap::new(),
            interpolated: Vec::new(),
            failed: Vec::new(),
            sensitive: BTreeSet::new(),
            sensitive_values: Vec::new(),
            errors: Vec::new(),
        }
    }

    fn locate(&self, path: &FieldPath, prefer_key: bool) -> Mark {
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

    fn redact(&self, path: &FieldPath, message: &str) -> String {
        let mut out = message.to_owned();
        // Values interpolated at this path first (so the message names the right reference),
        // then any other interpolated value long enough to be recognisable.
        for pass_related in [true, false] {
            for (p, references, resolved) in &self.interpolated {
                let related = starts_with(p, path) || starts_with(path, p);
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

    fn error_at(&mut self, path: &FieldPath, mark: Mark, message: impl Into<String>) {
        let message = self.redact(path, &message.into());
        self.errors.push(ManifestError {
            file: self.file.to_owned(),
            line: mark.line,
            column: mark.col,
            field: path.to_string(),
            message,
        });
    }

    fn error(&mut self, path: &FieldPath, message: impl Into<String>) {
        let message = message.into();
        let mark = if message.starts_with("required field is missing")
            && !self.positions.contains_key(path)
        {
            // Point at the key of the mapping that lacks the field.
            let mut parent = path.clone();
            parent.0.pop();
            self.locate(&parent, true)
        } else {
            let prefer_key = message.starts_with("unknown field")
                || message.contains("not accepted in a manifest");
            self.locate(path, prefer_key)
        };
        self.error_at(path, mark, message);
    }

    /// Gives an interpolated value the type the schema expects where its text allows: a
    /// reference is text, so `"${env:TTL}"` may fill a number field and `${env:NAME}` a string
    /// field whatever the variable holds. Returns whether anything changed.
    fn coerce(
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
            let replacement = if p.message.starts_with("expected a whole number") {
                resolved
                    .trim()
                    .parse::<i64>()
                    .ok()
                    .map(|i| Value::Number(i.into()))
            } else if p.message.starts_with("expected a number") {
                resolved
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .and_then(Number::from_f64)
                    .map(Value::Number)
            } else if p.message.starts_with("expected a boolean") {
                match resolved.trim() {
                    "true" => Some(Value::Bool(true)),
                    "false" => Some(Value::Bool(false)),
                    _ => None,
                }
            } else if p.message.starts_with("expected a string") && !slot.is_string() {
                Some(Value::String(resolved.clone()))
            } else {
                None
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
    fn check(&mut self, schema: &BodySchema, value: &mut Value, prefix: &FieldPath) -> bool {
        let mut problems = schema.check(value);
        if !problems.is_empty() && self.coerce(value, &problems, prefix) {
            problems = schema.check(value);
        }
        let mut any = false;
        for p in problems {
            let full = p.path.prefixed(prefix);
            if self.failed.iter().any(|f| starts_with(&full, f)) {
                continue;
            }
            any = true;
            self.error(&full, p.message);
        }
        !any
    }

    fn scalar_value(&mut self, node: &Node, text: &str, plain: bool, path: &FieldPath) -> Value {
        let (text, plain) = if text.contains('$') {
            match interpolate(text, &self.base_dir, self.env) {
                Ok(done) => {
                    // A value read from a file, or from a variable whose name looks secret, is
                    // treated as a secret: never shown in plans, hashed in the state.
                    if done.references.iter().any(Reference::is_secret_source) {
                        self.sensitive.insert(path.clone());
                        self.sensitive_values.push(done.text.clone());
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

    fn node_to_json(&mut self, node: &Node, path: &FieldPath, key: Option<Mark>) -> Value {
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

fn pointer_mut<'v>(value: &'v mut Value, path: &FieldPath) -> Option<&'v mut Value> {
    let mut current = value;
    for segment in &path.0 {
        current = match segment {
            PathSegment::Key(k) => current.as_object_mut()?.get_mut(k)?,
            PathSegment::Index(i) => current.as_array_mut()?.get_mut(*i)?,
        };
    }
    Some(current)
}

fn collect_strings(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|v| collect_strings(v, out)),
        Value::Object(map) => map.values().for_each(|v| collect_strings(v, out)),
        _ => {}
    }
}

/// An application document after per-document checks.
struct AppDoc {
    key: String,
    origin: Origin,
    name_mark: Mark,
    spec_mark: Mark,
    /// False when the app itself had errors (kept so references to it still resolve).
    valid: bool,
    protect: bool,
    spec: Map<String, Value>,
    ignore_fields: BTreeSet<String>,
    sensitive: BTreeSet<String>,
    clients: Vec<ClientDoc>,
}

/// A client (inline or its own document) after per-document checks.
struct ClientDoc {
    client: DesiredClient,
    default_marked: bool,
    file: PathBuf,
    name_mark: Mark,
    default_mark: Mark,
    field: String,
    /// For `Client` documents: the application it names, and where.
    application: Option<(String, Mark, String)>,
    doc_name: Option<(String, Mark)>,
}

fn valid_object_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 128
        && bytes.iter().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'.' | b'_')
        })
        && bytes[0].is_ascii_alphanumeric()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
}

fn sensitive_within(ctx: &DocContext<'_>, prefix: &FieldPath) -> BTreeSet<String> {
    ctx.sensitive
        .iter()
        .filter(|p| starts_with(p, prefix))
        .map(|p| FieldPath(p.0[prefix.0.len()..].to_vec()).to_string())
        .collect()
}

impl DocContext<'_> {
    fn metadata(&mut self, root: &Map<String, Value>) -> Option<(String, Mark, bool)> {
        let path = FieldPath::root().key("metadata");
        let Some(meta) = root.get("metadata") else {
            self.error(
                &path,
                "required field is missing: every document needs `metadata.name`",
            );
            return None;
        };
        let mut meta = meta.clone();
        if !self.check(&SCHEMAS.metadata, &mut meta, &path) {
            return None;
        }
        let name = meta["name"].as_str().unwrap_or_default().to_owned();
        let name_path = path.key("name");
        let name_mark = self.locate(&name_path, false);
        if !valid_object_name(&name) {
            self.error(
                &name_path,
                format!("`{name}` is not a valid name: use lowercase letters, digits, `-`, `.` and `_`, starting and ending with a letter or digit (at most 128 characters)"),
            );
        }
        let mut protect = false;
        if let Some(annotations) = meta.get("annotations").and_then(Value::as_object) {
            for (k, v) in annotations {
                let apath = path.key("annotations").key(k);
                if k == PROTECT_ANNOTATION {
                    match v.as_str() {
                        Some("true") => protect = true,
                        Some("false") => {}
                        _ => self.error(&apath, "must be \"true\" or \"false\" (quoted)"),
                    }
                } else if let Some(rest) = k.strip_prefix("tenantsync/") {
                    let hint = did_you_mean(rest, ["protect"].into_iter())
                        .map(|c| format!(" (did you mean `tenantsync/{c}`?)"))
                        .unwrap_or_default();
                    self.error(&apath, format!("unknown tenantsync annotation `{k}`{hint}; known: {PROTECT_ANNOTATION}"));
                }
            }
        }
        Some((name, name_mark, protect))
    }

    fn ignore_fields(
        &mut self,
        value: Option<&Value>,
        path: &FieldPath,
        known: &[String],
    ) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let Some(value) = value else { return out };
        let Some(items) = value.as_array() else {
            self.error(
                path,
                "expected a list of field paths, e.g. [logo, token_expiration.refresh_token_ttl]",
            );
            return out;
        };
        for (i, item) in items.iter().enumerate() {
            let ipath = path.index(i);
            let Some(field) = item.as_str() else {
                self.error(&ipath, "expected a field path (a string)");
                continue;
            };
            let head = field.split(['.', '[']).next().unwrap_or_default();
            if !known.iter().any(|k| k == head) {
                let hint = did_you_mean(head, known.iter().map(String::as_str))
                    .map(|c| format!(" (did you mean `{c}`?)"))
                    .unwrap_or_default();
                self.error(
                    &ipath,
                    format!("`{field}` does not name a field of this object{hint}"),
                );
                continue;
            }
            out.insert(field.to_owned());
        }
        out
    }

    /// Checks a client mapping (inline or a `Client` document's spec) and builds it.
    fn client(&mut self, value: &Value, path: &FieldPath, document: bool) -> Option<ClientDoc> {
        let mut value = value.clone();
        let value = &mut value;
        let Some(map) = value.as_object() else {
            self.error(path, "expected a client (a mapping with at least `name`)");
            return None;
        };
        // A mis-cased `SAML` is reported by the schema; the rest is still checked as SAML.
        let protocol = match map.get("authentication_protocol").and_then(Value::as_str) {
            Some(p) if p.eq_ignore_ascii_case("saml") => AuthenticationProtocol::Saml,
            _ => AuthenticationProtocol::Oidc,
        };
        let schema = match (protocol, document) {
            (AuthenticationProtocol::Oidc, false) => &SCHEMAS.inline_oidc,
            (AuthenticationProtocol::Saml, false) => &SCHEMAS.inline_saml,
            (AuthenticationProtocol::Oidc, true) => &SCHEMAS.doc_oidc,
            (AuthenticationProtocol::Saml, true) => &SCHEMAS.doc_saml,
        };
        let valid = self.check(schema, value, path);
        let map = value.as_object().expect("checked above");
        // The API's prose rules apply to whatever is readable, even when the schema check failed,
        // so one run reports them too.
        if !valid {
            for (p, message) in client_rules(map, protocol) {
                self.error(&p.prefixed(path), message);
            }
        }
        let known: Vec<String> = schema_fields(schema)
            .into_iter()
            .filter(|f| !matches!(f.as_str(), "default" | "ignore_fields" | "application"))
            .collect();
        let ignore_fields =
            self.ignore_fields(map.get("ignore_fields"), &path.key("ignore_fields"), &known);
        if !valid {
            return None;
        }
        let mut spec = map.clone();
        let default_marked = spec
            .remove("default")
            .and_then(|v| v.as_bool())
            .unwrap_or(false);
        spec.remove("ignore_fields");
        spec.remove("authentication_protocol");
        let application = spec
            .remove("application")
            .and_then(|v| v.as_str().map(str::to_owned));
        let typed_problems = client_rules(&spec, protocol);
        let rules_ok = typed_problems.is_empty();
        for (p, message) in typed_problems {
            self.error(&p.prefixed(path), message);
        }
        if !rules_ok {
            return None;
        }
        let name = spec["name"].as_str().unwrap_or_default().to_owned();
        let mark = self.locate(path, false);
        let name_mark = self.locate(&path.key("name"), false);
        let default_mark = self.locate(&path.key("default"), true);
        let application = application.map(|a| {
            let apath = path.key("application");
            let amark = self.locate(&apath, false);
            (a, amark, apath.to_string())
        });
        Some(ClientDoc {
            client: DesiredClient {
                name,
                origin: Origin {
                    file: self.file.to_owned(),
                    line: mark.line,
                },
                protocol,
                is_default: false,
                spec,
                ignore_fields,
                sensitive: sensitive_within(self, path),
            },
            default_marked,
            file: self.file.to_owned(),
            name_mark,
            default_mark,
            field: path.to_string(),
            application,
            doc_name: None,
        })
    }
}

/// Redirect-URI and UserInfo-claims rules (the API documents them in prose) over a client's raw fields.
fn client_rules(
    map: &Map<String, Value>,
    protocol: AuthenticationProtocol,
) -> Vec<(FieldPath, String)> {
    let mut out = Vec::new();
    if protocol == AuthenticationProtocol::Oidc {
        let client_type = match map.get("client_type").and_then(Value::as_str) {
            Some("native") => ClientType::Native,
            _ => ClientType::Web,
        };
        if let Some(uris) = map.get("redirect_uris").and_then(Value::as_array) {
            for (i, uri) in uris.iter().enumerate() {
                if let Some(Err(m)) = uri
                    .as_str()
                    .map(|u| rules::check_redirect_uri(u, client_type))
                {
                    out.push((FieldPath::root().key("redirect_uris").index(i), m));
                }
            }
        }
    }
    let claims: Option<Vec<Claim>> = map
        .get("default_user_info_claims")
        .and_then(|v| serde_json::from_value(v.clone()).ok());
    let sync = map
        .get("sync_id_token_claims_to_userinfo")
        .and_then(Value::as_bool);
    if let Err(m) = rules::check_userinfo_claims(claims.as_deref(), sync) {
        out.push((FieldPath::root().key("default_user_info_claims"), m));
    }
    out
}

enum ParsedDoc {
    App(AppDoc),
    Client(ClientDoc),
    /// A `Client` document with errors, and the application it names (if readable).
    InvalidClient(Option<String>),
}

fn parse_document(ctx: &mut DocContext<'_>, root_node: &Node) -> Option<ParsedDoc> {
    let root_value = ctx.node_to_json(root_node, &FieldPath::root(), None);
    let root_path = FieldPath::root();
    let Some(root) = root_value.as_object() else {
        ctx.error(
            &root_path,
            "a manifest document must be a mapping with apiVersion, kind, metadata and spec",
        );
        return None;
    };
    const TOP: [&str; 4] = ["apiVersion", "kind", "metadata", "spec"];
    for key in root.keys() {
        if !TOP.contains(&key.as_str()) {
            let hint = did_you_mean(key, TOP.into_iter())
                .map(|c| format!(" (did you mean `{c}`?)"))
                .unwrap_or_default();
            ctx.error(&root_path.key(key), format!("unknown field `{key}`{hint}; a document has apiVersion, kind, metadata and spec"));
        }
    }
    match root.get("apiVersion") {
        None => ctx.error(
            &root_path.key("apiVersion"),
            format!("required field is missing: add `apiVersion: {API_VERSION}`"),
        ),
        Some(Value::String(v)) if v == API_VERSION => {}
        Some(other) => {
            let shown = other
                .as_str()
                .map_or_else(|| other.to_string(), str::to_owned);
            ctx.error(
                &root_path.key("apiVersion"),
                format!("unknown apiVersion `{shown}`; this tenantsync reads `{API_VERSION}`"),
            );
        }
    }
    let kind = match root.get("kind") {
        None => {
            ctx.error(
                &root_path.key("kind"),
                "required field is missing: `kind: Application` or `kind: Client`",
            );
            None
        }
        Some(Value::String(k)) if k == "Application" || k == "Client" => Some(k.clone()),
        Some(other) => {
            let shown = other
                .as_str()
                .map_or_else(|| other.to_string(), str::to_owned);
            let hint = did_you_mean(&shown, ["Application", "Client"].into_iter())
                .map(|c| format!(" (did you mean `{c}`?)"))
                .unwrap_or_default();
            ctx.error(
                &root_path.key("kind"),
                format!("unknown kind `{shown}`{hint}; expected Application or Client"),
            );
            None
        }
    };
    let metadata = ctx.metadata(root);
    let spec_path = root_path.key("spec");
    let Some(spec) = root.get("spec") else {
        ctx.error(
            &spec_path,
            "required field is missing: the document needs a `spec`",
        );
        return None;
    };
    let kind = kind?;
    if kind == "Client" {
        let application = spec
            .get("application")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let client = ctx.client(spec, &spec_path, true);
        return match (client, metadata) {
            (Some(mut client), Some((name, mark, _))) => {
                client.doc_name = Some((name, mark));
                Some(ParsedDoc::Client(client))
            }
            _ => Some(ParsedDoc::InvalidClient(application)),
        };
    }
    let Some(spec_map) = spec.as_object() else {
        ctx.error(&spec_path, "expected a mapping of application fields");
        return None;
    };
    let mut app_fields = spec_map.clone();
    for (field, hint) in rejected_app_fields() {
        if app_fields.remove(field).is_some() {
            ctx.error(
                &spec_path.key(field),
                format!("`{field}` is not accepted in a manifest: {hint}"),
            );
        }
    }
    let clients_value = app_fields.remove("clients");
    let ignore_value = app_fields.remove("ignore_fields");
    let mut app_value = Value::Object(app_fields);
    let app_ok = ctx.check(&SCHEMAS.app_spec, &mut app_value, &spec_path);
    let Value::Object(app_fields) = app_value else {
        unreachable!("an object stays an object")
    };
    let known = schema_fields(&SCHEMAS.app_spec);
    let ignore_fields = ctx.ignore_fields(
        ignore_value.as_ref(),
        &spec_path.key("ignore_fields"),
        &known,
    );
    let mut clients = Vec::new();
    let mut declared_clients = 0;
    let clients_path = spec_path.key("clients");
    match &clients_value {
        None => {}
        Some(Value::Array(items)) => {
            declared_clients = items.len();
            for (i, item) in items.iter().enumerate() {
                if let Some(c) = ctx.client(item, &clients_path.index(i), false) {
                    clients.push(c);
                }
            }
        }
        Some(_) => {
            declared_clients = 1;
            ctx.error(&clients_path, "expected a list of clients");
        }
    }
    let (key, name_mark, protect) = metadata?;
    let spec_mark = ctx.locate(&spec_path, true);
    let sensitive = sensitive_within(ctx, &spec_path)
        .into_iter()
        .filter(|p| !p.starts_with("clients"))
        .collect();
    Some(ParsedDoc::App(AppDoc {
        key,
        origin: Origin {
            file: ctx.file.to_owned(),
            line: name_mark.line,
        },
        name_mark,
        spec_mark,
        valid: app_ok && declared_clients == clients.len(),
        protect,
        spec: app_fields,
        ignore_fields,
        sensitive,
        clients,
    }))
}

fn file_error(path: &Path, mark: Mark, message: impl Into<String>) -> ManifestError {
    ManifestError {
        file: path.to_owned(),
        line: mark.line,
        column: mark.col,
        field: "(document)".to_owned(),
        message: message.into(),
    }
}

/// Loads and validates manifest files into the desired state, or returns every error.
pub fn load(sources: &[SourceFile], env: &dyn Environment) -> Result<DesiredState, ManifestErrors> {
    let mut errors = Vec::new();
    let mut apps: Vec<AppDoc> = Vec::new();
    let mut client_docs: Vec<ClientDoc> = Vec::new();
    let mut invalid_client_apps: Vec<String> = Vec::new();
    for source in sources {
        if source.bytes.contains(&0) {
            errors.push(file_error(
                &source.path,
                Mark { line: 1, col: 1 },
                "this is a binary file, not YAML; keep only manifests in the manifest directories",
            ));
            continue;
        }
        let text = match std::str::from_utf8(&source.bytes) {
            Ok(t) => t,
            Err(e) => {
                let before = &source.bytes[..e.valid_up_to()];
                let line = before.iter().filter(|b| **b == b'\n').count() + 1;
                let col = before.iter().rev().take_while(|b| **b != b'\n').count() + 1;
                errors.push(file_error(
                    &source.path,
                    Mark { line, col },
                    "the file is not valid UTF-8 text; save it as UTF-8",
                ));
                continue;
            }
        };
        let documents = match yaml::parse(text) {
            Ok(d) => d,
            Err(e) => {
                errors.push(file_error(
                    &source.path,
                    e.mark,
                    format!("YAML syntax error: {}", e.message),
                ));
                continue;
            }
        };
        for document in documents {
            let Some(root) = document.root.as_ref().filter(|_| !document.is_empty()) else {
                continue;
            };
            let mut ctx = DocContext::new(&source.path, env);
            let parsed = parse_document(&mut ctx, root);
            errors.append(&mut ctx.errors);
            match parsed {
                Some(ParsedDoc::App(app)) => apps.push(app),
                Some(ParsedDoc::Client(c)) => client_docs.push(c),
                Some(ParsedDoc::InvalidClient(application)) => {
                    invalid_client_apps.extend(application);
                }
                None => {}
            }
        }
    }
    let state = assemble(apps, client_docs, &invalid_client_apps, &mut errors);
    if errors.is_empty() {
        Ok(state)
    } else {
        errors.sort();
        errors.dedup();
        Err(ManifestErrors(errors))
    }
}

fn cross_error(file: &Path, mark: Mark, field: &str, message: String) -> ManifestError {
    ManifestError {
        file: file.to_owned(),
        line: mark.line,
        column: mark.col,
        field: field.to_owned(),
        message,
    }
}

/// Cross-document checks: unique names, client references, one default client per app.
fn assemble(
    apps: Vec<AppDoc>,
    client_docs: Vec<ClientDoc>,
    invalid_client_apps: &[String],
    errors: &mut Vec<ManifestError>,
) -> DesiredState {
    let mut by_key: BTreeMap<String, AppDoc> = BTreeMap::new();
    for app in apps {
        if let Some(first) = by_key.get(&app.key) {
            errors.push(cross_error(
                &app.origin.file,
                app.name_mark,
                "metadata.name",
                format!(
                    "duplicate Application `{}` (first defined at {}); names must be unique",
                    app.key, first.origin
                ),
            ));
            continue;
        }
        by_key.insert(app.key.clone(), app);
    }
    let mut doc_names: BTreeMap<String, Origin> = BTreeMap::new();
    for client in client_docs {
        if let Some((name, mark)) = &client.doc_name {
            if let Some(first) = doc_names.get(name) {
                errors.push(cross_error(
                    &client.file,
                    *mark,
                    "metadata.name",
                    format!("duplicate Client document `{name}` (first defined at {first})"),
                ));
                continue;
            }
            doc_names.insert(
                name.clone(),
                Origin {
                    file: client.file.clone(),
                    line: mark.line,
                },
            );
        }
        let (application, amark, afield) = client
            .application
            .clone()
            .expect("Client documents name their application");
        match by_key.get_mut(&application) {
            Some(app) => app.clients.push(client),
            None => {
                let hint = did_you_mean(&application, by_key.keys().map(String::as_str))
                    .map(|c| format!(" (did you mean `{c}`?)"))
                    .unwrap_or_default();
                errors.push(cross_error(
                    &client.file,
                    amark,
                    &afield,
                    format!("no Application named `{application}` in the manifests{hint}"),
                ));
            }
        }
    }
    let mut state = DesiredState::default();
    for (key, app) in by_key {
        let mut clients = BTreeMap::new();
        let mut first: Option<String> = None;
        let mut defaults_marked: Vec<&ClientDoc> = Vec::new();
        for c in &app.clients {
            if clients.contains_key(&c.client.name) {
                let original: &DesiredClient = &clients[&c.client.name];
                errors.push(cross_error(&c.file, c.name_mark, &format!("{}.name", c.field), format!(
                    "duplicate client name `{}` in application `{key}` (first defined at {}); client names must be unique within an application",
                    c.client.name, original.origin
                )));
                continue;
            }
            first.get_or_insert_with(|| c.client.name.clone());
            if c.default_marked {
                defaults_marked.push(c);
            }
            clients.insert(c.client.name.clone(), c.client.clone());
        }
        let default = match defaults_marked.as_slice() {
            [] => first,
            [one] => Some(one.client.name.clone()),
            [one, rest @ ..] => {
                for extra in rest {
                    errors.push(cross_error(&extra.file, extra.default_mark, &format!("{}.default", extra.field), format!(
                        "application `{key}` already has a default client (`{}` at {}); exactly one client may say `default: true`",
                        one.client.name, one.client.origin
                    )));
                }
                continue;
            }
        };
        if !app.valid || invalid_client_apps.contains(&key) {
            continue; // its errors are already reported
        }
        let Some(default) = default else {
            errors.push(cross_error(&app.origin.file, app.spec_mark, "spec.clients", format!(
                "application `{key}` has no clients; every application needs at least one (its default client), under spec.clients or in a Client document"
            )));
            continue;
        };
        if let Some(c) = clients.get_mut(&default) {
            c.is_default = true;
        }
        state.apps.insert(
            key.clone(),
            DesiredApp {
                key,
                origin: app.origin,
                protect: app.protect,
                spec: app.spec,
                ignore_fields: app.ignore_fields,
                sensitive: app.sensitive,
                clients,
                default_client: default,
            },
        );
    }
    state
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::interpolate::tests::FakeEnvironment;
    use serde_json::json;

    fn load_one(text: &str, env: &FakeEnvironment) -> Result<DesiredState, ManifestErrors> {
        load(
            &[SourceFile {
                path: PathBuf::from("/m/app.yaml"),
                bytes: text.as_bytes().to_vec(),
            }],
            env,
        )
    }

    #[test]
    fn builds_the_desired_state() {
        let mut env = FakeEnvironment::default();
        env.vars.insert("TTL".into(), "120".into());
        let state = load_one(
            r#"
apiVersion: tenantsync/v1
kind: Application
metadata: {name: shop, annotations: {tenantsync/protect: "true"}}
spec:
  app_name: Shop
  ignore_fields: [logo]
  clients:
    - name: Web
      redirect_uris: [https://shop.example.com/cb]
      token_expiration: {access_token_ttl: "${env:TTL}"}
    - name: Admin
      default: true
      redirect_uris: []
      session_expiration: ${env:TTL}
      description: "${env:TTL}"
---
apiVersion: tenantsync/v1
kind: Client
metadata: {name: shop-sso}
spec:
  application: shop
  name: SSO
  authentication_protocol: saml
  sp_entity_id: urn:sso
"#,
            &env,
        )
        .unwrap();
        let app = &state.apps["shop"];
        assert!(app.protect);
        assert_eq!(app.app_name(), "Shop");
        assert_eq!(app.default_client, "Admin");
        assert_eq!(app.ignore_fields, BTreeSet::from(["logo".to_owned()]));
        assert_eq!(app.clients.len(), 3);
        let web = &app.clients["Web"];
        assert!(!web.is_default);
        assert_eq!(
            web.spec["token_expiration"],
            json!({"access_token_ttl": 120})
        );
        let admin = &app.clients["Admin"];
        assert!(admin.is_default);
        assert_eq!(admin.spec["session_expiration"], json!(120));
        assert_eq!(
            admin.spec["description"],
            json!("120"),
            "a reference fills a string field as text"
        );
        let sso = &app.clients["SSO"];
        assert_eq!(sso.protocol, AuthenticationProtocol::Saml);
        assert!(sso.spec.get("authentication_protocol").is_none());
        assert!(sso.spec.get("application").is_none());
        assert_eq!(state.client_count(), 3);
    }

    #[test]
    fn secret_named_fields_are_marked_sensitive_and_redacted() {
        assert!(catalogue::is_secret_name("client_secret"));
        assert!(catalogue::is_secret_name("clientSecret"));
        assert!(!catalogue::is_secret_name("client_id"));
        assert!(!catalogue::is_secret_name(
            "invalidateOnMemberPasswordReset"
        ));
        let env = FakeEnvironment::default();
        let err = load_one(
            "apiVersion: tenantsync/v1\nkind: Application\nmetadata: {name: s}\nspec:\n  app_name: S\n  client_secret: hunter2-canary\n  clients: [{name: W, redirect_uris: []}]\n",
            &env,
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("unknown field `client_secret`"), "{text}");
        assert!(!text.contains("hunter2-canary"));
    }
}
