//! Raw documents → checked documents: every check of one document of the manifest format,
//! collecting all errors with their file, line, column and field path; the checks across
//! documents, and the `DesiredState` they assemble, are `assemble.rs`'s. Pure: input is file
//! contents, an [`Environment`] for `${env:…}`/`${file:…}`, output is values.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Map, Value};

use super::desired::{ClientFacts, DesiredObject, Facts, Origin, SourceInfo};
use super::document::DocContext;
use super::error::ManifestError;
use super::objects::{ObjectDoc, RawRefs};
use super::raw::{rejected_app_fields, API_VERSION, SCHEMAS};
use super::unique::{self, Held};
use super::yaml::{Mark, Node};
use crate::model::catalogue::Object;
use crate::model::kinds::{AnyKind, ObjKind, PROTOCOL_FIELD};
use crate::model::schema::{did_you_mean, FieldPath, ProblemKind};
use crate::model::FieldRules;
use crate::model::{rules, AuthenticationProtocol, Claim, ClientType};
use crate::state::address::Address;

/// One manifest file's contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    /// Its path, as the user named it (used in messages).
    pub path: PathBuf,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

/// An application document after per-document checks.
#[derive(Clone)]
pub(super) struct AppDoc {
    pub(super) key: String,
    pub(super) origin: Origin,
    pub(super) name_mark: Mark,
    pub(super) spec_mark: Mark,
    /// False when the app itself had errors (kept so references to it still resolve).
    pub(super) valid: bool,
    pub(super) protect: bool,
    pub(super) spec: Map<String, Value>,
    pub(super) rules: FieldRules,
    pub(super) source: SourceInfo,
    pub(super) clients: Vec<ClientDoc>,
    /// Its reference fields as written.
    pub(super) refs: RawRefs,
    /// The values no other application may hold, where it writes them.
    pub(super) held: Vec<Held>,
}

/// A client (inline or its own document) after per-document checks.
#[derive(Clone)]
pub(super) struct ClientDoc {
    /// Shared with the assembled desired state, which copies it only to change it (the
    /// daemon's parse cache and the state in force then hold one copy).
    pub(super) client: Arc<DesiredObject>,
    pub(super) default_marked: bool,
    pub(super) file: PathBuf,
    pub(super) name_mark: Mark,
    pub(super) default_mark: Mark,
    pub(super) field: String,
    /// For `Client` documents: the application it names, and where.
    pub(super) application: Option<(String, Mark, String)>,
    pub(super) doc_name: Option<(String, Mark)>,
    /// Its reference fields as written.
    pub(super) refs: RawRefs,
}

/// The paths of `set` under `prefix`, relative to it.
fn within(set: &BTreeSet<FieldPath>, prefix: &FieldPath) -> BTreeSet<FieldPath> {
    set.iter().filter_map(|p| p.strip_prefix(prefix)).collect()
}

