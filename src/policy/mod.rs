//! PURE: OAuth / OIDC / SAML security policy over the validated manifests (`tenantsync lint`).
//! A rule is an id, a severity, a title, a rationale, a reference, the kinds it applies to,
//! and a check over one object of those kinds (a client with its application, a Resource)
//! that returns findings with the field path; positions come from the positioned YAML, so every
//! finding has `file:line:col`. Objects opt out of a rule with the annotation
//! `tenantsync/policy-ignore: "TS001: why"`; a policy file sets severities, disables rules and
//! changes the limits.

pub mod render;
mod rules;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::manifest::{DesiredObject, DesiredState, SourceInfo};
use crate::model::kinds::AnyKind;
use crate::model::FieldPath;
use crate::state::address::Address;

pub use rules::{Limits, RULES};

/// How serious a finding is.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing.
    Low,
    /// Weakens the deployment.
    Medium,
    /// Exploitable or against a MUST of the reference.
    High,
}

impl Severity {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
        }
    }
}

/// One policy rule.
pub struct Rule {
    /// `TS###`.
    pub id: &'static str,
    /// Default severity.
    pub severity: Severity,
    /// One line: what is wrong.
    pub title: &'static str,
    /// Why it matters.
    pub rationale: &'static str,
    /// Where the practice is specified.
    pub reference: &'static str,
    /// The kinds whose objects it looks at.
    pub applies_to: &'static [AnyKind],
    /// What it checks.
    check: Check,
}

impl Rule {
    /// Whether it looks at objects of `kind`.
    pub fn applies(&self, kind: AnyKind) -> bool {
        self.applies_to.contains(&kind)
    }
}

/// What a rule checks of one object of a kind it applies to.
#[derive(Clone, Copy)]
struct Check(fn(&Subject<'_>, &Limits) -> Vec<Hit>);

/// What a check looks at: one manifest object of any kind, as every kind has it, with the
/// application it belongs to (a client's, a role's).
pub struct Subject<'a> {
    /// Its kind.
    pub kind: AnyKind,
    /// The object.
    pub object: &'a DesiredObject,
    /// Its application, for a kind that belongs to one.
    pub application: Option<&'a DesiredObject>,
}

/// What a check found: where (relative to the client's spec) and what.
pub struct Hit {
    /// The offending field (the client itself when a field is missing).
    pub path: FieldPath,
    /// What is wrong, with the value where that helps.
    pub message: String,
}

/// The id of the finding for a malformed `tenantsync/policy-ignore`.
pub const IGNORE_RULE: &str = "TS900";

/// A finding, located.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Finding {
    /// The file.
    pub file: PathBuf,
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1.
    pub column: usize,
    /// Rule id.
    pub rule: &'static str,
    /// Severity (after the policy file).
    pub severity: Severity,
    /// The object (`Client/shop/Web`).
    pub object: String,
    /// The field path in the object's spec.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

/// Severities, disabled rules and limits from a policy file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Policy {
    /// Severity overrides by rule id.
    pub severities: BTreeMap<String, Severity>,
    /// Rules that do not run.
    pub disabled: BTreeSet<String>,
    /// Thresholds.
    pub limits: Limits,
}

/// A policy file as written (`--policy FILE`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    #[serde(default)]
    rules: BTreeMap<String, RawRuleSetting>,
    #[serde(default)]
    limits: Limits,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRuleSetting {
    severity: Option<Severity>,
    #[serde(default = "yes")]
    enabled: bool,
}

fn yes() -> bool {
    true
}

impl Policy {
    /// Parses a policy file; unknown rules, fields and severities are errors.
    pub fn parse(text: &str) -> Result<Self, String> {
        let raw: RawPolicy = serde_yaml::from_str(text).map_err(|e| e.to_string())?;
        let mut policy = Self {
            limits: raw.limits,
            ..Self::default()
        };
        for (id, setting) in raw.rules {
            if rule(&id).is_none() {
                return Err(format!(
                    "rules.{id}: no such rule (see `tenantsync lint --rules`)"
                ));
            }
            if let Some(s) = setting.severity {
                policy.severities.insert(id.clone(), s);
            }
            if !setting.enabled {
                policy.disabled.insert(id);
            }
        }
        Ok(policy)
    }

    fn severity(&self, rule: &Rule) -> Severity {
        self.severities
            .get(rule.id)
            .copied()
            .unwrap_or(rule.severity)
    }
}

/// The rule with this id.
pub fn rule(id: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.id == id)
}

