//! export over a state that already maps live objects: they keep the state's names and their
//! entries (no second address for one app id, no prune of the managed app, no clear-text
//! values in the state).

use crate::harness::{output_text as text, Workspace};

const SHOP: &str = "apiVersion: tenantsync/v1
kind: Application
metadata: {name: shop}
spec:
  app_name: Shop Five
  clients:
    - name: Web
      redirect_uris: [https://shop.example.com/cb]
      response_types: [code]
";

fn ok(o: &std::process::Output) -> String {
    assert_eq!(o.status.code(), Some(0), "{}", text(o));
    text(o)
}

/// The `Application/…` entries `state list` shows, with their ids.
fn app_entries(w: &Workspace) -> Vec<String> {
    let list = ok(&w
        .command(&w.server.base, &["state", "list"])
        .output()
        .unwrap());
    list.lines()
        .filter(|l| l.trim_start().starts_with("Application/"))
        .map(|l| l.trim().to_owned())
        .collect()
}

#[tokio::test]
async fn export_keeps_managed_names_and_prune_deletes_nothing() {
    let w = Workspace::new();
    w.write("a.yaml", SHOP);
    w.write(
        "b.yaml",
        &SHOP
            .replace("name: shop}", "name: other}")
            .replace("Shop Five", "Other")
            .replace("shop.example", "o.example"),
    );
    ok(&w.run(&["apply", "--yes"]));
    let ids = |apps: Vec<serde_json::Value>| {
        let mut ids: Vec<String> = apps
            .iter()
            .map(|a| a["app_id"].as_str().unwrap().to_owned())
            .collect();
        ids.sort();
        ids
    };
    let before = ids(w.live_apps().await);
    assert_eq!(before.len(), 2);

    let out = w.dir.path().join("exp");
    let e = ok(&w
        .command(&w.server.base, &["export", "--out", out.to_str().unwrap()])
        .output()
        .unwrap());

    let entries = app_entries(&w);
    assert_eq!(entries.len(), 2, "one entry per live app: {entries:?}");
    let mut names: Vec<&str> = entries
        .iter()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    names.sort();
    assert_eq!(names, vec!["Application/other", "Application/shop"]);

    let p = ok(&w.run(&["apply", "--yes", "--prune"]));
    assert_eq!(
        ids(w.live_apps().await),
        before,
        "prune replaced an app: {p}"
    );
    assert!(p.contains(" 0 to delete"), "{p}");
    assert!(out.join("shop.yaml").exists() && !out.join("shop-five.yaml").exists());
    // Export says which objects it found already managed.
    assert!(
        e.contains("Application/shop") && e.contains("already in the state"),
        "{e}"
    );
}

#[tokio::test]
async fn export_leaves_hashed_last_applied_values_hashed() {
    let w = Workspace::new();
    let canary = "canary-7f3a91c2";
    w.write(
        "a.yaml",
        &SHOP.replace(
            "  app_name: Shop Five\n",
            "  app_name: Shop Five\n  app_description: \"desc ${env:SECRET_CANARY}\"\n",
        ),
    );
    let apply = |args: &[&str]| {
        let mut cmd = w.command(&w.server.base, args);
        cmd.env("SECRET_CANARY", canary)
            .arg(w.manifests())
            .output()
            .unwrap()
    };
    ok(&apply(&["apply", "--yes", "--env-allow", "SECRET_*"]));
    let show = |w: &Workspace| {
        ok(&w
            .command(&w.server.base, &["state", "show", "Application/shop"])
            .output()
            .unwrap())
    };
    assert!(!show(&w).contains(canary));
    let before = w.state_contents();

    let out = w.dir.path().join("exp");
    let e = ok(&w
        .command(&w.server.base, &["export", "--out", out.to_str().unwrap()])
        .output()
        .unwrap());
    // The live description holds the canary; the exported files may, the state may not.
    let exported: String = std::fs::read_dir(&out)
        .unwrap()
        .map(|f| std::fs::read_to_string(f.unwrap().path()).unwrap())
        .collect();
    assert!(exported.contains(canary));
    let shown = show(&w);
    assert!(!shown.contains(canary), "{shown}");
    let state = w.state_contents();
    assert!(
        !String::from_utf8_lossy(&state).contains(canary),
        "the state holds the canary in clear"
    );
    assert!(!before.is_empty());
    assert!(e.contains("already in the state"), "{e}");
}
