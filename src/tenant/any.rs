//! Every kind's verbs in one place: a call names its kind ([`AnyKind`]) and is dispatched to
//! that kind's semantics (applications with their default client, clients, or the described
//! kinds' generic objects), and a whole answer is shaped in the envelope the kind's
//! description gives. The HTTP server's routes and the embedded target both call these, so
//! neither repeats which kind goes where.

use bytes::Bytes;
use serde_json::{json, Value};

use super::{Caller, Created, Idempotency, Tenant, TenantError, Verb};
use crate::model::kinds::{AnyKind, Envelope};
use crate::model::ClientKey;

/// The parent application's id a call on `kind` needs (a parented kind is reached under it).
fn parent(kind: AnyKind, app_id: Option<&str>) -> Result<&str, TenantError> {
    app_id.ok_or_else(|| {
        let noun = kind.spec().noun;
        TenantError::invalid(format!("a {noun} is reached under its application's id"))
    })
}

/// `value` as a whole answer body of `kind`: wrapped in `{"result": …}` or bare, as its
/// description says.
pub fn answer_body(kind: AnyKind, value: Value) -> Bytes {
    let body = match kind.api().envelope {
        Envelope::Result => json!({ "result": value }),
        Envelope::Bare => value,
    };
    Bytes::from(serde_json::to_vec(&body).expect("JSON values serialize"))
}

impl Tenant {
    /// `GET` of `kind`'s collection: the objects (under `app_id` for a parented kind), or a
    /// singleton's `{field: object}`: what the answer carries inside its envelope.
    pub fn list(
        &self,
        caller: &Caller,
        kind: AnyKind,
        app_id: Option<&str>,
    ) -> Result<Value, TenantError> {
        match kind {
            AnyKind::Application => Ok(Value::Array(self.list_apps(caller)?)),
            AnyKind::Client => Ok(Value::Array(
                self.list_clients(caller, parent(kind, app_id)?)?,
            )),
            AnyKind::Described(described) => self.list_objects(caller, described, app_id),
        }
    }

    /// [`Tenant::list`]'s whole answer body. Applications' and clients' lists are rendered
    /// once per version of what they show.
    pub fn list_body(
        &self,
        caller: &Caller,
        kind: AnyKind,
        app_id: Option<&str>,
    ) -> Result<Bytes, TenantError> {
        match kind {
            AnyKind::Application => self.list_apps_json(caller),
            AnyKind::Client => self.list_clients_json(caller, parent(kind, app_id)?),
            AnyKind::Described(_) => Ok(answer_body(kind, self.list(caller, kind, app_id)?)),
        }
    }

    /// `GET` of one object by id.
    pub fn read(
        &self,
        caller: &Caller,
        kind: AnyKind,
        app_id: Option<&str>,
        id: &str,
    ) -> Result<Value, TenantError> {
        match kind {
            AnyKind::Application => self.get_app(caller, id),
            AnyKind::Client => self.get_client(caller, ClientKey::new(parent(kind, app_id)?, id)),
            AnyKind::Described(described) => self.get_object(caller, described, app_id, id),
        }
    }

    /// [`Tenant::read`]'s whole answer body. An application is rendered once per version.
    pub fn read_body(
        &self,
        caller: &Caller,
        kind: AnyKind,
        app_id: Option<&str>,
        id: &str,
    ) -> Result<Bytes, TenantError> {
        match kind {
            AnyKind::Application => self.get_app_json(caller, id),
            _ => Ok(answer_body(kind, self.read(caller, kind, app_id, id)?)),
        }
    }

    /// Whether `caller` may `verb` an object of `kind`, by each kind's permission rule: the
    /// permission the operation needs, and the application the caller must reach (`app_id`:
    /// the application the object is or belongs to; none for creating an application or an
    /// object of a tenant-wide kind). Creating a client edits its application; a parented
    /// kind's application must exist (404). The server asks before it judges a request's body,
    /// so a request the caller may not make is refused (403) whatever its body; each verb below
    /// asks again for the callers that reach the tenant directly (the embedded target).
    pub fn authorize(
        &self,
        caller: &Caller,
        kind: AnyKind,
        verb: Verb,
        app_id: Option<&str>,
    ) -> Result<(), TenantError> {
        match kind {
            AnyKind::Application => caller.require(verb, app_id),
            AnyKind::Client => match verb {
                Verb::Create => caller.require(Verb::Edit, app_id),
                verb => caller.require(verb, app_id),
            },
            AnyKind::Described(kind) => self.object_scope(caller, kind.spec(), app_id, verb),
        }
    }

