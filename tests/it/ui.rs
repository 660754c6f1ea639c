//! The daemon's web page: driven in a real headless Chromium (through chromedriver) against a
//! running daemon and bundled server, and checked over plain HTTP for its access rules, headers
//! and secrets.

use std::net::TcpListener;
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

use crate::harness::{eventually, spawn_daemon, status_until, KillOnDrop, Workspace};

/// A client name that is markup: the page must show it as text and run none of it.
const SCRIPT_NAME: &str = "<script>window.__pwned=1</script>";

const SHOP: &str = "apiVersion: tenantsync/v1\nkind: Application\nmetadata: {name: shop}\nspec:\n  app_name: Shop\n  app_description: ${env:UI_CANARY}\n  clients:\n    - name: Web\n      redirect_uris: [https://shop.example/cb]\n    - name: '<script>window.__pwned=1</script>'\n      redirect_uris: [https://shop.example/cb2]\n";

const CANARY: &str = "ui-canary-5c0e41d7";

/// chromedriver on a free loopback port, and one Chromium session through it.
struct Browser {
    driver: Child,
    client: Option<Client>,
    _profile: tempfile::TempDir,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn find_program(candidates: &[&str]) -> String {
    for c in candidates {
        if Path::new(c).exists() {
            return (*c).to_owned();
        }
    }
    panic!(
        "none of {candidates:?} exists: the web page's tests need Debian's `chromium` and \
         `chromium-driver` packages (.ci/run installs them)"
    );
}

impl Browser {
    async fn start() -> Browser {
        let driver_path =
            find_program(&["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]);
        let chromium = find_program(&["/usr/bin/chromium", "/usr/lib/chromium/chromium"]);
        let profile = tempfile::tempdir().unwrap();
        let mut last_error = String::new();
        // A port picked free may be taken before chromedriver binds it: try a few.
        for _ in 0..5 {
            let port = free_port();
            // Its own process group: dropping the browser kills chromedriver and the Chromium
            // it started, even when a test fails before closing the session.
            let mut driver = Command::new(&driver_path)
                .process_group(0)
                .arg(format!("--port={port}"))
                .arg("--allowed-ips=127.0.0.1")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("chromedriver starts");
            let url = format!("http://127.0.0.1:{port}");
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = driver.try_wait() {
                    break;
                }
                let mut caps = serde_json::Map::new();
                caps.insert(
                    "goog:chromeOptions".into(),
                    json!({
                        "binary": chromium,
                        "args": [
                            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                            "--no-first-run", "--disable-background-networking",
                            "--disable-component-update", "--disable-sync",
                            "--disable-dev-shm-usage", "--window-size=1280,1000",
                            format!("--user-data-dir={}", profile.path().display()),
                        ]
                    }),
                );
                let connector = hyper_util::client::legacy::connect::HttpConnector::new();
                match ClientBuilder::new(connector)
                    .capabilities(caps)
                    .connect(&url)
                    .await
                {
                    Ok(client) => {
                        return Browser {
                            driver,
                            client: Some(client),
                            _profile: profile,
                        }
                    }
                    Err(e) => last_error = e.to_string(),
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let _ = driver.kill();
            let _ = driver.wait();
        }
        panic!("no Chromium session through chromedriver: {last_error}");
    }

    fn client(&self) -> &Client {
        self.client.as_ref().expect("open")
    }

    async fn close(mut self) {
        if let Some(client) = self.client.take() {
            let _ = client.close().await;
        }
    }

    /// Clicks the first element `css` matches.
    async fn click(&self, css: &str) {
        let element = self.client().find(Locator::Css(css)).await.unwrap();
        element.click().await.unwrap();
    }

    /// Waits until an element matches `css`; it.
    async fn wait_for(&self, css: &str) -> fantoccini::elements::Element {
        self.client()
            .wait()
            .for_element(Locator::Css(css))
            .await
            .unwrap()
    }

    /// The visible text of every element `css` matches, read from one document: when a
    /// navigation replaces the document between finding the elements and reading them (the
    /// elements go stale), the read starts over on the new one.
    async fn texts(&self, css: &str) -> Vec<String> {
        'read: loop {
            let mut out = Vec::new();
            for e in self.client().find_all(Locator::Css(css)).await.unwrap() {
                match e.text().await {
                    Ok(text) => out.push(text),
                    Err(e) if e.is_stale_element_reference() => continue 'read,
                    Err(e) => panic!("reading {css}: {e}"),
                }
            }
            return out;
        }
    }

    /// Waits until the page's address has a query containing `part` and its document is
    /// loaded: the end of a navigation a click started.
    async fn wait_for_query(&self, part: &str) {
        eventually(&format!("the page with ?…{part}… is loaded"), || async {
            let url = self.client().current_url().await.ok()?;
            url.query()
                .is_some_and(|q| q.contains(part))
                .then_some(())?;
            let state = self
                .client()
                .execute("return document.readyState;", vec![])
                .await
                .ok()?;
            (state == "complete").then_some(())
        })
        .await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(group) = i32::try_from(self.driver.id())
            .ok()
            .and_then(rustix::process::Pid::from_raw)
        {
            let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
        }
        let _ = self.driver.wait();
    }
}

fn daemon_command(ws: &Workspace, extra: &[&str]) -> Command {
    let mut args = vec!["sync"];
    if !extra.contains(&"--interval") {
        args.extend(["--interval", "1h"]);
    }
    if !extra.contains(&"--listen") {
        args.extend(["--listen", "127.0.0.1:0"]);
    }
    args.extend_from_slice(extra);
    let mut cmd = ws.command(&ws.server.base, &args);
    cmd.env("UI_CANARY", CANARY)
        .stderr(Stdio::null())
        .arg(ws.manifests());
    cmd
}

/// Decodes a PNG screenshot; how many distinct colours it has, and the share of pixels that are
/// not the page background.
fn colours(png_bytes: &[u8]) -> (usize, f64) {
    let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    let pixels: Vec<&[u8]> = buf[..info.buffer_size()].chunks(channels).collect();
    let background = pixels
        .iter()
        .filter(|p| p[..3] == [0xf6, 0xf7, 0xf9])
        .count();
    let distinct: std::collections::HashSet<&[u8]> = pixels.iter().copied().collect();
    (
        distinct.len(),
        1.0 - background as f64 / pixels.len().max(1) as f64,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_filters_opens_objects_shows_drift_and_renders_names_as_text_in_chromium() {
    let ws = Workspace::new();
    ws.write("shop.yaml", SHOP);
    // A 2 s sweep: the drift made by hand below is found by the next one.
    let (daemon, url) = spawn_daemon(daemon_command(
        &ws,
        &["--on-drift", "report", "--interval", "2s"],
    ));
    let _daemon = KillOnDrop(daemon);
    status_until(&url, |s| s["last_result"] == "success").await;
    let browser = Browser::start().await;
    let c = browser.client();

    // Load: the header, the counts and every object.
    c.goto(&format!("{url}/")).await.unwrap();
    assert_eq!(c.title().await.unwrap(), "Overview · tenantsync");
    let names = browser.texts("table.objects a.name").await;
    assert_eq!(
        names,
        vec![
            "shop".to_owned(),
            format!("shop/{SCRIPT_NAME}"),
            "shop/Web".to_owned()
        ],
        "every object, by name"
    );
    let header = browser.texts("header.top").await.join("\n");
    assert!(
        header.contains("all read within") && header.contains("leader"),
        "{header}"
    );
    let attention = browser.texts("#attention").await.join("\n");
    assert!(attention.contains("Nothing"), "{attention}");

    // The markup in a name is text: shown verbatim, never run, no element made of it.
    let pwned = c
        .execute(
            "return window.__pwned === undefined ? null : window.__pwned;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(pwned, Value::Null, "the name's script ran");
    let scripts = c
        .execute(
            "return Array.from(document.scripts).map(s => s.getAttribute('src'));",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(scripts, json!(["/ui/app.js"]), "only the page's own script");

    // The screenshot is a page, not a blank: the header's dark band, chips, text.
    let shot = c.screenshot().await.unwrap();
    let (distinct, painted) = colours(&shot);
    assert!(distinct > 50, "{distinct} colours: a blank page?");
    assert!(
        painted > 0.15,
        "only {painted:.2} of the pixels are painted"
    );

    // Filter by name with the form, then by kind with the select (applied on change).
    c.find(Locator::Css("input[name=q]"))
        .await
        .unwrap()
        .send_keys("web")
        .await
        .unwrap();
    browser.click("form.filters button").await;
    browser.wait_for_query("q=web").await;
    assert_eq!(
        browser.texts("table.objects a.name").await,
        vec!["shop/Web"]
    );
    c.goto(&format!("{url}/")).await.unwrap();
    c.find(Locator::Css("select[name=kind]"))
        .await
        .unwrap()
        .select_by_value("Application")
        .await
        .unwrap();
    browser.wait_for_query("kind=Application").await;
    assert_eq!(browser.texts("table.objects a.name").await, vec!["shop"]);

    // Open an object: its page names it, its source position and its last applied values,
    // never the interpolated canary.
    browser.click("table.objects a.name").await;
    let heading = browser.wait_for("h2.object-name").await;
    assert_eq!(heading.text().await.unwrap(), "Application/shop");
    let facts = browser.texts("dl.object").await.join("\n");
    assert!(
        facts.contains("shop.yaml:3"),
        "the document's metadata line: {facts}"
    );
    let applied = browser.texts("#applied pre").await.join("\n");
    assert!(applied.contains("app_name: Shop"), "{applied}");
    assert!(applied.contains("(sensitive)"), "{applied}");
    assert!(!c.source().await.unwrap().contains(CANARY));

    // The script-named client's page: its name is the heading's text.
    c.goto(&format!(
        "{url}/object?name={}",
        url::form_urlencoded::byte_serialize(format!("Client/shop/{SCRIPT_NAME}").as_bytes())
            .collect::<String>()
    ))
    .await
    .unwrap();
    let heading = browser.wait_for("h2.object-name").await;
    assert_eq!(
        heading.text().await.unwrap(),
        format!("Client/shop/{SCRIPT_NAME}")
    );

    // Drift made in the tenant by hand appears after one reconcile, with its age and fields.
    let api = ws.api().await;
    let apps = api.get("/v1/applications").await.json()["result"].clone();
    let id = apps[0]["app_id"].as_str().unwrap().to_owned();
    api.put(
        &format!("/v1/applications/{id}"),
        &json!({"app_name": "Shop (edited by hand)"}),
    )
    .await;
    status_until(&url, |s| !s["drift"].as_array().unwrap().is_empty()).await;
    c.goto(&format!("{url}/")).await.unwrap();
    let rows = browser.texts("#attention tr.attention").await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(rows[0].contains("drift"), "{rows:?}");
    assert!(rows[0].contains("Application/shop"), "{rows:?}");
    assert!(rows[0].contains("app_name"), "{rows:?}");
    let age = browser.texts("#attention time.age").await;
    assert!(
        age.len() == 1 && age[0].ends_with('s'),
        "the drift's age: {age:?}"
    );
    browser.click("#attention a").await;
    browser.wait_for("#drift table.drift tr.open").await;
    let diff = browser.texts("#diff pre").await.join("\n");
    assert!(diff.contains("Shop (edited by hand)"), "{diff}");

    browser.close().await;
}

/// GETs `path` on the daemon; status, headers and body.
async fn get(
    http: &reqwest::Client,
    url: &str,
    path: &str,
) -> (u16, reqwest::header::HeaderMap, String) {
    let r = http.get(format!("{url}{path}")).send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, headers, r.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_is_escaped_guarded_by_a_csp_and_free_of_secrets() {
    let ws = Workspace::new();
    ws.write("shop.yaml", SHOP);
    let (daemon, url) = spawn_daemon(daemon_command(&ws, &["--ui-badge"]));
    let _daemon = KillOnDrop(daemon);
    status_until(&url, |s| s["last_result"] == "success").await;
    // A second canary: the confidential client's secret, as the server holds it.
    let api = ws.api().await;
    let apps = api.get("/v1/applications").await.json()["result"].clone();
    let id = apps[0]["app_id"].as_str().unwrap().to_owned();
    let clients = api
        .get(&format!("/v1/applications/{id}/clients"))
        .await
        .json();
    let secrets: Vec<String> = clients["result"]
        .as_array()
        .or(clients.as_array())
        .unwrap()
        .iter()
        .filter_map(|c| c["client_secret"].as_str().map(str::to_owned))
        .collect();
    assert!(!secrets.is_empty(), "{clients}");

    let http = reqwest::Client::new();
    let (status, _, overview) = get(&http, &url, "/").await;
    assert_eq!(status, 200);
    let mut paths = vec![
        "/".to_owned(),
        "/history".to_owned(),
        "/badge.svg".to_owned(),
        "/ui/style.css".to_owned(),
        "/ui/app.js".to_owned(),
        "/?status=in-sync&sort=applied&dir=desc".to_owned(),
    ];
    for link in overview.split("href=\"").skip(1) {
        let link = link.split('"').next().unwrap().replace("&amp;", "&");
        if link.starts_with("/object?") {
            paths.push(link);
        }
    }
    assert!(paths.len() >= 9, "{paths:?}");
    for path in &paths {
        let (status, headers, body) = get(&http, &url, path).await;
        assert_eq!(status, 200, "{path}");
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("default-src 'none'") && csp.contains("script-src 'self'"),
            "{csp}"
        );
        assert_eq!(headers["x-content-type-options"], "nosniff");
        for secret in secrets.iter().map(String::as_str).chain([CANARY]) {
            assert!(!body.contains(secret), "{path} shows a secret");
        }
        assert!(
            !body.contains(SCRIPT_NAME),
            "{path} holds the name unescaped"
        );
    }
    assert!(overview.contains("&lt;script&gt;window.__pwned=1&lt;/script&gt;"));
    let (_, headers, badge) = get(&http, &url, "/badge.svg").await;
    assert_eq!(headers["content-type"], "image/svg+xml");
    assert!(badge.contains("in sync"), "{badge}");
    let (status, _, _) = get(&http, &url, "/object?name=Client/shop/Nope").await;
    assert_eq!(status, 404);
}

fn port_of(url: &str) -> String {
    url.rsplit(':').next().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beyond_loopback_the_page_needs_the_token_file_and_the_daemon_says_why() {
    let ws = Workspace::new();
    ws.write("shop.yaml", SHOP);
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    // No token file: the daemon starts and serves /status, the page is refused, and it says so.
    let log = ws.dir.path().join("wide.log");
    let mut cmd = daemon_command(&ws, &["--listen", "0.0.0.0:0"]);
    cmd.env("RUST_LOG", "warn")
        .stderr(std::fs::File::create(&log).unwrap());
    let (daemon, url) = spawn_daemon(cmd);
    let daemon = KillOnDrop(daemon);
    let url = format!("http://127.0.0.1:{}", port_of(&url));
    status_until(&url, |s| s["last_result"] == "success").await;
    let (status, headers, body) = get(&http, &url, "/").await;
    assert_eq!(status, 403);
    assert!(headers.contains_key("content-security-policy"));
    assert!(body.contains("--ui-token-file"), "{body}");
    assert!(!body.contains("shop"), "{body}");
    let (status, _, _) = get(&http, &url, "/badge.svg").await;
    assert_eq!(status, 404, "the badge is off unless --ui-badge");
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("web page off"), "{logged}");
    drop(daemon);

    // A token that is too short is refused at start.
    let short = ws.dir.path().join("short-token");
    std::fs::write(&short, "abc\n").unwrap();
    let out = daemon_command(
        &ws,
        &[
            "--listen",
            "0.0.0.0:0",
            "--ui-token-file",
            short.to_str().unwrap(),
        ],
    )
    .stderr(Stdio::piped())
    .output()
    .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("at least 16"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // With a token file: the login form without it, the page with the bearer token or the
    // cookie the form sets; a wrong token gets the form again.
    let token = "t0ken-for-the-ui-3f9a";
    let file = ws.dir.path().join("ui-token");
    std::fs::write(&file, format!("{token}\n")).unwrap();
    let (daemon, url) = spawn_daemon(daemon_command(
        &ws,
        &[
            "--listen",
            "0.0.0.0:0",
            "--ui-token-file",
            file.to_str().unwrap(),
        ],
    ));
    let _daemon = KillOnDrop(daemon);
    let url = format!("http://127.0.0.1:{}", port_of(&url));
    status_until(&url, |s| s["last_result"] == "success").await;
    let (status, _, body) = get(&http, &url, "/").await;
    assert_eq!(status, 401);
    assert!(body.contains("name=\"token\""), "{body}");
    assert!(!body.contains("shop"), "{body}");
    let bearer = http
        .get(format!("{url}/"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(bearer.status(), 200);
    assert!(bearer
        .text()
        .await
        .unwrap()
        .contains("/object?name=Application%2Fshop"));
    let wrong = http
        .post(format!("{url}/login"))
        .form(&[("token", "not-the-token-at-all")])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    assert!(wrong.headers().get("set-cookie").is_none());
    let login = http
        .post(format!("{url}/login"))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 303);
    let cookie = login.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(!cookie.contains(token), "the cookie holds the token itself");
    assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");
    // Behind a TLS-terminating proxy the cookie is Secure: it never travels in clear text.
    let proxied = http
        .post(format!("{url}/login"))
        .header("x-forwarded-proto", "https")
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(proxied.status(), 303);
    let secure = proxied.headers()["set-cookie"].to_str().unwrap();
    assert!(secure.ends_with("; Secure"), "{secure}");
    let pair = cookie.split(';').next().unwrap();
    let page = http
        .get(format!("{url}/object?name=Application/shop"))
        .header("cookie", pair)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
}
