//! Findings as text, JSON, SARIF 2.1.0 (for code scanning) and markdown, and the rule list.

use std::path::Path;

use serde_json::{json, Value};

use super::{rule, Finding, Severity, RULES};
use crate::shown::{code_span, escape_controls as clean, markdown_text, path_uri};

/// `file:line:col: severity ID title: message [object]`, one per line, and a summary.
pub fn text(findings: &[Finding]) -> String {
    let mut out = String::new();
    for f in findings {
        let title = rule(f.rule).map_or("malformed tenantsync/policy-ignore", |r| r.title);
        out.push_str(&format!(
            "{}:{}:{}: {} {} {title}: {} [{}]\n",
            f.file.display(),
            f.line,
            f.column,
            f.severity.as_str(),
            f.rule,
            clean(&f.message),
            clean(&f.object)
        ));
    }
    out.push_str(&summary(findings));
    out.push('\n');
    out
}

/// `N findings (h high, m medium, l low)` or `No findings.`
pub fn summary(findings: &[Finding]) -> String {
    if findings.is_empty() {
        return "No findings.".to_owned();
    }
    let count = |s: Severity| findings.iter().filter(|f| f.severity == s).count();
    format!(
        "{} finding{} ({} high, {} medium, {} low).",
        findings.len(),
        if findings.len() == 1 { "" } else { "s" },
        count(Severity::High),
        count(Severity::Medium),
        count(Severity::Low)
    )
}

/// `{"findings": [...], "summary": {...}}`.
pub fn json(findings: &[Finding]) -> Value {
    let count = |s: Severity| findings.iter().filter(|f| f.severity == s).count();
    json!({
        "format_version": 1,
        "findings": findings,
        "summary": {"high": count(Severity::High), "medium": count(Severity::Medium), "low": count(Severity::Low)},
    })
}

/// A markdown section for a pull-request comment.
pub fn markdown(findings: &[Finding]) -> String {
    if findings.is_empty() {
        return "**Policy:** no findings.\n".to_owned();
    }
    let mut out = format!(
        "**Policy:** {}\n\n| severity | rule | object | where | finding |\n|---|---|---|---|---|\n",
        summary(findings)
    );
    for f in findings {
        // Inside a table a `|` ends the cell even in a code span, so it is escaped there too.
        let place = format!("{}:{}:{}", f.file.display(), f.line, f.column);
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            f.severity.as_str(),
            f.rule,
            code_span(&f.object).replace('|', "\\|"),
            code_span(&place).replace('|', "\\|"),
            markdown_text(&f.message)
        ));
    }
    out
}

fn level(s: Severity) -> &'static str {
    match s {
        Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low => "note",
    }
}

/// A file as a SARIF artifact URI: relative to `root` when it lies in it, else a `file://`
/// URL; percent-encoded either way (a `#`, `?`, space or `%` in a name is not syntax).
fn artifact_uri(file: &Path, root: &Path) -> String {
    match file.strip_prefix(root) {
        Ok(relative) => path_uri(&relative.to_string_lossy().replace('\\', "/")),
        Err(_) => url::Url::from_file_path(file).map_or_else(
            |()| path_uri(&file.to_string_lossy().replace('\\', "/")),
            |u| u.to_string(),
        ),
    }
}

/// A SARIF 2.1.0 log: one run, every rule in `tool.driver.rules`, one result per finding with
/// its location; artifact URIs are relative to `root` (the repository) where files lie in it.
pub fn sarif(findings: &[Finding], root: &Path) -> Value {
    let rules: Vec<Value> = RULES
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "name": r.title,
                "shortDescription": {"text": r.title},
                "fullDescription": {"text": r.rationale},
                "helpUri": r.reference,
                "defaultConfiguration": {"level": level(r.severity)},
            })
        })
        .chain(std::iter::once(json!({
            "id": super::IGNORE_RULE,
            "name": "malformed tenantsync/policy-ignore",
            "shortDescription": {"text": "malformed tenantsync/policy-ignore"},
            "fullDescription": {"text": "An ignore must name a rule and give a reason: \"TS001: why\"."},
            "defaultConfiguration": {"level": "warning"},
        })))
        .collect();
    let results: Vec<Value> = findings
        .iter()
        .map(|f| {
            let uri = artifact_uri(&f.file, root);
            json!({
                "ruleId": f.rule,
                "level": level(f.severity),
                "message": {"text": format!("{} ({})", f.message, f.object)},
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": {"uri": uri},
                        "region": {"startLine": f.line, "startColumn": f.column},
                    }
                }],
            })
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "tenantsync",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "results": results,
        }],
    })
}

/// `tenantsync lint --rules`: every rule with its severity, the kinds it looks at, rationale
/// and reference.
pub fn rules_text() -> String {
    let mut out = String::new();
    for r in RULES {
        let kinds: Vec<&str> = r.applies_to.iter().map(|k| k.name()).collect();
        out.push_str(&format!(
            "{} {:<6} {}\n    applies to: {}\n    {}\n    {}\n",
            r.id,
            r.severity.as_str(),
            r.title,
            kinds.join(", "),
            r.rationale,
            r.reference
        ));
    }
    out.push_str(&format!(
        "{} medium a malformed tenantsync/policy-ignore (no reason, or an unknown rule)\n",
        super::IGNORE_RULE
    ));
    out
}
