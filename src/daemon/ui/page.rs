//! The web page's HTML, rendered on the server with maud (checked at compile time, every
//! interpolated value HTML-escaped): the overview (needs attention, then all objects), one
//! object's page, the history, the login form and the status badge.

use maud::{html, Markup, DOCTYPE};

use super::query::{Page, Query, SortBy};
use super::view::{Board, Detail, ObjectStatus, Row};
use crate::daemon::status::Status;
use crate::drift::{seconds_between, DriftRecord};
use crate::reconcile::history::HistoryRecord;

/// A duration for people: `42s`, `3m 5s`, `2h 10m`, `3d 4h`.
pub fn age(seconds: u64) -> String {
    let (d, h, m, s) = (
        seconds / 86_400,
        seconds / 3600 % 24,
        seconds / 60 % 60,
        seconds % 60,
    );
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m {s}s"),
        (0, _, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h"),
    }
}

/// An RFC 3339 time to the second, for tables (`2026-12-04 15:36:24`); the full value goes in
/// the `datetime` attribute.
pub fn short_time(at: &str) -> String {
    at.get(..19).unwrap_or(at).replacen('T', " ", 1)
}

fn when(at: &str) -> Markup {
    html! { time datetime=(at) title=(at) { (short_time(at)) } }
}

fn object_link(key: &str) -> String {
    let q: String = url::form_urlencoded::byte_serialize(key.as_bytes()).collect();
    format!("/object?name={q}")
}

fn status_chip(status: ObjectStatus) -> Markup {
    html! { span class={ "chip " (status.as_str()) } { (status) } }
}

fn layout(title: &str, status: &Status, now: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="no-referrer";
                title { (title) " · tenantsync" }
                link rel="stylesheet" href="/ui/style.css";
                script src="/ui/app.js" defer {}
            }
            body {
                (header(status, now))
                main { (body) }
                footer { "Rendered " (when(now)) " UTC · read-only · " a href="/status" { "/status" } " · " a href="/metrics" { "/metrics" } }
            }
        }
    }
}

fn header(status: &Status, now: &str) -> Markup {
    let result = status.last_result.as_deref().unwrap_or("none yet");
    let role = match status.role {
        crate::daemon::leader::Role::Leader => "leader",
        crate::daemon::leader::Role::Follower => "follower",
    };
    html! {
        header.top {
            a.brand href="/" { "tenantsync" }
            nav { a href="/" { "Objects" } a href="/history" { "History" } }
            dl.facts {
                div { dt { "Target" } dd.mono { (status.target) } }
                div { dt { "Source" } dd.mono { (status.source) } }
                div { dt { "Revision" } dd.mono { (status.revision.as_deref().unwrap_or("—")) } }
                div { dt { "Role" } dd { span class={ "chip " (role) } { (role) } } }
                div {
                    dt { "Last reconcile" }
                    dd {
                        span class={ "chip " (result) } { (result) }
                        @if let Some(at) = &status.last_reconcile {
                            " " time datetime=(at) title=(at) { (age(seconds_between(at, now))) " ago" }
                        }
                        @if let Some(trigger) = &status.last_trigger { " (" (trigger) ")" }
                    }
                }
                @if let Some(api) = &status.api {
                    div {
                        dt { "Rate in force" }
                        dd { (api.rate_limit.map_or("no limit".to_owned(), |r| format!("{r:.2}/s"))) " · " (api.requests) " requests" }
                    }
                }
                @if let Some(sweep) = &status.sweep {
                    div {
                        dt { "Sweep coverage" }
                        dd title={ "every managed application is re-read within " (age(sweep.period_seconds as u64)) }
                        { "all read within " (age(sweep.coverage_seconds as u64))
                          @if sweep.stretched { " " span.chip.drift { "period stretched" } } }
                    }
                }
                @if let Some(retry) = status.retry_in_seconds {
                    div { dt { "Retry in" } dd { (age(retry as u64)) } }
                }
            }
        }
    }
}

/// Rows the "needs attention" list shows; the rest are a filter away (a page stays small however
/// many objects drift at once).
pub const ATTENTION_SHOWN: usize = 25;

