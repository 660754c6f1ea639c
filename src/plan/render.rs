//! Plan rendering: text (optionally colored), markdown (a pull-request comment). JSON is the serde
//! form of [`super::Plan`]. Secrets appear only as `(sensitive)`: the plan never holds them.

use std::fmt::Write as _;

use serde_json::{Map, Value};

use std::borrow::Cow;
use std::collections::BTreeMap;

use super::diff::{FieldChange, FieldOp, ObjectParts};
use super::{Action, Change, Plan, StateUpdate};
use crate::model::kinds::REFERENCES;
use crate::shown::{code_fence, code_span, escape_controls as clean, markdown_text};

/// Text styling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    /// Use ANSI colors.
    pub color: bool,
}

impl Style {
    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }
    fn green(&self, t: &str) -> String {
        self.paint("32", t)
    }
    fn yellow(&self, t: &str) -> String {
        self.paint("33", t)
    }
    fn red(&self, t: &str) -> String {
        self.paint("31", t)
    }
    fn cyan(&self, t: &str) -> String {
        self.paint("36", t)
    }
    fn bold(&self, t: &str) -> String {
        self.paint("1", t)
    }
}

/// A value as one line of JSON, with control characters JSON leaves raw (DEL, C1, bidi
/// overrides) escaped too.
fn compact(value: &Value) -> String {
    clean(&serde_json::to_string(value).unwrap_or_default()).into_owned()
}

fn is_long(value: &Value) -> bool {
    let text = compact(value);
    text.len() > 72 || value.as_str().is_some_and(|s| s.contains('\n'))
}

/// A unified diff of two values rendered as pretty JSON (strings as their text).
fn value_diff(before: &Value, after: &Value, indent: &str, style: Style, out: &mut String) {
    let render = |v: &Value| match v {
        Value::String(s) => format!("{s}\n"),
        other => format!(
            "{}\n",
            serde_json::to_string_pretty(other).unwrap_or_default()
        ),
    };
    let (a, b) = (render(before), render(after));
    let diff = similar::TextDiff::from_lines(&a, &b);
    for change in diff.iter_all_changes() {
        let line = clean(change.value().trim_end_matches('\n'));
        let rendered = match change.tag() {
            similar::ChangeTag::Delete => style.red(&format!("- {line}")),
            similar::ChangeTag::Insert => style.green(&format!("+ {line}")),
            similar::ChangeTag::Equal => format!("  {line}"),
        };
        let _ = writeln!(out, "{indent}{rendered}");
    }
}

/// The members of an object field sent whole. Of a sensitive one, the members carried over are
/// named without their values: a member just removed from the manifest may be carried over with
/// the value it was read from the environment as.
fn object_parts(
    parts: &ObjectParts,
    indent: &str,
    sensitive: bool,
    style: Style,
    out: &mut String,
) {
    for s in &parts.changed {
        let before = s.before.as_ref().map_or("(unset)".to_owned(), compact);
        let after = s.after.as_ref().map_or("(unset)".to_owned(), compact);
        let _ = writeln!(
            out,
            "{indent}{} {}: {before} → {after}",
            style.yellow("~"),
            clean(&s.name)
        );
    }
    for s in &parts.unchanged {
        let v = s.after.as_ref().map_or(String::new(), compact);
        let _ = writeln!(out, "{indent}= {}: {v} (unchanged)", clean(&s.name));
    }
    for s in &parts.carried_over {
        let v = match &s.before {
            _ if sensitive => "(value not shown)".to_owned(),
            Some(v) => compact(v),
            None => String::new(),
        };
        let _ = writeln!(
            out,
            "{indent}= {}: {v} (carried over: not in the manifest, kept as live)",
            clean(&s.name)
        );
    }
    for s in &parts.dropped {
        let v = s.before.as_ref().map_or(String::new(), compact);
        let _ = writeln!(
            out,
            "{indent}{} {}: {v} (dropped: not in the manifest)",
            style.red("-"),
            clean(&s.name)
        );
    }
}