    /// `POST` to `kind`'s collection: creates the object; answers what the create answers
    /// (the first answer again for a repeated `Idempotency-Key`).
    pub async fn create(
        &self,
        caller: &Caller,
        kind: AnyKind,
        app_id: Option<&str>,
        body: &Value,
        idempotency: Option<&Idempotency>,
    ) -> Result<Created, TenantError> {
        match kind {
            AnyKind::Application => self.create_app(caller, body, idempotency).await,
            AnyKind::Client => {
                let app_id = parent(kind, app_id)?;
                self.create_client(caller, app_id, body, idempotency).await
            }
            AnyKind::Described(described) => {
                self.create_object(caller, described, app_id, body, idempotency)
                    .await
            }
        }
    }

    /// `PUT` of one object (`id`: `None` for a singleton): answers the object as it is now.
    pub async fn update(
        &self,
        caller: &Caller,
        kind: AnyKind,
        app_id: Option<&str>,
        id: Option<&str>,
        body: &Value,
    ) -> Result<Value, TenantError> {
        let required_id = || {
            id.ok_or_else(|| {
                TenantError::invalid(format!("the {} update names no id", kind.spec().noun))
            })
        };
        match kind {
            AnyKind::Application => self.update_app(caller, required_id()?, body).await,
            AnyKind::Client => {
                let client = ClientKey::new(parent(kind, app_id)?, required_id()?);
                self.update_client(caller, client, body).await
            }
            AnyKind::Described(described) => {
                self.update_object(caller, described, app_id, id, body)
                    .await
            }
        }
    }

