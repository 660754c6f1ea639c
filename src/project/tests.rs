//! Unit tests of the project file.
use super::*;

const GOOD: &str = r#"apiVersion: tenantsync/v1
kind: Project
environments:
  dev:
    target: http://127.0.0.1:8001/cis
    credentials: {client_id: DEV_CLIENT_ID, client_secret: DEV_CLIENT_SECRET}
    values: {ORIGIN: https://dev.example.com}
    ref: env/dev
  prod:
    target: https://api.example.com/cis
    credentials: {client_id: PROD_CLIENT_ID, client_secret: PROD_CLIENT_SECRET}
    state: {url: "${env:STATE_URL}", scope: prod}
    values: {ORIGIN: https://example.com}
    overlay: environments/prod
    protected: true
    ref: env/prod
promotion:
  order: [dev, prod]
  soak: 30m
"#;

fn parsed(text: &str) -> Result<Project, ManifestErrors> {
    parse(Path::new("repo/tenantsync.yaml"), text)
}

#[test]
fn a_project_names_its_environments_with_their_targets_states_and_values() {
    let project = parsed(GOOD).unwrap();
    let dev = project.environment("dev").unwrap();
    assert_eq!(dev.target, "http://127.0.0.1:8001/cis");
    assert_eq!(
        dev.state,
        StateSpec::Dir(PathBuf::from("repo/.tenantsync/dev"))
    );
    assert_eq!(dev.values["ORIGIN"], "https://dev.example.com");
    assert_eq!(dev.git_ref.as_deref(), Some("env/dev"));
    assert!(!dev.protected);
    let prod = project.environment("prod").unwrap();
    assert_eq!(
        prod.credentials.as_ref().unwrap().client_secret,
        "PROD_CLIENT_SECRET"
    );
    assert_eq!(
        prod.state,
        StateSpec::Url {
            url: "${env:STATE_URL}".into(),
            scope: "prod".into()
        }
    );
    assert_eq!(prod.overlay, Some(PathBuf::from("repo/environments/prod")));
    assert!(prod.protected);
    assert_eq!(project.promotion.order, ["dev", "prod"]);
    assert_eq!(project.promotion.soak, Duration::from_secs(1800));
    let missing = project.environment("prd").unwrap_err();
    assert!(missing.contains("did you mean `prod`"), "{missing}");
}

#[test]
fn two_environments_may_not_share_a_target_or_a_state() {
    let text = r#"apiVersion: tenantsync/v1
kind: Project
environments:
  dev: {target: "https://api.example.com/cis/"}
  staging: {target: "https://API.example.com/cis", state: {dir: .tenantsync/staging}}
  a: {target: local, state: {dir: shared}}
  b: {target: local, state: {dir: ./shared}}
"#;
    let errors = parsed(text).unwrap_err().to_string();
    assert!(
        errors.contains("environments.staging.target")
            && errors.contains("the same target")
            && errors.contains("`staging` and `dev`"),
        "{errors}"
    );
    assert!(
        errors.contains("environments.b.state") && errors.contains("the same state"),
        "{errors}"
    );
    // Two embedded tenants, each in its own state directory, are two tenants.
    let fine = "apiVersion: tenantsync/v1\nkind: Project\nenvironments:\n  a: {target: local}\n  b: {target: local}\n";
    assert_eq!(parsed(fine).unwrap().environments.len(), 2);
}

#[test]
fn mistakes_are_positioned_and_suggest_the_field_meant() {
    let text = r#"apiVersion: tenantsync/v1
kind: Project
environments:
  dev:
    target: local
    valeus: {A: b}
  Prod: {target: local}
  qa:
    credentials: {client_id: "abc-123-secret"}
promotion:
  order: [dev, staging]
  soak: 5 weeks
"#;
    let errors = parsed(text).unwrap_err().to_string();
    for expected in [
        "repo/tenantsync.yaml:6:5: environments.dev.valeus: unknown field",
        "did you mean `values`?",
        "repo/tenantsync.yaml:7:3: environments.Prod: an environment's name",
        "environments.qa.credentials.client_id: the name of an environment variable",
        "environments.qa.target: missing",
        "repo/tenantsync.yaml:11:16: promotion.order: `staging` is not an environment",
        "promotion.soak",
    ] {
        assert!(errors.contains(expected), "{expected}\n---\n{errors}");
    }
    // The credential's value is never repeated in a message.
    assert!(!errors.contains("abc-123-secret"), "{errors}");
}

#[test]
fn paths_resolve_against_the_project_file_even_above_the_working_directory() {
    let text = "apiVersion: tenantsync/v1\nkind: Project\nenvironments:\n  dev: {target: \"local:tenants/../tenants/dev\", overlay: environments/dev}\n";
    let project = parse(Path::new("../other/tenantsync.yaml"), text).unwrap();
    let dev = project.environment("dev").unwrap();
    assert_eq!(
        dev.state,
        StateSpec::Dir(PathBuf::from("../other/.tenantsync/dev"))
    );
    assert_eq!(
        dev.overlay,
        Some(PathBuf::from("../other/environments/dev"))
    );
    assert_eq!(dev.target, "local:../other/tenants/dev");
    assert_eq!(
        normal(Path::new("./a/../../b/./c")),
        PathBuf::from("../b/c")
    );
    assert_eq!(normal(Path::new("/../a")), PathBuf::from("/a"));
    assert_eq!(normal(Path::new("./")), PathBuf::from("."));
}

#[test]
fn one_embedded_tenant_or_one_url_written_two_ways_is_one_target() {
    let shared = "apiVersion: tenantsync/v1\nkind: Project\nenvironments:\n  dev: {target: local}\n  staging: {target: \"local:.tenantsync/dev/local\"}\n";
    let errors = parsed(shared).unwrap_err().to_string();
    assert!(
        errors.contains("environments.staging.target") && errors.contains("the same target"),
        "{errors}"
    );
    let ports = "apiVersion: tenantsync/v1\nkind: Project\nenvironments:\n  a: {target: \"https://h.example.com/cis\"}\n  b: {target: \"https://h.example.com:443/cis\"}\n";
    let errors = parsed(ports).unwrap_err().to_string();
    assert!(errors.contains("the same target"), "{errors}");
    let apart = "apiVersion: tenantsync/v1\nkind: Project\nenvironments:\n  a: {target: \"https://h.example.com/cis\"}\n  b: {target: \"https://h.example.com:8443/cis\"}\n";
    assert!(parsed(apart).is_ok());
}
