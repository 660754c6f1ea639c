//! The client operations of the API (A8–A14, and the `/v1/clients` family through the same
//! methods): list, read, create, update with whole-object replacement, resources, delete (the
//! default client's successor), and the client-credentials check of the token endpoint.

use super::*;

impl Tenant {
    /// `GET …/clients`: the app's clients in creation order.
    pub fn list_clients(&self, caller: &Caller, app_id: &str) -> Result<Vec<Value>, TenantError> {
        caller.require(Verb::Read, Some(app_id))?;
        self.app_record(app_id)?;
        let clients: Vec<Client> = self
            .store
            .clients(app_id)?
            .into_iter()
            .map(|c| c.client)
            .collect();
        let clients = self
            .responses
            .order(clients, |c| c.identity().client_id.as_str());
        Ok(clients
            .iter()
            .map(|c| self.client_view(caller, c))
            .collect())
    }

    /// `GET …/clients/{clientId}`.
    pub fn get_client(&self, caller: &Caller, client: ClientKey<'_>) -> Result<Value, TenantError> {
        let ClientKey { app_id, client_id } = client;
        caller.require(Verb::Read, Some(app_id))?;
        self.app_record(app_id)?;
        self.store
            .client(app_id, client_id)?
            .map(|c| self.client_view(caller, &c.client))
            .ok_or_else(|| not_found_client(app_id, client_id))
    }

    /// `POST …/clients`: creates an OIDC or SAML client; the first client of an app without
    /// clients becomes its default.
    pub async fn create_client(
        &self,
        caller: &Caller,
        app_id: &str,
        body: &Value,
        idempotency: Option<&Idempotency>,
    ) -> Result<Created, TenantError> {
        self.authorize(caller, AnyKind::Client, Verb::Create, Some(app_id))?;
        let created = self.create_client_locked(caller, app_id, body, idempotency)?;
        self.store.make_durable().await?;
        Ok(created)
    }

    fn create_client_locked(
        &self,
        caller: &Caller,
        app_id: &str,
        body: &Value,
        idempotency: Option<&Idempotency>,
    ) -> Result<Created, TenantError> {
        let fields = as_object(body)?;
        let protocol = AuthenticationProtocol::of(fields);
        check_body(client_body(protocol, true), body, &FieldPath::root())?;
        let _guard = self.lock();
        let mut stored_app = self.app_record(app_id)?;
        let earlier = EarlierForm { body, app_id };
        if let Some(replayed) = self.replay_or_earlier(caller, idempotency, Some(earlier))? {
            return Ok(replayed);
        }
        let now = now_rfc3339();
        let mut settings = fields.clone();
        settings.remove("authentication_protocol");
        let client = self.new_client(app_id, protocol, settings, &now)?;
        let rule_problems = client_rule_problems(&client, &FieldPath::root());
        if !rule_problems.is_empty() {
            return Err(TenantError::Invalid(rule_problems));
        }
        let client_id = client.identity().client_id.clone();
        let body = self.responses.client(&client);
        let mut changes = Changes {
            clients: vec![(
                app_id.to_owned(),
                client_id.clone(),
                Some(StoredClient {
                    seq: self.store.next_seq()?,
                    client,
                }),
            )],
            idempotency: Self::idempotency_change(caller, idempotency, &body),
            ..Changes::default()
        };
        if stored_app.default_client_id.is_none() {
            stored_app.default_client_id = Some(client_id);
            changes.apps.push((app_id.to_owned(), Some(stored_app)));
        }
        self.commit(&changes)?;
        Ok(Created {
            body,
            replayed: false,
        })
    }

    /// `PUT …/clients/{clientId}`: top-level partial update; object fields replace whole.
    pub async fn update_client(
        &self,
        caller: &Caller,
        client: ClientKey<'_>,
        body: &Value,
    ) -> Result<Value, TenantError> {
        self.edit_client(caller, client, |current| {
            let fields = as_object(body)?;
            check_body(
                client_body(current.protocol(), false),
                body,
                &FieldPath::root(),
            )?;
            let merged = merge_client(current, fields, &now_rfc3339())?;
            let rule_problems = client_rule_problems(&merged, &FieldPath::root());
            if !rule_problems.is_empty() {
                return Err(TenantError::Invalid(rule_problems));
            }
            Ok(merged)
        })
        .await
    }

    /// `PUT …/clients/{clientId}/resources`: sets the client's resources.
    pub async fn set_client_resources(
        &self,
        caller: &Caller,
        client: ClientKey<'_>,
        body: &Value,
    ) -> Result<Value, TenantError> {
        self.edit_client(caller, client, |current| {
            Ok(with_resources(current, resource_ids(body)?))
        })
        .await
    }

    /// Replaces one client of an app with what `change` makes of it, as one durable write, and
    /// answers the client's view.
    async fn edit_client(
        &self,
        caller: &Caller,
        client: ClientKey<'_>,
        change: impl FnOnce(&Client) -> Result<Client, TenantError>,
    ) -> Result<Value, TenantError> {
        let ClientKey { app_id, client_id } = client;
        let client = self
            .edit(caller, app_id, || {
                self.app_record(app_id)?;
                let current = self.client_record(app_id, client_id)?;
                let updated = StoredClient {
                    seq: current.seq,
                    client: change(&current.client)?,
                };
                self.commit_client(app_id, client_id, &updated)?;
                Ok(updated.client)
            })
            .await?;
        Ok(self.client_view(caller, &client))
    }