    /// `DELETE` of one object (an application takes its clients with it).
    pub async fn delete(
        &self,
        caller: &Caller,
        kind: AnyKind,
        app_id: Option<&str>,
        id: &str,
    ) -> Result<(), TenantError> {
        match kind {
            AnyKind::Application => self.delete_app(caller, id).await,
            AnyKind::Client => {
                let client = ClientKey::new(parent(kind, app_id)?, id);
                self.delete_client(caller, client).await
            }
            AnyKind::Described(described) => {
                self.delete_object(caller, described, app_id, id).await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tenant::TenantStore;

    fn tenant() -> Tenant {
        Tenant::new(TenantStore::temporary().unwrap(), "local://test").unwrap()
    }

    #[test]
    fn answers_are_wrapped_or_bare_as_each_kind_is_described() {
        for kind in AnyKind::ALL {
            let body: Value = serde_json::from_slice(&answer_body(kind, json!([1]))).unwrap();
            let wrapped = kind.api().envelope == Envelope::Result;
            assert_eq!(body.get("result").is_some(), wrapped, "{kind}");
        }
        // Upstream answers clients bare and applications wrapped.
        assert_eq!(AnyKind::Client.api().envelope, Envelope::Bare);
        assert_eq!(AnyKind::Application.api().envelope, Envelope::Result);
    }

    #[tokio::test]
    async fn every_kind_goes_through_one_set_of_verbs() {
        let tenant = tenant();
        let admin = Caller::admin("test");
        let app = tenant
            .create(
                &admin,
                AnyKind::Application,
                None,
                &json!({"app_name": "shop", "client_display_name": "Web",
                    "redirect_uris": ["https://shop.example/cb"]}),
                None,
            )
            .await
            .unwrap();
        let app_id = app.body["app_id"].as_str().unwrap().to_owned();
        let clients = tenant.list(&admin, AnyKind::Client, Some(&app_id)).unwrap();
        // The default client, created with its application.
        assert_eq!(clients.as_array().map(Vec::len), Some(1));
        let listed: Value = serde_json::from_slice(
            &tenant
                .list_body(&admin, AnyKind::Client, Some(&app_id))
                .unwrap(),
        )
        .unwrap();
        assert_eq!(listed, clients, "clients are answered bare");
        let read: Value = serde_json::from_slice(
            &tenant
                .read_body(&admin, AnyKind::Application, None, &app_id)
                .unwrap(),
        )
        .unwrap();
        assert_eq!(read["result"]["app_name"], "shop");
        // A client is reached under its application only.
        let unparented = tenant.list(&admin, AnyKind::Client, None).unwrap_err();
        assert!(
            unparented.to_string().contains("under its application"),
            "{unparented}"
        );
        tenant
            .delete(&admin, AnyKind::Application, None, &app_id)
            .await
            .unwrap();
        assert!(matches!(
            tenant.read(&admin, AnyKind::Application, None, &app_id),
            Err(TenantError::NotFound(_))
        ));
    }

    #[tokio::test]
    async fn a_create_recorded_under_the_path_it_was_sent_to_replays_a_retry_to_that_path() {
        let tenant = tenant();
        let admin = Caller::admin("test");
        let body = json!({"app_name": "a", "client_display_name": "Web",
            "redirect_uris": ["https://shop.example/cb"]});
        let app = tenant.create(&admin, AnyKind::Application, None, &body, None);
        let app_id = app.await.unwrap().body["app_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let body = json!({"name": "Backend", "redirect_uris": []});
        let canonical = format!("/v1/applications/{app_id}/clients");
        let encoded = format!(
            "/v1/applications/%{:02X}{}/clients",
            app_id.as_bytes()[0],
            &app_id[1..]
        );
        // The previous release fingerprinted the path as sent.
        let earlier = Idempotency::new("k1", &encoded, &body);
        let create = |idem: Idempotency| {
            let (tenant, admin, body, app_id) = (&tenant, &admin, &body, &app_id);
            async move {
                tenant
                    .create(admin, AnyKind::Client, Some(app_id), body, Some(&idem))
                    .await
            }
        };
        let first = create(earlier).await.unwrap();
        let retry = Idempotency::new("k1", &canonical, &body).sent_to(&encoded, &body);
        let again = create(retry).await.unwrap();
        assert!(again.replayed);
        assert_eq!(again.body, first.body);
        // Sent elsewhere, that record is not known to be this request.
        let elsewhere = Idempotency::new("k1", &canonical, &body).sent_to(&canonical, &body);
        let refused = create(elsewhere).await;
        assert!(
            matches!(refused, Err(TenantError::IdempotencyKeyReused(_))),
            "{refused:?}"
        );
        // A record this release makes is the collection's: any path to it replays.
        let today = Idempotency::new("k2", &canonical, &body).sent_to(&encoded, &body);
        let made = create(today).await.unwrap();
        let retry = Idempotency::new("k2", &canonical, &body).sent_to(&canonical, &body);
        let again = create(retry).await.unwrap();
        assert!(again.replayed);
        assert_eq!(again.body, made.body);
    }

    #[tokio::test]
    async fn a_client_create_recorded_by_an_earlier_release_replays_for_its_application_only() {
        let tenant = tenant();
        let admin = Caller::admin("test");
        let mut apps = Vec::new();
        for name in ["a", "b"] {
            let body = json!({"app_name": name, "client_display_name": "Web",
                "redirect_uris": ["https://shop.example/cb"]});
            let app = tenant.create(&admin, AnyKind::Application, None, &body, None);
            apps.push(
                app.await.unwrap().body["app_id"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            );
        }
        let body = json!({"name": "Backend", "redirect_uris": []});
        // An earlier release's server saw a client create's route as `/`.
        let earlier = Idempotency::new("k1", "/", &body);
        let first = tenant
            .create(
                &admin,
                AnyKind::Client,
                Some(&apps[0]),
                &body,
                Some(&earlier),
            )
            .await
            .unwrap();
        let route = |app: &str| format!("/v1/applications/{app}/clients");
        let retry = Idempotency::new("k1", &route(&apps[0]), &body);
        let again = tenant
            .create(&admin, AnyKind::Client, Some(&apps[0]), &body, Some(&retry))
            .await
            .unwrap();
        assert!(again.replayed);
        assert_eq!(again.body, first.body);
        // The same key and body to another application: another request.
        let other = Idempotency::new("k1", &route(&apps[1]), &body);
        let refused = tenant
            .create(&admin, AnyKind::Client, Some(&apps[1]), &body, Some(&other))
            .await;
        assert!(
            matches!(refused, Err(TenantError::IdempotencyKeyReused(_))),
            "{refused:?}"
        );
        let clients = tenant
            .list(&admin, AnyKind::Client, Some(&apps[1]))
            .unwrap();
        assert_eq!(
            clients.as_array().map(Vec::len),
            Some(1),
            "only its default client"
        );
    }
}
