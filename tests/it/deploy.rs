//! deploy/ and packaging: every YAML parses, Kubernetes objects carry probes, resources and a
//! restrictive security context, the GitHub workflow uses only commands and flags the binary
//! has, systemd units verify, the PR plan step works against the bundled server, completions
//! load in bash and the man page renders.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize as _;
use serde_json::Value;

use crate::harness::{bin, run_kube_hook, serve_in_background, Server};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            yaml_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(p);
        }
    }
}

fn documents(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    serde_yaml::Deserializer::from_str(&text)
        .map(|d| {
            serde_json::to_value(
                serde_yaml::Value::deserialize(d)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display())),
            )
            .unwrap()
        })
        .filter(|v| !v.is_null())
        .collect()
}

#[test]
fn every_yaml_under_deploy_parses() {
    let mut files = Vec::new();
    yaml_files(&root().join("deploy"), &mut files);
    assert!(files.len() >= 4, "{files:?}");
    for f in files {
        assert!(!documents(&f).is_empty(), "{} is empty", f.display());
    }
}

#[test]
fn kubernetes_workloads_are_probed_limited_and_locked_down() {
    let mut deployments = Vec::new();
    let mut files = Vec::new();
    yaml_files(&root().join("deploy/kubernetes"), &mut files);
    for f in &files {
        for doc in documents(f) {
            assert!(
                doc["apiVersion"].is_string()
                    && doc["kind"].is_string()
                    && doc["metadata"]["name"].is_string(),
                "{}",
                f.display()
            );
            if doc["kind"] == "Deployment" {
                let file = f.file_name().unwrap().to_string_lossy().into_owned();
                deployments.push((file, doc));
            }
        }
    }
    let files: Vec<&str> = deployments.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(
        files.len(),
        3,
        "the daemon (single and HA) and the optional staging server: {files:?}"
    );
    for (file, d) in &deployments {
        let name = format!("{file}: {}", d["metadata"]["name"].as_str().unwrap());
        let pod = &d["spec"]["template"]["spec"];
        let on_pvc = pod["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["persistentVolumeClaim"].is_object());
        if file == "sync-ha.yaml" {
            // Replicas share a PostgreSQL state and elect a leader.
            assert_eq!(d["spec"]["replicas"], 2, "{name}");
            assert_eq!(d["spec"]["strategy"]["type"], "RollingUpdate", "{name}");
            assert!(!on_pvc, "{name}: no local state to share");
        } else {
            assert_eq!(d["spec"]["replicas"], 1, "{name}: one writer per state");
            assert_eq!(d["spec"]["strategy"]["type"], "Recreate", "{name}");
            assert!(on_pvc, "{name}: state on a PVC");
        }
        assert_eq!(pod["securityContext"]["runAsNonRoot"], true, "{name}");
        assert_eq!(
            d["spec"]["template"]["metadata"]["annotations"]["prometheus.io/scrape"], "true",
            "{name}"
        );
        for c in pod["containers"].as_array().unwrap() {
            for probe in ["livenessProbe", "readinessProbe"] {
                assert!(c[probe]["httpGet"]["path"].is_string(), "{name}: {probe}");
            }
            assert!(
                c["resources"]["requests"]["memory"].is_string()
                    && c["resources"]["limits"]["memory"].is_string(),
                "{name}: resources"
            );
            let sc = &c["securityContext"];
            assert_eq!(sc["readOnlyRootFilesystem"], true, "{name}");
            assert_eq!(sc["allowPrivilegeEscalation"], false, "{name}");
            assert_eq!(sc["capabilities"]["drop"][0], "ALL", "{name}");
            let env = c["env"].to_string();
            assert!(
                !env.contains("\"value\":\"REPLACE"),
                "{name}: credentials come from Secrets"
            );
        }
    }

    // The HA variant: the database URL from a Secret, a leader timeout, and a disruption budget
    // that always leaves one replica to lead.
    let (_, ha) = deployments
        .iter()
        .find(|(f, _)| f == "sync-ha.yaml")
        .unwrap();
    let c = &ha["spec"]["template"]["spec"]["containers"][0];
    let state = c["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "TENANTSYNC_STATE")
        .expect("TENANTSYNC_STATE");
    assert_eq!(
        state["valueFrom"]["secretKeyRef"]["name"],
        "tenantsync-state"
    );
    assert!(c["args"].to_string().contains("--leader-timeout="));
    let help = help(&["sync", "--help"]);
    assert!(help.contains("--leader-timeout"), "the binary has the flag");
    let pdb = documents(&root().join("deploy/kubernetes/sync-ha.yaml"))
        .into_iter()
        .find(|d| d["kind"] == "PodDisruptionBudget")
        .expect("a PodDisruptionBudget");
    assert_eq!(pdb["spec"]["minAvailable"], 1);
    assert_eq!(
        pdb["spec"]["selector"]["matchLabels"],
        ha["spec"]["selector"]["matchLabels"]
    );
    let secrets =
        std::fs::read_to_string(root().join("deploy/kubernetes/secrets.example.yaml")).unwrap();
    assert!(secrets.contains("name: tenantsync-state"));

    let (_, sync) = deployments.iter().find(|(f, _)| f == "sync.yaml").unwrap();
    let c = &sync["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert!(c["args"].to_string().contains("--git="));
    assert!(c["env"].to_string().contains("secretKeyRef"));
    // Git credentials by file (never in the URL or argv), hooks signed.
    let args = c["args"].to_string();
    assert!(args.contains("--git-credentials-file=") && args.contains("--webhook-secret-file="));
    let secrets =
        std::fs::read_to_string(root().join("deploy/kubernetes/secrets.example.yaml")).unwrap();
    assert!(
        !secrets.contains("@github.com"),
        "no credentials in the example URL"
    );
    let staging =
        std::fs::read_to_string(root().join("deploy/kubernetes/staging-server.yaml")).unwrap();
    assert!(
        staging.contains("tenantsync-staging-credentials")
            && !staging.contains("name: tenantsync-credentials"),
        "the staging server has credentials of its own"
    );
}

#[test]
fn pull_requests_plan_with_a_read_only_credential_and_never_for_forks() {
    let workflow = &documents(&root().join("deploy/github-actions/tenantsync.yml"))[0];
    assert!(
        workflow["env"].get("TENANTSYNC_CLIENT_SECRET").is_none(),
        "no credential at workflow level"
    );
    let plan = &workflow["jobs"]["plan"];
    let condition = plan["if"].as_str().unwrap();
    assert!(
        condition.contains("head.repo.full_name == github.repository"),
        "{condition}"
    );
    assert_eq!(
        plan["env"]["TENANTSYNC_CLIENT_SECRET"],
        "${{ secrets.TENANTSYNC_PLAN_CLIENT_SECRET }}"
    );
    let apply = &workflow["jobs"]["apply"];
    assert!(apply["if"].as_str().unwrap().contains("refs/heads/main"));
    assert_eq!(
        apply["env"]["TENANTSYNC_CLIENT_SECRET"],
        "${{ secrets.TENANTSYNC_CLIENT_SECRET }}"
    );
}

fn help(args: &[&str]) -> String {
    let out = Command::new(bin())
        .args(args)
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success(), "{args:?} --help failed");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_workflow_uses_only_commands_and_flags_the_binary_has() {
    let workflow = &documents(&root().join("deploy/github-actions/tenantsync.yml"))[0];
    let mut scripts: Vec<String> = Vec::new();
    for job in workflow["jobs"].as_object().unwrap().values() {
        for step in job["steps"].as_array().unwrap() {
            if let Some(run) = step["run"].as_str() {
                scripts.push(run.to_owned());
            }
        }
    }
    scripts.push(
        std::fs::read_to_string(root().join("deploy/github-actions/plan-comment.sh")).unwrap(),
    );
    let top = help(&[]);
    let mut checked = BTreeSet::new();
    for script in &scripts {
        for line in script.lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            for (i, w) in words.iter().enumerate() {
                if *w != "tenantsync"
                    || i + 1 >= words.len()
                    || words[i.saturating_sub(1)] == "install"
                {
                    continue;
                }
                let sub = words[i + 1];
                if sub.starts_with('-') || sub == "tenantsync" {
                    continue;
                }
                assert!(
                    top.contains(&format!("  {sub} ")),
                    "the workflow runs `tenantsync {sub}`, which does not exist"
                );
                let sub_help = help(&[sub]);
                for flag in words[i + 2..].iter().filter(|f| f.starts_with("--")) {
                    let flag = flag.split('=').next().unwrap();
                    assert!(
                        sub_help.contains(flag),
                        "`tenantsync {sub}` has no flag {flag}"
                    );
                    checked.insert(format!("{sub} {flag}"));
                }
                checked.insert(sub.to_owned());
            }
        }
    }
    for expected in [
        "validate",
        "plan --format",
        "plan --detailed-exitcode",
        "apply --yes",
        "history --limit",
    ] {
        assert!(
            checked.contains(expected),
            "the workflow should run `{expected}`: {checked:?}"
        );
    }
}

#[test]
fn the_action_and_the_pre_commit_hooks_run_only_commands_and_flags_the_binary_has() {
    let action = &documents(&root().join("action.yml"))[0];
    assert_eq!(action["runs"]["using"], "composite");
    for input in ["command", "env", "args", "comment"] {
        assert!(action["inputs"].get(input).is_some(), "input {input}");
    }
    let run: String = action["runs"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["run"].as_str())
        .collect();
    assert!(
        run.contains("tenantsync plan --format markdown $ARGS"),
        "{run}"
    );
    assert!(help(&["plan"]).contains("--all-envs"));
    let hooks = &documents(&root().join(".pre-commit-hooks.yaml"))[0];
    let hooks = hooks.as_array().unwrap();
    assert_eq!(hooks.len(), 2);
    for hook in hooks {
        let entry: Vec<&str> = hook["entry"].as_str().unwrap().split_whitespace().collect();
        assert_eq!(entry[0], "tenantsync");
        let sub_help = help(&[entry[1]]);
        for flag in entry[2..].iter().filter(|f| f.starts_with("--")) {
            assert!(sub_help.contains(flag), "{entry:?}");
        }
        assert_eq!(hook["pass_filenames"], false);
    }
}

#[test]
fn systemd_units_verify() {
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        // CI installs systemd (.ci/run); there the check must run.
        assert!(
            std::env::var_os("CI").is_none(),
            "systemd-analyze is missing on CI: .ci/run must install Debian's systemd"
        );
        eprintln!("SKIPPED systemd_units_verify: systemd-analyze is not installed on this machine");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for unit in ["tenantsync-sync.service", "tenantsync-serve.service"] {
        let text = std::fs::read_to_string(root().join("deploy/systemd").join(unit)).unwrap();
        assert!(
            text.contains("NoNewPrivileges=yes") && text.contains("ProtectSystem=strict"),
            "{unit} is hardened"
        );
        let path = dir.path().join(unit);
        std::fs::write(&path, text.replace("/usr/local/bin/tenantsync", bin())).unwrap();
        let out = Command::new("systemd-analyze")
            .arg("verify")
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{unit}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[tokio::test]
async fn the_pull_request_plan_step_writes_the_comment_body() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("server"));
    let (id, secret) = server.admin_credentials();
    let bin_dir = Path::new(bin()).parent().unwrap();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap());
    let step = |manifests: &Path, out: &Path| {
        Command::new("bash")
            .arg(root().join("deploy/github-actions/plan-comment.sh"))
            .arg(manifests)
            .arg(out)
            .env("PATH", &path)
            .env("TENANTSYNC_TARGET", &server.base)
            .env("TENANTSYNC_CLIENT_ID", &id)
            .env("TENANTSYNC_CLIENT_SECRET", &secret)
            .env("TENANTSYNC_STATE_DIR", dir.path().join("state"))
            .output()
            .unwrap()
    };
    let comment = dir.path().join("comment.md");
    let out = step(&root().join("manifests"), &comment);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let body = std::fs::read_to_string(&comment).unwrap();
    assert!(body.starts_with("<!-- tenantsync-plan -->"), "{body}");
    assert!(body.contains("| create | update | delete | adopt | unchanged | kept (not deleted) |"));
    assert!(
        body.contains(
            "<details><summary><code>+ create Application/food-delivery</code></summary>"
        ),
        "{body}"
    );
    assert!(
        body.contains("`Plan: 17 to create, 0 to update, 0 to delete, 1 to adopt.`"),
        "{body}"
    );
    assert!(body.contains("_Merging applies this plan._"));

    let bad = dir.path().join("bad");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(
        bad.join("x.yaml"),
        "apiVersion: tenantsync/v1\nkind: Application\nmetadata: {name: x}\nspec: {app_nam: X}\n",
    )
    .unwrap();
    let out = step(&bad, &comment);
    assert_eq!(out.status.code(), Some(1));
    let body = std::fs::read_to_string(&comment).unwrap();
    assert!(
        body.contains("### tenantsync plan failed") && body.contains("did you mean `app_name`"),
        "{body}"
    );
}

#[test]
fn completions_load_and_the_man_page_renders() {
    let bash = Command::new(bin())
        .args(["completions", "bash"])
        .output()
        .unwrap();
    assert!(bash.status.success() && bash.stdout.len() > 1000);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tenantsync.bash");
    std::fs::write(&file, &bash.stdout).unwrap();
    let check = Command::new("bash").arg("-n").arg(&file).output().unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let load = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source {} && complete -p tenantsync",
            file.display()
        ))
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&load.stdout).contains("tenantsync"),
        "the completion registers"
    );
    for shell in ["zsh", "fish"] {
        let out = Command::new(bin())
            .args(["completions", shell])
            .output()
            .unwrap();
        assert!(
            out.status.success() && String::from_utf8_lossy(&out.stdout).contains("tenantsync")
        );
    }
    let man = Command::new(bin()).arg("man").output().unwrap();
    assert!(man.status.success());
    let page = dir.path().join("tenantsync.1");
    std::fs::write(&page, &man.stdout).unwrap();
    let rendered = if Command::new("groff").arg("--version").output().is_ok() {
        Command::new("groff")
            .args(["-man", "-Tutf8"])
            .arg(&page)
            .output()
            .unwrap()
    } else {
        Command::new("man")
            .arg("-l")
            .arg(&page)
            .env("MANPAGER", "cat")
            .output()
            .unwrap()
    };
    assert!(rendered.status.success());
    let text = String::from_utf8_lossy(&rendered.stdout);
    assert!(
        text.contains("tenantsync") && text.contains("SYNOPSIS") || text.contains("S\u{8}SY"),
        "{text}"
    );
}

