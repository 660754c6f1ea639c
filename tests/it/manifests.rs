//! Manifest loading and validation through the real binary: the invalid corpus (one problem per
//! file, exact file:line:col, field path and message), all errors in one run, redaction of
//! interpolated values, the example tenant, and the generated JSON Schema.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::harness::bin;

fn validate(args: &[&str], envs: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = Command::new(bin());
    cmd.arg("validate")
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn error_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| !l.ends_with("nothing was sent to the target"))
        .collect()
}

#[test]
fn every_invalid_fixture_reports_exactly_its_expected_error() {
    let mut fixtures: Vec<PathBuf> = std::fs::read_dir("tests/fixtures/invalid")
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    fixtures.sort();
    assert!(
        fixtures.len() >= 40,
        "the corpus has {} files",
        fixtures.len()
    );
    for fixture in &fixtures {
        let bytes = std::fs::read(fixture).unwrap();
        let first_line = bytes.split(|b| *b == b'\n').next().unwrap();
        let expected = String::from_utf8_lossy(first_line)
            .strip_prefix("# expect: ")
            .unwrap_or_else(|| panic!("{} has no `# expect:` line", fixture.display()))
            .to_owned();
        let path = fixture.to_str().unwrap();
        let (code, stdout, stderr) = validate(&[path], &[]);
        assert_eq!(code, 1, "{path}: exit code");
        assert_eq!(stdout, "", "{path}: nothing on stdout");
        assert_eq!(
            error_lines(&stderr),
            vec![format!("{path}:{expected}")],
            "{path}"
        );
        assert!(stderr.ends_with("1 error in the manifests; nothing was sent to the target\n"));
    }
}

#[test]
fn all_problems_of_a_file_are_reported_in_one_run() {
    let (code, _, stderr) = validate(&["tests/fixtures/five-problems.yaml"], &[]);
    assert_eq!(code, 1);
    let lines = error_lines(&stderr);
    let f = "tests/fixtures/five-problems.yaml";
    let expected = [
            format!("{f}:8:3: spec.app_descriptio: unknown field `app_descriptio` (did you mean `app_description`?)"),
            format!("{f}:9:24: spec.allow_public_signup: expected a boolean (true or false), found a string"),
            format!("{f}:12:20: spec.clients[0].client_type: `browser` is not an allowed value; expected one of: web, native"),
            format!("{f}:13:23: spec.clients[0].redirect_uris[0]: `http://shop.example.com/cb` must use https; plain http is allowed only for localhost and loopback addresses"),
            format!("{f}:15:27: spec.clients[0].token_expiration.access_token_ttl: expected a whole number, found a string"),
    ];
    assert_eq!(
        lines,
        expected.iter().map(String::as_str).collect::<Vec<_>>()
    );
    assert!(stderr.contains("5 errors in the manifests"));
}

#[test]
fn json_format_carries_the_same_fields() {
    let (code, stdout, _) = validate(
        &[
            "--format",
            "json",
            "tests/fixtures/invalid/bad-client-type.yaml",
        ],
        &[],
    );
    assert_eq!(code, 1);
    let body: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(body["valid"], false);
    let e = &body["errors"][0];
    assert_eq!(e["file"], "tests/fixtures/invalid/bad-client-type.yaml");
    assert_eq!(e["line"], 11);
    assert_eq!(e["column"], 20);
    assert_eq!(e["field"], "spec.clients[0].client_type");
    assert!(e["message"]
        .as_str()
        .unwrap()
        .contains("expected one of: web, native"));
}

#[test]
fn interpolation_errors_name_the_reference_but_never_the_value() {
    let dir = tempfile::tempdir().unwrap();
    let canary = "CANARY-7c1e0b9a-do-not-print";
    std::fs::write(dir.path().join("canary.txt"), format!("{canary}\n")).unwrap();
    let manifest = dir.path().join("app.yaml");
    std::fs::write(
        &manifest,
        "apiVersion: tenantsync/v1\nkind: Application\nmetadata:\n  name: canary\nspec:\n  app_name: Canary\n  clients:\n    - name: Web\n      redirect_uris: []\n      session_expiration: ${file:canary.txt}\n      client_type: ${file:canary.txt}\n      pkce: ${env:CANARY_PKCE}\n      description: ${env:NOT_SET_ANYWHERE}\n",
    )
    .unwrap();
    let path = manifest.to_str().unwrap();
    for format in ["text", "json"] {
        let (code, stdout, stderr) =
            validate(&["--format", format, path], &[("CANARY_PKCE", canary)]);
        assert_eq!(code, 1);
        let all = format!("{stdout}{stderr}");
        assert!(!all.contains(canary), "the canary value leaked:\n{all}");
        assert!(
            all.contains("expected a whole number, found a string"),
            "{all}"
        );
        assert!(all.contains("`(value of ${file:canary.txt})` is not an allowed value; expected one of: web, native"), "{all}");
        assert!(all.contains("`(value of ${env:CANARY_PKCE})` is not an allowed value; expected one of: enforcePkce"), "{all}");
        assert!(
            all.contains("environment variable `NOT_SET_ANYWHERE` is not set"),
            "{all}"
        );
    }
}

