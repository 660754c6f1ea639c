//! apply against a real `tenantsync serve`: SIGKILL at many points of a 200-object apply, a
//! fault-injecting proxy, stale and replayed saved plans, concurrent applies, and secret
//! canaries in every output and file.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::{json, Value};

use crate::fault_proxy::{FaultProxy, Hold, ProxyOptions};
use crate::harness::{on_both_backends, output_text as text, Api, Backend, KillOnDrop, Workspace};
use crate::support::{app_id, application_yaml};

type Setup = Workspace;

/// `apps` applications with a default client and three more: `apps * 4` objects.
pub(crate) fn write_tenant(dir: &Path, apps: usize) {
    for i in 0..apps {
        std::fs::write(
            dir.join(format!("app-{i:03}.yaml")),
            application_yaml(i, ""),
        )
        .unwrap();
    }
}

/// The live tenant equals the manifests: every app once, every client once, nothing else.
pub(crate) async fn assert_converged(api: &Api, apps: usize) {
    let live = api.get("/v1/applications").await.json()["result"].clone();
    let live = live.as_array().unwrap();
    let names: Vec<&str> = live
        .iter()
        .map(|a| a["app_name"].as_str().unwrap())
        .collect();
    let unique: BTreeSet<&str> = names.iter().copied().collect();
    assert_eq!(
        names.len(),
        unique.len(),
        "duplicate applications: {names:?}"
    );
    assert_eq!(
        names.len(),
        apps,
        "orphan or missing applications: {names:?}"
    );
    for app in live {
        let id = app["app_id"].as_str().unwrap();
        let clients = api
            .get(&format!("/v1/applications/{id}/clients"))
            .await
            .json();
        let client_names: BTreeSet<&str> = clients
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            clients.as_array().unwrap().len(),
            4,
            "{}: {clients}",
            app["app_name"]
        );
        assert_eq!(
            client_names,
            BTreeSet::from(["Admin", "Backend", "Web", "iOS"])
        );
    }
}

/// Starts `cmd` (an apply through `proxy`) and returns it once the server has carried out its
/// write `writes + 1`, whose answer the proxy holds: the apply is then certainly mid-run, and
/// stays there until the proxy lets the answers go, however fast or slow the machine is.
pub(crate) async fn held_mid_run(mut cmd: Command, proxy: &FaultProxy, writes: u64) -> KillOnDrop {
    proxy.hold(Hold::WritesAfter(writes));
    let held = proxy.held_so_far();
    let mut apply = KillOnDrop(cmd.stdout(Stdio::null()).spawn().unwrap());
    loop {
        tokio::select! {
            () = proxy.held(held + 1) => break,
            () = tokio::time::sleep(std::time::Duration::from_millis(50)) => {
                if let Some(status) = apply.0.try_wait().unwrap() {
                    panic!("the apply ended ({status}) before its write {}", writes + 1);
                }
            }
        }
    }
    assert!(
        apply.0.try_wait().unwrap().is_none(),
        "the apply went on without the answer to its write {}",
        writes + 1
    );
    apply
}

/// [`held_mid_run`], then SIGKILL: the kill lands mid-run, with a write done on the target and
/// unknown to the apply. The held answers are let go afterwards (to nobody).
pub(crate) async fn kill_mid_run(cmd: Command, proxy: &FaultProxy, writes: u64) {
    drop(held_mid_run(cmd, proxy, writes).await); // SIGKILL and reap
    proxy.release_all();
}

async fn sigkill_at_ten_points_never_duplicates(backend: Backend) {
    // Each point on a fresh tenant, so each kill lands in a run with all 200 objects to do:
    // after that many writes, with the next one done on the server and its answer held.
    for kill_after in [1u64, 3, 8, 15, 30, 50, 80, 110, 140, 170] {
        let s = Setup::with(backend);
        write_tenant(&s.manifests(), 50);
        let proxy = FaultProxy::start(s.upstream(), 0).await;
        let base = format!("http://{}/cis", proxy.addr);
        let mut cmd = s.command(
            &base,
            &["apply", "--yes", "--concurrency", "8", "--rate", "2000"],
        );
        cmd.arg(s.manifests()).stderr(Stdio::null());
        kill_mid_run(cmd, &proxy, kill_after).await;
        // On a shared state the killed run's database session ends a moment after the kill
        // (its advisory lock with it): the rerun waits for it rather than racing the server.
        let out = s.run(&["apply", "--yes", "--lock-timeout", "30s"]);
        assert_eq!(out.status.code(), Some(0), "{kill_after}: {}", text(&out));
        let out = s.run(&["plan", "--detailed-exitcode"]);
        assert_eq!(out.status.code(), Some(0), "{kill_after}: {}", text(&out));
        assert_converged(&s.api().await, 50).await;
    }
}