impl DocContext<'_> {
    pub(super) fn ignore_fields(
        &mut self,
        value: Option<&Value>,
        path: &FieldPath,
        known: &[String],
    ) -> BTreeSet<FieldPath> {
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
            let Some(parsed) = FieldPath::parse(field) else {
                self.error(
                    &ipath,
                    format!("`{field}` is not a field path (keys joined by `.`, e.g. token_expiration.refresh_token_ttl)"),
                );
                continue;
            };
            let head = parsed.head().unwrap_or_default();
            // A name this version does not know is kept (a field upstream added later, as
            // export lists them); one close to a known name is taken for a misspelling.
            if !known.iter().any(|k| k == head) {
                if let Some(c) = did_you_mean(head, known.iter().map(String::as_str)) {
                    self.error(
                        &ipath,
                        format!(
                            "`{field}` does not name a field of this object (did you mean `{c}`?)"
                        ),
                    );
                    continue;
                }
            }
            out.insert(parsed);
        }
        out
    }

    /// Checks a client mapping (inline or a `Client` document's spec) and builds it.
    fn client(&mut self, value: &Value, path: &FieldPath, document: bool) -> Option<ClientDoc> {
        let mut value = value.clone();
        let value = &mut value;
        let Some(map) = value.as_object_mut() else {
            self.error(path, "expected a client (a mapping with at least `name`)");
            return None;
        };
        let refs = self.take_refs(map, AnyKind::Client, path);
        // A mis-cased `SAML` is reported by the schema; the rest is still checked as SAML.
        let written = map.get(PROTOCOL_FIELD).and_then(Value::as_str);
        let protocol =
            AuthenticationProtocol::named(written.map(str::to_ascii_lowercase).as_deref());
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
        let known: Vec<String> = schema
            .fields()
            .filter(|f| !matches!(*f, "default" | "ignore_fields" | "application"))
            .map(str::to_owned)
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
        spec.remove(PROTOCOL_FIELD);
        let application = spec
            .remove("application")
            .and_then(|v| v.as_str().map(str::to_owned));
        let typed_problems = client_rules(&spec, protocol);
        let rules_ok = typed_problems.is_empty();
        for (p, message) in typed_problems {
            self.error(&p.prefixed(path), message);
        }
        if !rules_ok || self.failed.contains(&path.key("name")) {
            return None; // reported (a name that failed to interpolate is no name)
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
            client: Arc::new(DesiredObject {
                // Its application's `metadata.name` is filled in once known (its document's,
                // or what a Client document names).
                address: Address::client(application.as_ref().map_or("", |a| a.0.as_str()), &name),
                name,
                origin: Origin {
                    file: self.file.to_owned(),
                    line: mark.line,
                },
                // Its application's (assembly copies it).
                protect: false,
                facts: Facts::Client(ClientFacts {
                    protocol,
                    // What assembly decides, guessed here so it rarely has to copy the client
                    // to change it: the marked one (or, for an application, its first client).
                    is_default: default_marked,
                    document: None,
                }),
                refs: Default::default(),
                spec,
                rules: FieldRules {
                    ignored: ignore_fields,
                    sensitive: within(&self.sensitive, path),
                    masked: within(&self.masked, path),
                },
                source: SourceInfo {
                    prefix: path.clone(),
                    ..SourceInfo::default()
                },
            }),
            default_marked,
            file: self.file.to_owned(),
            name_mark,
            default_mark,
            field: path.to_string(),
            application,
            doc_name: None,
            refs,
        })
    }
}

