//! The APIs of the described kinds (`model::kinds`): resources, SAML service providers, an
//! application's roles, role groups and login preferences, as upstream documents them, from each
//! kind's catalogue: required fields and types checked, unknown fields refused, ids and
//! timestamps generated, natural keys unique (409), references to objects that do not exist
//! refused, secrets stored but never returned, a field read from another (`ReadFrom`) shown
//! there, and a DELETE of a resource or service provider that something still names refused
//! (409 "in use").

use std::borrow::Cow;

use serde_json::{json, Map, Value};

use super::claims::{claims_of, released};
use super::store::{object_key, object_prefix, Changes, StoredObject};
use super::*;
use crate::model::catalogue;
use crate::model::kinds::{self, KindSpec, ObjKind};

/// An object as responses show it, by the rule every kind's responses follow
/// (`catalogue::shape_response`): no field or member upstream never returns (a secret member),
/// documented member defaults filled in; a field read from another (`ReadFrom`) is shown there
/// ([`Tenant::shown`]). A stored object holds only fields its rows document: requests are
/// checked against the kind's schema, which refuses any other.
fn shown(spec: &KindSpec, object: &Map<String, Value>) -> Map<String, Value> {
    let mut shown = object.clone();
    catalogue::shape_response(spec.table(), &mut shown);
    shown
}

/// A request's fields as upstream stores them: each object field with the sub-field defaults
/// its schema documents filled in where the request leaves them out.
fn stored_form<'a>(spec: &KindSpec, fields: &'a Map<String, Value>) -> Cow<'a, Map<String, Value>> {
    if spec.fields.iter().all(|f| f.members.is_empty()) {
        return Cow::Borrowed(fields);
    }
    let mut stored = fields.clone();
    for (name, value) in &mut stored {
        if let (Some(field), Value::Object(members)) = (spec.field(name), value) {
            field.with_member_defaults(members);
        }
    }
    Cow::Owned(stored)
}

fn not_found(spec: &KindSpec, id: &str) -> TenantError {
    TenantError::NotFound(format!("{} `{id}` not found", spec.noun))
}

/// The reference fields objects of `spec`'s kind hold.
fn object_references(spec: &KindSpec) -> impl Iterator<Item = &'static kinds::Reference> {
    kinds::references_of(spec.kind)
}

/// The ids a reference field holds.
fn referenced_ids(value: Option<&Value>) -> Vec<&str> {
    match value {
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        Some(Value::String(id)) => vec![id.as_str()],
        _ => Vec::new(),
    }
}

impl Tenant {
    /// An object as responses show it ([`shown`]), each field read from another (`ReadFrom`)
    /// shown there: the objects its ids name, as their own responses show them.
    fn shown(
        &self,
        spec: &KindSpec,
        app_id: Option<&str>,
        object: &Map<String, Value>,
    ) -> Result<Map<String, Value>, TenantError> {
        let mut out = shown(spec, object);
        for reference in object_references(spec) {
            let Some(from) = spec.field(reference.field).and_then(|f| f.read_from) else {
                continue;
            };
            let target = reference.target.spec();
            let app = app_id.filter(|_| reference.same_application);
            let mut named = Vec::new();
            for id in referenced_ids(object.get(reference.field)) {
                if let Some(stored) = self.store.object(&object_key(target.name, app, id))? {
                    named.push(Value::Object(shown(target, &stored.object)));
                }
            }
            out.insert(from.list.to_owned(), Value::Array(named));
        }
        self.responses.vary_object(spec, &mut out);
        Ok(out)
    }

    /// A body's references to objects of the described kinds that do not exist (in the
    /// application, where they must belong to it): an object cannot name what is not there.
    fn reference_problems(
        &self,
        spec: &KindSpec,
        app_id: Option<&str>,
        fields: &Map<String, Value>,
    ) -> Result<Vec<String>, TenantError> {
        let mut problems = Vec::new();
        for reference in object_references(spec) {
            let target = reference.target.spec();
            let app = app_id.filter(|_| reference.same_application);
            for id in referenced_ids(fields.get(reference.field)) {
                if self
                    .store
                    .object(&object_key(target.name, app, id))?
                    .is_none()
                {
                    problems.push(format!(
                        "{}: no {} `{id}`{}",
                        reference.field,
                        target.noun,
                        if app.is_some() {
                            " in this application"
                        } else {
                            ""
                        }
                    ));
                }
            }
        }
        Ok(problems)
    }