    /// Commits one client, replaced whole (the tenant lock held).
    pub(super) fn commit_client(
        &self,
        app_id: &str,
        client_id: &str,
        client: &StoredClient,
    ) -> Result<(), StoreError> {
        self.commit(&Changes {
            clients: vec![(
                app_id.to_owned(),
                client_id.to_owned(),
                Some(client.clone()),
            )],
            ..Changes::default()
        })
    }

    pub(super) fn client_record(
        &self,
        app_id: &str,
        client_id: &str,
    ) -> Result<StoredClient, TenantError> {
        self.store
            .client(app_id, client_id)?
            .ok_or_else(|| not_found_client(app_id, client_id))
    }

    /// `DELETE …/clients/{clientId}`. Deleting the default client promotes the oldest remaining
    /// client (by `created_at`, then `client_id`).
    pub async fn delete_client(
        &self,
        caller: &Caller,
        client: ClientKey<'_>,
    ) -> Result<(), TenantError> {
        let ClientKey { app_id, client_id } = client;
        caller.require(Verb::Delete, Some(app_id))?;
        {
            let _guard = self.lock();
            let mut stored_app = self.app_record(app_id)?;
            if self.store.client(app_id, client_id)?.is_none() {
                return Err(not_found_client(app_id, client_id));
            }
            let mut changes = Changes {
                clients: vec![(app_id.to_owned(), client_id.to_owned(), None)],
                ..Changes::default()
            };
            if stored_app.default_client_id.as_deref() == Some(client_id) {
                let successor = self
                    .store
                    .clients(app_id)?
                    .into_iter()
                    .map(|c| c.client)
                    .filter(|c| c.identity().client_id != client_id)
                    .min_by(|a, b| {
                        let (a, b) = (a.identity(), b.identity());
                        (&a.created_at, &a.client_id).cmp(&(&b.created_at, &b.client_id))
                    });
                stored_app.default_client_id = successor.map(|c| c.identity().client_id.clone());
                changes.apps.push((app_id.to_owned(), Some(stored_app)));
            }
            self.commit(&changes)?;
        }
        self.store.make_durable().await?;
        Ok(())
    }

    /// `DELETE …/clients`: deletes every client of the app (allowed; the app is then unusable).
    pub async fn delete_clients(&self, caller: &Caller, app_id: &str) -> Result<(), TenantError> {
        caller.require(Verb::Delete, Some(app_id))?;
        {
            let _guard = self.lock();
            let mut stored_app = self.app_record(app_id)?;
            let mut changes = Changes::default();
            for c in self.store.clients(app_id)? {
                changes.clients.push((
                    app_id.to_owned(),
                    c.client.identity().client_id.clone(),
                    None,
                ));
            }
            stored_app.default_client_id = None;
            changes.apps.push((app_id.to_owned(), Some(stored_app)));
            self.commit(&changes)?;
        }
        self.store.make_durable().await?;
        Ok(())
    }

    /// The app and client behind client credentials, if they are valid.
    pub fn authenticate_client(
        &self,
        client_id: &str,
        client_secret: &str,
    ) -> Result<Option<(AppCore, Client)>, TenantError> {
        let Some(app_id) = self.store.app_of_client(client_id)? else {
            return Ok(None);
        };
        let (Some(app), Some(client)) = (
            self.store.app(&app_id)?,
            self.store.client(&app_id, client_id)?,
        ) else {
            return Ok(None);
        };
        let expected = client.client.identity().client_secret.as_bytes();
        if bool::from(expected.ct_eq(client_secret.as_bytes())) {
            Ok(Some((app.app, client.client)))
        } else {
            Ok(None)
        }
    }

    /// Whether a client still exists (tokens of deleted clients stop working).
    pub fn client_exists(&self, app_id: &str, client_id: &str) -> Result<bool, TenantError> {
        Ok(self.store.client(app_id, client_id)?.is_some())
    }
}

pub(super) fn resource_ids(body: &Value) -> Result<Vec<String>, TenantError> {
    as_object(body)?;
    check_body(&RESOURCE_IDS, body, &FieldPath::root())?;
    Ok(decode::<ResourceIdsInput>(body.clone())?.resource_ids)
}

/// Top-level replacement of a client's settings by the keys of an update body.
pub(super) fn merge_client(
    current: &Client,
    update: &Map<String, Value>,
    now: &str,
) -> Result<Client, TenantError> {
    let mut value = serde_json::to_value(current).expect("clients serialize");
    let object = value.as_object_mut().expect("a client is an object");
    for (k, v) in update {
        object.insert(k.clone(), v.clone());
    }
    object.insert("updated_at".into(), Value::String(now.to_owned()));
    decode(value)
}

/// `client` with its resources set to `resources` (and `updated_at` now).
pub(super) fn with_resources(client: &Client, resources: Vec<String>) -> Client {
    let mut client = client.clone();
    match &mut client {
        Client::Oidc(c) => c.settings.resources = Some(resources),
        Client::Saml(c) => c.settings.resources = Some(resources),
    }
    client.identity_mut().updated_at = now_rfc3339();
    client
}
