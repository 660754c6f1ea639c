//! `tenantsync lint`: one positive and one negative fixture per rule (rule id, severity and
//! file:line:col), SARIF checked against a schema for the SARIF 2.1.0 properties it uses,
//! ignores, --fail-on and --policy, and the findings `plan` shows.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::harness::{bin, output_text, Workspace};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/policy")
}

fn lint(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(bin())
        .current_dir(dir)
        .arg("lint")
        .args(args)
        .env("RUST_LOG", "warn")
        // What the compliant fixtures read from the environment (TS016: a push key).
        .env(
            "SHOP_APN_P8",
            "-----BEGIN PRIVATE KEY-----test-----END PRIVATE KEY-----",
        )
        .output()
        .unwrap()
}

fn findings(out: &std::process::Output) -> Vec<Value> {
    let v: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", output_text(out)));
    v["findings"].as_array().unwrap().clone()
}

#[test]
fn every_rule_fires_on_its_positive_fixture_where_expected_and_not_on_its_negative_one() {
    let mut checked = 0;
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixtures())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let expect = text
            .lines()
            .next()
            .unwrap()
            .strip_prefix("# expect: ")
            .unwrap();
        let out = lint(&fixtures(), &["--format", "json", file.to_str().unwrap()]);
        let found = findings(&out);
        let words: Vec<&str> = expect.split_whitespace().collect();
        match words.as_slice() {
            ["no", rule] => assert!(
                found.iter().all(|f| f["rule"] != *rule),
                "{}: {rule} fired on the compliant fixture: {found:?}",
                file.display()
            ),
            [rule, severity, position] => {
                let (line, col) = position.split_once(':').unwrap();
                let (line, col): (u64, u64) = (line.parse().unwrap(), col.parse().unwrap());
                assert!(
                    found.iter().any(|f| f["rule"] == *rule
                        && f["severity"] == *severity
                        && f["line"] == line
                        && f["column"] == col
                        && f["file"]
                            .as_str()
                            .unwrap()
                            .ends_with(file.file_name().unwrap().to_str().unwrap())),
                    "{}: expected {rule} {severity} at {position}, got {found:?}",
                    file.display()
                );
            }
            other => panic!("{}: bad expectation {other:?}", file.display()),
        }
        checked += 1;
    }
    let rules = Command::new(bin())
        .args(["lint", "--rules"])
        .output()
        .unwrap();
    let listed = String::from_utf8(rules.stdout)
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("TS0"))
        .count();
    assert_eq!(
        checked,
        2 * listed,
        "one positive and one negative fixture per rule"
    );
}

const SHOP: &str = "apiVersion: tenantsync/v1
kind: Application
metadata:
  name: shop
  annotations:
    tenantsync/policy-ignore: \"TS013: the checkout iframe is embedded by partner sites\"
spec:
  app_name: Shop
  clients:
    - name: Web
      redirect_uris: [https://shop.example.com/cb]
      response_types: [code]
      short_cookies_samesite_type: none
      token_expiration: {access_token_ttl: 7200}
      is_third_party: true
";

const BLOG: &str = "apiVersion: tenantsync/v1
kind: Application
metadata:
  name: blog
  annotations:
    tenantsync/policy-ignore: \"TS007\"
spec:
  app_name: Blog
  clients:
    - name: Web
      redirect_uris: [https://blog.example.com/cb]
      response_types: [code]
      short_cookies_samesite_type: none
      token_expiration: {access_token_ttl: 7200}
      is_third_party: true
";

fn repo_with(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join(".git")).unwrap();
    std::fs::create_dir_all(dir.path().join("manifests")).unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join("manifests").join(name), text).unwrap();
    }
    dir
}

#[test]
fn a_justified_ignore_silences_exactly_that_rule_and_an_unjustified_one_is_reported() {
    let repo = repo_with(&[("shop.yaml", SHOP), ("blog.yaml", BLOG)]);
    let found = findings(&lint(repo.path(), &["--format", "json"]));
    let of = |object: &str| -> Vec<String> {
        let mut rules: Vec<String> = found
            .iter()
            .filter(|f| f["object"] == object)
            .map(|f| f["rule"].as_str().unwrap().to_owned())
            .collect();
        rules.sort();
        rules
    };
    // shop ignores TS013 with a reason: only its TS007 remains.
    assert_eq!(of("Client/shop/Web"), ["TS007"]);
    // blog's ignore has no reason: it is a finding itself, and TS007 still applies.
    assert_eq!(of("Client/blog/Web"), ["TS007", "TS013", "TS900"]);
    let malformed = found.iter().find(|f| f["rule"] == "TS900").unwrap();
    assert_eq!(
        (malformed["line"].as_u64(), malformed["column"].as_u64()),
        (Some(6), Some(5))
    );
}

