//! Drift notifications (`--notify-url`): one JSON POST per episode event (detected, healed,
//! resolved, proposed) with a Slack-compatible `text`. They carry names, fields and times, never
//! a value, so no secret can reach them. Sent by a task of their own, retried with backoff, and
//! never waited for by a reconcile. The URL is a credential (a Slack or Teams incoming webhook
//! is authorized by its path): only its scheme and host are ever logged.

use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::drift::{DriftRecord, DriftUpdate};

/// Attempts per notification (the waits between them double from one second).
const ATTEMPTS: u32 = 5;

/// What happened to an episode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriftEvent {
    /// Seen by `--notify-after` reconciles in a row.
    Detected,
    /// Written back by tenantsync.
    Healed,
    /// Went away by itself.
    Resolved,
    /// Committed to a review branch (`--on-drift propose`).
    Proposed,
}

impl DriftEvent {
    fn as_str(self) -> &'static str {
        match self {
            DriftEvent::Detected => "detected",
            DriftEvent::Healed => "healed",
            DriftEvent::Resolved => "resolved",
            DriftEvent::Proposed => "proposed",
        }
    }
}

/// The events one observation's drift update calls for: an episode is announced once, when
/// `after` observations have seen it, and its end only if it was announced.
pub fn events(update: &DriftUpdate, after: u32) -> Vec<(DriftEvent, DriftRecord)> {
    let mut out = Vec::new();
    for r in update.opened.iter().chain(&update.persisting) {
        if r.observations == after {
            out.push((DriftEvent::Detected, r.clone()));
        }
    }
    for r in &update.resolved {
        if r.observations >= after {
            let event = match r.resolution {
                Some(crate::drift::Resolution::Healed) => DriftEvent::Healed,
                _ => DriftEvent::Resolved,
            };
            out.push((event, r.clone()));
        }
    }
    out
}

/// The JSON body of one event.
pub fn body(event: DriftEvent, record: &DriftRecord, target: &str) -> Value {
    let fields = record.fields.join(", ");
    let text = match event {
        DriftEvent::Detected => format!(
            ":warning: tenantsync: {} was changed outside tenantsync ({fields}) on {target}; first seen {}",
            record.object, record.first_seen
        ),
        DriftEvent::Healed => format!(
            ":white_check_mark: tenantsync: drift of {} ({fields}) was reverted to the manifests on {target}",
            record.object
        ),
        DriftEvent::Resolved => format!(
            ":information_source: tenantsync: drift of {} ({fields}) on {target} ended",
            record.object
        ),
        DriftEvent::Proposed => format!(
            ":memo: tenantsync: drift of {} ({fields}) on {target} was proposed for review on the branch {}",
            record.object,
            super::propose::branch_of(&record.object)
        ),
    };
    json!({
        "text": text,
        "event": event.as_str(),
        "object": record.object.to_string(),
        "fields": record.fields,
        "first_seen": record.first_seen,
        "last_seen": record.last_seen,
        "observations": record.observations,
        "resolved_at": record.resolved_at,
        "target": target,
    })
}

/// Sends notifications in the background.
#[derive(Clone)]
pub struct Notifier {
    queue: mpsc::UnboundedSender<Value>,
    /// After how many reconciles in a row that saw a drift episode it is told
    /// (`--notify-after`).
    pub after: u32,
}

impl Notifier {
    /// Starts the sender task for `url`; episodes are told after `after` reconciles that saw
    /// them.
    pub fn start(url: String, after: u32) -> Self {
        let (queue, mut bodies) = mpsc::unbounded_channel::<Value>();
        tokio::spawn(async move {
            let client = reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("a plain HTTP client builds");
            while let Some(body) = bodies.recv().await {
                send(&client, &url, &body).await;
            }
        });
        Self { queue, after }
    }

    /// Queues one notification; returns at once.
    pub fn notify(&self, body: Value) {
        let _ = self.queue.send(body);
    }
}

/// What may be shown of a notify URL: its scheme, host and port (no user, path or query).
pub fn shown_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => match u.host_str() {
            Some(host) => match u.port() {
                Some(port) => format!("{}://{host}:{port}", u.scheme()),
                None => format!("{}://{host}", u.scheme()),
            },
            None => u.scheme().to_owned(),
        },
        Err(_) => "(not a URL)".to_owned(),
    }
}

