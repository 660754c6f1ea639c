//! Issue 24, plan and doctor: `Client/DOCUMENT` addresses, creates refused when the credential
//! cannot see the whole tenant, prune refusing to cascade into clients tenantsync never managed,
//! control characters and markdown in rendered values, and `doctor --write`'s token-lifetime
//! units check (through a small proxy of this file's own that stretches token lifetimes).

use std::path::Path;

use serde_json::{json, Value};

use crate::harness::{output_text, Workspace};

/// Copies the repository's example manifests (with `manifests/clients/`) into `to`.
fn copy_examples(to: &Path) {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("manifests");
    let mut stack = vec![(from, to.to_owned())];
    while let Some((src, dst)) = stack.pop() {
        std::fs::create_dir_all(&dst).unwrap();
        for entry in std::fs::read_dir(&src).unwrap() {
            let path = entry.unwrap().path();
            let target = dst.join(path.file_name().unwrap());
            if path.is_dir() {
                stack.push((path, target));
            } else {
                std::fs::copy(&path, &target).unwrap();
            }
        }
    }
}

#[tokio::test]
async fn a_client_document_is_addressed_by_its_metadata_name() {
    let ws = Workspace::new();
    copy_examples(&ws.manifests());
    let applied = ws.run(&["apply", "--yes"]);
    assert!(applied.status.success(), "{}", output_text(&applied));
    let manifests = ws.manifests().display().to_string();
    let by_document = ws
        .command(
            &ws.server.base,
            &[
                "credentials",
                "Client/partner-portal-support-console",
                "--manifests",
                &manifests,
            ],
        )
        .output()
        .unwrap();
    assert!(
        by_document.status.success(),
        "{}",
        output_text(&by_document)
    );
    let by_address = ws
        .command(
            &ws.server.base,
            &["credentials", "Client/partner-portal/Support console"],
        )
        .output()
        .unwrap();
    assert!(by_address.status.success(), "{}", output_text(&by_address));
    let shown = String::from_utf8(by_document.stdout).unwrap();
    assert_eq!(shown, String::from_utf8(by_address.stdout).unwrap());
    assert!(
        shown.contains("PARTNER_PORTAL_SUPPORT_CONSOLE_CLIENT_ID='"),
        "{shown}"
    );
    // The state commands read the same form.
    let state = ws
        .command(
            &ws.server.base,
            &[
                "state",
                "show",
                "Client/partner-portal-support-console",
                "--manifests",
                &manifests,
            ],
        )
        .output()
        .unwrap();
    assert!(state.status.success(), "{}", output_text(&state));
    let entry: Value = serde_json::from_slice(&state.stdout).unwrap();
    assert_eq!(
        entry["address"],
        json!({"kind": "Client", "app": "partner-portal", "client": "Support console"})
    );
    // An unknown document is named, with the forms that work.
    let unknown = ws
        .command(
            &ws.server.base,
            &[
                "credentials",
                "Client/no-such-document",
                "--manifests",
                &manifests,
            ],
        )
        .output()
        .unwrap();
    assert_eq!(unknown.status.code(), Some(1));
    let said = output_text(&unknown);
    assert!(
        said.contains("no Client document named `no-such-document`")
            && said.contains("Client/APP/NAME"),
        "{said}"
    );
}

