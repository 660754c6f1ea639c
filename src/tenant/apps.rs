//! The application operations of the API (A1–A7): list, read, create with the default client,
//! update (deprecated fields and `first_client` write through to the default client), delete.

use super::claims::{app_claims, released};
use super::clients::{merge_client, resource_ids, with_resources};
use super::*;
use crate::model::kinds::APPLICATION;

impl Tenant {
    /// `GET /v1/applications`: every app the caller can reach, with default-client fields, in
    /// the list form (`ApiAppWithoutLogo`).
    pub fn list_apps(&self, caller: &Caller) -> Result<Vec<Value>, TenantError> {
        let apps = self.reachable_apps(caller)?;
        let apps = self.responses.order(apps, |a| a.core.app_id.as_str());
        Ok(apps
            .iter()
            .map(|a| self.app_view(caller, a, true))
            .collect())
    }

    fn reachable_apps(&self, caller: &Caller) -> Result<Vec<App>, TenantError> {
        caller.require(Verb::List, caller.own_app())?;
        let apps = match caller.own_app() {
            Some(own) => self.store.app(own)?.into_iter().collect(),
            None => self.store.apps()?,
        };
        apps.into_iter().map(|a| self.view(a)).collect()
    }

    /// `GET /v1/applications/list`: basic information of every reachable app.
    pub fn list_basic_apps(
        &self,
        caller: &Caller,
    ) -> Result<Vec<crate::model::BasicApp>, TenantError> {
        let apps = self.reachable_apps(caller)?;
        let apps = self.responses.order(apps, |a| a.core.app_id.as_str());
        Ok(apps.iter().map(|a| (&a.core).into()).collect())
    }

    /// `GET /v1/applications/{appId}` (the `result`).
    pub fn get_app(&self, caller: &Caller, app_id: &str) -> Result<Value, TenantError> {
        caller.require(Verb::Read, Some(app_id))?;
        let stored = self.app_record(app_id)?;
        Ok(self.app_view(caller, &self.view(stored)?, false))
    }

    /// `POST /v1/applications`: creates the app and its default client.
    pub async fn create_app(
        &self,
        caller: &Caller,
        body: &Value,
        idempotency: Option<&Idempotency>,
    ) -> Result<Created, TenantError> {
        self.authorize(caller, AnyKind::Application, Verb::Create, None)?;
        let created = self.create_app_locked(caller, body, idempotency)?;
        self.store.make_durable().await?;
        Ok(created)
    }