/// One attempt: `Ok` when the receiver took it, otherwise why not, without the URL.
async fn attempt(client: &reqwest::Client, url: &str, body: &Value) -> Result<(), String> {
    match client.post(url).json(body).send().await {
        Ok(r) if r.status().is_success() => Ok(()),
        Ok(r) => Err(format!("refused with {}", r.status())),
        Err(e) => Err(e.without_url().to_string()),
    }
}

async fn send(client: &reqwest::Client, url: &str, body: &Value) {
    let mut wait = Duration::from_secs(1);
    let to = shown_url(url);
    for attempt_no in 1..=ATTEMPTS {
        match attempt(client, url, body).await {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(to = %to, error = %e, attempt = attempt_no, "the drift notification was not delivered");
            }
        }
        if attempt_no < ATTEMPTS {
            tokio::time::sleep(wait).await;
            wait *= 2;
        }
    }
    tracing::error!(to = %to, event = %body["event"], object = %body["object"], "gave up on a drift notification");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drift::{advance, Resolution};
    use crate::state::address::Address;
    use std::collections::{BTreeMap, BTreeSet};

    #[test]
    fn an_episode_is_announced_once_after_n_observations_and_its_end_only_if_announced() {
        let seen = BTreeMap::from([(Address::app("shop"), vec!["description".to_owned()])]);
        let none = BTreeSet::new();
        let mut open = BTreeMap::new();
        let mut announced = Vec::new();
        for t in [
            "2026-11-28T10:00:00Z",
            "2026-11-28T10:01:00Z",
            "2026-11-28T10:02:00Z",
        ] {
            let update = advance(&open, &seen, &none, t);
            announced.extend(events(&update, 2).into_iter().map(|(e, _)| e));
            open = update
                .open()
                .map(|r| (r.object.clone(), r.clone()))
                .collect();
        }
        assert_eq!(announced, vec![DriftEvent::Detected]);
        let end = advance(&open, &BTreeMap::new(), &none, "2026-11-28T10:03:00Z");
        let ended = events(&end, 2);
        assert_eq!(ended.len(), 1);
        assert_eq!(ended[0].0, DriftEvent::Resolved);
        assert_eq!(ended[0].1.resolution, Some(Resolution::Resolved));

        // Seen once and gone: with --notify-after 2 nothing is ever sent.
        let once = advance(&BTreeMap::new(), &seen, &none, "2026-11-28T11:00:00Z");
        let open: BTreeMap<_, _> = once.open().map(|r| (r.object.clone(), r.clone())).collect();
        let gone = advance(&open, &BTreeMap::new(), &none, "2026-11-28T11:01:00Z");
        assert!(events(&once, 2).is_empty() && events(&gone, 2).is_empty());
    }

    #[test]
    fn the_body_is_slack_compatible_and_names_no_value() {
        let update = advance(
            &BTreeMap::new(),
            &BTreeMap::from([(Address::app("shop"), vec!["description".to_owned()])]),
            &BTreeSet::new(),
            "2026-11-28T10:00:00Z",
        );
        let b = body(DriftEvent::Detected, &update.opened[0], "http://idp/cis");
        assert!(b["text"].as_str().unwrap().contains("Application/shop"));
        assert_eq!(b["event"], "detected");
        assert_eq!(b["fields"][0], "description");
    }

    #[tokio::test]
    async fn a_failed_attempt_names_neither_the_path_nor_the_query_of_the_url() {
        // A port nothing listens on: connecting fails, as with an unreachable webhook.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let url = format!(
            "http://user:pw@127.0.0.1:{port}/services/T0001/B0001/SLACKPATH-CANARY?token=QCANARY"
        );
        let client = reqwest::Client::new();
        let err = attempt(&client, &url, &json!({"text": "x"}))
            .await
            .unwrap_err();
        for secret in ["SLACKPATH-CANARY", "QCANARY", "services", "pw"] {
            assert!(!err.contains(secret), "{err}");
        }
        assert!(!err.is_empty());
        assert_eq!(shown_url(&url), format!("http://127.0.0.1:{port}"));
        assert_eq!(
            shown_url("https://hooks.slack.com/services/T/B/X"),
            "https://hooks.slack.com"
        );
    }
}