fn field_line(f: &FieldChange, style: Style, out: &mut String) {
    let drift = if f.drift && f.pending {
        style.cyan(" (drift: changed outside tenantsync; the manifest changed it too)")
    } else if f.drift {
        style.cyan(" (drift: changed outside tenantsync)")
    } else if f.unseen {
        // The API does not show the field: compared with the last applied value.
        " (not returned by the API: compared with the last applied value)".to_owned()
    } else {
        String::new()
    };
    let before = f.before.as_ref();
    let after = f.after.as_ref();
    let field = clean(&f.field);
    match f.op {
        FieldOp::Add | FieldOp::Change | FieldOp::Reset => {
            let marker = if f.op == FieldOp::Add {
                style.green("+")
            } else {
                style.yellow("~")
            };
            let reset = if f.op == FieldOp::Reset {
                " (removed from the manifest: back to the default)"
            } else {
                ""
            };
            if let Some(parts) = f.object.as_ref().filter(|_| f.sensitive) {
                // Its members, the hidden ones' values as `(sensitive)`: what the write keeps
                // and what it takes away is shown, never a secret.
                let _ = writeln!(
                    out,
                    "    {marker} {}: whole object sent (sensitive values hidden){reset}{drift}",
                    field
                );
                object_parts(parts, "        ", true, style, out);
            } else if f.sensitive {
                let _ = writeln!(
                    out,
                    "    {marker} {}: (sensitive value changes){reset}{drift}",
                    field
                );
            } else if let Some(parts) = &f.object {
                let _ = writeln!(
                    out,
                    "    {marker} {}: whole object sent{reset}{drift}",
                    field
                );
                object_parts(parts, "        ", false, style, out);
            } else if let (Some(b), Some(a)) = (before, after) {
                if is_long(b) || is_long(a) {
                    let _ = writeln!(out, "    {marker} {}:{reset}{drift}", field);
                    value_diff(b, a, "        ", style, out);
                } else {
                    let _ = writeln!(
                        out,
                        "    {marker} {}: {} → {}{reset}{drift}",
                        field,
                        compact(b),
                        compact(a)
                    );
                }
            } else {
                let _ = writeln!(
                    out,
                    "    {marker} {}: {}{reset}{drift}",
                    field,
                    after.map_or(String::new(), compact)
                );
            }
        }
        FieldOp::Release => {
            let stays = before.map_or("as it is".to_owned(), |b| format!("stays {}", compact(b)));
            let _ = writeln!(
                out,
                "    ! {}: {stays} (removed from the manifest; the API cannot clear it; no longer managed)",
                field,
            );
        }
    }
}

fn body_lines(body: &Map<String, Value>, indent: &str, style: Style, out: &mut String) {
    for (k, v) in body {
        match v {
            Value::Object(inner) if k == "first_client" => {
                let _ = writeln!(
                    out,
                    "{indent}{} {k}: (the default client)",
                    style.green("+")
                );
                body_lines(inner, &format!("{indent}    "), style, out);
            }
            _ => {
                let _ = writeln!(
                    out,
                    "{indent}{} {}: {}",
                    style.green("+"),
                    clean(k),
                    compact(v)
                );
            }
        }
    }
}

/// What a rendered change block is made of, for applications, clients and the described
/// kinds alike.
struct Block<'a> {
    action: Action,
    name: &'a str,
    ids: Vec<String>,
    drift: bool,
    notes: &'a [String],
    body: Option<Cow<'a, Map<String, Value>>>,
    fields: Cow<'a, [FieldChange]>,
}

impl<'a> Block<'a> {
    fn of(change: &'a Change, refs: &BTreeMap<String, String>) -> Self {
        let mut ids = Vec::new();
        match change.object_address() {
            Some(address) => {
                if let (Some(field), Some(id)) = (address.kind.spec().api.id_field, &change.id) {
                    ids.push(format!("{field} {id}"));
                }
            }
            None => {
                if let Some(a) = &change.app_id {
                    ids.push(format!("app_id {a}"));
                }
                if let Some(c) = &change.id {
                    ids.push(format!("client_id {c}"));
                }
            }
        }
        Block {
            action: change.action,
            name: &change.name,
            ids,
            drift: change.drift,
            notes: &change.notes,
            body: change.body.as_ref().map(|b| named_body(&b.shown, refs)),
            fields: named_fields(&change.fields, refs),
        }
    }
}