async fn crashes_against_a_target_without_idempotency_resolve_by_name(backend: Backend) {
    let s = Setup::with(backend);
    write_tenant(&s.manifests(), 20);
    let upstream = s.upstream();
    // Looks like upstream: a generic {"status":"ok"} health answer and no idempotency
    // advertisement, so POSTs must never be sent twice.
    let proxy = FaultProxy::start_with(
        upstream,
        ProxyOptions {
            upstream_like: true,
            ..ProxyOptions::default()
        },
    )
    .await;
    let base = format!("http://{}/cis", proxy.addr);
    // Points chosen so that each run, continuing the last, still has work left when killed;
    // each kill leaves a create done on the server that the killed run never heard of.
    for kill_after in [2u64, 10, 20, 5] {
        // Each run waits for the killed one's database session to end (shared state).
        let mut cmd = s.command(
            &base,
            &[
                "apply",
                "--yes",
                "--concurrency",
                "8",
                "--lock-timeout",
                "30s",
            ],
        );
        let log =
            std::fs::File::create(s.dir.path().join(format!("run-{kill_after}.log"))).unwrap();
        cmd.arg(s.manifests()).stderr(Stdio::from(log));
        kill_mid_run(cmd, &proxy, kill_after).await;
    }
    let logs: Vec<String> = [10u64, 20, 5]
        .iter()
        .map(|k| std::fs::read_to_string(s.dir.path().join(format!("run-{k}.log"))).unwrap())
        .collect();
    let resolved = logs
        .iter()
        .filter(|log| log.contains("an interrupted create"))
        .count();
    assert!(
        resolved > 0,
        "no run found interrupted creates to resolve:\n{}",
        logs.join("\n---\n")
    );
    let mut cmd = s.command(&base, &["apply", "--yes", "--lock-timeout", "30s"]);
    cmd.arg(s.manifests());
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let mut cmd = s.command(&base, &["plan", "--detailed-exitcode"]);
    cmd.arg(s.manifests());
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_converged(&s.api().await, 20).await;
    // No create was sent twice: every POST carried a key of its own.
    let posts = proxy.stats.posts();
    assert!(posts.len() >= 80, "{} POSTs", posts.len());
    let mut keys = BTreeSet::new();
    for post in &posts {
        let key = post.key.clone().expect("creates carry an Idempotency-Key");
        assert!(
            keys.insert(key.clone()),
            "POST {} re-sent blindly with key {key}",
            post.path
        );
    }
}

async fn faults_on_a_fifth_of_requests_converge_without_duplicates(backend: Backend) {
    let s = Setup::with(backend);
    write_tenant(&s.manifests(), 25);
    let upstream: std::net::SocketAddr = s
        .server
        .origin
        .trim_start_matches("http://")
        .parse()
        .unwrap();
    let proxy = FaultProxy::start(upstream, 20).await;
    let base = format!("http://{}/cis", proxy.addr);
    let mut attempts = 0;
    loop {
        attempts += 1;
        let mut cmd = s.command(&base, &["apply", "--yes"]);
        cmd.arg(s.manifests());
        let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
            .await
            .unwrap();
        if out.status.code() == Some(0) {
            break;
        }
        assert!(
            attempts < 8,
            "apply did not converge through faults:\n{}",
            text(&out)
        );
    }
    let mut cmd = s.command(&base, &["plan", "--detailed-exitcode"]);
    cmd.arg(s.manifests());
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    use std::sync::atomic::Ordering::Relaxed;
    assert!(
        proxy.stats.refused.load(Relaxed) + proxy.stats.dropped.load(Relaxed) > 5,
        "the proxy injected faults"
    );
    assert_converged(&s.api().await, 25).await;
}