#[test]
fn fail_on_sets_the_exit_code_and_a_policy_file_changes_severities_and_limits() {
    let low_only = "apiVersion: tenantsync/v1
kind: Application
metadata: {name: tool}
spec:
  app_name: Tool
  clients:
    - name: CLI
      client_type: native
      token_endpoint_auth_method: none
      pkce: enforcePkceInsteadOfClientCredentials
      response_types: [code]
      redirect_uris: [http://localhost:8400/cb]
";
    let repo = repo_with(&[("tool.yaml", low_only)]);
    assert_eq!(
        lint(repo.path(), &["--fail-on", "medium"]).status.code(),
        Some(0)
    );
    assert_eq!(
        lint(repo.path(), &["--fail-on", "low"]).status.code(),
        Some(1)
    );

    let medium = repo_with(&[(
        "blog.yaml",
        &BLOG.replace("TS007", "TS007: short sessions elsewhere"),
    )]);
    assert_eq!(
        lint(medium.path(), &[]).status.code(),
        Some(0),
        "default --fail-on high"
    );
    assert_eq!(
        lint(medium.path(), &["--fail-on", "medium"]).status.code(),
        Some(1)
    );

    std::fs::write(
        medium.path().join("policy.yaml"),
        "rules:\n  TS013: {severity: high}\nlimits:\n  access_token_ttl_medium: 900\n",
    )
    .unwrap();
    let out = lint(
        medium.path(),
        &["--policy", "policy.yaml", "--format", "json"],
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "TS013 raised to high fails the default level"
    );
    let found = findings(&out);
    let ts013 = found.iter().find(|f| f["rule"] == "TS013").unwrap();
    assert_eq!(ts013["severity"], "high");
    std::fs::write(
        medium.path().join("bad-policy.yaml"),
        "rules:\n  TS999: {enabled: false}\n",
    )
    .unwrap();
    let refused = lint(medium.path(), &["--policy", "bad-policy.yaml"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(output_text(&refused).contains("TS999"));
}

#[test]
fn sarif_output_matches_the_sarif_schema_with_repository_relative_locations() {
    let repo = repo_with(&[("shop.yaml", SHOP), ("blog.yaml", BLOG)]);
    let out = lint(repo.path(), &["--format", "sarif"]);
    let sarif: Value = serde_json::from_slice(&out.stdout).unwrap();
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/sarif/sarif-2.1.0-subset.schema.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&sarif)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let run = &sarif["runs"][0];
    let rules: Vec<&str> = run["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert!(rules.contains(&"TS001") && rules.contains(&"TS900"));
    let results = run["results"].as_array().unwrap();
    assert!(!results.is_empty());
    for r in results {
        let location = &r["locations"][0]["physicalLocation"];
        let uri = location["artifactLocation"]["uri"].as_str().unwrap();
        assert!(
            uri.starts_with("manifests/"),
            "relative to the repository root: {uri}"
        );
        assert!(rules.contains(&r["ruleId"].as_str().unwrap()));
    }
    let ts007 = results
        .iter()
        .find(|r| {
            r["ruleId"] == "TS007"
                && r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
                    == "manifests/shop.yaml"
        })
        .unwrap();
    assert_eq!(ts007["level"], "warning");
    assert_eq!(
        ts007["locations"][0]["physicalLocation"]["region"]["startLine"],
        14
    );
}

#[test]
fn plan_shows_the_findings_of_the_objects_it_changes() {
    let ws = Workspace::new();
    ws.write("shop.yaml", SHOP);
    let plan = ws.run(&["plan"]);
    let text = output_text(&plan);
    assert!(
        text.contains("Policy findings for the objects this plan changes"),
        "{text}"
    );
    assert!(text.contains("TS007") && !text.contains("TS013"), "{text}");
    let markdown = ws.run(&["plan", "--format", "markdown"]);
    assert!(String::from_utf8_lossy(&markdown.stdout).contains("| medium | TS007 |"));
    let applied = ws.run(&["apply", "--yes"]);
    assert!(applied.status.success(), "{}", output_text(&applied));
    let unchanged = ws.run(&["plan"]);
    assert!(
        !output_text(&unchanged).contains("TS007"),
        "no change, no findings shown"
    );
}