/// A reference field's value as plans show it: each id (or placeholder of an object the plan
/// creates) by the name of the document it stands for, an id of an object tenantsync does not
/// manage as `{"id": …}`.
fn named(value: &Value, refs: &BTreeMap<String, String>) -> Value {
    match value {
        Value::Array(items) => Value::Array(items.iter().map(|v| named(v, refs)).collect()),
        Value::String(id) => match refs.get(id) {
            Some(name) => Value::String(name.clone()),
            None => serde_json::json!({ "id": id }),
        },
        other => other.clone(),
    }
}

fn is_reference_field(field: &str) -> bool {
    REFERENCES.iter().any(|r| r.field == field)
}

fn named_body<'a>(
    body: &'a Map<String, Value>,
    refs: &BTreeMap<String, String>,
) -> Cow<'a, Map<String, Value>> {
    if !body
        .keys()
        .any(|k| is_reference_field(k) || k == "first_client")
    {
        return Cow::Borrowed(body);
    }
    Cow::Owned(
        body.iter()
            .map(|(k, v)| {
                let v = match v {
                    _ if is_reference_field(k) => named(v, refs),
                    Value::Object(inner) if k == "first_client" => {
                        Value::Object(named_body(inner, refs).into_owned())
                    }
                    other => other.clone(),
                };
                (k.clone(), v)
            })
            .collect(),
    )
}

/// `fields` with their reference fields' values as plans show them ([`named`]): what every
/// report of a plan's field changes shows (plans, `drift`).
pub fn named_fields<'a>(
    fields: &'a [FieldChange],
    refs: &BTreeMap<String, String>,
) -> Cow<'a, [FieldChange]> {
    if !fields.iter().any(|f| is_reference_field(&f.field)) {
        return Cow::Borrowed(fields);
    }
    Cow::Owned(
        fields
            .iter()
            .map(|f| {
                if !is_reference_field(&f.field) || f.sensitive {
                    return f.clone();
                }
                FieldChange {
                    before: f.before.as_ref().map(|v| named(v, refs)),
                    after: f.after.as_ref().map(|v| named(v, refs)),
                    ..f.clone()
                }
            })
            .collect(),
    )
}

/// Every change of the plan as a block, in execution order.
fn blocks(plan: &Plan) -> Vec<Block<'_>> {
    plan.changes
        .iter()
        .map(|c| Block::of(c, &plan.references))
        .collect()
}

fn heading(change: &Block<'_>, style: Style) -> String {
    let (marker, verb) = match change.action {
        Action::Create => (style.green("+"), "create"),
        Action::Adopt => (style.cyan("⇐"), "adopt"),
        Action::Update => (style.yellow("~"), "update"),
        Action::Delete => (style.red("-"), "delete"),
    };
    let ids = if change.ids.is_empty() {
        String::new()
    } else {
        format!(" ({})", change.ids.join(", "))
    };
    let drift = if change.drift {
        style.cyan(" [drift]")
    } else {
        String::new()
    };
    format!(
        "{marker} {} {}{}{drift}",
        style.bold(verb),
        clean(change.name),
        clean(&ids)
    )
}

fn change_block(change: &Block<'_>, style: Style, out: &mut String) {
    let _ = writeln!(out, "{}", heading(change, style));
    for note in change.notes {
        let _ = writeln!(out, "    # {}", clean(note));
    }
    match change.action {
        Action::Create => {
            if let Some(body) = &change.body {
                body_lines(body, "    ", style, out);
            }
        }
        _ => {
            for f in change.fields.iter() {
                field_line(f, style, out);
            }
        }
    }
}

/// Each planned and held change of the plan as its text block (no colour), by the name plans
/// show it under (`Client/shop/Web`, `Resource/payouts-api`): the daemon's web page shows one
/// object's diff exactly as the plan would.
pub fn blocks_by_name(plan: &Plan) -> BTreeMap<String, String> {
    let held = plan
        .held_for_drift
        .iter()
        .map(|c| Block::of(c, &plan.references));
    blocks(plan)
        .into_iter()
        .chain(held)
        .map(|block| {
            let mut out = String::new();
            change_block(&block, Style { color: false }, &mut out);
            (block.name.to_owned(), out)
        })
        .collect()
}

