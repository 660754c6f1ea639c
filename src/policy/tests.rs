use super::rules::Limits;
use super::*;
use crate::manifest::interpolate::tests::FakeEnvironment;
use crate::manifest::yaml::Mark;
use crate::model::kinds::ObjKind;

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

fn linted(text: &str, policy: &Policy) -> Vec<Finding> {
    linted_in(text, policy, &FakeEnvironment::default())
}

/// [`linted`], the manifest's `${env:…}` and `${file:…}` read from `env`.
fn linted_in(text: &str, policy: &Policy, env: &FakeEnvironment) -> Vec<Finding> {
    let desired = crate::manifest::load(
        &[crate::manifest::SourceFile {
            path: "/m/shop.yaml".into(),
            bytes: text.as_bytes().to_vec(),
        }],
        env,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    lint(&desired, policy)
}

/// `(rule, object, line:col)` of every finding of `rule`.
fn of(findings: &[Finding], rule: &str) -> Vec<(String, String)> {
    findings
        .iter()
        .filter(|f| f.rule == rule)
        .map(|f| (f.object.clone(), format!("{}:{}", f.line, f.column)))
        .collect()
}

const ROLES: &str = "apiVersion: tenantsync/v1
kind: Application
metadata: {name: shop}
spec:
  app_name: Shop
  clients:
    - name: Web
      redirect_uris: [https://shop.example.com/cb]
    - name: Backoffice
      redirect_uris: []
      role_ids: []
    - name: Courier
      redirect_uris: []
      role_ids: [shop-courier]
    - name: Partner
      redirect_uris: []
      is_third_party: true
    - name: Unmanaged-role
      redirect_uris: []
      role_ids: [{id: r-77}]
    - name: Mobile
      client_type: native
      token_endpoint_auth_method: none
      redirect_uris: [com.example.shop:/cb]
      pkce: enforcePkceInsteadOfClientCredentials
    - name: SSO
      authentication_protocol: saml
      sp_entity_id: urn:shop
      sign_assertion: true
---
apiVersion: tenantsync/v1
kind: Role
metadata: {name: shop-courier}
spec: {application: shop, role_name: courier}
";

#[test]
fn a_first_party_oidc_client_without_roles_is_reported_where_it_is_written() {
    let findings = linted(ROLES, &Policy::default());
    assert_eq!(
        of(&findings, "TS014"),
        vec![
            // Without `role_ids`: at the client; with an empty list: at the list.
            ("Client/shop/Web".to_owned(), "7:7".to_owned()),
            ("Client/shop/Backoffice".to_owned(), "11:7".to_owned()),
        ]
    );
    let f = findings.iter().find(|f| f.rule == "TS014").unwrap();
    assert_eq!(f.severity, Severity::Medium);
    assert_eq!(f.field, "(client)");
    assert!(
        f.message.contains("global management API access"),
        "{}",
        f.message
    );
    // Third-party and public clients, clients with roles (managed or by id) and SAML clients
    // are fine; an ignore with a reason silences it.
    let ignored = ROLES.replace(
        "metadata: {name: shop}",
        "metadata:\n  name: shop\n  annotations:\n    tenantsync/policy-ignore: \"TS014: the clients never call management APIs\"",
    );
    assert!(of(&linted(&ignored, &Policy::default()), "TS014").is_empty());
}

const RESOURCE: &str = "apiVersion: tenantsync/v1
kind: Application
metadata: {name: shop}
spec:
  app_name: Shop
  clients:
    - name: Web
      redirect_uris: [https://shop.example.com/cb]
      role_ids: [{id: r-1}]
---
apiVersion: tenantsync/v1
kind: Resource
metadata: {name: payouts-api}
spec:
  name: Payouts API
  uri: https://api.example.com/payouts
  access_token_ttl: 7200
  refresh_token_ttl: 5184000
  max_refresh_rotate: 0
---
apiVersion: tenantsync/v1
kind: Resource
metadata: {name: reports-api}
spec:
  name: Reports API
  uri: https://api.example.com/reports
  access_token_ttl: 300
  refresh_token_ttl: 86400
  max_refresh_rotate: 31536000
";

#[test]
fn resource_lifetimes_above_the_limits_are_reported_at_each_field() {
    let findings = linted(RESOURCE, &Policy::default());
    let ts015: Vec<(&str, &str, usize, usize)> = findings
        .iter()
        .filter(|f| f.rule == "TS015")
        .map(|f| (f.object.as_str(), f.field.as_str(), f.line, f.column))
        .collect();
    assert_eq!(
        ts015,
        vec![
            ("Resource/payouts-api", "access_token_ttl", 17, 3),
            ("Resource/payouts-api", "refresh_token_ttl", 18, 3),
            ("Resource/reports-api", "max_refresh_rotate", 29, 3),
        ]
    );
    let messages: Vec<&str> = findings
        .iter()
        .filter(|f| f.rule == "TS015")
        .map(|f| f.message.as_str())
        .collect();
    assert_eq!(
        messages[0],
        "access tokens live 2 hours (limit 1 hours, `limits.resource_access_token_ttl`)"
    );
    assert!(messages[2].contains("365 days"), "{}", messages[2]);
    assert!(findings.iter().all(|f| f.rule != "TS014"));
    // The limits come from the policy file; a rule can be disabled there.
    let relaxed = Policy::parse(
        "limits:\n  resource_access_token_ttl: 7200\n  resource_refresh_token_ttl: 5184000\n  resource_max_refresh_rotate: 31536000\n",
    )
    .unwrap();
    assert!(of(&linted(RESOURCE, &relaxed), "TS015").is_empty());
    let strict = Policy::parse("limits:\n  resource_refresh_token_ttl: 3600\n").unwrap();
    assert_eq!(of(&linted(RESOURCE, &strict), "TS015").len(), 4);
    let off = Policy::parse("rules:\n  TS015: {enabled: false}\n").unwrap();
    assert!(of(&linted(RESOURCE, &off), "TS015").is_empty());
}

#[test]
fn an_objects_malformed_ignore_is_a_finding_at_its_annotation() {
    let text = RESOURCE.replace(
        "metadata: {name: reports-api}",
        "metadata:\n  name: reports-api\n  annotations:\n    tenantsync/policy-ignore: \"TS015\"",
    );
    let findings = linted(&text, &Policy::default());
    let malformed: Vec<_> = findings.iter().filter(|f| f.rule == IGNORE_RULE).collect();
    assert_eq!(malformed.len(), 1, "{findings:?}");
    assert_eq!(malformed[0].object, "Resource/reports-api");
    // Without a reason the rule still applies.
    assert!(findings
        .iter()
        .any(|f| f.rule == "TS015" && f.object == "Resource/reports-api"));
}

const PUSH: &str = "apiVersion: tenantsync/v1
kind: Application
metadata: {name: shop}
spec:
  app_name: Shop
  clients:
    - {name: Web, redirect_uris: [https://shop.example.com/cb]}
---
apiVersion: tenantsync/v1
kind: LoginPreferences
metadata: {name: shop-login}
spec:
  application: shop
  push:
    apn: {key: APNKEY, keyId: K1, teamId: T1, bundle: com.example.shop}
    fcm: {key: {type: service_account, private_key: FCMKEY}}
";

/// TS016: push credentials written as they are in the manifest are reported at their place;
/// read by interpolation, they are not.
#[test]
fn push_credentials_written_in_the_manifest_are_reported() {
    let findings = linted(PUSH, &Policy::default());
    let ts016: Vec<(&str, usize, usize)> = findings
        .iter()
        .filter(|f| f.rule == "TS016")
        .map(|f| (f.field.as_str(), f.line, f.column))
        .collect();
    assert_eq!(
        ts016,
        vec![
            ("push.apn.key", 15, 11),
            ("push.fcm.key.private_key", 16, 40)
        ],
        "{findings:?}"
    );
    let mut env = FakeEnvironment::default();
    env.vars.insert("APN_KEY".into(), "k".into());
    env.allow.push("APN_KEY".into());
    env.files.insert("/m/fcm.pem".into(), "pem".into());
    let text = PUSH
        .replace("key: APNKEY", "key: \"${env:APN_KEY}\"")
        .replace("private_key: FCMKEY", "private_key: \"${file:fcm.pem}\"");
    assert!(of(&linted_in(&text, &Policy::default(), &env), "TS016").is_empty());
}

/// Every rule says the kinds it looks at, and `lint --rules` shows them; a rule runs on those
/// kinds only (a Resource's lifetimes are not a client's).
#[test]
fn every_rule_names_the_kinds_it_applies_to() {
    for rule in RULES {
        assert!(!rule.applies_to.is_empty(), "{}", rule.id);
    }
    let listed = render::rules_text();
    assert!(
        listed.contains(
            "TS001 high   native client without PKCE enforcement\n    applies to: Client\n"
        ),
        "{listed}"
    );
    assert!(listed.contains("applies to: Resource\n"), "{listed}");
    let ts015 = rule("TS015").unwrap();
    assert!(ts015.applies(AnyKind::Described(ObjKind::Resource)));
    assert!(!ts015.applies(AnyKind::Client));
}