/// Redirect-URI and UserInfo-claims rules (the API documents them in prose) over a client's raw fields.
pub(crate) fn client_rules(
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

#[derive(Clone)]
pub(super) enum ParsedDoc {
    App(AppDoc),
    Client(ClientDoc),
    Object(ObjectDoc),
    /// A `Client` document with errors, and the application it names (if readable).
    InvalidClient(Option<String>),
}

pub(super) fn parse_document(ctx: &mut DocContext<'_>, root_node: &Node) -> Option<ParsedDoc> {
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
            ctx.problem(&root_path.key(key), ProblemKind::Unknown, format!("unknown field `{key}`{hint}; a document has apiVersion, kind, metadata and spec"));
        }
    }
    match root.get("apiVersion") {
        None => ctx.missing(
            &root_path.key("apiVersion"),
            format!("add `apiVersion: {API_VERSION}`"),
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
            ctx.missing(
                &root_path.key("kind"),
                format!("one of {}", known_kinds().join(", ")),
            );
            None
        }
        Some(Value::String(k)) if known_kinds().contains(&k.as_str()) => Some(k.clone()),
        Some(other) => {
            let shown = other
                .as_str()
                .map_or_else(|| other.to_string(), str::to_owned);
            let kinds = known_kinds();
            let hint = did_you_mean(&shown, kinds.iter().copied())
                .map(|c| format!(" (did you mean `{c}`?)"))
                .unwrap_or_default();
            ctx.error(
                &root_path.key("kind"),
                format!(
                    "unknown kind `{shown}`{hint}; expected one of {}",
                    kinds.join(", ")
                ),
            );
            None
        }
    };
    let metadata = ctx.metadata(root);
    let spec_path = root_path.key("spec");
    let Some(spec) = root.get("spec") else {
        ctx.missing(&spec_path, "the document needs a `spec`");
        return None;
    };
    let kind = kind?;
    if let Some(kind) = ObjKind::from_name(&kind) {
        return ctx
            .object(kind, spec, &spec_path, metadata)
            .map(ParsedDoc::Object);
    }
    if kind == "Client" {
        let application = spec
            .get("application")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let client = ctx.client(spec, &spec_path, true).filter(|c| {
            // A reference that failed leaves `application` empty; its error is reported.
            if c.application.is_none() {
                let apath = spec_path.key("application");
                if !ctx.failed.iter().any(|f| apath.starts_with(f)) {
                    ctx.missing(&apath, "name the Application this client belongs to");
                }
            }
            c.application.is_some()
        });
        return match (client, metadata) {
            (Some(mut client), Some(meta)) => {
                let parsed = Arc::make_mut(&mut client.client);
                if let Facts::Client(facts) = &mut parsed.facts {
                    facts.document = Some(meta.name.clone());
                }
                parsed.source.labels = meta.labels;
                parsed.source.policy_ignore = meta.policy_ignore;
                client.doc_name = Some((meta.name, meta.name_mark));
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
    let refs = ctx.take_refs(&mut app_fields, AnyKind::Application, &spec_path);
    for (field, hint) in rejected_app_fields() {
        if app_fields.remove(field).is_some() {
            ctx.problem(
                &spec_path.key(field),
                ProblemKind::Unknown,
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
    let known: Vec<String> = SCHEMAS.app_spec.fields().map(str::to_owned).collect();
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
    let meta = metadata?;
    let (key, name_mark, protect) = (meta.name, meta.name_mark, meta.protect);
    for c in &mut clients {
        let client = Arc::make_mut(&mut c.client);
        client.address = Address::client(&key, &client.name);
        client.protect = protect;
        // An inline client is written in the application's document: its annotations apply.
        client.source.policy_ignore = meta.policy_ignore.clone();
    }
    if !clients.iter().any(|c| c.default_marked) {
        if let Some(Facts::Client(first)) = clients
            .first_mut()
            .map(|c| &mut Arc::make_mut(&mut c.client).facts)
        {
            first.is_default = true;
        }
    }
    let spec_mark = ctx.locate(&spec_path, true);
    let app_own = |set: &BTreeSet<FieldPath>| -> BTreeSet<FieldPath> {
        within(set, &spec_path)
            .into_iter()
            .filter(|p| p.head() != Some("clients"))
            .collect()
    };
    let (sensitive, masked) = (app_own(&ctx.sensitive), app_own(&ctx.masked));
    let held = match app_ok {
        true => unique::held(ctx, Object::App, &app_fields, &spec_path),
        false => Vec::new(),
    };
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
        rules: FieldRules {
            ignored: ignore_fields,
            sensitive,
            masked,
        },
        source: SourceInfo {
            prefix: spec_path,
            labels: meta.labels,
            policy_ignore: meta.policy_ignore,
            ..SourceInfo::default()
        },
        clients,
        refs,
        held,
    }))
}

/// Every `kind:` a manifest may name: applications and clients first (the kinds most
/// documents are), then the others in creation order.
fn known_kinds() -> Vec<&'static str> {
    [AnyKind::Application, AnyKind::Client]
        .into_iter()
        .chain(ObjKind::ALL.map(AnyKind::Described))
        .map(AnyKind::name)
        .collect()
}

pub(super) fn file_error(path: &Path, mark: Mark, message: impl Into<String>) -> ManifestError {
    ManifestError {
        file: path.to_owned(),
        line: mark.line,
        column: mark.col,
        field: "(document)".to_owned(),
        message: message.into(),
    }
}

#[cfg(test)]
#[path = "validate_tests.rs"]
mod tests;
