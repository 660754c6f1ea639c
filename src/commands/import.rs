//! `tenantsync import KIND/NAME ID`: adopt one live object into the state for an object the
//! manifests define, without any write to the target. Objects of the described kinds are named
//! by address (`Resource/https://api.example.com/payouts`, `Role/shop/courier`,
//! `LoginPreferences/shop`) or by document (`Resource/payouts-api`, `Role/shop-courier`).

use std::process::ExitCode;

use anyhow::bail;
use serde_json::Map;

use super::common::{open_target, RequestSummary};
use super::validate::load_manifests;
use crate::cli::{GlobalArgs, ImportArgs};
use crate::manifest::{DesiredObject, DesiredState};
use crate::model::kinds::AnyKind;
use crate::model::kinds::{NaturalKey, ObjKind};
use crate::model::schema::did_you_mean;
use crate::model::AuthenticationProtocol;
use crate::model::ClientKey;
use crate::reconcile::now_rfc3339;
use crate::shown::escape_controls;
use crate::state::address::Address;
use crate::state::entry::{Ownership, StateEntry};

/// The object of a described kind `text` names in `desired`: by address, else by kind and
/// `metadata.name` (for a parented kind, unique across applications or written `APP/NAME`).
/// `Ok(None)`: `text` does not name a described kind.
fn find_object<'a>(
    desired: &'a DesiredState,
    text: &str,
) -> Result<Option<&'a DesiredObject>, String> {
    let Some((kind, rest)) = text.split_once('/') else {
        return Ok(None);
    };
    let Some(kind) = ObjKind::from_name(kind) else {
        return Ok(None);
    };
    if let Some(found) = Address::parse(text).and_then(|a| desired.object(&a)) {
        return Ok(Some(found));
    }
    let named: Vec<&DesiredObject> = desired
        .described()
        .map(|(_, o)| o)
        .filter(|o| o.kind() == kind.into())
        .filter(|o| {
            o.name == rest
                || o.address
                    .app
                    .as_ref()
                    .is_some_and(|app| format!("{app}/{}", o.name) == rest)
        })
        .collect();
    match named.as_slice() {
        [one] => Ok(Some(one)),
        [] => {
            let names = desired
                .objects
                .values()
                .filter(|o| o.kind() == kind.into())
                .map(|o| o.name.as_str());
            let hint = did_you_mean(rest, names)
                .map(|c| format!(" (did you mean `{kind}/{c}`?)"))
                .unwrap_or_default();
            Err(format!(
                "the manifests define no {kind} `{rest}`{hint}: name it by its address (`{}`) or its document's metadata.name",
                match kind.spec().natural_key {
                    NaturalKey::Field(f) if kind.spec().parent.is_some() => format!("{kind}/APP/{f}"),
                    NaturalKey::Field(f) => format!("{kind}/{f}"),
                    NaturalKey::Singleton => format!("{kind}/APP"),
                }
            ))
        }
        several => Err(format!(
            "`{text}` names {} {kind} documents (of applications {}); write `{kind}/APP/{rest}`",
            several.len(),
            several
                .iter()
                .filter_map(|o| o.address.app.as_deref())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// Imports one object of a described kind: the live object with id `id` (for a singleton, its
/// application's app_id) becomes the state's for `object`.
async fn import_object(
    global: &GlobalArgs,
    object: &DesiredObject,
    id: &str,
) -> anyhow::Result<ExitCode> {
    let kind = object.kind();
    let spec = kind.spec();
    let state = super::common::open_state(global)?;
    let app_id = match &object.address.app {
        None => None,
        Some(app) => match state.get(Address::app(app))? {
            Some(entry) => entry.app_id,
            None => bail!(
                "import the application first: `tenantsync import Application/{app} <app_id>`"
            ),
        },
    };
    let target = open_target(global, false, None)?;
    let _requests = RequestSummary::of(&*target);
    let live = target.list_objects(kind, app_id.as_deref()).await?;
    let (live_id, found) = match spec.api.id_field {
        Some(_) => (
            Some(id.to_owned()),
            live.iter().find(|o| spec.id_of(o).as_deref() == Some(id)),
        ),
        // A singleton has no id of its own: it is named by its application's.
        None => {
            if app_id.as_deref() != Some(id) {
                bail!(
                    "{} have no id of their own: give the application's app_id ({})",
                    spec.noun,
                    app_id.unwrap_or_default()
                );
            }
            (None, live.first())
        }
    };
    let Some(found) = found else {
        let of = app_id
            .as_ref()
            .map(|a| format!(" of application {a}"))
            .unwrap_or_default();
        bail!("no live {}{of} has id `{id}`", spec.noun);
    };
    let snapshot = state.snapshot()?;
    if let Some((other, _)) = snapshot.object_entries().find(|(a, e)| {
        a.kind == kind && e.id == live_id && e.app_id == app_id && **a != object.address
    }) {
        bail!(
            "that live object is already managed as {}; `tenantsync state forget {}` first",
            other,
            other
        );
    }
    // The live object whose key is the manifest's, when it is another: the apply after this
    // import would change the imported one's key to a value that one holds, and upstream
    // answers 409. The manifest means that one.
    let key = spec.key_of(found).unwrap_or_default();
    if let (true, NaturalKey::Field(f)) = (spec.unique_key, spec.natural_key) {
        let holder = (key != object.address.key)
            .then(|| {
                live.iter()
                    .find(|o| spec.key_of(o) == Some(object.address.key.as_str()))
            })
            .flatten()
            .and_then(|o| spec.id_of(o));
        if let Some(holder) = holder {
            bail!(
                "refused: the live {noun} {} has {f} `{}`, the manifest's (this one has `{}`); import that one: `tenantsync import {kind}/{} {}`",
                escape_controls(&holder),
                escape_controls(&object.address.key),
                escape_controls(key),
                object.name,
                escape_controls(&holder),
                noun = spec.noun,
            );
        }
    }
    state.put(&StateEntry {
        address: object.address.clone(),
        name: object.name.clone(),
        id: live_id,
        app_id,
        ownership: Ownership::Adopted,
        last_applied: Map::new(),
        protect: object.protect,
        applied_at: now_rfc3339(),
    })?;
    let differs = match spec.natural_key {
        NaturalKey::Field(f) if key != object.address.key => format!(
            " (live {f} `{}`: the next apply changes it to the manifest's)",
            escape_controls(key)
        ),
        _ => String::new(),
    };
    outln!(
        "{kind}/{} now manages the live object {}{differs}; run `tenantsync plan` to see how it differs from the manifest",
        object.name,
        escape_controls(id)
    );
    Ok(ExitCode::SUCCESS)
}

/// Runs `import`.
pub async fn run(global: &GlobalArgs, args: &ImportArgs) -> anyhow::Result<ExitCode> {
    if ObjKind::from_name(args.address.split('/').next().unwrap_or_default()).is_some() {
        let desired = load_manifests(global, &args.paths).map_err(|e| anyhow::anyhow!("{e}"))?;
        return match find_object(&desired, &args.address) {
            Ok(Some(object)) => import_object(global, object, &args.id).await,
            Ok(None) => unreachable!("the address names a described kind"),
            Err(message) => bail!("{message}"),
        };
    }
    let address = super::common::resolve_address(global, &args.address, &args.paths)?;
    let desired = load_manifests(global, &args.paths).map_err(|e| anyhow::anyhow!("{e}"))?;
    let Some(app) = desired.app(address.app_name()) else {
        bail!(
            "the manifests define no Application `{}`",
            address.app_name()
        );
    };
    let state = super::common::open_state(global)?;
    let target = open_target(global, false, None)?;
    let _requests = RequestSummary::of(&*target);
    let (app_id, client_id) = match address.kind {
        AnyKind::Described(_) => bail!("`{address}` is not an application or a client"),
        AnyKind::Application => {
            if target.get_app(&args.id).await?.is_none() {
                bail!("no live application has app_id `{}` (is it a client id? import clients as Client/APP/NAME)", args.id);
            }
            (args.id.clone(), None)
        }
        AnyKind::Client => {
            let name = address.key.clone();
            let Some((_, desired_client)) = desired.client(address.app_name(), &name) else {
                bail!(
                    "the manifests define no client `{name}` in application `{}`",
                    address.app_name()
                );
            };
            let Some(app_id) = state
                .get(Address::app(address.app_name()))?
                .and_then(|e| e.app_id)
            else {
                bail!(
                    "import the application first: `tenantsync import Application/{} <app_id>`",
                    address.app_name()
                );
            };
            let Some(live) = target.get_client(ClientKey::new(&app_id, &args.id)).await? else {
                bail!(
                    "application `{}` ({}) has no client with client_id `{}`",
                    address.app_name(),
                    app_id,
                    args.id
                );
            };
            let live_protocol = AuthenticationProtocol::strictly_of(&live);
            if live_protocol.as_ref() != Ok(&desired_client.protocol) {
                let live_protocol = live_protocol.map_or_else(|raw| raw, |p| p.to_string());
                bail!("refused: the live client is {live_protocol} but the manifest's `{name}` is {}; kinds differ", desired_client.protocol);
            }
            (app_id, Some(args.id.clone()))
        }
    };
    for (other, e) in state.snapshot()?.app_entries() {
        if e.server_id() == client_id.as_deref().unwrap_or(&app_id) && *other != address {
            bail!(
                "that live object is already managed as {other}; `tenantsync state forget {other}` first"
            );
        }
    }
    state.put(&StateEntry {
        address: address.clone(),
        name: String::new(),
        app_id: Some(app_id),
        id: client_id,
        ownership: Ownership::Adopted,
        last_applied: Map::new(),
        protect: app.protect,
        applied_at: now_rfc3339(),
    })?;
    outln!("{address} now manages the live object {}; run `tenantsync plan` to see how it differs from the manifest", args.id);
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::interpolate::tests::FakeEnvironment;
    use crate::manifest::{load, SourceFile};

    const TREE: &str = "apiVersion: tenantsync/v1
kind: Resource
metadata: {name: payouts-api}
spec: {name: Payouts, uri: \"https://api.example.com/payouts\", access_token_ttl: 300, refresh_token_ttl: 0, max_refresh_rotate: 0}
---
apiVersion: tenantsync/v1
kind: Application
metadata: {name: shop}
spec: {app_name: Shop, clients: [{name: Web, redirect_uris: []}]}
---
apiVersion: tenantsync/v1
kind: Application
metadata: {name: food}
spec: {app_name: Food, clients: [{name: Web, redirect_uris: []}]}
---
apiVersion: tenantsync/v1
kind: Role
metadata: {name: courier}
spec: {application: shop, role_name: courier}
---
apiVersion: tenantsync/v1
kind: Role
metadata: {name: courier}
spec: {application: food, role_name: rider}
---
apiVersion: tenantsync/v1
kind: LoginPreferences
metadata: {name: shop-login}
spec: {application: shop, sms: {expiresIn: 10, maxFailures: 3}}
";

    fn desired() -> DesiredState {
        load(
            &[SourceFile {
                path: "/m/a.yaml".into(),
                bytes: TREE.as_bytes().to_vec(),
            }],
            &FakeEnvironment::default(),
        )
        .unwrap_or_else(|e| panic!("{e}"))
    }

    fn found(text: &str) -> Result<Option<String>, String> {
        let desired = desired();
        find_object(&desired, text).map(|o| o.map(|o| o.address.to_string()))
    }

    #[test]
    fn objects_are_found_by_address_or_by_document_name() {
        let payouts = Some("Resource/https://api.example.com/payouts".to_owned());
        assert_eq!(
            found("Resource/https://api.example.com/payouts"),
            Ok(payouts.clone())
        );
        assert_eq!(found("Resource/payouts-api"), Ok(payouts));
        assert_eq!(found("Role/food/rider"), Ok(Some("Role/food/rider".into())));
        assert_eq!(
            found("Role/shop/courier"),
            Ok(Some("Role/shop/courier".into()))
        );
        assert_eq!(
            found("LoginPreferences/shop"),
            Ok(Some("LoginPreferences/shop".into()))
        );
        assert_eq!(
            found("LoginPreferences/shop-login"),
            Ok(Some("LoginPreferences/shop".into()))
        );
        // Not a described kind: the application and client forms take it.
        assert_eq!(found("Client/shop/Web"), Ok(None));
        // Two roles share the document name `courier` in two applications.
        let ambiguous = found("Role/courier").unwrap_err();
        assert!(
            ambiguous.contains("Role/APP/courier") && ambiguous.contains("food, shop"),
            "{ambiguous}"
        );
        let unknown = found("Resource/payout-api").unwrap_err();
        assert!(
            unknown.contains("did you mean `Resource/payouts-api`"),
            "{unknown}"
        );
        assert!(unknown.contains("Resource/uri"), "{unknown}");
    }
}