    fn create_app_locked(
        &self,
        caller: &Caller,
        body: &Value,
        idempotency: Option<&Idempotency>,
    ) -> Result<Created, TenantError> {
        let fields = as_object(body)?;
        let mut problems = problems_at(app_body(true).check(body), &FieldPath::root());
        let first_client = fields.get("first_client").and_then(Value::as_object);
        let declared = fields
            .get("first_client_authentication_protocol")
            .and_then(Value::as_str);
        let protocol = match (first_client.map(AuthenticationProtocol::of), declared) {
            (Some(from_client), Some(d))
                if first_client.is_some_and(|c| c.contains_key("authentication_protocol"))
                    && from_client.as_str() != d =>
            {
                problems.push(format!(
                    "first_client.authentication_protocol: `{from_client}` contradicts first_client_authentication_protocol `{d}`"
                ));
                from_client
            }
            (Some(from_client), _)
                if first_client.is_some_and(|c| c.contains_key("authentication_protocol")) =>
            {
                from_client
            }
            (_, declared) => AuthenticationProtocol::named(declared),
        };
        let first_prefix = FieldPath::root().key("first_client");
        if let Some(fc) = fields.get("first_client").filter(|v| v.is_object()) {
            let schema = client_body(protocol, true);
            problems.extend(problems_at(schema.check(fc), &first_prefix));
        }
        if !problems.is_empty() {
            return Err(TenantError::Invalid(problems));
        }
        let input: AppInput = decode(body.clone())?;

        // The default client: first_client wins; deprecated app-level fields fill the rest.
        let mut client_fields = first_client.cloned().unwrap_or_default();
        client_fields.remove("authentication_protocol");
        fold_deprecated_client_fields(
            fields,
            protocol == AuthenticationProtocol::Saml,
            &mut client_fields,
            &mut problems,
            "first_client is SAML; set the SAML client's fields in first_client",
        );
        if !client_fields.contains_key("name") {
            problems.push(
                "first_client.name: the default client needs a name; set first_client.name (or the deprecated client_display_name)"
                    .to_owned(),
            );
        }
        if protocol == AuthenticationProtocol::Saml && !client_fields.contains_key("sp_entity_id") {
            problems.push("first_client.sp_entity_id: required field is missing".to_owned());
        }
        if !problems.is_empty() {
            return Err(TenantError::Invalid(problems));
        }

        let _guard = self.lock();
        if let Some(replayed) = self.replay(caller, idempotency)? {
            return Ok(replayed);
        }
        let now = now_rfc3339();
        let app_id = random_id(21);
        let client = self.new_client(&app_id, protocol, client_fields, &now)?;
        let rule_prefix = if first_client.is_some() {
            first_prefix
        } else {
            FieldPath::root()
        };
        let rule_problems = client_rule_problems(&client, &rule_prefix);
        if !rule_problems.is_empty() {
            return Err(TenantError::Invalid(rule_problems));
        }
        let mut core = AppCore {
            app_id: app_id.clone(),
            tenant_id: self.tenant_id.clone(),
            app_name: String::new(),
            app_description: None,
            logo: None,
            login_preferences: serde_json::json!({"auth_methods": {}}),
            created_at: now.clone(),
            created_by: caller.client_id.clone(),
            updated_at: now.clone(),
            service_providers: Vec::new(),
            authenticator_preferences: None,
            allow_public_signup: false,
            password_sharing_group_id: None,
            login_uri: None,
            invite_member_uri: None,
            invite_client_id: None,
            subdomain: None,
            invite_member_email_expiration_minutes: 2880,
            custom_domain: None,
            external_communication: ExternalCommunication::default(),
            signing_key_enabled: false,
            refresh_token_invalidation_trigger_configuration: None,
            application_type: None,
        };
        apply_app_fields(&mut core, &input, &now);
        let mut changes = Changes::default();
        self.claim(
            &APPLICATION,
            &app_id,
            app_claims(&core),
            Vec::new(),
            &mut changes,
        )?;
        let client_id = client.identity().client_id.clone();
        let stored_app = StoredApp {
            seq: self.store.next_seq()?,
            default_client_id: Some(client_id.clone()),
            app: core,
        };
        let stored_client = StoredClient {
            seq: self.store.next_seq()?,
            client: client.clone(),
        };
        let view = App {
            core: stored_app.app.clone(),
            default_client: Some(default_view(&client)),
        };
        let body = self.responses.app(&view, false);
        changes.apps = vec![(app_id.clone(), Some(stored_app))];
        changes.clients = vec![(app_id, client_id, Some(stored_client))];
        changes.idempotency = Self::idempotency_change(caller, idempotency, &body);
        self.commit(&changes)?;
        Ok(Created {
            body,
            replayed: false,
        })
    }

    /// `PUT /v1/applications/{appId}`: top-level partial update; object fields replace whole;
    /// `first_client` and deprecated client fields update the default client.
    pub async fn update_app(
        &self,
        caller: &Caller,
        app_id: &str,
        body: &Value,
    ) -> Result<Value, TenantError> {
        let app = self
            .edit(caller, app_id, || self.updated_app(app_id, body))
            .await?;
        Ok(self.app_view(caller, &app, false))
    }