/// The closing line, e.g. `Plan: 1 to create, 2 to update, 0 to delete, 0 to adopt.`, and
/// the updates that wait, if any.
pub fn summary_line(plan: &Plan) -> String {
    let s = &plan.summary;
    let mut line = format!(
        "Plan: {} to create, {} to update, {} to delete, {} to adopt.",
        s.create, s.update, s.delete, s.adopt
    );
    if s.waiting > 0 {
        line.push(' ');
        line.push_str(&waits_text(s.waiting));
    }
    line
}

/// What `waiting` updates that wait mean for the reader.
fn waits_text(waiting: usize) -> String {
    format!(
        "{waiting} {} not updated; the target does not match the manifests until the warnings' advice is followed.",
        if waiting == 1 { "object waits," } else { "objects wait," }
    )
}

/// What a plan made with `--refresh changed` did not read, said plainly (none for a full read).
pub fn not_refreshed_line(plan: &Plan) -> Option<String> {
    plan.not_refreshed.map(|n| {
        format!("{n} managed objects not refreshed (--refresh changed): drift in them is not shown")
    })
}

/// How a state-only update names its object: as its change would (`Role/clerk`: the kind and
/// the document's `metadata.name`), or by its address where the record keeps no name
/// (applications and clients: `Application/shop`).
fn recorded_name(update: &StateUpdate) -> String {
    match &update.record.name {
        Some(name) => format!("{}/{name}", update.address.kind),
        None => update.address.to_string(),
    }
}

/// A state-only update's reasons as markdown: the field names they write between backticks as
/// code, the rest as text that renders as itself.
fn reasons_markdown(reasons: &str) -> String {
    reasons
        .split('`')
        .enumerate()
        .map(|(i, part)| match i % 2 {
            1 => code_span(part),
            _ => markdown_text(part),
        })
        .collect()
}

/// The plan as text.
pub fn text(plan: &Plan, style: Style) -> String {
    let mut out = String::new();
    match plan.summary.waiting {
        _ if plan.has_changes() => {}
        0 => {
            let _ = writeln!(
                out,
                "No changes: the target matches the manifests ({} objects unchanged).",
                plan.summary.unchanged
            );
        }
        waiting => {
            let _ = writeln!(out, "No changes can be applied: {}", waits_text(waiting));
        }
    }
    for change in &blocks(plan) {
        change_block(change, style, &mut out);
        out.push('\n');
    }
    for skipped in &plan.skipped_deletes {
        let _ = writeln!(
            out,
            "  {} kept: {}",
            clean(&skipped.name),
            clean(&skipped.reason)
        );
    }
    for update in &plan.state_updates {
        let because = match update.reasons.as_slice() {
            [] => String::new(),
            reasons => format!(": {}", clean(&reasons.join("; "))),
        };
        let _ = writeln!(
            out,
            "  {}: its state record is written again (nothing is sent upstream){because}",
            clean(&recorded_name(update))
        );
    }
    for warning in &plan.warnings {
        let _ = writeln!(out, "{} {}", style.yellow("warning:"), clean(warning));
    }
    if let Some(line) = not_refreshed_line(plan) {
        let _ = writeln!(out, "{line}");
    }
    let _ = writeln!(out, "{}", style.bold(&summary_line(plan)));
    out
}

