//! Tests of the tenant store: schema versions and the in-place upgrades of earlier layouts.

use super::*;

#[test]
fn unknown_schema_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = sled::open(dir.path()).unwrap();
        db.open_tree("meta")
            .unwrap()
            .insert("schema_version", "99")
            .unwrap();
        db.flush().unwrap();
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    let err = TenantStore::open(dir.path()).err().expect("must refuse");
    assert!(
        matches!(err, StoreError::SchemaVersion { ref found, .. } if found == "99"),
        "{err}"
    );
}

/// Opens the tenant in `db` (a temporary database the test keeps between openings).
fn open_tenant(db: &sled::Db) -> crate::tenant::Tenant {
    let store = TenantStore::with_db(
        db.clone(),
        Path::new("(test)"),
        GroupCommit::volatile(db.clone()),
    )
    .unwrap();
    crate::tenant::Tenant::new(store, "http://127.0.0.1").unwrap()
}

/// Rewrites `db`'s applications and clients as version 3 and earlier kept them: in trees
/// of their own (keyed by app id, and app id NUL client id), their fields under `app` and
/// `client`, and marks the store `version`.
fn as_earlier_layout(db: &sled::Db, version: &str) {
    let objects = db.open_tree("objects").unwrap();
    let (apps, clients) = (
        db.open_tree("apps").unwrap(),
        db.open_tree("clients").unwrap(),
    );
    for row in objects.iter() {
        let (key, bytes) = row.unwrap();
        let mut record: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(&bytes).unwrap();
        let fields = record.remove("object").unwrap();
        let parts: Vec<&[u8]> = key.split(|b| *b == 0).collect();
        let (tree, name, old_key) = match parts[0] {
            b"Application" => (&apps, "app", parts[2].to_vec()),
            b"Client" => (&clients, "client", [parts[1], parts[2]].join(&0u8)),
            _ => continue,
        };
        record.insert(name.into(), fields);
        tree.insert(old_key, serde_json::to_vec(&record).unwrap())
            .unwrap();
        objects.remove(&key).unwrap();
    }
    db.open_tree("meta")
        .unwrap()
        .insert("schema_version", version)
        .unwrap();
}

/// A version-3 store's applications and clients (trees of their own) become rows of the
/// objects tree when it is opened: every response reads as before, the old trees are gone,
/// the counts are right, and the store is marked version 4 (which version 3 refuses).
#[tokio::test]
async fn a_version_3_store_gets_its_apps_and_clients_moved_into_the_objects_tree() {
    use crate::tenant::Caller;
    let db = sled::Config::new().temporary(true).open().unwrap();
    let admin = Caller::admin("admin");
    let tenant = open_tenant(&db);
    let app = tenant
        .create_app(
            &admin,
            &serde_json::json!({"app_name": "shop", "client_display_name": "Web",
                "redirect_uris": ["https://shop.example/cb"]}),
            None,
        )
        .await
        .unwrap()
        .body;
    let app_id = app["app_id"].as_str().unwrap().to_owned();
    tenant
        .create_client(
            &admin,
            &app_id,
            &serde_json::json!({"name": "Partner", "authentication_protocol": "saml",
                "sp_entity_id": "urn:sp", "sp_acs_url": "https://sp.example/acs"}),
            None,
        )
        .await
        .unwrap();
    let before = (
        tenant.get_app(&admin, &app_id).unwrap(),
        tenant.list_clients(&admin, &app_id).unwrap(),
    );
    drop(tenant);
    as_earlier_layout(&db, "3");
    assert_eq!(db.open_tree("apps").unwrap().len(), 1);

    let tenant = open_tenant(&db);
    let after = (
        tenant.get_app(&admin, &app_id).unwrap(),
        tenant.list_clients(&admin, &app_id).unwrap(),
    );
    assert_eq!(after, before);
    assert_eq!(after.1.as_slice().len(), 2);
    assert_eq!(
        (tenant.store().app_count(), tenant.store().client_count()),
        (1, 2)
    );
    for name in EARLIER_TREES {
        assert!(!db
            .tree_names()
            .iter()
            .any(|n| n.as_ref() == name.as_bytes()));
    }
    assert_eq!(
        db.open_tree("meta")
            .unwrap()
            .get("schema_version")
            .unwrap()
            .as_deref(),
        Some(&b"4"[..])
    );
    // The moved rows are the store's: a client deleted goes from the one tree.
    let client_id = after.1[1]["client_id"].as_str().unwrap().to_owned();
    tenant
        .delete_client(
            &admin,
            crate::model::client::ClientKey::new(&app_id, &client_id),
        )
        .await
        .unwrap();
    assert_eq!(tenant.list_clients(&admin, &app_id).unwrap().len(), 1);
    assert_eq!(tenant.store().client_count(), 1);
}

