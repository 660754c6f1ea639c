//! One report across environments: which objects each environment's plan changes, as an object
//! × environment matrix (text for the terminal, markdown for the pull-request comment).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::{Action, Plan};
use crate::shown::{code_span, escape_controls as clean};

/// The changes of several plans, by object and environment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Matrix {
    /// The environments, in the order given; `false` when it could not be planned.
    environments: Vec<(String, bool)>,
    /// Object name → environment → what its plan does there.
    rows: BTreeMap<String, BTreeMap<String, Action>>,
    /// The environments with updates that wait (not updated: the warnings say why), and how
    /// many.
    waiting: Vec<(String, usize)>,
}

fn verb(action: Action) -> &'static str {
    match action {
        Action::Create => "create",
        Action::Adopt => "adopt",
        Action::Update => "update",
        Action::Delete => "delete",
    }
}

impl Matrix {
    /// The matrix of `plans` (`None`: that environment could not be planned).
    pub fn of<'a>(plans: impl IntoIterator<Item = (&'a str, Option<&'a Plan>)>) -> Self {
        let mut matrix = Matrix::default();
        for (env, plan) in plans {
            matrix.environments.push((env.to_owned(), plan.is_some()));
            let Some(plan) = plan else { continue };
            if plan.summary.waiting > 0 {
                matrix.waiting.push((env.to_owned(), plan.summary.waiting));
            }
            for change in &plan.changes {
                matrix
                    .rows
                    .entry(change.name.clone())
                    .or_default()
                    .insert(env.to_owned(), change.action);
            }
        }
        matrix
    }

    fn cell(&self, row: &BTreeMap<String, Action>, env: &str, planned: bool) -> &'static str {
        match (planned, row.get(env)) {
            (false, _) => "error",
            (true, Some(a)) => verb(*a),
            (true, None) => "-",
        }
    }

    /// The matrix for a terminal.
    pub fn text(&self) -> String {
        let mut out = String::new();
        let names: Vec<&str> = self.environments.iter().map(|(n, _)| n.as_str()).collect();
        let _ = writeln!(
            out,
            "Plan across {} environment{}: {}",
            names.len(),
            if names.len() == 1 { "" } else { "s" },
            names.join(", ")
        );
        for (env, waiting) in &self.waiting {
            let _ = writeln!(
                out,
                "{}: {waiting} object{} not updated (see its warnings); it does not match the manifests",
                clean(env),
                if *waiting == 1 { " waits," } else { "s wait," }
            );
        }
        if self.rows.is_empty() {
            let failed = self.environments.iter().any(|(_, ok)| !ok);
            let _ = writeln!(
                out,
                "{}",
                match (failed, self.waiting.is_empty()) {
                    (_, false) => "No changes can be applied.",
                    (true, true) => "No changes in the environments that could be planned.",
                    (false, true) => "No changes in any environment.",
                }
            );
            return out;
        }
        let width = self
            .rows
            .keys()
            .map(|k| clean(k).chars().count())
            .max()
            .unwrap_or(0)
            .max("OBJECT".len());
        let column = |n: &str| n.chars().count().max(6);
        let _ = write!(out, "\n{:<width$}", "OBJECT");
        for n in &names {
            let _ = write!(out, "  {:<w$}", n, w = column(n));
        }
        out.push('\n');
        for (object, row) in &self.rows {
            let _ = write!(out, "{:<width$}", clean(object));
            for (env, planned) in &self.environments {
                let _ = write!(
                    out,
                    "  {:<w$}",
                    self.cell(row, env, *planned),
                    w = column(env)
                );
            }
            out.push('\n');
        }
        out
    }

    /// The matrix for a pull-request comment.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "<!-- tenantsync-plan-matrix -->");
        let _ = writeln!(
            out,
            "### tenantsync plan across {} environments\n",
            self.environments.len()
        );
        for (env, waiting) in &self.waiting {
            let _ = writeln!(
                out,
                "> ⚠️ {}: {waiting} object{} not updated (see the job's log).\n",
                code_span(env),
                if *waiting == 1 { " waits," } else { "s wait," }
            );
        }
        if self.rows.is_empty() && self.waiting.is_empty() {
            let _ = writeln!(
                out,
                "**No changes** in any environment that could be planned.\n"
            );
        } else if self.rows.is_empty() {
            let _ = writeln!(out, "**No changes can be applied.**\n");
        } else {
            let _ = write!(out, "| object |");
            for (env, _) in &self.environments {
                let _ = write!(out, " {} |", code_span(env));
            }
            let _ = write!(out, "\n|---|");
            for _ in &self.environments {
                let _ = write!(out, "---|");
            }
            out.push('\n');
            for (object, row) in &self.rows {
                let _ = write!(out, "| {} |", code_span(object));
                for (env, planned) in &self.environments {
                    let _ = write!(out, " {} |", self.cell(row, env, *planned));
                }
                out.push('\n');
            }
            out.push('\n');
        }
        for (env, planned) in &self.environments {
            if !planned {
                let _ = writeln!(
                    out,
                    "> ⚠️ {} could not be planned; see the job's log.\n",
                    code_span(env)
                );
            }
        }
        out
    }

    /// Whether any environment's plan changes something, or has an update that waits.
    pub fn has_changes(&self) -> bool {
        !self.rows.is_empty() || !self.waiting.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(changes: &[(&str, Action)]) -> Plan {
        let changes: Vec<serde_json::Value> = changes
            .iter()
            .map(|(name, action)| {
                let (kind, rest) = name.split_once('/').unwrap();
                serde_json::json!({
                    "action": action, "kind": kind, "phase": "update_apps", "name": name,
                    "address": {"kind": kind, "app": rest},
                })
            })
            .collect();
        serde_json::from_value(serde_json::json!({
            "format_version": 4,
            "summary": {"create": 0, "update": 0, "delete": 0, "adopt": 0, "unchanged": 0, "skipped_delete": 0},
            "changes": changes, "target": "t", "state_lineage": "l", "manifests_fingerprint": "f",
        }))
        .unwrap()
    }

    #[test]
    fn one_row_per_object_one_column_per_environment() {
        let dev = plan(&[
            ("Application/shop", Action::Update),
            ("Application/blog", Action::Create),
        ]);
        let prod = plan(&[("Application/shop", Action::Update)]);
        let matrix = Matrix::of([
            ("dev", Some(&dev)),
            ("staging", None),
            ("prod", Some(&prod)),
        ]);
        assert!(matrix.has_changes());
        let text = matrix.text();
        assert!(
            text.starts_with("Plan across 3 environments: dev, staging, prod"),
            "{text}"
        );
        let blog = text
            .lines()
            .find(|l| l.starts_with("Application/blog"))
            .unwrap();
        assert_eq!(
            blog.split_whitespace().collect::<Vec<_>>(),
            ["Application/blog", "create", "error", "-"]
        );
        let md = matrix.markdown();
        assert_eq!(md.matches("| object |").count(), 1, "{md}");
        assert!(
            md.contains("| `Application/shop` | update | error | update |"),
            "{md}"
        );
        assert!(md.contains("`staging` could not be planned"), "{md}");
        let none = Matrix::of([("dev", Some(&plan(&[])))]);
        assert!(!none.has_changes());
        assert!(none.text().contains("No changes in any environment."));
        // An update that waits: nothing to apply, and not as the manifests say.
        let mut held = plan(&[]);
        held.summary.waiting = 1;
        let waits = Matrix::of([("dev", Some(&plan(&[]))), ("prod", Some(&held))]);
        assert!(waits.has_changes());
        let text = waits.text();
        assert!(
            text.contains("prod: 1 object waits,") && text.contains("No changes can be applied."),
            "{text}"
        );
        assert!(waits.markdown().contains("`prod`: 1 object waits,"));
    }
}