/// The plan as a pull-request comment.
pub fn markdown(plan: &Plan) -> String {
    let s = &plan.summary;
    let mut out = String::new();
    let _ = writeln!(out, "<!-- tenantsync-plan -->");
    let _ = writeln!(out, "### tenantsync plan for {}\n", code_span(&plan.target));
    match s.waiting {
        _ if plan.has_changes() => {}
        0 => {
            let _ = writeln!(
                out,
                "**No changes.** The target matches the manifests ({} objects).\n",
                s.unchanged
            );
        }
        waiting => {
            let _ = writeln!(
                out,
                "**No changes can be applied:** {}\n",
                waits_text(waiting)
            );
        }
    }
    let _ = writeln!(
        out,
        "| create | update | delete | adopt | unchanged | kept (not deleted) |"
    );
    let _ = writeln!(out, "|---:|---:|---:|---:|---:|---:|");
    let _ = writeln!(
        out,
        "| {} | {} | {} | {} | {} | {} |\n",
        s.create, s.update, s.delete, s.adopt, s.unchanged, s.skipped_delete
    );
    let plain = Style { color: false };
    for change in &blocks(plan) {
        let mut block = String::new();
        change_block(change, plain, &mut block);
        let mut lines = block.lines();
        let head = lines.next().unwrap_or_default();
        let _ = writeln!(
            out,
            "<details><summary><code>{}</code></summary>\n",
            html_escape(head)
        );
        let mut body = String::new();
        for diff_line in lines.flat_map(diff_lines) {
            body.push_str(&diff_line);
            body.push('\n');
        }
        let fence = code_fence(&body);
        let _ = writeln!(out, "{fence}diff\n{body}{fence}\n</details>\n");
    }
    if !plan.skipped_deletes.is_empty() {
        let _ = writeln!(out, "**Kept (not deleted):**\n");
        for k in &plan.skipped_deletes {
            let _ = writeln!(
                out,
                "- {}: {}",
                code_span(&k.name),
                markdown_text(&k.reason)
            );
        }
        out.push('\n');
    }
    if !plan.state_updates.is_empty() {
        let _ = writeln!(
            out,
            "**State records written again (nothing is sent upstream):**\n"
        );
        for update in &plan.state_updates {
            let because = match update.reasons.as_slice() {
                [] => String::new(),
                reasons => format!(": {}", reasons_markdown(&reasons.join("; "))),
            };
            let _ = writeln!(out, "- {}{because}", code_span(&recorded_name(update)));
        }
        out.push('\n');
    }
    for w in &plan.warnings {
        let _ = writeln!(out, "> ⚠️ {}\n", markdown_text(w));
    }
    if let Some(line) = not_refreshed_line(plan) {
        let _ = writeln!(out, "> {line}\n");
    }
    let _ = writeln!(out, "`{}`", summary_line(plan));
    out
}

/// A text plan line as lines of a ```` ```diff ```` block, which GitHub colours by their first
/// character: a changed value becomes a `-` line with the old value and a `+` line with the new,
/// additions `+`, drops `-`; everything else (`~` object headers, `=` unchanged and carried-over
/// parts, `#` notes, `!` releases) stays as context, indented as in the text plan.
fn diff_lines(line: &str) -> Vec<String> {
    let rest = line.trim_start();
    let indent = &line[..line.len() - rest.len()];
    let Some((marker, body)) = rest.split_once(' ') else {
        return vec![format!(" {line}")];
    };
    match marker {
        "+" => vec![format!("+{indent}{body}")],
        "-" => vec![format!("-{indent}{body}")],
        "~" => match body.split_once(": ").and_then(|(field, values)| {
            values
                .split_once(" → ")
                .map(|(before, after)| (field, before, after))
        }) {
            Some((field, before, after)) => vec![
                format!("-{indent}{field}: {before}"),
                format!("+{indent}{field}: {after}"),
            ],
            None => vec![format!(" {line}")],
        },
        _ => vec![format!(" {line}")],
    }
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Field names between backticks become code; everything else renders as itself, so a
    /// name cannot break out of its span nor the text around it become markup.
    #[test]
    fn reasons_show_field_names_as_code_and_nothing_as_markup() {
        assert_eq!(
            reasons_markdown("now protected; `description` already live as the manifest now says"),
            "now protected; `description` already live as the manifest now says"
        );
        assert_eq!(
            reasons_markdown("`a*b<i>` no longer managed (left live as it is)"),
            "`a*b<i>` no longer managed (left live as it is)"
        );
        assert_eq!(reasons_markdown("**x** `y"), "\\*\\*x\\*\\* `y`");
    }
}
