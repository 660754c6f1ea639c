//! What the integration tests (`tests/it`) and the benchmarks (`benches/`) share, included by
//! both with `#[path]`: reading a spawned server's or daemon's URL off its first line, a child
//! killed when dropped, plain GETs, a token request, finding an application by name, the
//! generated application manifests, and the median of samples. Each includer uses a part of it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

/// The `http://…` word of a line such as `serve` and `sync` print first.
pub fn url_in(line: &str) -> Option<String> {
    line.split_whitespace()
        .find(|w| w.starts_with("http://"))
        .map(str::to_owned)
}

/// Starts `cmd` with its stdout piped here and returns it with the first line it prints.
pub fn spawn_reading_first_line(cmd: &mut Command) -> (Child, String) {
    let mut child = cmd.stdout(Stdio::piped()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    (child, line)
}

/// A child process (a server, a daemon) killed when dropped: a test that fails, or a
/// benchmark that panics, leaves nothing running.
pub struct KillOnDrop(pub Child);

impl KillOnDrop {
    /// SIGKILL and reap now.
    pub fn stop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `GET url`'s body as text.
pub async fn get_text(http: &reqwest::Client, url: String) -> String {
    http.get(url).send().await.unwrap().text().await.unwrap()
}

/// `GET url`'s body as JSON.
pub async fn get_json(http: &reqwest::Client, url: String) -> Value {
    http.get(url).send().await.unwrap().json().await.unwrap()
}

/// The `app_id` of the application named `name` in `apps`, the body of
/// `GET /v1/applications`.
pub fn app_id(apps: &Value, name: &str) -> String {
    apps["result"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["app_name"] == name)
        .unwrap_or_else(|| panic!("no application {name}"))["app_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Application `app-{i}` (`App {i}`) with a confidential web client, a native iOS client, a
/// backend client with a resource, and an admin client: four clients, five objects. A
/// non-empty `description` is set as the app's description.
pub fn application_yaml(i: usize, description: &str) -> String {
    let description = if description.is_empty() {
        String::new()
    } else {
        format!("  app_description: {description}\n")
    };
    format!(
        "apiVersion: tenantsync/v1\nkind: Application\nmetadata: {{name: app-{i}}}\nspec:\n  app_name: App {i}\n{description}  clients:\n    - {{name: Web, redirect_uris: ['https://app{i}.example.com/cb'], token_expiration: {{access_token_ttl: 600}}}}\n    - {{name: iOS, client_type: native, redirect_uris: ['com.example.app{i}://cb']}}\n    - {{name: Backend, resources: [{{id: api-{i}}}]}}\n    - {{name: Admin, redirect_uris: ['https://admin{i}.example.com/cb']}}\n"
    )
}

/// The median of `samples` (the upper one of an even count).
pub fn median<T: PartialOrd + Copy>(mut samples: Vec<T>) -> T {
    samples.sort_by(|a, b| a.partial_cmp(b).expect("comparable samples"));
    samples[samples.len() / 2]
}

/// A client-credentials token request to `origin`'s `/oidc/token`, ready to send.
pub fn token_request(
    http: &reqwest::Client,
    origin: &str,
    client_id: &str,
    client_secret: &str,
) -> reqwest::RequestBuilder {
    http.post(format!("{origin}/oidc/token")).form(&[
        ("grant_type", "client_credentials"),
        ("client_id", client_id),
        ("client_secret", client_secret),
    ])
}