async fn a_stale_saved_plan_is_refused_for_the_changed_object_only(backend: Backend) {
    let s = Setup::with(backend);
    write_tenant(&s.manifests(), 2);
    assert_eq!(s.run(&["apply", "--yes"]).status.code(), Some(0));
    for i in 0..2 {
        let f = s.manifests().join(format!("app-{i:03}.yaml"));
        let text = std::fs::read_to_string(&f).unwrap().replace(
            "app_name: App",
            "app_description: reviewed\n  app_name: App",
        );
        std::fs::write(&f, text).unwrap();
    }
    let plan_file = s.dir.path().join("plan.json");
    let out = s.run(&["plan", "--out", plan_file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // Someone edits App 0 after the plan was reviewed.
    let api = s.api().await;
    let apps = api.get("/v1/applications").await.json();
    let app0 = app_id(&apps, "App 0");
    api.put(
        &format!("/v1/applications/{app0}"),
        &json!({"app_description": "someone else's"}),
    )
    .await;
    let out = s.run(&["apply", "--yes", "--plan", plan_file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("changed on the target since the plan was made"),
        "{}",
        text(&out)
    );
    let app0_now = api.get(&format!("/v1/applications/{app0}")).await.json()["result"].clone();
    assert_eq!(
        app0_now["app_description"], "someone else's",
        "the changed object was written"
    );
    let app1 = app_id(&apps, "App 1");
    assert_eq!(
        api.get(&format!("/v1/applications/{app1}")).await.json()["result"]["app_description"],
        "reviewed"
    );
    // A plan for other manifests is refused up front.
    std::fs::write(
        s.manifests().join("app-000.yaml"),
        std::fs::read_to_string(s.manifests().join("app-000.yaml"))
            .unwrap()
            .replace("reviewed", "other"),
    )
    .unwrap();
    let out = s.run(&["apply", "--yes", "--plan", plan_file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("the manifests changed since the plan was made"),
        "{}",
        text(&out)
    );
}

async fn a_plan_made_on_an_empty_state_cannot_be_applied_twice(backend: Backend) {
    let s = Setup::with(backend);
    write_tenant(&s.manifests(), 1);
    let plan_file = s.dir.path().join("plan.json");
    assert_eq!(
        s.run(&["plan", "--out", plan_file.to_str().unwrap()])
            .status
            .code(),
        Some(0)
    );
    assert!(!s.state_written(), "plan created state");
    let out = s.run(&["apply", "--yes", "--plan", plan_file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = s.run(&["apply", "--yes", "--plan", plan_file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("was this plan applied already"),
        "{}",
        text(&out)
    );
    assert_converged(&s.api().await, 1).await;
}

async fn an_old_format_or_hand_edited_plan_is_refused_before_any_write(backend: Backend) {
    let s = Setup::with(backend);
    write_tenant(&s.manifests(), 2);
    let plan_file = s.dir.path().join("plan.json");
    let out = s.run(&["plan", "--out", plan_file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let saved: Value = serde_json::from_slice(&std::fs::read(&plan_file).unwrap()).unwrap();
    assert_eq!(saved["format_version"], 8);
    assert_eq!(saved["changes"][0]["phase"], "create_apps");

    let edited = s.dir.path().join("edited.json");
    let apply_edited = |plan: &Value| {
        std::fs::write(&edited, serde_json::to_vec(plan).unwrap()).unwrap();
        s.run(&["apply", "--yes", "--plan", edited.to_str().unwrap()])
    };
    // A plan saved by a version-1 tenantsync.
    let mut v1 = saved.clone();
    v1["format_version"] = json!(1);
    let out = apply_edited(&v1);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("older tenantsync (plan format 1)"),
        "{}",
        text(&out)
    );
    // An application's create moved after its clients' creates.
    let mut reordered = saved.clone();
    reordered["changes"][0]["phase"] = json!("delete_apps");
    let out = apply_edited(&reordered);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("is inconsistent"), "{}", text(&out));
    assert!(text(&out).contains("runs in CreateApps"), "{}", text(&out));
    // A create moved into `release` (only an application giving up a unique value runs there).
    let mut released = saved.clone();
    released["changes"][0]["phase"] = json!("release");
    let out = apply_edited(&released);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("runs in CreateApps"), "{}", text(&out));
    // The same object twice.
    let mut doubled = saved.clone();
    let first = doubled["changes"][0].clone();
    doubled["changes"].as_array_mut().unwrap().insert(0, first);
    let out = apply_edited(&doubled);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("changed twice"), "{}", text(&out));

    assert!(!s.state_written(), "a refused plan created state");
    assert_converged(&s.api().await, 0).await;
    // The untouched plan still applies, also as the previous release wrote it (format 5, which
    // had no `release` phase).
    let mut v5 = saved.clone();
    v5["format_version"] = json!(5);
    let out = apply_edited(&v5);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_converged(&s.api().await, 2).await;
}

async fn a_second_apply_on_the_same_state_fails_at_once(backend: Backend) {
    let s = Setup::with(backend);
    write_tenant(&s.manifests(), 30);
    let proxy = FaultProxy::start(s.upstream(), 0).await;
    let mut cmd = s.command(&format!("http://{}/cis", proxy.addr), &["apply", "--yes"]);
    cmd.arg(s.manifests()).stderr(Stdio::null());
    // The first apply holds the lock, stopped mid-run at the proxy until the end.
    let mut first = held_mid_run(cmd, &proxy, 1).await;
    let mut second = s.command(&s.server.base, &["apply", "--yes"]);
    second.arg(s.manifests());
    let out = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        tokio::task::spawn_blocking(move || second.output().unwrap()),
    )
    .await
    .expect("the second apply waited for the first to finish")
    .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains(s.lock_refusal()), "{}", text(&out));
    assert!(
        first.0.try_wait().unwrap().is_none(),
        "the first apply is still running"
    );
    proxy.release_all();
}

async fn client_secrets_never_leave_the_server(backend: Backend) {
    let s = Setup::with(backend);
    write_tenant(&s.manifests(), 3);
    let trace = |args: &[&str]| {
        let mut cmd = s.command(&s.server.base, args);
        cmd.arg(s.manifests()).env("RUST_LOG", "trace");
        cmd.output().unwrap()
    };
    let plan_file = s.dir.path().join("plan.json");
    let mut outputs = vec![trace(&["apply", "--yes"])];
    // Drift, so the next plan and apply show live values.
    let api = s.api().await;
    let apps = api.get("/v1/applications").await.json()["result"].clone();
    for app in apps.as_array().unwrap() {
        let id = app["app_id"].as_str().unwrap();
        for c in api
            .get(&format!("/v1/applications/{id}/clients"))
            .await
            .json()
            .as_array()
            .unwrap()
        {
            let cid = c["client_id"].as_str().unwrap();
            api.put(
                &format!("/v1/applications/{id}/clients/{cid}"),
                &json!({"description": "drift"}),
            )
            .await;
        }
    }
    outputs.push(trace(&["plan", "--out", plan_file.to_str().unwrap()]));
    outputs.push(trace(&["plan", "--format", "json"]));
    outputs.push(trace(&["plan", "--format", "markdown"]));
    outputs.push(trace(&[
        "apply",
        "--yes",
        "--plan",
        plan_file.to_str().unwrap(),
    ]));
    outputs.push(trace(&["apply", "--yes", "--format", "json"]));
    let history = s
        .command(&s.server.base, &["history", "--format", "json"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&history.stdout).contains("\"mode\""),
        "history recorded"
    );
    outputs.push(history);

    let mut secrets = Vec::new();
    for app in api.get("/v1/applications").await.json()["result"]
        .as_array()
        .unwrap()
    {
        let id = app["app_id"].as_str().unwrap();
        for c in api
            .get(&format!("/v1/applications/{id}/clients"))
            .await
            .json()
            .as_array()
            .unwrap()
        {
            secrets.push(c["client_secret"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(secrets.len(), 12);
    let mut haystacks: Vec<Vec<u8>> = outputs
        .iter()
        .flat_map(|o| [o.stdout.clone(), o.stderr.clone()])
        .collect();
    haystacks.push(std::fs::read(&plan_file).unwrap());
    let state = s.state_contents();
    assert!(!state.is_empty());
    haystacks.push(state);
    for secret in &secrets {
        for h in &haystacks {
            assert!(
                !h.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "a client secret leaked"
            );
        }
    }
    let logs = String::from_utf8_lossy(&outputs[0].stderr).to_string();
    assert!(
        logs.contains("TRACE") || logs.contains("DEBUG") || logs.contains("INFO"),
        "logs were produced"
    );
}

on_both_backends!(
    sigkill_at_ten_points_never_duplicates,
    crashes_against_a_target_without_idempotency_resolve_by_name,
    faults_on_a_fifth_of_requests_converge_without_duplicates,
    a_stale_saved_plan_is_refused_for_the_changed_object_only,
    a_plan_made_on_an_empty_state_cannot_be_applied_twice,
    an_old_format_or_hand_edited_plan_is_refused_before_any_write,
    a_second_apply_on_the_same_state_fails_at_once,
    client_secrets_never_leave_the_server,
);
