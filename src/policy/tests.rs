use super::rules::Limits;
use super::*;
use crate::manifest::yaml::Mark;

#[test]
fn a_policy_file_sets_severities_disables_rules_and_limits_and_refuses_unknown_rules() {
    let policy = Policy::parse(
        "rules:\n  TS004: {severity: high}\n  TS006: {enabled: false}\nlimits:\n  access_token_ttl_medium: 600\n",
    )
    .unwrap();
    assert_eq!(policy.severities["TS004"], Severity::High);
    assert!(policy.disabled.contains("TS006"));
    assert_eq!(policy.limits.access_token_ttl_medium, 600);
    assert_eq!(
        policy.limits.access_token_ttl_high,
        Limits::default().access_token_ttl_high
    );
    assert!(Policy::parse("rules:\n  TS999: {severity: low}\n")
        .unwrap_err()
        .contains("TS999"));
    assert!(Policy::parse("limits:\n  nope: 1\n").is_err());
    assert!(Policy::parse("rules:\n  TS001: {severity: severe}\n").is_err());
}

#[test]
fn an_ignore_needs_a_known_rule_and_a_reason() {
    let at = Mark { line: 1, col: 1 };
    let annotation = (
        "TS001: the vendor SDK cannot do PKCE; TS004; TS777: x".to_owned(),
        at,
    );
    let (silenced, problems) = ignores(Some(&annotation));
    assert_eq!(silenced, BTreeSet::from(["TS001".to_owned()]));
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems[0].contains("TS004") && problems[0].contains("reason"));
    assert!(problems[1].contains("TS777"));
}

#[test]
fn rule_ids_are_unique_ordered_and_documented() {
    let ids: Vec<&str> = RULES.iter().map(|r| r.id).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(ids, sorted);
    for r in RULES {
        assert!(r.reference.starts_with("https://"), "{}", r.id);
        assert!(!r.rationale.is_empty() && !r.title.is_empty());
    }
    assert!(render::rules_text().contains("TS013"));
}