fn attention(board: &Board, status: &Status, now: &str) -> Markup {
    let rows = board.attention();
    let quiet = rows.is_empty() && status.errors.is_empty() && status.skipped_deletes.is_empty();
    html! {
        section #attention {
            h2 { "Needs attention" }
            @if quiet {
                p.calm { "Nothing: every object is in sync or on its way." }
            }
            @if !status.errors.is_empty() {
                ul.errors { @for e in &status.errors { li.mono { (e) } } }
            }
            @if !rows.is_empty() {
                table {
                    thead { tr { th { "Status" } th { "Object" } th { "What" } th { "Since" } } }
                    tbody {
                        @for row in rows.iter().take(ATTENTION_SHOWN) { (attention_row(board, row, now)) }
                    }
                }
                @if rows.len() > ATTENTION_SHOWN {
                    p.more {
                        "… and " (rows.len() - ATTENTION_SHOWN) " more: "
                        @for s in [ObjectStatus::Failed, ObjectStatus::Drift, ObjectStatus::Held] {
                            a href={ "/?status=" (s.as_str()) } { "all " (s) } " "
                        }
                    }
                }
            }
            @if !status.skipped_deletes.is_empty() {
                h3 { "Deletions not carried out" }
                ul { @for s in &status.skipped_deletes { li.mono { (s) } } }
            }
        }
    }
}

fn attention_row(board: &Board, row: &Row, now: &str) -> Markup {
    let drift = board.open_drift(&row.key);
    html! {
        tr.attention {
            td { (status_chip(row.status)) }
            td { a.mono href=(object_link(&row.key)) { (row.key) } }
            td {
                @if let Some(message) = board.failure(&row.key) { span.mono { (message) } }
                @else if let Some(d) = drift { "fields: " span.mono { (d.fields.join(", ")) } }
                @else { "held back by the daemon (see the object)" }
            }
            td {
                @if let Some(d) = drift {
                    time.age datetime=(d.first_seen) title=(d.first_seen) { (age(seconds_between(&d.first_seen, now))) }
                }
            }
        }
    }
}

fn filters(board: &Board, query: &Query) -> Markup {
    html! {
        form.filters method="get" action="/" {
            label { "Kind "
                select name="kind" {
                    option value="" { "all" }
                    @for kind in board.kinds() {
                        option value=(kind) selected[query.kind.as_deref() == Some(kind)] { (kind) }
                    }
                }
            }
            label { "Status "
                select name="status" {
                    option value="" { "all" }
                    @for s in ObjectStatus::ALL {
                        option value=(s.as_str()) selected[query.status == Some(s)] { (s) }
                    }
                }
            }
            label { "Name "
                input type="search" name="q" value=(query.name.as_deref().unwrap_or("")) placeholder="contains…";
            }
            button type="submit" { "Filter" }
            @if query.kind.is_some() || query.status.is_some() || query.name.is_some() {
                " " a href="/" { "clear" }
            }
        }
    }
}

fn sort_header(query: &Query, column: SortBy, label: &str) -> Markup {
    let active = query.sort == column;
    let descending = active && !query.descending;
    let arrow = match (active, query.descending) {
        (false, _) => "",
        (true, false) => " ▲",
        (true, true) => " ▼",
    };
    html! { th { a href=(query.link(Some(column), Some(descending), Some(1))) { (label) (arrow) } } }
}

fn objects(board: &Board, query: &Query, page: &Page<'_>) -> Markup {
    html! {
        section #objects {
            h2 { "Objects " span.count { (page.matching) " of " (board.rows().len()) } }
            (filters(board, query))
            table.objects {
                thead { tr {
                    (sort_header(query, SortBy::Status, "Status"))
                    (sort_header(query, SortBy::Kind, "Kind"))
                    (sort_header(query, SortBy::Name, "Name"))
                    th { "Application" }
                    (sort_header(query, SortBy::Applied, "Last applied"))
                    th { "Revision" }
                } }
                tbody {
                    @for row in &page.rows {
                        tr data-status=(row.status.as_str()) {
                            td { (status_chip(row.status)) }
                            td { (row.kind) }
                            td { a.mono.name href=(object_link(&row.key)) { (row.name) } }
                            td { (row.application.as_deref().unwrap_or("")) }
                            td { @if let Some(at) = &row.applied_at { (when(at)) } @else { "never" } }
                            td.mono { (row.revision.as_deref().map_or("—", short_revision)) }
                        }
                    }
                    @if page.rows.is_empty() {
                        tr { td colspan="6" { "No object matches." } }
                    }
                }
            }
            nav.pager {
                @if page.page > 1 { a rel="prev" href=(query.link(None, None, Some(page.page - 1))) { "← previous" } }
                span { "page " (page.page) " of " (page.pages) }
                @if page.page < page.pages { a rel="next" href=(query.link(None, None, Some(page.page + 1))) { "next →" } }
            }
        }
    }
}

