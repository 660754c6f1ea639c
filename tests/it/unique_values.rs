//! Values upstream keeps unique in a tenant (an application's subdomain and custom domain, the
//! Authentication Hub role), against the real binary and server: two applications holding one
//! are refused by `validate`; one passed between applications in one commit applies in one
//! run (the change giving it up runs first); one held by an application nobody manages is
//! named in the plan before the apply that upstream refuses.

use serde_json::{json, Value};

use crate::harness::{output_text, Workspace};

fn app(key: &str, spec: &str) -> String {
    format!(
        "apiVersion: tenantsync/v1\nkind: Application\nmetadata: {{name: {key}}}\nspec:\n  app_name: {key}\n{spec}  clients: [{{name: Web, redirect_uris: []}}]\n"
    )
}

const HUB: &str = "  authenticator_preferences: {is_centralized: true, login_uri: \"https://hub.example/login\"}\n";
const NOT_HUB: &str =
    "  authenticator_preferences: {is_centralized: false, login_uri: \"https://hub.example/login\"}\n";

fn ok(out: &std::process::Output) -> String {
    let text = output_text(out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    text
}

#[test]
fn two_applications_holding_one_subdomain_are_refused_by_validate() {
    let ws = Workspace::new();
    ws.write("shop.yaml", &app("shop", "  subdomain: shop\n"));
    ws.write("food.yaml", &app("food", "  subdomain: Shop\n"));
    let out = ws
        .command(&ws.server.base, &["validate"])
        .arg(ws.manifests())
        .output()
        .unwrap();
    let text = output_text(&out);
    assert_ne!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("shop.yaml:6:14: spec.subdomain: Application `shop` holds `subdomain: shop` too, as Application `food` does"),
        "{text}"
    );
}

#[tokio::test]
async fn values_passed_between_applications_apply_in_one_run() {
    let ws = Workspace::new();
    let shop = format!("  subdomain: shop\n{HUB}");
    ws.write("shop.yaml", &app("shop", &shop));
    ws.write(
        "old.yaml",
        &app("old", "  custom_domain: login.old.example\n"),
    );
    ok(&ws.run(&["apply", "--yes"]));

    // `shop` gives up its subdomain and the Hub role, `old` goes with its custom domain, and a
    // new application takes all three.
    ws.write(
        "shop.yaml",
        &app("shop", &format!("  subdomain: shop-old\n{NOT_HUB}")),
    );
    std::fs::remove_file(ws.manifests().join("old.yaml")).unwrap();
    ws.write(
        "store.yaml",
        &app(
            "store",
            &format!("  subdomain: SHOP\n  custom_domain: login.old.example\n{HUB}"),
        ),
    );
    let out = ws.run(&["plan", "--prune", "--format", "json"]);
    let plan: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", output_text(&out)));
    let phases: Vec<(&str, &str)> = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap(), c["phase"].as_str().unwrap()))
        .filter(|(name, _)| name.starts_with("Application/"))
        .collect();
    assert_eq!(
        phases,
        [
            ("Application/shop", "release"),
            ("Application/old", "release"),
            ("Application/store", "create_apps"),
        ],
        "{plan}"
    );
    assert_eq!(plan["format_version"], 8);
    let shop = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "Application/shop")
        .unwrap();
    assert!(
        shop["notes"].as_array().unwrap().contains(&json!(
            "runs first: it gives up `subdomain`, which Application/store takes"
        )),
        "{shop}"
    );
    let text = ok(&ws.run(&["apply", "--prune", "--yes"]));
    assert!(!text.contains("409"), "{text}");
    let out = ws.run(&["plan", "--prune", "--detailed-exitcode"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "not converged: {}",
        output_text(&out)
    );

    let apps = ws.live_apps().await;
    let store = apps
        .iter()
        .find(|a| a["app_name"] == "store")
        .expect("store created");
    assert_eq!(store["subdomain"], "SHOP");
    assert_eq!(store["custom_domain"]["domain"], "login.old.example");
    assert_eq!(store["authenticator_preferences"]["is_centralized"], true);
    assert!(apps.iter().all(|a| a["app_name"] != "old"));
}

#[tokio::test]
async fn a_value_held_by_an_application_nobody_manages_is_named_in_the_plan() {
    let ws = Workspace::new();
    let api = ws.api().await;
    let legacy = api
        .create_app(&json!({"app_name": "Legacy", "client_display_name": "Web",
            "subdomain": "shop", "first_client": {"name": "Web", "redirect_uris": []}}))
        .await;
    ws.write("shop.yaml", &app("shop", "  subdomain: shop\n"));
    let text = output_text(&ws.run(&["plan"]));
    let id = legacy["app_id"].as_str().unwrap();
    assert!(
        text.contains(&format!(
            "`subdomain`: the live application `Legacy` ({id}) holds the same value, and no change of this plan gives it up"
        )),
        "{text}"
    );
    // Upstream refuses it, as the plan said.
    let out = ws.run(&["apply", "--yes"]);
    assert_ne!(out.status.code(), Some(0), "{}", output_text(&out));
    assert!(
        output_text(&out).contains("subdomain"),
        "{}",
        output_text(&out)
    );
}

