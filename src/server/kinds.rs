//! The routes of every kind at upstream's paths, from its description (`model::kinds`):
//! the collection, the item, and the lookups and one-field replacements upstream documents,
//! answered wrapped in `{"result": …}` or bare, and with upstream's status codes, as each
//! description says: 201 for a create, 200 for an update and 204 for a delete, or 202 for
//! both where upstream accepts them to apply later (`Api::accepted`). What a route does is the
//! tenant's kind-generic verbs (`Tenant::list`, …); a kind's own rules live there.

use std::sync::Arc;

use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put, MethodRouter};
use axum::Router;
use bytes::Bytes;
use serde_json::json;

use super::error::ApiError;
use super::extract::{CreateBody, JsonBody, ObjectPath};
use super::{json_response, ServerState};
use crate::model::kinds::{AnyKind, ObjKind};
use crate::tenant::answer_body;
use crate::tenant::Verb;

type AppState = axum::extract::State<Arc<ServerState>>;
type Answer = Result<Response, ApiError>;

/// A JSON answer whose body is already rendered.
fn body_response(status: StatusCode, body: Bytes) -> Response {
    (status, [(CONTENT_TYPE, "application/json")], body).into_response()
}

async fn list<const OWN: bool>(s: AppState, p: ObjectPath<OWN>, kind: AnyKind) -> Answer {
    let app_id = p.app_of(kind)?;
    let body = s.tenant.list_body(&p.caller, kind, app_id.as_deref())?;
    Ok(body_response(StatusCode::OK, body))
}

async fn read<const OWN: bool>(s: AppState, p: ObjectPath<OWN>, kind: AnyKind) -> Answer {
    let app_id = p.app_of(kind)?;
    let id = p.id(kind).unwrap_or_default();
    let body = s
        .tenant
        .read_body(&p.caller, kind, app_id.as_deref(), &id)?;
    Ok(body_response(StatusCode::OK, body))
}

async fn find(
    s: AppState,
    p: ObjectPath,
    query: axum::extract::Query<std::collections::HashMap<String, String>>,
    kind: ObjKind,
) -> Answer {
    let Some((_, param)) = kind.spec().api.by_key else {
        return Err(crate::tenant::TenantError::NotFound("no such route".into()).into());
    };
    let Some(key) = query.get(param) else {
        return Err(crate::tenant::TenantError::invalid(format!(
            "{param}: required query parameter is missing"
        ))
        .into());
    };
    let app_id = p.app_of(AnyKind::Described(kind))?;
    let result = s
        .tenant
        .find_object(&p.caller, kind, app_id.as_deref(), key)?;
    Ok(body_response(
        StatusCode::OK,
        answer_body(AnyKind::Described(kind), result),
    ))
}

async fn create<const OWN: bool>(
    s: AppState,
    p: ObjectPath<OWN>,
    body: CreateBody,
    kind: AnyKind,
) -> Answer {
    let app_id = p.app_of(kind)?;
    s.tenant
        .authorize(&p.caller, kind, Verb::Create, app_id.as_deref())?;
    let body = body.read()?;
    let idempotency = body.idempotency(&kind.api().collection_path(app_id.as_deref()));
    let created = s
        .tenant
        .create(
            &p.caller,
            kind,
            app_id.as_deref(),
            &body.body,
            idempotency.as_ref(),
        )
        .await?;
    let mut response = body_response(StatusCode::CREATED, answer_body(kind, created.body));
    if created.replayed {
        response
            .headers_mut()
            .insert("idempotent-replayed", "true".parse().expect("valid header"));
    }
    Ok(response)
}

async fn update<const OWN: bool>(
    s: AppState,
    p: ObjectPath<OWN>,
    body: JsonBody,
    kind: AnyKind,
) -> Answer {
    let app_id = p.app_of(kind)?;
    let id = p.id(kind);
    s.tenant
        .authorize(&p.caller, kind, Verb::Edit, reach(kind, &app_id, &id))?;
    let body = body.value()?;
    let result = s
        .tenant
        .update(&p.caller, kind, app_id.as_deref(), id.as_deref(), &body)
        .await?;
    let api = kind.api();
    Ok(match api.id_field.filter(|_| api.accepted) {
        // Accepted: the answer carries only the id (`{"result": {"role_id": …}}`).
        Some(id_field) => {
            let id = id.unwrap_or_default();
            json_response(StatusCode::ACCEPTED, &json!({ "result": { id_field: id } }))
        }
        None => body_response(StatusCode::OK, answer_body(kind, result)),
    })
}