fn short_revision(revision: &str) -> &str {
    revision.get(..12).unwrap_or(revision)
}

/// The overview: header, needs attention, then one page of the objects.
pub fn overview(board: &Board, status: &Status, query: &Query, now: &str) -> Markup {
    let page = super::query::select(board.rows(), query);
    let counts = board.counts();
    layout(
        "Overview",
        status,
        now,
        html! {
            nav.counts {
                @for s in ObjectStatus::ALL {
                    a class={ "chip " (s.as_str()) } href={ "/?status=" (s.as_str()) } { (s) ": " (counts.get(&s).copied().unwrap_or(0)) }
                }
            }
            (attention(board, status, now))
            (objects(board, query, &page))
        },
    )
}

fn drift_table(episodes: &[&DriftRecord], now: &str) -> Markup {
    html! {
        table.drift {
            thead { tr { th { "Fields" } th { "First seen" } th { "Last seen" } th { "Observations" } th { "Ended" } } }
            tbody {
                @for d in episodes {
                    tr class=(if d.resolved_at.is_none() { "open" } else { "ended" }) {
                        td.mono { (d.fields.join(", ")) }
                        td { (when(&d.first_seen))
                            @if d.resolved_at.is_none() { " (" span.age { (age(seconds_between(&d.first_seen, now))) } " ago)" } }
                        td { (when(&d.last_seen)) }
                        td { (d.observations) }
                        td { @match (&d.resolved_at, d.resolution) {
                            (Some(at), Some(how)) => { (how.as_str()) " at " (when(at)) },
                            (Some(at), None) => { (when(at)) },
                            _ => span.chip.drift { "open" },
                        } }
                    }
                }
            }
        }
    }
}

/// One object's page.
pub fn object(detail: &Detail<'_>, status: &Status, now: &str) -> Markup {
    let row = detail.row;
    layout(
        &row.key,
        status,
        now,
        html! {
            h2.mono.object-name { (row.key) }
            dl.facts.object {
                div { dt { "Status" } dd { (status_chip(row.status)) } }
                div { dt { "Kind" } dd { (row.kind) } }
                @if let Some(app) = &row.application { div { dt { "Application" } dd.mono { a href=(object_link(&format!("Application/{app}"))) { (app) } } } }
                div { dt { "Source" } dd.mono { (detail.source.unwrap_or("not in the manifests")) } }
                div { dt { "Last applied" } dd { @if let Some(at) = &row.applied_at { (when(at)) } @else { "never" } } }
                div { dt { "Revision" } dd.mono { (row.revision.as_deref().unwrap_or("—")) } }
            }
            @if let Some(message) = detail.failure {
                section #failure { h3 { "Last change failed" } pre { (message) } }
            }
            section #diff {
                h3 { "Current diff" }
                @if let Some(diff) = detail.diff { pre.diff { @for line in diff.lines() { span class=(diff_class(line)) { (line) } "\n" } } }
                @else { p.calm { "None: the last reconcile planned no change for it." } }
            }
            section #drift {
                h3 { "Drift" }
                @if detail.drift.is_empty() { p.calm { "No drift episode recorded." } }
                @else { (drift_table(&detail.drift, now)) }
            }
            section #applied {
                h3 { "Last applied values" }
                @if let Some(values) = &detail.last_applied { pre { (values) } }
                @else { p.calm { "Not applied yet." } }
            }
            section #object-history {
                h3 { "History" }
                @if detail.history.is_empty() { p.calm { "No apply the daemon keeps touched it." } }
                @else {
                    table {
                        thead { tr { th { "When" } th { "Revision" } th { "Action" } th { "Outcome" } } }
                        tbody { @for e in &detail.history {
                            tr { td { (when(&e.time)) } td.mono { (e.revision.as_deref().unwrap_or("—")) } td { (e.action) } td.mono { (e.outcome) } }
                        } }
                    }
                }
            }
        },
    )
}

