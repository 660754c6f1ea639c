//! Environments against the real binary and three bundled servers: the example repository in
//! `examples/environments`, its targets pointed at three `tenantsync serve`s (dev, staging,
//! prod), each with its own credentials' variables. Applied to each, planned across all three,
//! compared with `env diff`; a missing `${var:…}` value and two environments sharing a target
//! are refused before anything is sent.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::harness::{bin, git_ok, output_text, spawn_daemon, status_until, KillOnDrop, Server};

const ENVS: [&str; 3] = ["dev", "staging", "prod"];

struct Repo {
    dir: PathBuf,
    servers: Vec<Server>,
    _tmp: tempfile::TempDir,
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// The project file: each environment on its server, with the example's values (staging's
/// the same as prod's, so the two differ only by prod's overlay). `edit` changes the text.
fn project(servers: &[Server], edit: impl Fn(String) -> String) -> String {
    let mut text = String::from("apiVersion: tenantsync/v1\nkind: Project\nenvironments:\n");
    for (env, server) in ENVS.iter().zip(servers) {
        let upper = env.to_uppercase();
        let (origin, ttl) = match *env {
            "dev" => ("https://dev.food.example.com", "3600"),
            _ => ("https://food.example.com", "900"),
        };
        text.push_str(&format!(
            "  {env}:\n    target: {}\n    credentials: {{client_id: {upper}_ID, client_secret: {upper}_SECRET}}\n    state: {{dir: .tenantsync/{env}}}\n    values: {{ORIGIN: \"{origin}\", ACCESS_TTL: \"{ttl}\"}}\n    ref: env/{env}\n",
            server.base
        ));
        if *env == "prod" {
            text.push_str("    overlay: environments/prod\n    protected: true\n");
        }
    }
    text.push_str("promotion:\n  order: [dev, staging, prod]\n  soak: 1s\n");
    edit(text)
}

impl Repo {
    fn new() -> Repo {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("repo");
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/environments");
        copy_tree(&example.join("manifests"), &dir.join("manifests"));
        copy_tree(&example.join("environments"), &dir.join("environments"));
        let servers: Vec<Server> = ENVS
            .iter()
            .map(|e| Server::start(&tmp.path().join(format!("{e}-server"))))
            .collect();
        std::fs::write(dir.join("tenantsync.yaml"), project(&servers, |t| t)).unwrap();
        Repo {
            dir,
            servers,
            _tmp: tmp,
        }
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// The binary in the repository, with every environment's credentials in its variables.
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(bin());
        cmd.current_dir(&self.dir)
            .args(args)
            .env_remove("TENANTSYNC_CLIENT_ID")
            .env_remove("TENANTSYNC_CLIENT_SECRET")
            .env_remove("TENANTSYNC_TOKEN")
            .env_remove("TENANTSYNC_TARGET")
            .env_remove("TENANTSYNC_STATE_DIR")
            .env_remove("TENANTSYNC_ENV")
            .env("RUST_LOG", "warn")
            .env("NO_COLOR", "1");
        for (env, server) in ENVS.iter().zip(&self.servers) {
            let (id, secret) = server.admin_credentials();
            let upper = env.to_uppercase();
            cmd.env(format!("{upper}_ID"), id)
                .env(format!("{upper}_SECRET"), secret);
        }
        cmd
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(out.status.success(), "{args:?}: {}", output_text(&out));
        output_text(&out)
    }

    fn server(&self, env: &str) -> &Server {
        &self.servers[ENVS.iter().position(|e| *e == env).unwrap()]
    }

    /// Every file of the repository, as text.
    fn files_text(&self) -> String {
        fn walk(dir: &Path, out: &mut String) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    if !path.ends_with(".tenantsync") {
                        walk(&path, out);
                    }
                } else {
                    out.push_str(&std::fs::read_to_string(&path).unwrap_or_default());
                }
            }
        }
        let mut out = String::new();
        walk(&self.dir, &mut out);
        out
    }

    /// The Applications API requests a server answered.
    async fn requests(&self, env: &str) -> u64 {
        self.server(env)
            .metrics()
            .await
            .lines()
            .filter(|l| l.starts_with("tenantsync_server_requests_total{") && l.contains("/v1/"))
            .map(|l| l.rsplit_once(' ').unwrap().1.parse::<f64>().unwrap() as u64)
            .sum()
    }
}