/// The Kubernetes example's delivery script, run as the daemon runs it (the JSON event on
/// stdin) against a recording stand-in for the API server: a created event becomes a
/// server-side apply of `oauth-<app>-<client>-<hash>` with the id and secret, a deleted event a
/// DELETE.
#[tokio::test]
async fn the_kubernetes_delivery_script_writes_and_deletes_the_secret() {
    use axum::extract::{Request, State};
    use std::sync::{Arc, Mutex};

    type Seen = Arc<Mutex<Vec<(String, String, String, String)>>>;
    let seen: Seen = Arc::default();
    async fn record(State(seen): State<Seen>, request: Request) -> &'static str {
        let (parts, body) = request.into_parts();
        let body = axum::body::to_bytes(body, 1 << 20).await.unwrap();
        let auth = parts.headers["authorization"].to_str().unwrap().to_owned();
        seen.lock().unwrap().push((
            parts.method.to_string(),
            parts.uri.to_string(),
            auth,
            String::from_utf8_lossy(&body).into_owned(),
        ));
        "{}"
    }
    let app = axum::Router::new()
        .fallback(record)
        .with_state(seen.clone());
    let addr = serve_in_background(app).await;

    let config = documents(&root().join("deploy/kubernetes/common.yaml"))
        .into_iter()
        .find(|d| d["kind"] == "ConfigMap" && d["metadata"]["name"] == "tenantsync-deliver")
        .expect("the delivery script's ConfigMap");
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("deliver-secret.sh");
    std::fs::write(
        &script,
        config["data"]["deliver-secret.sh"].as_str().unwrap(),
    )
    .unwrap();
    let api_dir = dir.path().join("kube-api");
    std::fs::create_dir(&api_dir).unwrap();
    std::fs::write(api_dir.join("token"), "sa-token").unwrap();
    std::fs::write(api_dir.join("ca.crt"), "").unwrap();
    std::fs::write(api_dir.join("namespace"), "idp").unwrap();
    let run = |event: Value| {
        let (script, api_dir) = (script.clone(), api_dir.clone());
        async move {
            tokio::task::spawn_blocking(move || run_kube_hook(&script, addr, &api_dir, &event))
                .await
                .unwrap()
        }
    };
    let created = serde_json::json!({"event": "created", "object": "Client/shop/Web App", "app_id": "a1",
        "client_id": "c1", "client_secret": "canary-secret", "token_url": "https://idp/oidc/token"});
    assert!(run(created).await.success());
    let deleted = serde_json::json!({"event": "deleted", "object": "Client/shop/Web App", "app_id": "a1", "client_id": "c1"});
    assert!(run(deleted).await.success());

    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "{seen:?}");
    let (method, uri, auth, body) = &seen[0];
    assert_eq!(method, "PATCH");
    assert_eq!(
        uri,
        "/api/v1/namespaces/idp/secrets/oauth-shop-web-app-72899d1c20?fieldManager=tenantsync&force=true"
    );
    assert_eq!(auth, "Bearer sa-token");
    let secret: Value = serde_json::from_str(body).unwrap();
    assert_eq!(secret["kind"], "Secret");
    assert_eq!(secret["stringData"]["CLIENT_ID"], "c1");
    assert_eq!(secret["stringData"]["CLIENT_SECRET"], "canary-secret");
    assert_eq!(
        secret["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "tenantsync"
    );
    assert_eq!(seen[1].0, "DELETE");
    assert_eq!(
        seen[1].1,
        "/api/v1/namespaces/idp/secrets/oauth-shop-web-app-72899d1c20"
    );
}