    /// The app after a partial update (the tenant lock held).
    fn updated_app(&self, app_id: &str, body: &Value) -> Result<App, TenantError> {
        let fields = as_object(body)?;
        check_body(app_body(false), body, &FieldPath::root())?;
        let mut problems = Vec::new();
        let input: AppInput = decode(body.clone())?;
        let stored = self.app_record(app_id)?;
        let default_client = match &stored.default_client_id {
            Some(id) => self.store.client(app_id, id)?,
            None => None,
        };
        let protocol = default_client.as_ref().map(|c| c.client.protocol());
        let first_prefix = FieldPath::root().key("first_client");
        let mut client_fields = Map::new();
        if let Some(fc) = fields.get("first_client") {
            let fc_map = fc.as_object().cloned().unwrap_or_default();
            let schema = client_body(protocol.unwrap_or(AuthenticationProtocol::Oidc), false);
            problems.extend(problems_at(schema.check(fc), &first_prefix));
            client_fields = fc_map;
        }
        if let (Some(declared), Some(actual)) =
            (input.first_client_authentication_protocol, protocol)
        {
            if declared != actual {
                problems.push(format!(
                    "first_client_authentication_protocol: the default client is {actual}; a client's protocol cannot be changed (create a new client instead)"
                ));
            }
        }
        fold_deprecated_client_fields(
            fields,
            protocol == Some(AuthenticationProtocol::Saml),
            &mut client_fields,
            &mut problems,
            "the default client is SAML",
        );
        if !problems.is_empty() {
            return Err(TenantError::Invalid(problems));
        }
        let now = now_rfc3339();
        let mut changes = Changes::default();
        let mut new_default = default_client.clone();
        if !client_fields.is_empty() {
            let Some(current) = &default_client else {
                return Err(TenantError::invalid(
                    "first_client: the application has no clients left; create one with POST /v1/applications/{appId}/clients",
                ));
            };
            let merged = merge_client(&current.client, &client_fields, &now)?;
            let rule_problems = client_rule_problems(&merged, &first_prefix);
            if !rule_problems.is_empty() {
                return Err(TenantError::Invalid(rule_problems));
            }
            let updated = StoredClient {
                seq: current.seq,
                client: merged,
            };
            changes.clients.push((
                app_id.to_owned(),
                updated.client.identity().client_id.clone(),
                Some(updated.clone()),
            ));
            new_default = Some(updated);
        }
        let mut core = stored.app.clone();
        apply_app_fields(&mut core, &input, &now);
        let (new, old) = (app_claims(&core), app_claims(&stored.app));
        self.claim(&APPLICATION, app_id, new, old, &mut changes)?;
        let new_stored = StoredApp {
            seq: stored.seq,
            default_client_id: stored.default_client_id,
            app: core,
        };
        changes
            .apps
            .push((app_id.to_owned(), Some(new_stored.clone())));
        self.commit(&changes)?;
        Ok(App {
            core: new_stored.app,
            default_client: new_default.map(|c| default_view(&c.client)),
        })
    }

    /// `DELETE /v1/applications/{appId}`: deletes the app and all its clients.
    pub async fn delete_app(&self, caller: &Caller, app_id: &str) -> Result<(), TenantError> {
        caller.require(Verb::Delete, Some(app_id))?;
        {
            let _guard = self.lock();
            let stored = self.app_record(app_id)?;
            let mut changes = Changes {
                apps: vec![(app_id.to_owned(), None)],
                ..Changes::default()
            };
            for c in self.store.clients(app_id)? {
                changes.clients.push((
                    app_id.to_owned(),
                    c.client.identity().client_id.clone(),
                    None,
                ));
            }
            changes.claims.extend(released(app_claims(&stored.app)));
            // Its own objects (roles, role groups, login preferences) go with it.
            self.delete_app_objects(app_id, &mut changes)?;
            self.commit(&changes)?;
        }
        self.store.make_durable().await?;
        Ok(())
    }

    /// `PUT /v1/applications/{appId}/resources` (deprecated): sets the default client's resources.
    pub async fn set_default_client_resources(
        &self,
        caller: &Caller,
        app_id: &str,
        body: &Value,
    ) -> Result<Value, TenantError> {
        let app = self
            .edit(caller, app_id, || {
                let resources = resource_ids(body)?;
                let stored = self.app_record(app_id)?;
                let Some(default_id) = stored.default_client_id.clone() else {
                    return Err(TenantError::invalid(
                        "the application has no default client; create a client first",
                    ));
                };
                let mut updated = self.client_record(app_id, &default_id)?;
                updated.client = with_resources(&updated.client, resources);
                self.commit_client(app_id, &default_id, &updated)?;
                Ok(App {
                    core: stored.app,
                    default_client: Some(default_view(&updated.client)),
                })
            })
            .await?;
        Ok(self.app_view(caller, &app, false))
    }
}