async fn list(server: &Server, path: &str) -> Vec<Value> {
    let api = server.api(&server.admin_token().await);
    let reply = api.get(path).await.json();
    match reply.get("result") {
        Some(r) => r.as_array().unwrap().clone(),
        None => reply
            .as_array()
            .unwrap_or_else(|| panic!("{reply}"))
            .clone(),
    }
}

/// The live id of the example's application on `server`.
async fn food_delivery(server: &Server) -> String {
    let apps = list(server, "/v1/applications").await;
    by(&apps, "app_name", "Food Delivery")["app_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A change made outside tenantsync: `body` PUT to `path`.
async fn by_hand(server: &Server, path: &str, body: Value) {
    let api = server.api(&server.admin_token().await);
    let put = api.put(path, &body).await;
    assert!(put.status < 300, "{:?}", put.json());
}

fn by<'a>(items: &'a [Value], field: &str, value: &str) -> &'a Value {
    items
        .iter()
        .find(|o| o[field] == value)
        .unwrap_or_else(|| panic!("no {field} = {value} in {items:?}"))
}

/// The live ids of the resources the `Backend` client of food-delivery may use, and the id of
/// the resource with `uri`.
async fn backend_resources(server: &Server) -> (Vec<String>, Vec<Value>) {
    let apps = list(server, "/v1/applications").await;
    let app_id = by(&apps, "app_name", "Food Delivery")["app_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let clients = list(server, &format!("/v1/applications/{app_id}/clients")).await;
    let mut ids: Vec<String> = by(&clients, "name", "Backend")["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    (ids, list(server, "/v1/resources").await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_repository_drives_three_tenants_by_name_and_plans_across_them() {
    let repo = Repo::new();
    for env in ENVS {
        repo.ok(&["--env", env, "apply", "--yes"]);
    }
    for env in ENVS {
        let out = repo.run(&["--env", env, "plan", "--detailed-exitcode"]);
        assert_eq!(out.status.code(), Some(0), "{env}: {}", output_text(&out));
    }
    // Each tenant's Backend client names that tenant's own resources; no id is in the repo.
    let text = repo.files_text();
    let mut seen = Vec::new();
    for env in ENVS {
        let (ids, resources) = backend_resources(repo.server(env)).await;
        let payouts = by(&resources, "uri", "https://api.food.example.com/payouts")["resource_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let mut expected = vec![payouts.clone()];
        if env == "prod" {
            let audit = by(&resources, "uri", "https://api.food.example.com/audit");
            expected.push(audit["resource_id"].as_str().unwrap().to_owned());
            expected.sort();
        } else {
            assert_eq!(resources.len(), 1, "{env}: the overlay is prod's only");
        }
        assert_eq!(ids, expected, "{env}");
        assert!(!text.contains(&payouts), "a live id is in the repository");
        seen.push(payouts);
    }
    seen.dedup();
    assert_eq!(seen.len(), 3, "each tenant has its own ids");
    // Values reached each tenant.
    let dev_apps = list(repo.server("dev"), "/v1/applications").await;
    assert_eq!(
        by(&dev_apps, "app_name", "Food Delivery")["login_uri"],
        "https://dev.food.example.com/login"
    );

    // A change made by hand in prod shows in the live comparison (with the overlay's).
    let prod = repo.server("prod");
    let app_id = food_delivery(prod).await;
    let clients = list(prod, &format!("/v1/applications/{app_id}/clients")).await;
    let web = by(&clients, "name", "Web")["client_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/v1/applications/{app_id}/clients/{web}");
    by_hand(
        prod,
        &path,
        serde_json::json!({"description": "changed by hand"}),
    )
    .await;
    let out = repo.run(&[
        "env", "diff", "staging", "prod", "--live", "--format", "json",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", output_text(&out));
    let live: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(live["compared"], "live");
    let objects: Vec<(&str, Vec<&str>)> = live["differences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let fields = d["fields"]
                .as_array()
                .map(|f| f.iter().map(|x| x["field"].as_str().unwrap()).collect())
                .unwrap_or_default();
            (d["object"].as_str().unwrap(), fields)
        })
        .collect();
    assert!(
        objects.contains(&("Client/food-delivery/Web", vec!["description"])),
        "{objects:?}"
    );
    assert!(
        objects
            .iter()
            .any(|(o, _)| o.starts_with("Resource/") && o.contains("audit")),
        "{objects:?}"
    );
    // No live id is compared: each tenant's ids differ, yet Backend's resources match by name
    // except for the overlay's audit-api.
    assert!(!String::from_utf8_lossy(&out.stdout).contains(&app_id));
    // Nor shown on stderr: the notes about the export's files are not this command's.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains(&app_id) && !stderr.contains("note:"),
        "{stderr}"
    );
    repo.ok(&["--env", "prod", "apply", "--yes"]);

    // One change, planned in every environment at once: one matrix, exit 2.
    let path = repo.dir.join("manifests/food-delivery.yaml");
    let manifest = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        manifest
            .replace(
                "app_description: Orders, couriers and restaurant partners",
                "app_description: Orders and couriers",
            )
            .replace(
                "description: Server-rendered storefront",
                "description: Storefront, second edition",
            ),
    )
    .unwrap();
    let out = repo.run(&[
        "plan",
        "--all-envs",
        "--format",
        "markdown",
        "--detailed-exitcode",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", output_text(&out));
    let md = String::from_utf8_lossy(&out.stdout);
    assert_eq!(md.matches("| object |").count(), 1, "{md}");
    // The client's change reaches every environment; prod's overlay writes its own
    // application description, so that change does not reach prod.
    assert!(
        md.contains("| `Client/food-delivery/Web` | update | update | update |"),
        "{md}"
    );
    assert!(
        md.contains("| `Application/food-delivery` | update | update | - |"),
        "{md}"
    );
    let out = repo.run(&["plan", "--env", "dev,prod", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["environments"]["dev"]["summary"]["update"], 2);
    assert_eq!(json["environments"]["prod"]["summary"]["update"], 1);
    assert!(json["environments"].get("staging").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn env_diff_shows_the_overlay_and_bad_projects_send_nothing() {
    let repo = Repo::new();
    // staging and prod have the same values: they differ by prod's overlay exactly.
    let out = repo.run(&["env", "diff", "staging", "prod", "--format", "json"]);
    assert_eq!(out.status.code(), Some(2), "{}", output_text(&out));
    let diff: Value = serde_json::from_slice(&out.stdout).unwrap();
    let summary: Vec<(String, Vec<String>, Option<String>)> = diff["differences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["object"].as_str().unwrap().to_owned(),
                d["fields"]
                    .as_array()
                    .map(|f| {
                        f.iter()
                            .map(|x| x["field"].as_str().unwrap().to_owned())
                            .collect()
                    })
                    .unwrap_or_default(),
                d["only_in"].as_str().map(str::to_owned),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (
                "Application/food-delivery".to_owned(),
                vec!["app_description".to_owned()],
                None
            ),
            (
                "Client/food-delivery/Backend".to_owned(),
                vec!["resources".to_owned()],
                None
            ),
            ("Resource/audit-api".to_owned(), vec![], Some("prod".into())),
        ]
    );
    // dev has values of its own: those differences are marked, and --ignore-values leaves
    // exactly the overlay's.
    let out = repo.run(&["env", "diff", "dev", "prod", "--format", "json"]);
    assert_eq!(out.status.code(), Some(2), "{}", output_text(&out));
    let all: Value = serde_json::from_slice(&out.stdout).unwrap();
    let from_values: Vec<String> = all["differences"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|d| {
            d["fields"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter(|f| f["from_values"] == true)
                .map(move |f| {
                    format!(
                        "{} {}",
                        d["object"].as_str().unwrap(),
                        f["field"].as_str().unwrap()
                    )
                })
        })
        .collect();
    assert_eq!(
        from_values,
        [
            "Application/food-delivery login_uri",
            "Client/food-delivery/Web redirect_uris",
            "Client/food-delivery/Web token_expiration",
        ]
    );
    let out = repo.run(&[
        "env",
        "diff",
        "dev",
        "prod",
        "--ignore-values",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", output_text(&out));
    let overlay_only: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(overlay_only["differences"], diff["differences"]);
    let out = repo.run(&["env", "diff", "prod", "prod"]);
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));

    // A target or a state named beside --env that is not the environment's: refused before
    // anything is sent; the environment's own target, named again, is fine.
    let (dev_base, prod_base) = (
        repo.server("dev").base.clone(),
        repo.server("prod").base.clone(),
    );
    let sent = repo.requests("prod").await;
    for (args, says) in [
        (["--target", prod_base.as_str(), "apply"], "--target"),
        (["--state-dir", ".tenantsync/prod", "apply"], "--state-dir"),
    ] {
        let out = repo.run(&[&["--env", "dev"], &args[..], &["--yes"]].concat());
        let text = output_text(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {text}");
        assert!(
            text.contains(&format!("{says} ")) && text.contains("disagree"),
            "{text}"
        );
    }
    assert_eq!(repo.requests("prod").await, sent, "nothing was sent");
    repo.ok(&["--env", "dev", "--target", &dev_base, "plan"]);
    // Set by its variable (as the container image sets the state directory): a warning, and
    // the environment's is used.
    let out = repo
        .command(&["--env", "dev", "plan"])
        .env("TENANTSYNC_STATE_DIR", "/var/lib/tenantsync/state")
        .output()
        .unwrap();
    let text = output_text(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("warning: TENANTSYNC_STATE_DIR=/var/lib/tenantsync/state is set, and environment `dev` keeps its state in"),
        "{text}"
    );

    // A value dev lacks: validation fails naming it and the environment; nothing is sent.
    let without_ttl = project(&repo.servers, |t| {
        t.replacen(", ACCESS_TTL: \"3600\"", "", 1)
    });
    std::fs::write(repo.dir.join("tenantsync.yaml"), without_ttl).unwrap();
    let before = repo.requests("dev").await;
    for args in [
        &["--env", "dev", "validate"][..],
        &["--env", "dev", "apply", "--yes"],
    ] {
        let out = repo.run(args);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{args:?}: {}",
            output_text(&out)
        );
        assert!(
            output_text(&out)
                .contains("`${var:ACCESS_TTL}`: environment `dev` has no value `ACCESS_TTL`"),
            "{}",
            output_text(&out)
        );
    }
    assert_eq!(repo.requests("dev").await, before, "nothing was sent");
    // The other environments still validate.
    repo.ok(&["--env", "staging", "validate"]);

    // Two environments on one target, or one state: refused with the project file's position.
    let dev_base = repo.server("dev").base.clone();
    let staging_base = repo.server("staging").base.clone();
    let shared_target = project(&repo.servers, |t| t.replace(&staging_base, &dev_base));
    std::fs::write(repo.dir.join("tenantsync.yaml"), shared_target).unwrap();
    let out = repo.run(&["--env", "dev", "validate"]);
    assert_eq!(out.status.code(), Some(1), "{}", output_text(&out));
    assert!(
        output_text(&out).contains("tenantsync.yaml:")
            && output_text(&out).contains("the same target"),
        "{}",
        output_text(&out)
    );
    let shared_state = project(&repo.servers, |t| {
        t.replace("{dir: .tenantsync/staging}", "{dir: .tenantsync/dev}")
    });
    std::fs::write(repo.dir.join("tenantsync.yaml"), shared_state).unwrap();
    let out = repo.run(&["--env", "prod", "plan"]);
    assert_eq!(out.status.code(), Some(1), "{}", output_text(&out));
    assert!(
        output_text(&out).contains("the same state"),
        "{}",
        output_text(&out)
    );
    assert_eq!(repo.requests("dev").await, before, "nothing was sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promote_is_gated_then_moves_the_ref_a_daemon_of_the_target_follows() {
    let repo = Repo::new();
    let unprotected = |soak: &'static str| {
        move |t: String| {
            t.replace("    protected: true\n", "")
                .replace("order: [dev, staging, prod]", "order: [dev, prod]")
                .replace("soak: 1s", &format!("soak: {soak}"))
        }
    };
    std::fs::write(
        repo.dir.join("tenantsync.yaml"),
        project(&repo.servers, unprotected("1h")),
    )
    .unwrap();
    std::fs::write(repo.dir.join(".gitignore"), ".tenantsync/\n").unwrap();
    let bare = repo.dir.parent().unwrap().join("remote.git");
    git_ok(
        repo.dir.parent().unwrap(),
        &["init", "-q", "--bare", "-b", "main", bare.to_str().unwrap()],
    );
    git_ok(&repo.dir, &["init", "-q", "-b", "main"]);
    git_ok(&repo.dir, &["add", "-A"]);
    git_ok(&repo.dir, &["commit", "-q", "-m", "c1"]);
    let remote = format!("file://{}", bare.display());
    git_ok(&repo.dir, &["remote", "add", "origin", &remote]);
    for branch in ["main", "env/dev", "env/prod"] {
        git_ok(
            &repo.dir,
            &["push", "-q", "origin", &format!("HEAD:refs/heads/{branch}")],
        );
    }
    repo.ok(&["--env", "dev", "apply", "--yes"]);
    repo.ok(&["--env", "prod", "apply", "--yes"]);

    // A change, committed and applied to dev.
    let path = repo.dir.join("manifests/food-delivery.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replace(
            "description: Server-rendered storefront",
            "description: Storefront, promoted",
        ),
    )
    .unwrap();
    git_ok(&repo.dir, &["commit", "-q", "-am", "c2"]);
    repo.ok(&["--env", "dev", "apply", "--yes"]);

    // Drift in dev, made by hand.
    let dev = repo.server("dev");
    let path = format!("/v1/applications/{}", food_delivery(dev).await);
    by_hand(
        dev,
        &path,
        serde_json::json!({"app_description": "by hand"}),
    )
    .await;

    let out = repo.run(&["promote", "dev", "prod"]);
    assert_eq!(out.status.code(), Some(1), "{}", output_text(&out));
    let said = output_text(&out);
    for line in [
        "FAIL drift",
        "FAIL soak",
        "ok   applied",
        "ok   checkout",
        "ok   lint",
        "ok   deletions",
    ] {
        assert!(said.contains(line), "{line}: {said}");
    }
    assert!(said.contains("promotion refused: drift, soak"), "{said}");

    // Healed, then soaked.
    repo.ok(&["--env", "dev", "apply", "--yes"]);
    let out = repo.run(&["promote", "dev", "prod"]);
    assert_eq!(out.status.code(), Some(1), "{}", output_text(&out));
    assert!(
        output_text(&out).contains("promotion refused: soak"),
        "{}",
        output_text(&out)
    );
    // A shorter soak, not committed: the checkout is not what dev runs.
    std::fs::write(
        repo.dir.join("tenantsync.yaml"),
        project(&repo.servers, unprotected("1s")),
    )
    .unwrap();
    let out = repo.run(&["promote", "dev", "prod"]);
    assert!(
        output_text(&out).contains("FAIL checkout   the checkout has uncommitted changes"),
        "{}",
        output_text(&out)
    );
    // Committed: a commit that changes nothing in dev, applied there with no change, is the
    // commit dev runs.
    git_ok(&repo.dir, &["commit", "-q", "-am", "c2b: a shorter soak"]);
    let c2 = git_ok(&repo.dir, &["rev-parse", "HEAD"]);
    let applied = repo.ok(&["--env", "dev", "apply", "--yes"]);
    assert!(applied.contains("0 succeeded"), "{applied}");
    // The soak is a duration the feature itself requires: a slow machine only adds to it.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let promoted = repo.ok(&["promote", "dev", "prod", "--push"]);
    assert!(promoted.contains("pushed env/prod to origin"), "{promoted}");
    assert!(promoted.contains("prod's plan:"), "{promoted}");
    assert_eq!(git_ok(&bare, &["rev-parse", "refs/heads/env/prod"]), c2);
    let history = repo.ok(&["--env", "prod", "history"]);
    assert!(
        history.contains("promote from dev")
            && history.contains("(refused)")
            && history.contains("(promoted)"),
        "{history}"
    );

    // prod's daemon follows env/prod and applies the promoted commit.
    let mut cmd = repo.command(&[
        "--env",
        "prod",
        "sync",
        "--listen",
        "127.0.0.1:0",
        "--interval",
        "1h",
        "--git",
        &remote,
        "--git-path",
        "manifests",
    ]);
    cmd.stderr(std::process::Stdio::null());
    let (child, url) = spawn_daemon(cmd);
    let _daemon = KillOnDrop(child);
    status_until(&url, |s| {
        s["last_result"] == "success"
            && s["revision"]
                .as_str()
                .is_some_and(|r| c2.starts_with(r) || r.starts_with(&c2))
    })
    .await;
    let prod = repo.server("prod");
    let apps = list(prod, "/v1/applications").await;
    let app_id = by(&apps, "app_name", "Food Delivery")["app_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let clients = list(prod, &format!("/v1/applications/{app_id}/clients")).await;
    assert_eq!(
        by(&clients, "name", "Web")["description"],
        "Storefront, promoted"
    );

    // A commit that changes prod's values and overlay only: the daemon takes both from the
    // commit it reconciles, not from the checkout it was started in (put back to c2 here).
    let config = repo.dir.join("tenantsync.yaml");
    let committed = std::fs::read_to_string(&config).unwrap();
    let prod_origin =
        "ORIGIN: \"https://food.example.com\", ACCESS_TTL: \"900\"}\n    ref: env/prod";
    assert!(committed.contains(prod_origin), "{committed}");
    std::fs::write(
        &config,
        committed.replace(
            prod_origin,
            "ORIGIN: \"https://orders.food.example.com\", ACCESS_TTL: \"900\"}\n    ref: env/prod",
        ),
    )
    .unwrap();
    let overlay = repo.dir.join("environments/prod/food-delivery.yaml");
    let text = std::fs::read_to_string(&overlay).unwrap();
    std::fs::write(&overlay, text.replace("(production)", "(production, v3)")).unwrap();
    git_ok(
        &repo.dir,
        &["commit", "-q", "-am", "c3: prod values and overlay"],
    );
    git_ok(
        &repo.dir,
        &["push", "-q", "origin", "HEAD:refs/heads/env/prod"],
    );
    let c3 = git_ok(&repo.dir, &["rev-parse", "HEAD"]);
    git_ok(&repo.dir, &["reset", "-q", "--hard", &c2]);
    reqwest::Client::new()
        .post(format!("{url}/hooks/sync"))
        .send()
        .await
        .unwrap();
    status_until(&url, |s| {
        s["last_result"] == "success"
            && s["revision"]
                .as_str()
                .is_some_and(|r| c3.starts_with(r) || r.starts_with(&c3))
    })
    .await;
    let app = &list(prod, "/v1/applications").await;
    let app = by(app, "app_name", "Food Delivery");
    assert_eq!(
        app["app_description"], "Orders, couriers and restaurant partners (production, v3)",
        "{app}"
    );
    assert_eq!(
        app["login_uri"], "https://orders.food.example.com/login",
        "{app}"
    );
}