/// A deletion giving a subdomain up takes its application's roles with it into `release`
/// (they are deleted before it, within the phase): a saved plan applies as planned.
#[test]
fn a_saved_plan_deleting_an_application_with_roles_gives_its_subdomain_up_first() {
    let ws = Workspace::new();
    let role = "---\napiVersion: tenantsync/v1\nkind: Role\nmetadata: {name: clerk}\nspec: {application: old, role_name: clerk, permissions: [\"orders:read\"]}\n";
    ws.write(
        "old.yaml",
        &format!("{}{role}", app("old", "  subdomain: old\n")),
    );
    ok(&ws.run(&["apply", "--yes"]));
    std::fs::remove_file(ws.manifests().join("old.yaml")).unwrap();
    ws.write("store.yaml", &app("store", "  subdomain: old\n"));
    let plan_file = ws.dir.path().join("plan.json");
    ok(&ws.run(&["plan", "--prune", "--out", plan_file.to_str().unwrap()]));
    let saved: Value = serde_json::from_slice(&std::fs::read(&plan_file).unwrap()).unwrap();
    let phases: Vec<(&str, &str)> = saved["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap(), c["phase"].as_str().unwrap()))
        .filter(|(name, _)| !name.starts_with("Client/"))
        .collect();
    assert_eq!(
        phases,
        [
            ("Role/clerk", "release"),
            ("Application/old", "release"),
            ("Application/store", "create_apps"),
        ],
        "{saved}"
    );
    let out = ws
        .command(
            &ws.server.base,
            &[
                "apply",
                "--yes",
                "--prune",
                "--plan",
                plan_file.to_str().unwrap(),
            ],
        )
        .arg(ws.manifests())
        .output()
        .unwrap();
    ok(&out);
    let out = ws.run(&["plan", "--prune", "--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
}

/// A chain (a deletion gives a custom domain to an update that gives its subdomain to a new
/// application) cannot be ordered in one apply: the plan says to apply in two steps, and the
/// second apply finishes it.
#[test]
fn a_chain_is_named_in_the_plan_and_a_second_apply_finishes_it() {
    let ws = Workspace::new();
    ws.write("x.yaml", &app("x", "  custom_domain: d.example\n"));
    ws.write("y.yaml", &app("y", "  subdomain: s\n"));
    ok(&ws.run(&["apply", "--yes"]));
    std::fs::remove_file(ws.manifests().join("x.yaml")).unwrap();
    ws.write(
        "y.yaml",
        &app("y", "  subdomain: s2\n  custom_domain: d.example\n"),
    );
    ws.write("z.yaml", &app("z", "  subdomain: s\n"));
    let text = output_text(&ws.run(&["plan", "--prune"]));
    assert!(text.contains("a swap or a chain"), "{text}");
    assert!(text.contains("Apply in two steps"), "{text}");
    let first = ws.run(&["apply", "--yes", "--prune"]);
    assert_ne!(first.status.code(), Some(0), "{}", output_text(&first));
    ok(&ws.run(&["apply", "--yes", "--prune"]));
    let out = ws.run(&["plan", "--prune", "--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
}

/// An application that left the manifests keeps its subdomain without `--prune`: the plan
/// taking it says the holder is kept and why; with `--prune` it is given up first.
#[test]
fn a_holder_kept_for_want_of_prune_is_named_with_the_reason() {
    let ws = Workspace::new();
    ws.write("old.yaml", &app("old", "  subdomain: shop\n"));
    ok(&ws.run(&["apply", "--yes"]));
    std::fs::remove_file(ws.manifests().join("old.yaml")).unwrap();
    ws.write("new.yaml", &app("new", "  subdomain: shop\n"));
    let text = output_text(&ws.run(&["plan"]));
    assert!(
        text.contains(
            "it left the manifests but is kept: no longer in the manifests; run with --prune"
        ),
        "{text}"
    );
    let text = output_text(&ws.run(&["plan", "--prune"]));
    assert!(
        text.contains("runs first: it gives up `subdomain`"),
        "{text}"
    );
    assert!(!text.contains("is kept"), "{text}");
}

/// A live holder still in the manifests is not said to have left them, even when another of its
/// application's objects did: the plan's reasons for kept objects are looked up by application
/// and client addresses only, and a LoginPreferences document named like its application is
/// neither.
#[test]
fn a_holder_whose_login_preferences_were_dropped_is_not_said_to_have_left() {
    let ws = Workspace::new();
    let login = "---\napiVersion: tenantsync/v1\nkind: LoginPreferences\nmetadata: {name: old}\nspec:\n  application: old\n  sms: {expiresIn: 10, maxFailures: 3}\n";
    ws.write(
        "old.yaml",
        &format!("{}{login}", app("old", "  subdomain: shop\n")),
    );
    ok(&ws.run(&["apply", "--yes"]));
    // The application stays (tenantsync leaves its subdomain alone now); its login preferences'
    // document goes, kept for want of --prune.
    ws.write("old.yaml", &app("old", "  ignore_fields: [subdomain]\n"));
    ws.write("new.yaml", &app("new", "  subdomain: shop\n"));
    let text = output_text(&ws.run(&["plan"]));
    assert!(
        text.contains("LoginPreferences/old") && text.contains("run with --prune"),
        "the dropped document is kept: {text}"
    );
    assert!(
        text.contains("holds the same value, and no change of this plan gives it up;"),
        "{text}"
    );
    assert!(!text.contains("it left the manifests"), "{text}");
}
