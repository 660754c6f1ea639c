//! plan / apply through the real binary, the same scenarios against the embedded `local` target
//! and against `http` to a real `tenantsync serve`: no noise after apply, whole-object updates,
//! drift, adoption, prune and its guards, exit codes, and plan writing nothing.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{json, Value};

use crate::harness::{bin, Api, Backend, Server};
use crate::postgres::Postgres;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Local,
    Http,
}

struct Scenario {
    dir: tempfile::TempDir,
    server: Option<Server>,
    /// The PostgreSQL server holding the state, when the scenario runs on one.
    postgres: Option<Postgres>,
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

impl Scenario {
    fn new(kind: Kind, backend: Backend) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("manifests")).unwrap();
        let server = (kind == Kind::Http).then(|| Server::start(&dir.path().join("server")));
        let postgres = (backend == Backend::Postgres).then(Postgres::start);
        Self {
            dir,
            server,
            postgres,
        }
    }

    /// Points `cmd` at the scenario's state.
    fn with_state<'c>(&self, cmd: &'c mut Command) -> &'c mut Command {
        if let Some(pg) = &self.postgres {
            cmd.env("TENANTSYNC_STATE", pg.url());
        }
        cmd
    }

    fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    fn manifests(&self) -> PathBuf {
        self.dir.path().join("manifests")
    }

    fn write(&self, name: &str, yaml: &str) {
        std::fs::write(self.manifests().join(name), yaml).unwrap();
    }

    fn remove(&self, name: &str) {
        std::fs::remove_file(self.manifests().join(name)).unwrap();
    }

    fn run(&self, args: &[&str]) -> Output {
        let mut cmd = match &self.server {
            Some(s) => s.cli(&self.state_dir(), &s.base),
            None => {
                let mut cmd = Command::new(bin());
                cmd.arg("--state-dir")
                    .arg(self.state_dir())
                    .arg("--target")
                    .arg("local");
                cmd
            }
        };
        self.with_state(&mut cmd)
            .args(args)
            .arg(self.manifests())
            .env("RUST_LOG", "warn")
            .env("NO_COLOR", "1");
        cmd.output().unwrap()
    }

    /// Runs `f` with an API client on the live tenant. For `local`, the embedded tenant is served
    /// over HTTP for the duration (no tenantsync command is running then).
    async fn with_api<F, Fut, T>(&self, f: F) -> T
    where
        F: FnOnce(Api) -> Fut,
        Fut: std::future::Future<Output = T>,
    {
        match &self.server {
            Some(s) => f(s.api(&s.admin_token().await)).await,
            None => {
                let mut s = Server::start(&self.state_dir().join("local"));
                let out = f(s.api(&s.admin_token().await)).await;
                assert_eq!(s.terminate().code(), Some(0));
                out
            }
        }
    }

    /// Everything observable: the state entries and every live app and client.
    async fn snapshot(&self) -> (String, Value) {
        let state = self.run_plain(&["state", "list"]);
        let live = self
            .with_api(|api| async move {
                let apps = api.get("/v1/applications").await.json()["result"].clone();
                let mut all = Vec::new();
                for app in apps.as_array().unwrap() {
                    let id = app["app_id"].as_str().unwrap();
                    all.push(json!({"app": api.get(&format!("/v1/applications/{id}")).await.json(),
                                    "clients": api.get(&format!("/v1/applications/{id}/clients")).await.json()}));
                }
                Value::Array(all)
            })
            .await;
        (state, live)
    }

    fn run_plain(&self, args: &[&str]) -> String {
        let mut cmd = Command::new(bin());
        let out = self
            .with_state(&mut cmd)
            .arg("--state-dir")
            .arg(self.state_dir())
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

const SHOP: &str = r#"apiVersion: tenantsync/v1
kind: Application
metadata: {name: shop}
spec:
  app_name: Shop
  app_description: Online shop
  clients:
    - name: Web
      redirect_uris: [https://shop.example.com/cb]
      token_expiration:
        access_token_ttl: 3600
        refresh_token_ttl: 1209600
    - name: iOS
      client_type: native
      redirect_uris: [com.example.shop://cb]
      pkce: enforcePkceInsteadOfClientCredentials
"#;

const BLOG: &str = r#"apiVersion: tenantsync/v1
kind: Application
metadata: {name: blog}
spec:
  app_name: Blog
  clients:
    - name: Web
      redirect_uris: [https://blog.example.com/cb]
"#;

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

async fn scenario(kind: Kind, backend: Backend) {
    let s = Scenario::new(kind, backend);
    s.write("shop.yaml", SHOP);
    s.write("blog.yaml", BLOG);

    // First plan: changes (exit 2), and nothing is written anywhere.
    let out = s.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(code(&out), 2, "{}", text(&out));
    assert!(
        text(&out).contains("Plan: 3 to create, 0 to update, 0 to delete, 0 to adopt."),
        "{}",
        text(&out)
    );
    if kind == Kind::Local {
        assert!(!s.state_dir().exists(), "plan created the state directory");
    }

    let out = s.run(&["apply", "--yes"]);
    assert_eq!(code(&out), 0, "{}", text(&out));

    // No noise: server defaults and unmanaged fields never show.
    let out = s.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(text(&out).contains("No changes"), "{}", text(&out));

    // A nested change: the whole object is sent; plan itself writes nothing.
    s.write(
        "shop.yaml",
        &SHOP.replace("access_token_ttl: 3600", "access_token_ttl: 60"),
    );
    let before = s.snapshot().await;
    let out = s.run(&["plan", "--detailed-exitcode", "--format", "json"]);
    assert_eq!(code(&out), 2, "{}", text(&out));
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["summary"]["update"], 1);
    assert_eq!(
        plan["changes"][0]["body"],
        json!({"token_expiration": {"access_token_ttl": 60, "refresh_token_ttl": 1209600}})
    );
    assert_eq!(
        s.snapshot().await,
        before,
        "plan changed the state or the target"
    );
    assert_eq!(code(&s.run(&["apply", "--yes"])), 0);
    assert_eq!(code(&s.run(&["plan", "--detailed-exitcode"])), 0);

    // Drift: a change made through the API shows as drift and apply corrects it.
    s.with_api(|api| async move {
        let apps = api.get("/v1/applications").await.json()["result"].clone();
        let shop = apps
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["app_name"] == "Shop")
            .unwrap()
            .clone();
        let r = api
            .put(
                &format!("/v1/applications/{}", shop["app_id"].as_str().unwrap()),
                &json!({"app_description": "edited in the portal"}),
            )
            .await;
        assert_eq!(r.status, 200);
    })
    .await;
    let out = s.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(code(&out), 2);
    assert!(
        text(&out).contains("[drift]")
            && text(&out).contains("\"edited in the portal\" → \"Online shop\""),
        "{}",
        text(&out)
    );
    assert_eq!(code(&s.run(&["apply", "--yes"])), 0);
    assert_eq!(code(&s.run(&["plan", "--detailed-exitcode"])), 0);

    // Adoption: an app created outside tenantsync with the manifest's name is adopted, not duplicated.
    s.with_api(|api| async move {
        api.create_app(&json!({"app_name": "Docs", "client_display_name": "Web", "first_client": {"name": "Web", "redirect_uris": ["https://docs.example.com/cb"]}})).await;
    })
    .await;
    s.write(
        "docs.yaml",
        "apiVersion: tenantsync/v1\nkind: Application\nmetadata: {name: docs}\nspec:\n  app_name: Docs\n  app_description: Manuals\n  clients:\n    - name: Web\n      redirect_uris: [https://docs.example.com/cb]\n",
    );
    let out = s.run(&["plan"]);
    assert!(
        text(&out).contains("Plan: 0 to create, 0 to update, 0 to delete, 2 to adopt."),
        "{}",
        text(&out)
    );
    assert_eq!(code(&s.run(&["apply", "--yes"])), 0);
    assert_eq!(code(&s.run(&["plan", "--detailed-exitcode"])), 0);
    let apps = s
        .with_api(|api| async move { api.get("/v1/applications").await.json()["result"].clone() })
        .await;
    assert_eq!(apps.as_array().unwrap().len(), 3, "adopted, not duplicated");
    assert!(s.run_plain(&["state", "list"]).contains("Application/docs"));

    // Prune: without --prune deletions are only listed; the guard refuses too many.
    s.remove("blog.yaml");
    let out = s.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(
        text(&out).contains("Application/blog kept: no longer in the manifests; run with --prune"),
        "{}",
        text(&out)
    );
    let out = s.run(&["plan", "--prune", "--max-deletes", "0"]);
    assert_eq!(code(&out), 1);
    assert!(
        text(&out).contains("more than --max-deletes 0"),
        "{}",
        text(&out)
    );
    let out = s.run(&["apply", "--yes", "--prune"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_eq!(code(&s.run(&["plan", "--detailed-exitcode", "--prune"])), 0);
    let apps = s
        .with_api(|api| async move { api.get("/v1/applications").await.json()["result"].clone() })
        .await;
    let names: Vec<&str> = apps
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["app_name"].as_str().unwrap())
        .collect();
    assert!(!names.contains(&"Blog"), "{names:?}");
    assert!(!s.run_plain(&["state", "list"]).contains("Application/blog"));

    // An empty manifest set never deletes, even with --prune.
    for f in ["shop.yaml", "docs.yaml"] {
        s.remove(f);
    }
    let out = s.run(&["plan", "--prune", "--detailed-exitcode"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(
        text(&out).contains("manifest set is empty"),
        "{}",
        text(&out)
    );

    // Invalid manifests: exit 1, nothing planned.
    s.write(
        "bad.yaml",
        "apiVersion: tenantsync/v1\nkind: Application\nmetadata: {name: x}\nspec: {app_nam: X}\n",
    );
    let out = s.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(code(&out), 1);
    assert!(text(&out).contains("did you mean `app_name`"));
}

#[tokio::test]
async fn scenario_against_the_local_target() {
    scenario(Kind::Local, Backend::Local).await;
}

#[tokio::test]
async fn scenario_against_the_http_target() {
    scenario(Kind::Http, Backend::Local).await;
}

#[tokio::test]
async fn scenario_against_the_http_target_with_a_postgresql_state() {
    scenario(Kind::Http, Backend::Postgres).await;
}

#[tokio::test]
async fn example_manifests_apply_then_plan_is_empty_and_apply_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("server"));
    let run = |args: &[&str]| {
        server
            .cli(&dir.path().join("state"), &server.base)
            .args(args)
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("manifests"))
            .output()
            .unwrap()
    };
    let out = run(&["apply", "--yes"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_eq!(code(&run(&["plan", "--detailed-exitcode"])), 0);
    let writes = |m: &str| -> f64 {
        ["POST", "PUT", "DELETE"]
            .iter()
            .map(|method| {
                tenantsync::telemetry::prometheus::sample(
                    m,
                    "tenantsync_server_requests_total",
                    &[("method", method)],
                )
                .unwrap_or(0.0)
            })
            .sum::<f64>()
            - tenantsync::telemetry::prometheus::sample(
                m,
                "tenantsync_server_requests_total",
                &[("route", "/oidc/token")],
            )
            .unwrap_or(0.0)
    };
    let before = writes(&server.metrics().await);
    let out = run(&["apply", "--yes"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_eq!(
        writes(&server.metrics().await),
        before,
        "a second apply wrote to the target"
    );
}