/// `POST` of `{field: …}` to the kind's `replaces_one` path: that field replaced, the rest of
/// the object kept; `202` with nothing.
async fn replace_one(
    s: AppState,
    p: ObjectPath,
    body: JsonBody,
    kind: AnyKind,
    field: &'static str,
) -> Answer {
    let app_id = p.app_of(kind)?;
    let id = p.id(kind);
    s.tenant
        .authorize(&p.caller, kind, Verb::Edit, reach(kind, &app_id, &id))?;
    let body = body.value()?;
    let invalid = |message: String| Err(crate::tenant::TenantError::invalid(message).into());
    if body.get(field).is_none() {
        return invalid(format!("{field}: required field is missing"));
    }
    if let Some(other) = body
        .as_object()
        .and_then(|m| m.keys().find(|k| *k != field))
    {
        return invalid(format!(
            "{other}: unknown field; this request sets only `{field}`"
        ));
    }
    s.tenant
        .update(&p.caller, kind, app_id.as_deref(), id.as_deref(), &body)
        .await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

/// The application a caller must reach to write an existing object of `kind`: an
/// application's own id, else the application it belongs to (`app_id`, none for a tenant-wide
/// kind).
fn reach<'a>(kind: AnyKind, app_id: &'a Option<String>, id: &'a Option<String>) -> Option<&'a str> {
    match kind {
        AnyKind::Application => id.as_deref(),
        _ => app_id.as_deref(),
    }
}

async fn delete<const OWN: bool>(s: AppState, p: ObjectPath<OWN>, kind: AnyKind) -> Answer {
    let app_id = p.app_of(kind)?;
    let id = p.id(kind).unwrap_or_default();
    s.tenant
        .delete(&p.caller, kind, app_id.as_deref(), &id)
        .await?;
    Ok(if kind.api().accepted {
        StatusCode::ACCEPTED.into_response()
    } else {
        StatusCode::NO_CONTENT.into_response()
    })
}

/// `template` as a route: the object's own `{id}` named after its kind's id field, the name
/// its children's routes give it (`/v1/applications/{app_id}` beside
/// `/v1/applications/{app_id}/clients`; the router takes one name per position).
pub(super) fn route_path(kind: AnyKind, template: &str) -> String {
    match kind.api().id_field {
        Some(field) => template.replace("{id}", &format!("{{{field}}}")),
        None => template.to_owned(),
    }
}

/// `kind`'s collection and item routes at `collection` and `item` (templates as its
/// description writes them): GET of the collection, and POST where objects are created; GET
/// of the item where upstream documents it, PUT, and DELETE where objects are deleted. `OWN`:
/// routes of the calling application's own objects ([`ObjectPath`]).
pub(super) fn kind_routes<const OWN: bool>(
    router: Router<Arc<ServerState>>,
    kind: AnyKind,
    collection: &str,
    item: &str,
) -> Router<Arc<ServerState>> {
    let api = kind.api();
    let mut on_collection: MethodRouter<Arc<ServerState>> =
        get(move |s, p: ObjectPath<OWN>| list(s, p, kind));
    if api.create {
        on_collection = on_collection.post(move |s, p: ObjectPath<OWN>, b| create(s, p, b, kind));
    }
    let update = move |s, p: ObjectPath<OWN>, b| update(s, p, b, kind);
    let mut on_item = if api.read_one {
        get(move |s, p: ObjectPath<OWN>| read(s, p, kind)).put(update)
    } else {
        put(update)
    };
    if api.delete {
        on_item = on_item.delete(move |s, p: ObjectPath<OWN>| delete(s, p, kind));
    }
    router
        .route(&route_path(kind, collection), on_collection)
        .route(&route_path(kind, item), on_item)
}

/// The routes of every kind, relative to the API base, at the paths its description gives,
/// and the lookups by natural key and one-field replacements (POST) upstream documents.
pub(super) fn routes() -> Router<Arc<ServerState>> {
    let mut router = Router::new();
    for kind in AnyKind::ALL {
        let api = kind.api();
        router = kind_routes::<false>(router, kind, api.collection, api.item);
        if let Some((path, field)) = api.replaces_one {
            router = router.route(
                &route_path(kind, path),
                axum::routing::post(move |s, p, b| replace_one(s, p, b, kind, field)),
            );
        }
    }
    for kind in ObjKind::ALL {
        if let Some((path, _)) = kind.spec().api.by_key {
            router = router.route(path, get(move |s, p, q| find(s, p, q, kind)));
        }
    }
    router
}
