//! Benchmark: the daemon's web page with 10,000 managed objects (2,000 applications with 4
//! clients each), 200 of them drifting, 20 failing, and a history of 50 applies whose first wrote
//! every object. Measures the board a reconcile builds, and each page's server time: rendered
//! in-process, and fetched over HTTP from the daemon's real router on loopback; prints the HTML
//! size of each page.
//!
//! Run: `cargo bench --bench ui_render` (release build). Prints a markdown table.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

#[path = "../tests/support/mod.rs"]
mod support;
use support::{get_text, median};
use tenantsync::daemon::status::{router, HookPolicy, Metrics, Shared, Status};
use tenantsync::daemon::ui::query::{Query, RawQuery};
use tenantsync::daemon::ui::view::{Board, Round};
use tenantsync::daemon::ui::{page, Access, Ui};
use tenantsync::drift::DriftRecord;
use tenantsync::plan::{Action, Summary};
use tenantsync::reconcile::execute::{ApplyReport, ObjectResult, Outcome};
use tenantsync::reconcile::history::HistoryRecord;
use tenantsync::state::address::Address;
use tenantsync::state::entry::{Ownership, StateEntry, StateSnapshot};

const APPS: usize = 2_000;
const CLIENTS: [&str; 4] = ["Web", "iOS", "Android", "Backend"];

fn entry(address: Address, i: usize) -> StateEntry {
    StateEntry {
        address,
        name: String::new(),
        app_id: Some(format!("app-id-{i:06}")),
        id: Some(format!("client-id-{i:06}")),
        ownership: Ownership::Created,
        last_applied: json!({
            "name": format!("Object {i}"),
            "description": "Generated for the web page benchmark",
            "redirect_uris": [format!("https://app{i}.example.com/cb"), "http://127.0.0.1:3000/cb"],
            "token_expiration": {"access_token_ttl": 3600, "refresh_token_ttl": 1_209_600},
            "client_secret": {"$sensitive": "0f3c9a"},
        })
        .as_object()
        .cloned()
        .unwrap(),
        protect: false,
        applied_at: format!("2026-12-04T09:{:02}:{:02}Z", i / 60 % 60, i % 60),
    }
}

fn round_parts() -> Parts {
    let mut state = StateSnapshot::default();
    let mut drift = Vec::new();
    let mut first_apply = Vec::new();
    for a in 0..APPS {
        let app = format!("app-{a:04}");
        let address = Address::app(&app);
        first_apply.push(address.to_string());
        state.insert(entry(address, a));
        for (c, client) in CLIENTS.iter().enumerate() {
            let address = Address::client(&app, client);
            first_apply.push(address.to_string());
            if a % 10 == 0 && c == 0 {
                drift.push(DriftRecord {
                    object: address.clone(),
                    fields: vec!["redirect_uris".into(), "description".into()],
                    first_seen: "2026-12-04T10:00:00Z".into(),
                    last_seen: "2026-12-04T10:05:00Z".into(),
                    observations: 3,
                    resolved_at: None,
                    resolution: None,
                });
            }
            state.insert(entry(address, a * 10 + c));
        }
    }
    let report = ApplyReport {
        objects: (0..20)
            .map(|i| ObjectResult {
                name: format!("Client/app-{:04}/iOS", i * 97),
                action: Action::Update,
                outcome: Outcome::Failed {
                    message: "409 conflict: the redirect URI is taken".into(),
                },
            })
            .collect(),
        state_updates: 0,
    };
    let record = |objects: Vec<String>, minute: usize| HistoryRecord {
        time: format!("2026-12-04T08:{minute:02}:00Z"),
        user: "ci".into(),
        host: "runner".into(),
        target: "https://tenant.example".into(),
        manifests_revision: Some(format!("{minute:040x}")),
        mode: "sync".into(),
        plan: Summary::default(),
        report: ApplyReport {
            objects: objects
                .into_iter()
                .map(|name| ObjectResult {
                    name,
                    action: Action::Create,
                    outcome: Outcome::Ok,
                })
                .collect(),
            state_updates: 0,
        },
        result: "succeeded".into(),
        gates: None,
    };
    let mut history: Vec<HistoryRecord> = (1..50)
        .map(|m| record(vec![format!("Application/app-{m:04}")], 59 - m))
        .collect();
    history.push(record(first_apply, 0));
    (state, drift, report, history)
}

type Parts = (
    StateSnapshot,
    Vec<DriftRecord>,
    ApplyReport,
    Vec<HistoryRecord>,
);