const BLOG: &str = "apiVersion: tenantsync/v1
kind: Application
metadata: {name: blog}
spec:
  app_name: Blog
  clients:
    - name: Editor
      redirect_uris: [https://blog.example.com/cb]
";

/// Creates `Shop` (client `Web`) and `Blog` (client `Editor`) outside tenantsync; returns the
/// `Web` client's id and secret.
async fn shop_and_blog_live(ws: &Workspace) -> (String, String) {
    let api = ws.api().await;
    let shop = api
        .create_app(&json!({"app_name": "Shop", "client_display_name": "Web",
            "first_client": {"name": "Web", "redirect_uris": ["https://shop.example.com/cb"]}}))
        .await;
    api.create_app(&json!({"app_name": "Blog", "client_display_name": "Editor",
        "first_client": {"name": "Editor", "redirect_uris": ["https://blog.example.com/cb"]}}))
        .await;
    (
        shop["client_id"].as_str().unwrap().to_owned(),
        shop["client_secret"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn a_credential_that_sees_one_app_may_not_plan_creates() {
    let ws = Workspace::new();
    ws.write("shop.yaml", crate::harness::SHOP_WEB);
    ws.write("blog.yaml", BLOG);
    let (web_id, web_secret) = shop_and_blog_live(&ws).await;
    let as_app_client = |extra: &[&str]| {
        let mut args = vec!["plan"];
        args.extend_from_slice(extra);
        let mut cmd = ws.command(&ws.server.base, &args);
        cmd.env("TENANTSYNC_CLIENT_ID", &web_id)
            .env("TENANTSYNC_CLIENT_SECRET", &web_secret)
            .arg(ws.manifests());
        cmd.output().unwrap()
    };
    // The app client's token sees only Shop: Blog would be created a second time.
    let refused = as_app_client(&[]);
    assert_eq!(refused.status.code(), Some(1), "{}", output_text(&refused));
    let said = output_text(&refused);
    assert!(
        said.contains("refused: the plan creates")
            && said.contains("no Admin role")
            && said.contains("--assume-full-view"),
        "{said}"
    );
    assert!(!said.contains("+ create"), "no plan is shown: {said}");
    // Asserting a full view restores the plan as it was.
    let assumed = as_app_client(&["--assume-full-view"]);
    assert_eq!(assumed.status.code(), Some(0), "{}", output_text(&assumed));
    let shown = String::from_utf8_lossy(&assumed.stdout);
    assert!(shown.contains("+ create Application/blog"), "{shown}");
    // With nothing to create, the narrow token's plan goes through, saying what it may miss.
    std::fs::remove_file(ws.manifests().join("blog.yaml")).unwrap();
    let narrow = as_app_client(&[]);
    assert_eq!(narrow.status.code(), Some(0), "{}", output_text(&narrow));
    let shown = String::from_utf8_lossy(&narrow.stdout);
    assert!(
        shown.contains(
            "warning: the credential may not see the whole tenant: its token has no Admin role"
        ),
        "{shown}"
    );
    ws.write("blog.yaml", BLOG);
    // The management credential sees both apps: adopts both, creates nothing.
    let admin = ws.run(&["plan"]);
    assert_eq!(admin.status.code(), Some(0), "{}", output_text(&admin));
    let shown = String::from_utf8_lossy(&admin.stdout);
    assert!(!shown.contains("+ create"), "{shown}");
    assert!(
        shown.contains("0 to create") && shown.contains("4 to adopt"),
        "{shown}"
    );
    assert_eq!(ws.live_apps().await.len(), 2);
}

#[tokio::test]
async fn a_mapped_app_nobody_finds_stops_creates_until_asserted() {
    let ws = Workspace::new();
    ws.write("shop.yaml", crate::harness::SHOP_WEB);
    let applied = ws.run(&["apply", "--yes"]);
    assert!(applied.status.success(), "{}", output_text(&applied));
    let api = ws.api().await;
    let shop_id = ws.live_apps().await[0]["app_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let gone = api.delete(&format!("/v1/applications/{shop_id}")).await;
    assert_eq!(gone.status, 204, "{}", gone.text);
    let refused = ws.run(&["apply", "--yes"]);
    assert_eq!(refused.status.code(), Some(1), "{}", output_text(&refused));
    let said = output_text(&refused);
    assert!(
        said.contains(&format!("Application/shop ({shop_id})"))
            && said.contains("neither the list of applications nor a lookup by id finds"),
        "{said}"
    );
    assert!(ws.live_apps().await.is_empty(), "nothing was created");
    let healed = ws.run(&["apply", "--yes", "--assume-full-view"]);
    assert!(healed.status.success(), "{}", output_text(&healed));
    assert_eq!(ws.live_apps().await.len(), 1);
}

#[tokio::test]
async fn prune_refuses_to_take_hand_made_clients_with_an_app() {
    let ws = Workspace::new();
    ws.write("shop.yaml", crate::harness::SHOP_WEB);
    ws.write("blog.yaml", BLOG);
    let applied = ws.run(&["apply", "--yes"]);
    assert!(applied.status.success(), "{}", output_text(&applied));
    let apps = ws.live_apps().await;
    let shop_id = apps.iter().find(|a| a["app_name"] == "Shop").unwrap()["app_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let api = ws.api().await;
    let hand_made = api
        .create_client(
            &shop_id,
            &json!({"name": "Hand made", "redirect_uris": ["https://ops.example.com/cb"]}),
        )
        .await;
    let hand_made_id = hand_made["client_id"].as_str().unwrap();
    std::fs::remove_file(ws.manifests().join("shop.yaml")).unwrap();
    let refused = ws.run(&["apply", "--yes", "--prune"]);
    assert_eq!(refused.status.code(), Some(1), "{}", output_text(&refused));
    let said = output_text(&refused);
    assert!(
        said.contains(&format!("Application/shop: `Hand made` ({hand_made_id})"))
            && said.contains("--allow-cascade"),
        "{said}"
    );
    assert_eq!(ws.live_apps().await.len(), 2, "nothing was deleted");
    let pruned = ws.run(&["apply", "--yes", "--prune", "--allow-cascade"]);
    assert!(pruned.status.success(), "{}", output_text(&pruned));
    let left: Vec<Value> = ws.live_apps().await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["app_name"], "Blog");
}

/// A live description with a screen clear, an OSC title, a carriage return and a C1 CSI.
const HOSTILE: &str = "Online shop for everyone, with a long description that wraps\u{1b}[2J\u{1b}]0;pwned\u{7}\rFORGED: Plan: 0 to create\u{9b}31m";

#[tokio::test]
async fn live_control_characters_never_reach_the_terminal() {
    let ws = Workspace::new();
    let manifest = crate::harness::SHOP_WEB.replace(
        "  app_name: Shop\n",
        "  app_name: Shop\n  app_description: Online shop\n",
    );
    ws.write("shop.yaml", &manifest);
    let applied = ws.run(&["apply", "--yes"]);
    assert!(applied.status.success(), "{}", output_text(&applied));
    let app_id = ws.live_apps().await[0]["app_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let api = ws.api().await;
    let put = api
        .put(
            &format!("/v1/applications/{app_id}"),
            &json!({"app_description": HOSTILE}),
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.text);
    for format in ["text", "markdown"] {
        let out = ws.run(&["plan", "--format", format]);
        assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
        let shown = String::from_utf8(out.stdout).unwrap();
        assert!(shown.contains("app_description"), "{shown}");
        for c in ['\u{1b}', '\r', '\u{7}', '\u{9b}'] {
            assert!(
                !shown.contains(c),
                "{format}: {c:?} reached stdout: {shown:?}"
            );
        }
        assert!(
            shown.contains("\\e[2J") && shown.contains("\\r"),
            "{format}: {shown}"
        );
    }
}

#[tokio::test]
async fn backticks_and_markup_in_names_stay_inside_their_code_spans() {
    let ws = Workspace::new();
    let odd = "We`b **bold** <img src=x onerror=alert(1)>";
    let manifest = format!(
        "{}    - name: \"{odd}\"\n      redirect_uris: [https://shop.example.com/odd]\n",
        crate::harness::SHOP_WEB
    );
    ws.write("shop.yaml", &manifest);
    ws.write("blog.yaml", BLOG);
    let applied = ws.run(&["apply", "--yes"]);
    assert!(applied.status.success(), "{}", output_text(&applied));
    let address = format!("Client/shop/{odd}");
    let span = format!("``{address}``");
    // Lint markdown: the object is one code span, whatever its name holds.
    let lint = ws
        .command(&ws.server.base, &["lint", "--format", "markdown"])
        .arg(ws.manifests())
        .output()
        .unwrap();
    let table = String::from_utf8(lint.stdout).unwrap();
    assert!(table.contains(&format!("| {span} |")), "{table}");
    // The plan's "Kept" list, after the client leaves the manifests (no --prune).
    ws.write("shop.yaml", crate::harness::SHOP_WEB);
    let out = ws.run(&["plan", "--format", "markdown"]);
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    let shown = String::from_utf8(out.stdout).unwrap();
    assert!(shown.contains(&format!("- {span}: ")), "{shown}");
}

#[test]
fn sarif_artifact_uris_are_percent_encoded() {
    let repo = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(repo.path().join(".git")).unwrap();
    let dir = repo.path().join("we ird#dir?x");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("a b#c?d%41.yaml"), crate::harness::SHOP_WEB).unwrap();
    let out = std::process::Command::new(crate::harness::bin())
        .current_dir(repo.path())
        .args(["lint", "--format", "sarif", "we ird#dir?x"])
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let sarif: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", output_text(&out)));
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    assert!(!results.is_empty(), "{sarif}");
    for r in results {
        assert_eq!(
            r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            "we%20ird%23dir%3Fx/a%20b%23c%3Fd%2541.yaml"
        );
    }
}

/// What the doctor test proxy does besides forwarding.
#[derive(Debug, Clone, Copy, Default)]
struct Twists {
    /// Multiply the lifetime of app-client tokens (their JWT `exp` and the answer's
    /// `expires_in`) by this factor (0: leave tokens alone). Management tokens are left whole,
    /// since their signature must still verify on every API call.
    stretch_tokens: i64,
    /// Answer the first `DELETE /v1/applications/{id}` with 503 (Retry-After: 1).
    fail_first_app_delete: bool,
    /// Forward the first `POST /v1/applications`, then close the connection unanswered.
    lose_first_app_create: bool,
}

/// A one-request-per-connection HTTP/1.1 proxy in front of a real server, with [`Twists`].
struct DoctorProxy {
    base: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for DoctorProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The head and body of one request (Content-Length bodies only, as reqwest sends them).
async fn read_request(stream: &mut tokio::net::TcpStream) -> Option<(String, Vec<u8>)> {
    use tokio::io::AsyncReadExt as _;
    let mut buf = Vec::new();
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            let length: usize = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().unwrap_or(0))
                })
                .unwrap_or(0);
            while buf.len() < end + 4 + length {
                let mut chunk = [0u8; 8192];
                let n = stream.read(&mut chunk).await.ok()?;
                if n == 0 {
                    return None;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            return Some((head, buf[end + 4..end + 4 + length].to_vec()));
        }
        let mut chunk = [0u8; 8192];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// A token answer whose app-client token lasts `factor` times longer.
fn stretched(body: &[u8], factor: i64) -> Vec<u8> {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    let Ok(mut answer) = serde_json::from_slice::<Value>(body) else {
        return body.to_vec();
    };
    let Some(token) = answer["access_token"].as_str().map(str::to_owned) else {
        return body.to_vec();
    };
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    if claims["roles"]
        .as_array()
        .is_some_and(|r| r.iter().any(|x| x == "Admin"))
    {
        return body.to_vec();
    }
    let (iat, exp) = (
        claims["iat"].as_i64().unwrap(),
        claims["exp"].as_i64().unwrap(),
    );
    claims["exp"] = json!(iat + (exp - iat) * factor);
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap());
    answer["access_token"] = json!(format!("{}.{payload}.{}", parts[0], parts[2]));
    answer["expires_in"] = json!(answer["expires_in"].as_i64().unwrap() * factor);
    serde_json::to_vec(&answer).unwrap()
}

impl DoctorProxy {
    async fn start(upstream: &str, twists: Twists) -> Self {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::Arc;
        use tokio::io::AsyncWriteExt as _;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let upstream = upstream.to_owned();
        let http = reqwest::Client::new();
        let delete_failed = Arc::new(AtomicBool::new(false));
        let create_lost = Arc::new(AtomicBool::new(false));
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                let (http, upstream) = (http.clone(), upstream.clone());
                let (delete_failed, create_lost) = (delete_failed.clone(), create_lost.clone());
                tokio::spawn(async move {
                    let Some((head, body)) = read_request(&mut stream).await else {
                        return;
                    };
                    let mut lines = head.lines();
                    let mut first = lines.next().unwrap_or_default().split(' ');
                    let (method, path) = (
                        first.next().unwrap_or_default().to_owned(),
                        first.next().unwrap_or_default().to_owned(),
                    );
                    let is_app = |p: &str| {
                        p.strip_prefix("/cis/v1/applications/")
                            .is_some_and(|rest| !rest.is_empty() && !rest.contains('/'))
                    };
                    let write = |status: u16, extra: String, body: Vec<u8>| {
                        let mut out = format!(
                            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n{extra}\r\n",
                            body.len()
                        )
                        .into_bytes();
                        out.extend(body);
                        out
                    };
                    if twists.fail_first_app_delete
                        && method == "DELETE"
                        && is_app(&path)
                        && !delete_failed.swap(true, Ordering::SeqCst)
                    {
                        let out = write(
                            503,
                            "retry-after: 1\r\n".into(),
                            br#"{"message":"unavailable","error_code":503}"#.to_vec(),
                        );
                        let _ = stream.write_all(&out).await;
                        return;
                    }
                    let mut request =
                        http.request(method.parse().unwrap(), format!("{upstream}{path}"));
                    for line in lines {
                        if let Some((k, v)) = line.split_once(':') {
                            let k = k.trim().to_ascii_lowercase();
                            if ["authorization", "content-type", "idempotency-key"]
                                .contains(&k.as_str())
                            {
                                request = request.header(k, v.trim());
                            }
                        }
                    }
                    let Ok(answer) = request.body(body).send().await else {
                        return;
                    };
                    if twists.lose_first_app_create
                        && method == "POST"
                        && path == "/cis/v1/applications"
                        && !create_lost.swap(true, Ordering::SeqCst)
                    {
                        return; // the connection closes unanswered
                    }
                    let status = answer.status().as_u16();
                    let mut answer_body = answer.bytes().await.unwrap_or_default().to_vec();
                    if twists.stretch_tokens > 0 && path.ends_with("/oidc/token") && status == 200 {
                        answer_body = stretched(&answer_body, twists.stretch_tokens);
                    }
                    let _ = stream
                        .write_all(&write(status, String::new(), answer_body))
                        .await;
                });
            }
        });
        Self {
            base: format!("http://{addr}/cis"),
            task,
        }
    }
}

/// `tenantsync doctor --write --format json` against `base` with the server's admin credentials
/// (off the runtime serving the proxy).
async fn doctor_write(server: &crate::harness::Server, base: &str) -> (Option<i32>, Value, String) {
    let (id, secret) = server.admin_credentials();
    let mut cmd = std::process::Command::new(crate::harness::bin());
    cmd.args(["doctor", "--write", "--format", "json", "--target", base])
        .env("TENANTSYNC_CLIENT_ID", id)
        .env("TENANTSYNC_CLIENT_SECRET", secret)
        .env_remove("TENANTSYNC_TOKEN")
        .env("NO_COLOR", "1");
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", output_text(&out)));
    (out.status.code(), report, output_text(&out))
}

fn check<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no `{name}` check: {report:#}"))
}

async fn app_count(server: &crate::harness::Server) -> usize {
    let api = server.api(&server.admin_token().await);
    api.get("/v1/applications").await.json()["result"]
        .as_array()
        .unwrap()
        .len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_write_checks_token_lifetime_units() {
    let dir = tempfile::tempdir().unwrap();
    let server = crate::harness::Server::start(&dir.path().join("data"));
    // The bundled server issues an app client's tokens for its access_token_ttl, in seconds.
    let (code, report, shown) = doctor_write(&server, &server.base).await;
    assert_eq!(code, Some(0), "{shown}");
    let units = check(&report, "token lifetime units");
    assert_eq!(units["status"], "ok", "{units}");
    assert!(
        units["detail"].as_str().unwrap().contains("valid 300s"),
        "{units}"
    );
    // A target whose tokens last 60 times the configured lifetime: minutes, named.
    let proxy = DoctorProxy::start(
        &server.origin,
        Twists {
            stretch_tokens: 60,
            ..Twists::default()
        },
    )
    .await;
    let (code, report, shown) = doctor_write(&server, &proxy.base).await;
    assert_eq!(code, Some(1), "{shown}");
    let units = check(&report, "token lifetime units");
    assert_eq!(units["status"], "fail", "{units}");
    assert!(
        units["detail"]
            .as_str()
            .unwrap()
            .starts_with("×60: upstream reads token lifetimes as minutes: access_token_ttl 300 gave a token valid 18000s"),
        "{units}"
    );
    assert_eq!(check(&report, "nothing left behind")["status"], "ok");
    assert_eq!(app_count(&server).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_write_retries_its_delete_and_finds_a_create_whose_answer_was_lost() {
    let dir = tempfile::tempdir().unwrap();
    let server = crate::harness::Server::start(&dir.path().join("data"));
    let proxy = DoctorProxy::start(
        &server.origin,
        Twists {
            fail_first_app_delete: true,
            ..Twists::default()
        },
    )
    .await;
    let (code, report, shown) = doctor_write(&server, &proxy.base).await;
    assert_eq!(code, Some(0), "{shown}");
    let deleted = check(&report, "delete application");
    assert_eq!(deleted["status"], "ok", "{deleted}");
    assert!(
        deleted["detail"].as_str().unwrap().contains("(attempt 2)"),
        "{deleted}"
    );
    assert_eq!(app_count(&server).await, 0);
    drop(proxy);

    let proxy = DoctorProxy::start(
        &server.origin,
        Twists {
            lose_first_app_create: true,
            ..Twists::default()
        },
    )
    .await;
    let (code, report, shown) = doctor_write(&server, &proxy.base).await;
    assert_eq!(code, Some(1), "{shown}");
    let created = check(&report, "create application");
    assert_eq!(created["status"], "fail", "{created}");
    assert!(
        created["detail"]
            .as_str()
            .unwrap()
            .contains("but the application was created"),
        "{created}"
    );
    assert_eq!(check(&report, "delete application")["status"], "ok");
    assert_eq!(
        app_count(&server).await,
        0,
        "the lost create was found and deleted"
    );
}