#[test]
fn example_tenant_is_valid_without_any_environment() {
    let (code, stdout, stderr) = validate(&["manifests"], &[]);
    assert_eq!((code, stderr.as_str()), (0, ""));
    assert_eq!(
        stdout,
        "5 applications, 11 clients, 2 resources, 1 SAML service provider, 2 roles, 1 role group, 1 login preferences\n"
    );
    // Per-environment values change the result, not the validity.
    let (code, _, _) = validate(
        &["manifests"],
        &[("FOOD_ORIGIN", "https://staging.food.example.com")],
    );
    assert_eq!(code, 0);
    let (code, _, stderr) = validate(
        &["manifests"],
        &[("FOOD_ORIGIN", "http://staging.food.example.com")],
    );
    assert_eq!(code, 1, "an http origin in a redirect URI is refused");
    assert!(
        !stderr.contains("http://staging"),
        "interpolated values are not echoed: {stderr}"
    );
    assert!(stderr.contains("(value of ${env:FOOD_ORIGIN})"), "{stderr}");
}

#[test]
fn directories_recurse_skip_hidden_and_non_yaml_and_ignore_empty_documents() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("nested/deeper")).unwrap();
    std::fs::create_dir_all(root.join(".hidden")).unwrap();
    std::fs::write(root.join(".hidden/broken.yaml"), "this: [is not valid").unwrap();
    std::fs::write(root.join(".broken.yaml"), "also: [not valid").unwrap();
    std::fs::write(root.join("notes.txt"), "not: [yaml").unwrap();
    std::fs::write(
        root.join("nested/deeper/app.yml"),
        "---\n---\napiVersion: tenantsync/v1\nkind: Application\nmetadata: {name: a}\nspec:\n  app_name: A\n  clients: [{name: Web, redirect_uris: []}]\n---\n",
    )
    .unwrap();
    std::fs::write(
        root.join("nested/client.yaml"),
        "apiVersion: tenantsync/v1\nkind: Client\nmetadata: {name: a-cli}\nspec: {application: a, name: CLI, redirect_uris: ['http://127.0.0.1:9000/cb']}\n",
    )
    .unwrap();
    let (code, stdout, stderr) = validate(&[root.to_str().unwrap()], &[]);
    assert_eq!((code, stderr.as_str()), (0, ""));
    assert_eq!(stdout, "1 applications, 2 clients\n");
}

#[test]
fn a_missing_path_is_an_error() {
    let (code, _, stderr) = validate(&["does/not/exist"], &[]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("does/not/exist:1:1: (document): no such file or directory"),
        "{stderr}"
    );
}

fn yaml_documents(path: &Path) -> Vec<Value> {
    use serde::Deserialize as _;
    let text = std::fs::read_to_string(path).unwrap();
    serde_yaml::Deserializer::from_str(&text)
        .map(|doc| serde_json::to_value(serde_yaml::Value::deserialize(doc).unwrap()).unwrap())
        .filter(|v| !v.is_null())
        .collect()
}

fn manifest_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            manifest_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "yaml") {
            out.push(path);
        }
    }
}

#[test]
fn generated_schema_accepts_every_example_and_rejects_invalid_ones() {
    let out = Command::new(bin()).arg("schema").output().unwrap();
    assert!(out.status.success());
    let schema: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    let validator = jsonschema::draft202012::new(&schema).expect("the schema compiles");
    let mut files = Vec::new();
    manifest_files(Path::new("manifests"), &mut files);
    assert!(files.len() >= 5);
    let mut documents = 0;
    for file in &files {
        for doc in yaml_documents(file) {
            let errors: Vec<String> = validator
                .iter_errors(&doc)
                .map(|e| format!("{e} at {}", e.instance_path()))
                .collect();
            assert!(errors.is_empty(), "{}: {errors:?}", file.display());
            documents += 1;
        }
    }
    assert!(documents >= 6);
    for bad in [
        "bad-client-type",
        "unknown-app-field-typo",
        "deprecated-app-redirect-uris",
        "missing-app-name",
        "saml-missing-entity-id",
    ] {
        let docs = yaml_documents(Path::new(&format!("tests/fixtures/invalid/{bad}.yaml")));
        assert!(!validator.is_valid(&docs[0]), "{bad} passes the schema");
    }
}

#[test]
fn committed_schema_is_current() {
    let out = Command::new(bin()).arg("schema").output().unwrap();
    let committed = std::fs::read_to_string("schema/tenantsync.schema.json").unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout) == committed,
        "schema/tenantsync.schema.json is stale: run `cargo run -- schema > schema/tenantsync.schema.json`"
    );
    let out = Command::new(bin())
        .args(["schema", "project"])
        .output()
        .unwrap();
    let committed = std::fs::read_to_string("schema/project.schema.json").unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout) == committed,
        "schema/project.schema.json is stale: run `cargo run -- schema project > schema/project.schema.json`"
    );
}

#[test]
fn the_project_schema_accepts_the_example_and_the_examples_manifests_validate_in_each_environment()
{
    let schema: Value =
        serde_json::from_str(&std::fs::read_to_string("schema/project.schema.json").unwrap())
            .unwrap();
    let validator = jsonschema::draft202012::new(&schema).expect("the schema compiles");
    let example = &yaml_documents(Path::new("examples/environments/tenantsync.yaml"))[0];
    let errors: Vec<String> = validator
        .iter_errors(example)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    let mut typo = example.clone();
    typo["environments"]["dev"]["valeus"] = serde_json::json!({});
    assert!(!validator.is_valid(&typo));
    for env in ["dev", "staging", "prod"] {
        let out = Command::new(bin())
            .current_dir("examples/environments")
            .args(["--env", env, "validate"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{env}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
