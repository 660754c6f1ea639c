//! The HTTP target's calls on a kind's API, from its description (`model::kinds::Api`): paths
//! with ids as one percent-encoded segment each, and answers taken out of their envelope.

use serde_json::Value;

use super::wire::{object, objects, result};
use super::{HttpTarget, Request};
use crate::model::kinds::{Api, CreateAnswer, Envelope};
use crate::targets::{JsonObject, TargetError, TargetErrorKind};

impl HttpTarget {
    /// GET of one object of `api`: `None` when it answers 404.
    pub(super) async fn read_one(
        &self,
        api: &Api,
        app_id: Option<&str>,
        id: &str,
    ) -> Result<Option<JsonObject>, TargetError> {
        let path = api.item_path(app_id, Some(id));
        let what = format!("GET {path}");
        match self.json(Request::get(&path)).await {
            Ok(v) => Ok(Some(object(&what, opened(api, &what, v)?)?)),
            Err(e) if e.kind == TargetErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// GET of a collection of `api` (not a singleton's).
    pub(super) async fn list_of(
        &self,
        api: &Api,
        app_id: Option<&str>,
    ) -> Result<Vec<JsonObject>, TargetError> {
        let path = api.collection_path(app_id);
        let what = format!("GET {path}");
        let body = self.json(Request::get(&path)).await?;
        objects(&what, opened(api, &what, body)?)
    }

    /// POST to a collection of `api`: the object it answers. Where upstream does not type the
    /// answer (`CreateAnswer::Untyped`: a role's `{"result": {}}`, a role group's nothing at
    /// all), any success is enough and what it carries is taken only if it is an object: the
    /// caller finds the new object by natural key.
    pub(super) async fn create_in(
        &self,
        api: &Api,
        app_id: Option<&str>,
        body: &JsonObject,
        idempotency_key: &str,
    ) -> Result<JsonObject, TargetError> {
        let path = api.collection_path(app_id);
        let what = format!("POST {path}");
        let request = Request::post(&path, body, idempotency_key);
        if api.create_answer == CreateAnswer::Untyped {
            let (_, text) = self.send(request).await?;
            let answer = serde_json::from_str::<Value>(&text).ok();
            return Ok(answer
                .and_then(|v| opened(api, &what, v).ok())
                .and_then(|v| object(&what, v).ok())
                .unwrap_or_default());
        }
        let v = self.json(request).await?;
        object(&what, opened(api, &what, v)?)
    }

    /// An update of one object of `api` (`id`: `None` for a singleton): its PUT, and the POST
    /// of the field a `replaces_one` path writes (`Api::update_requests`); the object the PUT
    /// answers, when the API answers one and nothing was written after it.
    pub(super) async fn update_of(
        &self,
        api: &Api,
        app_id: Option<&str>,
        id: Option<&str>,
        body: &JsonObject,
    ) -> Result<Option<JsonObject>, TargetError> {
        let requests = api.update_requests(body);
        let mut answer = None;
        if let Some(put) = &requests.put {
            let path = api.item_path(app_id, id);
            answer = if api.update_answers_object {
                let what = format!("PUT {path}");
                let v = self.json(Request::put(&path, put)).await?;
                Some(object(&what, opened(api, &what, v)?)?)
            } else {
                self.send(Request::put(&path, put)).await?;
                None
            };
        }
        if let Some((template, one)) = &requests.replace {
            let path = api.path(template, app_id, id);
            self.send(Request::replace(&path, one)).await?;
            // The PUT's answer, if any, predates the replacement.
            answer = None;
        }
        Ok(answer)
    }

    /// DELETE of one object of `api`.
    pub(super) async fn delete_of(
        &self,
        api: &Api,
        app_id: Option<&str>,
        id: &str,
    ) -> Result<(), TargetError> {
        let path = api.item_path(app_id, Some(id));
        self.send(Request::delete(&path)).await.map(|_| ())
    }
}

/// What an answer of `api` carries, out of its envelope.
pub(super) fn opened(api: &Api, what: &str, answer: Value) -> Result<Value, TargetError> {
    match api.envelope {
        Envelope::Result => result(what, answer),
        Envelope::Bare => Ok(answer),
    }
}