    /// The app a parented kind's request names must exist and be the caller's to reach.
    pub(super) fn object_scope(
        &self,
        caller: &Caller,
        spec: &KindSpec,
        app_id: Option<&str>,
        verb: Verb,
    ) -> Result<(), TenantError> {
        let p = &spec.permissions;
        let any = match verb {
            Verb::List | Verb::Read => p.read,
            Verb::Create => p.create,
            Verb::Edit => p.edit,
            Verb::Delete => p.delete,
        };
        match (spec.parent, app_id) {
            (Some(_), Some(app)) => {
                caller.require_any(any, Some(app))?;
                self.app_record(app).map(|_| ())
            }
            (Some(_), None) => Err(TenantError::invalid("the application id is missing")),
            (None, _) => caller.require_any(any, None),
        }
    }

    fn checked_body<'b>(
        &self,
        kind: ObjKind,
        body: &'b Value,
        create: bool,
    ) -> Result<&'b Map<String, Value>, TenantError> {
        let map = as_object(body)?;
        check_body(
            kinds::request_body(Shape::Described(kind), create),
            body,
            &FieldPath::root(),
        )?;
        Ok(map)
    }

    /// `GET` of a kind's collection: every object (of the application), in creation order; a
    /// singleton's one object (`{"auth_methods": …}`).
    pub fn list_objects(
        &self,
        caller: &Caller,
        kind: ObjKind,
        app_id: Option<&str>,
    ) -> Result<Value, TenantError> {
        let spec = kind.spec();
        self.object_scope(caller, spec, app_id, Verb::Read)?;
        if let Some(field) = spec.api.singleton_field {
            let stored = self.store.object(&object_key(spec.name, app_id, ""))?;
            let object = match stored {
                Some(s) => self.shown(spec, app_id, &s.object)?,
                None => Map::new(),
            };
            return Ok(json!({ field: object }));
        }
        let objects = self.store.objects(&object_prefix(spec.name, app_id))?;
        let shown = objects
            .iter()
            .map(|(_, o)| self.shown(spec, app_id, &o.object).map(Value::Object))
            .collect::<Result<Vec<Value>, TenantError>>()?;
        Ok(Value::Array(self.responses.order(shown, |v| {
            spec.api
                .id_field
                .and_then(|f| v.get(f))
                .and_then(Value::as_str)
                .unwrap_or_default()
        })))
    }

    /// `GET` of one object by id.
    pub fn get_object(
        &self,
        caller: &Caller,
        kind: ObjKind,
        app_id: Option<&str>,
        id: &str,
    ) -> Result<Value, TenantError> {
        let spec = kind.spec();
        self.object_scope(caller, spec, app_id, Verb::Read)?;
        let stored = self
            .store
            .object(&object_key(spec.name, app_id, id))?
            .ok_or_else(|| not_found(spec, id))?;
        Ok(Value::Object(self.shown(spec, app_id, &stored.object)?))
    }

    /// `GET` of one object by its natural key (`/v1/resources/uri?resourceUri=…`).
    pub fn find_object(
        &self,
        caller: &Caller,
        kind: ObjKind,
        app_id: Option<&str>,
        key: &str,
    ) -> Result<Value, TenantError> {
        let spec = kind.spec();
        self.object_scope(caller, spec, app_id, Verb::Read)?;
        let id = self
            .store
            .claim_owner(&object_key(spec.name, app_id, key))?
            .ok_or_else(|| not_found(spec, key))?;
        self.get_object(caller, kind, app_id, &id)
    }

    /// `POST` to a kind's collection: creates the object; answers its `result` (the first
    /// answer again for a repeated `Idempotency-Key`).
    pub async fn create_object(
        &self,
        caller: &Caller,
        kind: ObjKind,
        app_id: Option<&str>,
        body: &Value,
        idempotency: Option<&Idempotency>,
    ) -> Result<Created, TenantError> {
        let spec = kind.spec();
        if !spec.api.create {
            return Err(TenantError::invalid(format!(
                "{} cannot be created",
                spec.noun
            )));
        }
        self.object_scope(caller, spec, app_id, Verb::Create)?;
        let fields = self.checked_body(kind, body, true)?;
        let answer = {
            let _guard = self.lock();
            if let Some(replayed) = self.replay(caller, idempotency)? {
                return Ok(replayed);
            }
            let id = random_id(20);
            let now = now_rfc3339();
            let mut object = stored_form(spec, fields).into_owned();
            let generated = [
                (
                    spec.api.id_field.unwrap_or_default(),
                    Value::String(id.clone()),
                ),
                ("tenant_id", Value::String(self.tenant_id.clone())),
                (
                    "app_id",
                    Value::String(app_id.unwrap_or_default().to_owned()),
                ),
                ("created_at", Value::String(now.clone())),
                ("updated_at", Value::String(now)),
            ];
            for (name, value) in generated {
                if spec.field(name).is_some_and(|f| !f.writable()) {
                    object.insert(name.to_owned(), value);
                }
            }
            let problems = self.reference_problems(spec, app_id, &object)?;
            if !problems.is_empty() {
                return Err(TenantError::Invalid(problems));
            }
            let mut changes = Changes::default();
            let claims = claims_of(spec, app_id, &object);
            self.claim(spec, &id, claims, Vec::new(), &mut changes)?;
            let shown = self.shown(spec, app_id, &object)?;
            changes.objects.push((
                object_key(spec.name, app_id, &id),
                Some(StoredObject {
                    seq: self.store.next_seq()?,
                    object,
                }),
            ));
            let answer = match spec.api.create_answer {
                kinds::CreateAnswer::Object => Value::Object(shown),
                // Upstream types this answer only as `{"result": {}}`.
                kinds::CreateAnswer::Untyped => {
                    json!({ "result": { spec.api.id_field.unwrap_or("id"): id } })
                }
            };
            changes.idempotency = Self::idempotency_change(caller, idempotency, &answer);
            self.commit(&changes)?;
            answer
        };
        self.store.make_durable().await?;
        Ok(Created {
            body: answer,
            replayed: false,
        })
    }

    /// `PUT` of an object: a partial update of the fields sent, or (a whole-replacement kind)
    /// the new object; answers it as responses show it.
    pub async fn update_object(
        &self,
        caller: &Caller,
        kind: ObjKind,
        app_id: Option<&str>,
        id: Option<&str>,
        body: &Value,
    ) -> Result<Value, TenantError> {
        let spec = kind.spec();
        self.object_scope(caller, spec, app_id, Verb::Edit)?;
        let checked = self.checked_body(kind, body, false)?;
        let stored = stored_form(spec, checked);
        let fields = stored.as_ref();
        let answer = {
            let _guard = self.lock();
            let id = id.unwrap_or_default();
            let key = object_key(spec.name, app_id, id);
            let stored = self.store.object(&key)?;
            let (seq, object, old) = match (stored, spec.api.replace_whole) {
                (Some(s), false) => {
                    let mut object = s.object.clone();
                    for (k, v) in fields {
                        object.insert(k.clone(), v.clone());
                    }
                    (s.seq, object, Some(s.object))
                }
                (None, false) => return Err(not_found(spec, id)),
                (s, true) => (
                    match s {
                        Some(s) => s.seq,
                        None => self.store.next_seq()?,
                    },
                    fields.clone(),
                    None,
                ),
            };
            let mut object = object;
            if spec.field("updated_at").is_some() {
                object.insert("updated_at".into(), Value::String(now_rfc3339()));
            }
            let problems = self.reference_problems(spec, app_id, fields)?;
            if !problems.is_empty() {
                return Err(TenantError::Invalid(problems));
            }
            let mut changes = Changes::default();
            let new = claims_of(spec, app_id, &object);
            let old = old.map_or_else(Vec::new, |o| claims_of(spec, app_id, &o));
            self.claim(spec, id, new, old, &mut changes)?;
            let shown = self.shown(spec, app_id, &object)?;
            changes
                .objects
                .push((key, Some(StoredObject { seq, object })));
            self.commit(&changes)?;
            match spec.api.singleton_field {
                Some(field) => json!({ field: shown }),
                None => Value::Object(shown),
            }
        };
        self.store.make_durable().await?;
        Ok(answer)
    }

    /// Who still names `id` of a referenced kind, as a 409 names them (`client `web` (ID) of
    /// application `shop``): every row of each kind with a reference to it is read (applications
    /// and clients are rows like any other kind's).
    fn referrers(&self, kind: ObjKind, id: &str) -> Result<Vec<String>, TenantError> {
        let mut out = Vec::new();
        for reference in kinds::REFERENCES.iter().filter(|r| r.target == kind) {
            let holder = reference.holder.spec();
            for (key, row) in self.store.rows_of_kind(holder.name)? {
                if referenced_ids(row.object.get(reference.field)).contains(&id) {
                    out.push(self.referrer(holder, &key, &row.object)?);
                }
            }
        }
        Ok(out)
    }

    /// How a 409 names the object of `spec`'s kind stored under `key`: its noun, natural key,
    /// id, and (a parented kind) its application's name.
    fn referrer(
        &self,
        spec: &KindSpec,
        key: &[u8],
        object: &Map<String, Value>,
    ) -> Result<String, TenantError> {
        let text = |field: Option<&str>| {
            field
                .and_then(|f| object.get(f))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let mut out = spec.noun.to_owned();
        if let kinds::NaturalKey::Field(field) = spec.natural_key {
            out += &format!(" `{}`", text(Some(field)));
        }
        let own_id = text(spec.api.id_field);
        if !own_id.is_empty() {
            out += &format!(" ({own_id})");
        }
        if spec.parent.is_some() {
            let app_id = key
                .split(|b| *b == 0)
                .nth(1)
                .map(String::from_utf8_lossy)
                .unwrap_or_default();
            let app = self.store.app(&app_id)?;
            let app_name = app.map_or_else(|| app_id.into_owned(), |a| a.app.app_name);
            out += &format!(" of application `{app_name}`");
        }
        Ok(out)
    }

    /// `DELETE` of an object; refused (409) while something names it.
    pub async fn delete_object(
        &self,
        caller: &Caller,
        kind: ObjKind,
        app_id: Option<&str>,
        id: &str,
    ) -> Result<(), TenantError> {
        let spec = kind.spec();
        if !spec.api.delete {
            return Err(TenantError::invalid(format!(
                "{} cannot be deleted",
                spec.noun
            )));
        }
        self.object_scope(caller, spec, app_id, Verb::Delete)?;
        {
            let _guard = self.lock();
            let key = object_key(spec.name, app_id, id);
            let stored = self
                .store
                .object(&key)?
                .ok_or_else(|| not_found(spec, id))?;
            if spec.in_use.is_some() {
                let referrers = self.referrers(kind, id)?;
                if !referrers.is_empty() {
                    let noun = spec.noun;
                    return Err(TenantError::InUse(format!(
                        "{} in use: named by {}",
                        noun[..1].to_uppercase() + &noun[1..],
                        referrers.join(", ")
                    )));
                }
            }
            let mut changes = Changes::default();
            let claims = claims_of(spec, app_id, &stored.object);
            changes.claims.extend(released(claims));
            changes.objects.push((key, None));
            self.commit(&changes)?;
        }
        self.store.make_durable().await?;
        Ok(())
    }

    /// Adds the deletion of every object of application `app_id` (its roles, its login
    /// preferences) and their claims to `changes`.
    pub(super) fn delete_app_objects(
        &self,
        app_id: &str,
        changes: &mut Changes,
    ) -> Result<(), TenantError> {
        for kind in ObjKind::ALL
            .into_iter()
            .filter(|k| k.spec().parent.is_some())
        {
            let spec = kind.spec();
            for (key, stored) in self
                .store
                .objects(&object_prefix(spec.name, Some(app_id)))?
            {
                let claims = claims_of(spec, Some(app_id), &stored.object);
                changes.claims.extend(released(claims));
                changes.objects.push((key, None));
            }
        }
        Ok(())
    }
}
