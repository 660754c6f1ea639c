//! The routes of the described kinds (resources, SAML service providers, an application's
//! roles and role groups, login preferences) at upstream's paths, with upstream's status codes as each kind's
//! description says: 201 for a create, 200 for an update and 204 for a delete, or 202 for both
//! where upstream accepts them to apply later (`Api::accepted`).

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::Router;
use serde_json::json;

use super::error::ApiError;
use super::extract::{CreateBody, JsonBody, ObjectPath};
use super::{json_response, ServerState};
use crate::model::kinds::ObjKind;

type AppState = axum::extract::State<Arc<ServerState>>;
type Answer = Result<Response, ApiError>;

fn wrapped(status: StatusCode, result: serde_json::Value) -> Response {
    json_response(status, &json!({ "result": result }))
}

async fn list(s: AppState, p: ObjectPath, kind: ObjKind) -> Answer {
    let result = s
        .tenant
        .list_objects(&p.caller, kind, p.app_id.as_deref())?;
    Ok(wrapped(StatusCode::OK, result))
}

async fn read(s: AppState, p: ObjectPath, kind: ObjKind) -> Answer {
    let id = p.id.unwrap_or_default();
    let result = s
        .tenant
        .get_object(&p.caller, kind, p.app_id.as_deref(), &id)?;
    Ok(wrapped(StatusCode::OK, result))
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
    let result = s
        .tenant
        .find_object(&p.caller, kind, p.app_id.as_deref(), key)?;
    Ok(wrapped(StatusCode::OK, result))
}

async fn create(s: AppState, p: ObjectPath, body: CreateBody, kind: ObjKind) -> Answer {
    let result = s
        .tenant
        .create_object(
            &p.caller,
            kind,
            p.app_id.as_deref(),
            &body.body,
            body.idempotency.as_ref(),
        )
        .await?;
    Ok(super::handlers::created(result, true))
}

async fn update(s: AppState, p: ObjectPath, body: JsonBody, kind: ObjKind) -> Answer {
    let result = s
        .tenant
        .update_object(
            &p.caller,
            kind,
            p.app_id.as_deref(),
            p.id.as_deref(),
            &body.0,
        )
        .await?;
    let api = &kind.spec().api;
    Ok(match api.id_field.filter(|_| api.accepted) {
        // Accepted: the answer carries only the id (`{"result": {"role_id": …}}`).
        Some(id_field) => {
            let id = p.id.unwrap_or_default();
            json_response(StatusCode::ACCEPTED, &json!({ "result": { id_field: id } }))
        }
        None => wrapped(StatusCode::OK, result),
    })
}

/// `POST` of `{field: …}` to the kind's `replaces_one` path: that field replaced, the rest of
/// the object kept; `202` with nothing.
async fn replace_one(
    s: AppState,
    p: ObjectPath,
    body: JsonBody,
    kind: ObjKind,
    field: &'static str,
) -> Answer {
    let invalid = |message: String| Err(crate::tenant::TenantError::invalid(message).into());
    if body.0.get(field).is_none() {
        return invalid(format!("{field}: required field is missing"));
    }
    if let Some(other) = body
        .0
        .as_object()
        .and_then(|m| m.keys().find(|k| *k != field))
    {
        return invalid(format!(
            "{other}: unknown field; this request sets only `{field}`"
        ));
    }
    s.tenant
        .update_object(
            &p.caller,
            kind,
            p.app_id.as_deref(),
            p.id.as_deref(),
            &body.0,
        )
        .await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

async fn delete(s: AppState, p: ObjectPath, kind: ObjKind) -> Answer {
    let id = p.id.unwrap_or_default();
    s.tenant
        .delete_object(&p.caller, kind, p.app_id.as_deref(), &id)
        .await?;
    Ok(if kind.spec().api.accepted {
        StatusCode::ACCEPTED.into_response()
    } else {
        StatusCode::NO_CONTENT.into_response()
    })
}

/// The routes of every described kind, relative to the API base, as its description says:
/// the collection (GET, and POST where objects are created), the item (GET where upstream
/// documents it, PUT, and DELETE where objects are deleted), and the one-field replacement
/// (POST) where upstream documents one.
pub(super) fn routes() -> Router<Arc<ServerState>> {
    let mut router = Router::new();
    for kind in ObjKind::ALL {
        let api = &kind.spec().api;
        let mut collection = get(move |s, p| list(s, p, kind));
        if api.create {
            collection = collection.post(move |s, p, b| create(s, p, b, kind));
        }
        let mut item = put(move |s, p, b| update(s, p, b, kind));
        if api.read_one {
            item = item.get(move |s, p| read(s, p, kind));
        }
        if api.delete {
            item = item.delete(move |s, p| delete(s, p, kind));
        }
        router = router
            .route(api.collection, collection)
            .route(api.item, item);
        if let Some((path, _)) = api.by_key {
            router = router.route(path, get(move |s, p, q| find(s, p, q, kind)));
        }
        if let Some((path, field)) = api.replaces_one {
            router = router.route(
                path,
                axum::routing::post(move |s, p, b| replace_one(s, p, b, kind, field)),
            );
        }
    }
    router
}