/// The rules an annotation silences, and findings for the parts of it that are malformed.
fn ignores(
    annotation: Option<&(String, crate::manifest::yaml::Mark)>,
) -> (BTreeSet<String>, Vec<String>) {
    let mut silenced = BTreeSet::new();
    let mut problems = Vec::new();
    let Some((text, _)) = annotation else {
        return (silenced, problems);
    };
    for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let (id, reason) = part.split_once(':').unwrap_or((part, ""));
        let (id, reason) = (id.trim(), reason.trim());
        if rule(id).is_none() {
            problems.push(format!(
                "`{id}` is not a rule (see `tenantsync lint --rules`); nothing is ignored"
            ));
        } else if reason.is_empty() {
            problems.push(format!(
                "ignoring {id} needs a reason (`{id}: why this is acceptable`); {id} still applies"
            ));
        } else {
            silenced.insert(id.to_owned());
        }
    }
    (silenced, problems)
}

/// One linted object: where it is written and how findings name it.
struct Linted<'a> {
    source: &'a SourceInfo,
    file: &'a PathBuf,
    /// `Client/shop/Web`, `Resource/payouts-api`.
    address: String,
    /// The field shown for a finding about the object as a whole.
    whole: &'static str,
}

/// Runs the rules that apply to `subject` over it, and reports its malformed ignores once per
/// place.
fn lint_one(
    linted: &Linted<'_>,
    subject: &Subject<'_>,
    policy: &Policy,
    out: &mut BTreeSet<Finding>,
    reported_ignores: &mut BTreeSet<(PathBuf, usize, usize, String)>,
) {
    let file = linted.file;
    let (silenced, problems) = ignores(linted.source.policy_ignore.as_ref());
    if let Some((_, mark)) = &linted.source.policy_ignore {
        for message in problems {
            // An application's annotation covers its inline clients: report it once.
            let place = (file.clone(), mark.line, mark.col, message.clone());
            if !reported_ignores.insert(place) {
                continue;
            }
            out.insert(Finding {
                file: file.clone(),
                line: mark.line,
                column: mark.col,
                rule: IGNORE_RULE,
                severity: Severity::Medium,
                object: linted.address.clone(),
                field: "metadata.annotations".to_owned(),
                message,
            });
        }
    }
    for rule in RULES {
        if policy.disabled.contains(rule.id) || silenced.contains(rule.id) {
            continue;
        }
        if !rule.applies(subject.kind) {
            continue;
        }
        for hit in (rule.check.0)(subject, &policy.limits) {
            let mark = linted.source.mark(&hit.path);
            let field = if hit.path.is_root() {
                linted.whole.to_owned()
            } else {
                hit.path.to_string()
            };
            out.insert(Finding {
                file: file.clone(),
                line: mark.line,
                column: mark.col,
                rule: rule.id,
                severity: policy.severity(rule),
                object: linted.address.clone(),
                field,
                message: hit.message,
            });
        }
    }
}

/// Every finding of `policy` over `desired`, sorted by file and position: every object of
/// every kind some rule applies to, read alike.
pub fn lint(desired: &DesiredState, policy: &Policy) -> Vec<Finding> {
    let mut out = BTreeSet::new();
    let mut reported_ignores = BTreeSet::new();
    for (address, object) in desired.each() {
        let kind = address.kind;
        if !RULES.iter().any(|r| r.applies(kind)) {
            continue;
        }
        let application = address
            .application()
            .filter(|_| kind != AnyKind::Application)
            .and_then(|app| desired.object(&Address::app(app)));
        let linted = Linted {
            source: &object.source,
            file: &object.origin.file,
            // A client as its address names it; another kind by its document's name.
            address: match address.described() {
                None => address.to_string(),
                Some(_) => format!("{kind}/{}", object.name),
            },
            whole: match kind {
                AnyKind::Client => "(client)",
                _ => "(object)",
            },
        };
        let subject = Subject {
            kind,
            object,
            application,
        };
        lint_one(&linted, &subject, policy, &mut out, &mut reported_ignores);
    }
    // Messages quote values (redirect URIs, claims): none read by interpolation is shown.
    out.into_iter()
        .map(|f| Finding {
            message: desired.redactions.redact(&f.message),
            ..f
        })
        .collect()
}

/// Whether any finding reaches `level`.
pub fn fails(findings: &[Finding], level: Severity) -> bool {
    findings.iter().any(|f| f.severity >= level)
}

#[cfg(test)]
mod tests;