/// A version-1 store kept the applications' claims in a tree of their own (the Hub's named
/// `hub`): opened by this version, they are rebuilt from its apps into the claims index
/// every kind shares, the old tree is dropped, so a second hub or subdomain is still refused
/// (409), and the store is marked version 4 (which version 1 refuses).
#[tokio::test]
async fn a_version_1_store_gets_its_application_claims_moved() {
    use crate::tenant::{Caller, TenantError};
    let db = sled::Config::new().temporary(true).open().unwrap();
    let hub = |name: &str, sub: &str| {
        serde_json::json!({"app_name": name, "client_display_name": "Web", "subdomain": sub,
            "authenticator_preferences": {"is_centralized": true, "login_uri": "https://hub/login"},
            "first_client": {"name": "Web", "redirect_uris": ["https://shop.example/cb"]}})
    };
    let admin = Caller::admin("admin");
    open_tenant(&db)
        .create_app(&admin, &hub("one", "one"), None)
        .await
        .unwrap();
    // As version 1 left it: the application's claims in `unique`, under its names.
    let claims = db.open_tree("object_claims").unwrap();
    let owner = claims.iter().next().unwrap().unwrap().1;
    claims.clear().unwrap();
    let unique = db.open_tree("unique").unwrap();
    unique.insert("hub", owner.clone()).unwrap();
    unique.insert("subdomain\0one", owner.clone()).unwrap();
    as_earlier_layout(&db, "1");

    open_tenant(&db);
    assert!(!db.tree_names().iter().any(|n| n.as_ref() == b"unique"));
    assert_eq!(claims.len(), 2);
    assert!(claims.iter().all(|c| c.unwrap().1 == owner));
    let meta = db.open_tree("meta").unwrap();
    assert_eq!(
        meta.get("schema_version").unwrap().as_deref(),
        Some(&b"4"[..])
    );
    // A development build's version 2 may have left them under another key: rebuilt too.
    let stale = object_key("Application", None, "subdomain\0one");
    claims.insert(&stale, owner.clone()).unwrap();
    as_earlier_layout(&db, "2");
    let tenant = open_tenant(&db);
    assert_eq!(claims.get(&stale).unwrap(), None);
    assert_eq!(claims.len(), 2);
    for (name, sub, taken) in [
        ("two", "two", "is_centralized"),
        ("three", "ONE", "subdomain"),
    ] {
        let mut body = hub(name, sub);
        if taken == "subdomain" {
            body["authenticator_preferences"]["is_centralized"] = false.into();
        }
        let refused = tenant.create_app(&admin, &body, None).await;
        assert!(
            matches!(refused, Err(TenantError::IdentifierTaken(ref m)) if m.contains(taken)),
            "{refused:?}"
        );
    }
}

/// An upgrade that stopped after copying rows leaves a version-3 store, which the previous
/// release opens and may change (here: deletes an application). The next upgrade copies the
/// old trees again, never the stale rows: the deleted application does not come back.
#[tokio::test]
async fn an_upgrade_stopped_halfway_then_changed_by_the_previous_release_is_redone() {
    use crate::tenant::Caller;
    let db = sled::Config::new().temporary(true).open().unwrap();
    let admin = Caller::admin("admin");
    let tenant = open_tenant(&db);
    let mut ids = Vec::new();
    for name in ["keep", "gone"] {
        let app = tenant
            .create_app(
                &admin,
                &serde_json::json!({"app_name": name, "client_display_name": "Web",
                    "redirect_uris": ["https://shop.example/cb"]}),
                None,
            )
            .await
            .unwrap()
            .body;
        ids.push(app["app_id"].as_str().unwrap().to_owned());
    }
    drop(tenant);
    let objects = db.open_tree("objects").unwrap();
    let copied = objects.get(app_key(&ids[1])).unwrap().unwrap();
    as_earlier_layout(&db, "3");
    // Stopped halfway: `gone` was copied, the version not yet written; then the previous
    // release deleted it from its own tree.
    objects.insert(app_key(&ids[1]), copied).unwrap();
    db.open_tree("apps")
        .unwrap()
        .remove(ids[1].as_bytes())
        .unwrap();
    let tenant = open_tenant(&db);
    let names: Vec<String> = tenant
        .store()
        .apps()
        .unwrap()
        .into_iter()
        .map(|a| a.app.app_name)
        .collect();
    assert_eq!(names, ["keep"]);
    assert_eq!(tenant.store().app_count(), 1);
}