fn build((state, drift, report, history): Parts) -> Board {
    let plan: tenantsync::plan::Plan = serde_json::from_value(json!({
        "format_version": tenantsync::plan::FORMAT_VERSION,
        "summary": {"create": 0, "update": 20, "delete": 0, "adopt": 0, "unchanged": 9980, "skipped_delete": 0},
        "changes": [], "skipped_deletes": [], "state_updates": [], "held_for_drift": [],
        "warnings": [], "target": "https://tenant.example", "state_lineage": "l",
        "manifests_fingerprint": "f"
    }))
    .expect("a plan");
    Board::build(Round {
        state: Arc::new(state),
        desired: None,
        plan: Some((&plan, &report)),
        open_drift: drift,
        ended_drift: Arc::default(),
        history: Arc::new(history),
    })
}

fn time<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut last = None;
    let samples = (0..runs)
        .map(|_| {
            let started = Instant::now();
            last = Some(f());
            started.elapsed()
        })
        .collect();
    (median(samples), last.expect("runs > 0"))
}

fn query(text: &str) -> Query {
    let raw: RawQuery = serde_json::from_value(serde_json::Value::Object(
        url::form_urlencoded::parse(text.as_bytes())
            .map(|(k, v)| (k.into_owned(), serde_json::Value::String(v.into_owned())))
            .collect(),
    ))
    .expect("a query");
    Query::from_raw(raw)
}

fn main() {
    let mut parts: Vec<Parts> = (0..5).map(|_| round_parts()).collect();
    let (built, board) = time(5, || build(parts.pop().expect("one per run")));
    assert_eq!(board.rows().len(), APPS * (1 + CLIENTS.len()));
    let status = Status {
        target: "https://tenant.example".into(),
        source: "git https://git.example/identity.git".into(),
        revision: Some("0123456789abcdef0123456789abcdef01234567".into()),
        last_result: Some("error".into()),
        last_reconcile: Some("2026-12-04T10:05:00Z".into()),
        ..Status::default()
    };
    let now = "2026-12-04T10:06:00Z";
    let pages = [
        ("first page", "/", ""),
        ("filtered: status drift", "/?status=drift", "status=drift"),
        (
            "filtered: name, sorted by last applied",
            "/?q=app-17&sort=applied&dir=desc",
            "q=app-17&sort=applied&dir=desc",
        ),
        ("page 150 of 200", "/?page=150", "page=150"),
    ];

    // Over HTTP, through the daemon's own router.
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let ui = Ui::new(Access::Open, true);
    let shared = Arc::new(Shared {
        status: Mutex::new(status.clone()),
        metrics: Metrics::default(),
        triggers: tx,
        hooks: HookPolicy::Loopback,
        hook: Arc::default(),
        deliveries: Mutex::default(),
        ui,
    });
    shared.ui.show(build(round_parts()));
    let base = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, router(shared)).await.unwrap();
        });
        format!("http://{addr}")
    });
    let http = reqwest::Client::new();

    println!("Web page, {} objects (release build)\n", board.rows().len());
    println!("| what | in-process render (median) | over HTTP (median of 30) | HTML |");
    println!("|---|---:|---:|---:|");
    println!(
        "| board built after a reconcile | {:.1} ms | | |",
        built.as_secs_f64() * 1e3
    );
    for (label, path, q) in pages {
        let q = query(q);
        let (render, html) = time(30, || {
            page::overview(&board, &status, &q, now).into_string()
        });
        let (over_http, body) = time(30, || {
            runtime.block_on(async { get_text(&http, format!("{base}{path}")).await })
        });
        assert!(body.contains("Needs attention") && body.len() > html.len() / 2);
        println!(
            "| {label} | {:.2} ms | {:.2} ms | {:.1} KB |",
            render.as_secs_f64() * 1e3,
            over_http.as_secs_f64() * 1e3,
            html.len() as f64 / 1024.0
        );
    }
    let key = "Client/app-0420/Web";
    let (render, html) = time(30, || {
        page::object(&board.detail(key).expect("an object"), &status, now).into_string()
    });
    let path = format!("/object?name={}", key.replace('/', "%2F"));
    let (over_http, _) = time(30, || {
        runtime.block_on(async {
            let r = http.get(format!("{base}{path}")).send().await.unwrap();
            assert_eq!(r.status(), 200);
            r.bytes().await.unwrap().len()
        })
    });
    println!(
        "| one object's page | {:.2} ms | {:.2} ms | {:.1} KB |",
        render.as_secs_f64() * 1e3,
        over_http.as_secs_f64() * 1e3,
        html.len() as f64 / 1024.0
    );
}