fn diff_class(line: &str) -> &'static str {
    match line.trim_start().chars().next() {
        Some('+') => "add",
        Some('-') => "del",
        Some('~') => "chg",
        Some('#') => "note",
        _ => "ctx",
    }
}

/// The history of applies.
pub fn history(records: &[HistoryRecord], status: &Status, now: &str) -> Markup {
    layout(
        "History",
        status,
        now,
        html! {
            h2 { "Applies" }
            @if records.is_empty() { p.calm { "No apply recorded yet." } }
            @else {
                table.history {
                    thead { tr { th { "When" } th { "Who" } th { "Mode" } th { "Revision" } th { "Plan" } th { "Result" } } }
                    tbody { @for r in records {
                        tr {
                            td { (when(&r.time)) }
                            td { (r.user) "@" (r.host) }
                            td { (r.mode) }
                            td.mono { (r.manifests_revision.as_deref().unwrap_or("—")) }
                            td { (r.plan.create) " created, " (r.plan.update) " updated, " (r.plan.adopt) " adopted, " (r.plan.delete) " deleted" }
                            td { span class={ "chip " (if r.result == "succeeded" { "in-sync" } else { "failed" }) } { (r.result) } }
                        }
                    } }
                }
            }
        },
    )
}

/// The page of an object the board does not have.
pub fn not_found(status: &Status, now: &str) -> Markup {
    layout(
        "No such object",
        status,
        now,
        html! {
            h2 { "No such object" }
            p.calm { "The last reconcile saw no object of that name. " a href="/" { "All objects" } }
        },
    )
}

/// The page asking for the token (`--ui-token-file`).
pub fn login(failed: bool) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { "Sign in · tenantsync" }
                link rel="stylesheet" href="/ui/style.css";
            }
            body.login {
                main {
                    h1 { "tenantsync" }
                    p { "This status page needs the token from the daemon's " code { "--ui-token-file" } "." }
                    @if failed { p.error { "That token is not the one." } }
                    form method="post" action="/login" {
                        label { "Token " input type="password" name="token" autocomplete="current-password" required; }
                        button type="submit" { "Open" }
                    }
                }
            }
        }
    }
}

/// The page served instead when the UI may not be shown (a non-loopback listener without a
/// token file).
pub fn refused(reason: &str) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head { meta charset="utf-8"; title { "tenantsync" } }
            body { h1 { "The status page is off" } p { (reason) } }
        }
    }
}

/// The status badge: `tenantsync | in sync` (green), `drift` (orange), `failed` (red),
/// `pending` (grey).
pub fn badge(board: &Board, status: &Status) -> String {
    let counts = board.counts();
    let has = |s| counts.get(&s).copied().unwrap_or(0) > 0;
    let (text, colour) =
        if status.last_result.as_deref() == Some("error") || has(ObjectStatus::Failed) {
            ("failed", "#c62828")
        } else if has(ObjectStatus::Drift) || has(ObjectStatus::Held) {
            ("drift", "#ef6c00")
        } else if has(ObjectStatus::Pending) || status.last_result.is_none() {
            ("pending", "#757575")
        } else {
            ("in sync", "#2e7d32")
        };
    let right = 10 + 7 * text.len();
    let total = 80 + right;
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{total}" height="20" role="img" aria-label="tenantsync: {text}"><title>tenantsync: {text}</title><rect width="80" height="20" fill="#555"/><rect x="80" width="{right}" height="20" fill="{colour}"/><g fill="#fff" font-family="Verdana,DejaVu Sans,sans-serif" font-size="11"><text x="8" y="14">tenantsync</text><text x="86" y="14">{text}</text></g></svg>"##
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_like_people_write_them() {
        assert_eq!(age(42), "42s");
        assert_eq!(age(185), "3m 5s");
        assert_eq!(age(7800), "2h 10m");
        assert_eq!(age(3 * 86_400 + 4 * 3600 + 5), "3d 4h");
    }

    #[test]
    fn object_links_encode_every_character_of_the_name() {
        assert_eq!(
            object_link("Client/shop/<b> & ?x"),
            "/object?name=Client%2Fshop%2F%3Cb%3E+%26+%3Fx"
        );
    }

    #[test]
    fn the_login_page_never_echoes_anything() {
        let page = login(true).into_string();
        assert!(page.contains("not the one"));
        assert!(page.contains(r#"name="token""#));
    }
}
