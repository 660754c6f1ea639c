//! Unit tests of manifest validation.
use super::*;
use crate::manifest::interpolate::tests::FakeEnvironment;
use crate::manifest::{load, load_with, DesiredState, LoadCache, ManifestErrors};
use crate::model::catalogue;
use crate::state::address::Address;
use serde_json::json;

fn load_one(text: &str, env: &FakeEnvironment) -> Result<DesiredState, ManifestErrors> {
    load(
        &[SourceFile {
            path: PathBuf::from("/m/app.yaml"),
            bytes: text.as_bytes().to_vec(),
        }],
        env,
    )
}

#[test]
fn builds_the_desired_state() {
    let mut env = FakeEnvironment::default();
    env.vars.insert("TTL".into(), "120".into());
    let state = load_one(
        r#"
apiVersion: tenantsync/v1
kind: Application
metadata: {name: shop, annotations: {tenantsync/protect: "true"}}
spec:
  app_name: Shop
  ignore_fields: [logo]
  clients:
    - name: Web
      redirect_uris: [https://shop.example.com/cb]
      token_expiration: {access_token_ttl: "${env:TTL}"}
    - name: Admin
      default: true
      redirect_uris: []
      session_expiration: ${env:TTL}
      description: "${env:TTL}"
---
apiVersion: tenantsync/v1
kind: Client
metadata: {name: shop-sso}
spec:
  application: shop
  name: SSO
  authentication_protocol: saml
  sp_entity_id: urn:sso
"#,
        &env,
    )
    .unwrap();
    let app = state.app("shop").unwrap();
    assert!(app.protect);
    assert_eq!(app.app_name(), "Shop");
    assert_eq!(app.default_client(), Some("Admin"));
    assert_eq!(app.rules, FieldRules::from_dotted(&["logo"], &[]));
    assert_eq!(state.clients("shop").count(), 3);
    // Any object, read alike whatever its kind.
    use crate::model::catalogue::Object;
    use crate::model::kinds::Shape;
    let sso = state.object(&Address::client("shop", "SSO")).unwrap();
    assert_eq!(sso.shape(), Shape::Catalogue(Object::SamlClient));
    assert_eq!(sso.spec["sp_entity_id"], "urn:sso");
    let shop = state.object(&Address::app("shop")).unwrap();
    assert_eq!(shop.shape(), Shape::Catalogue(Object::App));
    assert_eq!(shop.rules, app.rules);
    assert!(state.object(&Address::client("shop", "Nope")).is_none());
    let every: Vec<String> = state
        .each()
        .map(|(address, w)| format!("{address} {}", w.name))
        .collect();
    assert_eq!(
        every,
        [
            "Application/shop shop",
            "Client/shop/Admin Admin",
            "Client/shop/SSO SSO",
            "Client/shop/Web Web"
        ]
    );
    let (web, facts) = state.client("shop", "Web").unwrap();
    assert!(!facts.is_default);
    assert_eq!(
        web.spec["token_expiration"],
        json!({"access_token_ttl": 120})
    );
    let (admin, facts) = state.client("shop", "Admin").unwrap();
    assert!(facts.is_default);
    assert_eq!(admin.spec["session_expiration"], json!(120));
    assert_eq!(
        admin.spec["description"],
        json!("120"),
        "a reference fills a string field as text"
    );
    let (sso, facts) = state.client("shop", "SSO").unwrap();
    assert_eq!(facts.protocol, AuthenticationProtocol::Saml);
    assert!(sso.spec.get("authentication_protocol").is_none());
    assert!(sso.spec.get("application").is_none());
    assert_eq!(state.client_count(), 3);
}

#[test]
fn secret_named_fields_are_marked_sensitive_and_redacted() {
    assert!(catalogue::is_secret_name("client_secret"));
    assert!(catalogue::is_secret_name("clientSecret"));
    assert!(
        catalogue::is_secret_name("key"),
        "a push key, two levels down"
    );
    assert!(!catalogue::is_secret_name("client_id"));
    assert!(!catalogue::is_secret_name(
        "invalidateOnMemberPasswordReset"
    ));
    let env = FakeEnvironment::default();
    let err = load_one(
            "apiVersion: tenantsync/v1\nkind: Application\nmetadata: {name: s}\nspec:\n  app_name: S\n  client_secret: hunter2-canary\n  clients: [{name: W, redirect_uris: []}]\n",
            &env,
        )
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("unknown field `client_secret`"), "{text}");
    assert!(!text.contains("hunter2-canary"));
}

#[test]
fn positions_are_kept_only_when_asked_and_errors_are_positioned_either_way() {
    let text = "apiVersion: tenantsync/v1\nkind: Application\nmetadata: {name: shop}\nspec:\n  app_name: Shop\n  clients:\n    - {name: Web, redirect_uris: ['https://shop.example.com/cb']}\n";
    let source = |text: &str| SourceFile {
        path: PathBuf::from("/m/app.yaml"),
        bytes: text.as_bytes().to_vec(),
    };
    let env = FakeEnvironment::default();
    let kept = load_with(&[source(text)], &env, true).unwrap();
    assert!(!kept.app("shop").unwrap().source.positions.is_empty());
    let lean = load_with(&[source(text)], &env, false).unwrap();
    assert!(lean.app("shop").unwrap().source.positions.is_empty());
    assert!(lean
        .client("shop", "Web")
        .unwrap()
        .0
        .source
        .positions
        .is_empty());
    assert_eq!(
        lean.app("shop").unwrap().spec,
        kept.app("shop").unwrap().spec
    );
    let bad = text.replace("app_name: Shop", "app_name: Shop\n  app_nmae: typo");
    let errors = load_with(&[source(&bad)], &env, false).unwrap_err();
    assert!(errors.to_string().contains("app.yaml:6:"), "{errors}");
}

fn canary_env() -> FakeEnvironment {
    let mut env = FakeEnvironment::default();
    env.vars
        .insert("SECRET_CANARY".into(), "canary-XYZ-value".into());
    env.allow = vec!["SECRET_*".into()];
    env
}

const CLIENT_DOC: &str = "apiVersion: tenantsync/v1\nkind: Application\nmetadata: {name: shop}\nspec:\n  app_name: Shop\n  clients: [{name: Web, redirect_uris: []}]\n---\napiVersion: tenantsync/v1\nkind: Client\nmetadata: {name: extra}\nspec:\n  application: APP\n  name: Extra\n  redirect_uris: []\n";

#[test]
fn identity_positions_refuse_interpolation_without_echoing_the_value() {
    let env = canary_env();
    let r = "${env:SECRET_CANARY}";
    for (text, at) in [
        (CLIENT_DOC.replace("APP", r), "app.yaml:12:"),
        (
            CLIENT_DOC
                .replace("APP", "shop")
                .replace("name: Extra", &format!("name: \"{r}\"")),
            "app.yaml:13:",
        ),
        (
            CLIENT_DOC
                .replace("APP", "shop")
                .replace("{name: Web", &format!("{{name: \"{r}\"")),
            "app.yaml:6:",
        ),
        (
            CLIENT_DOC
                .replace("APP", "shop")
                .replace("{name: extra}", &format!("{{name: \"{r}\"}}")),
            "app.yaml:10:",
        ),
        (
            CLIENT_DOC
                .replace("APP", "shop")
                .replace("app_name: Shop", &format!("app_name: \"Shop {r}\"")),
            "app.yaml:5:",
        ),
    ] {
        let err = load_one(&text, &env).unwrap_err().to_string();
        assert!(
            err.contains("identity and must be written literally"),
            "{err}"
        );
        assert!(err.contains(at), "{at} in {err}");
        assert!(!err.contains("canary-XYZ"), "{err}");
    }
}

#[test]
fn a_client_whose_application_fails_to_interpolate_is_an_error_not_a_panic() {
    // Identity positions refuse references before reading them; a failed read is the same.
    let mut env = FakeEnvironment::default();
    env.vars.insert("DB_PASSWORD".into(), "x".into());
    for reference in [
        "${env:NOT_SET_ANYWHERE_XYZ}",
        "${env:DB_PASSWORD}",
        "${file:/etc/passwd}",
    ] {
        let err = load_one(&CLIENT_DOC.replace("APP", reference), &env)
            .unwrap_err()
            .to_string();
        assert!(err.contains("spec.application"), "{err}");
    }
}

#[test]
fn interpolated_values_are_masked_and_redacted_but_defaults_are_not() {
    let env = canary_env();
    let text = "apiVersion: tenantsync/v1\nkind: Application\nmetadata: {name: shop}\nspec:\n  app_name: Shop\n  login_uri: \"https://${env:SECRET_CANARY}.example.com/login\"\n  app_description: \"${env:UNSET_X:-plain default}\"\n  clients: [{name: Web, client_type: native, redirect_uris: [\"com.example.app:/${env:SECRET_CANARY}\"]}]\n";
    let state = load_one(text, &env).unwrap();
    let app = state.app("shop").unwrap();
    assert!(app.rules.is_masked("login_uri") && app.rules.is_hidden("login_uri"));
    assert!(
        !app.rules.is_sensitive("login_uri"),
        "compared live, not by hash"
    );
    assert!(!app.rules.is_hidden("app_description"));
    assert!(state
        .client("shop", "Web")
        .unwrap()
        .0
        .rules
        .is_masked("redirect_uris"));
    let shown = state.redactions.redact(
        "`com.example.app:/canary-XYZ-value` at https://canary-XYZ-value.example.com/login",
    );
    assert!(!shown.contains("canary-XYZ"), "{shown}");
    // A message quoting only part of a resolved value (a URI's scheme) hides what was read.
    let mut env = env;
    env.vars
        .insert("SECRET_SCHEME".into(), "zz.canaryscheme".into());
    let text = text.replace(
        "\"com.example.app:/${env:SECRET_CANARY}\"",
        "\"${env:SECRET_SCHEME}:/cb\"",
    );
    let state = load_one(&text, &env).unwrap();
    let shown = state
        .redactions
        .redact("the scheme `zz.canaryscheme` is not a domain name in reverse order");
    assert!(!shown.contains("canaryscheme"), "{shown}");
}

#[test]
fn the_load_cache_parses_only_changed_or_interpolating_files_and_equals_a_full_load() {
    let app = |name: &str, extra: &str| {
        SourceFile {
        path: PathBuf::from(format!("/m/{name}.yaml")),
        bytes: format!(
            "apiVersion: tenantsync/v1\nkind: Application\nmetadata: {{name: {name}}}\nspec:\n  app_name: {name}\n  app_description: d{extra}\n  clients:\n    - {{name: Web, redirect_uris: ['https://{name}.example.com/cb']}}\n"
        )
        .into_bytes(),
    }
    };
    let mut env = FakeEnvironment::default();
    env.vars.insert("SUFFIX".into(), " one".into());
    let mut files = vec![app("a", ""), app("b", ""), app("c", "${env:SUFFIX}")];
    let mut cache = LoadCache::default();
    let first = cache.load(&files, &env, false).unwrap();
    assert_eq!(cache.parsed_last(), 3);
    assert_eq!(first, load_with(&files, &env, false).unwrap());

    // Nothing changed: only the interpolating file is parsed again, and sees the new value.
    env.vars.insert("SUFFIX".into(), " two".into());
    let again = cache.load(&files, &env, false).unwrap();
    assert_eq!(cache.parsed_last(), 1);
    assert_eq!(
        again.app("c").unwrap().spec["app_description"],
        json!("d two")
    );
    assert_eq!(again, load_with(&files, &env, false).unwrap());

    // One file edited, one removed: the edit is parsed, the removal forgotten.
    files[0] = app("a", " edited");
    files.remove(1);
    let edited = cache.load(&files, &env, false).unwrap();
    assert_eq!(cache.parsed_last(), 2);
    assert_eq!(
        edited.app("a").unwrap().spec["app_description"],
        json!("d edited")
    );
    assert!(edited.app("b").is_none());
    assert_eq!(edited, load_with(&files, &env, false).unwrap());

    // Errors across files are found from cached files too (a duplicate name).
    files.push(SourceFile {
        path: PathBuf::from("/m/dup.yaml"),
        bytes: files[0].bytes.clone(),
    });
    let errors = cache.load(&files, &env, false).unwrap_err();
    assert_eq!(cache.parsed_last(), 2);
    assert_eq!(errors, load_with(&files, &env, false).unwrap_err());
    assert!(errors.to_string().contains("dup.yaml"), "{errors}");

    // Positions asked for: everything is parsed again, with them.
    let kept = cache.load(&files[..2], &env, true).unwrap();
    assert_eq!(cache.parsed_last(), 2);
    assert!(!kept.app("a").unwrap().source.positions.is_empty());
}

/// Two applications holding one value upstream keeps unique in a tenant (a subdomain, whatever
/// its case; a custom domain; the Authentication Hub role) are refused where the later one
/// writes it, naming the first and its position; an interpolated value is never shown.
#[test]
fn values_upstream_keeps_unique_are_refused_in_a_second_application() {
    let app = |key: &str, extra: &str| {
        format!(
            "apiVersion: tenantsync/v1\nkind: Application\nmetadata: {{name: {key}}}\nspec:\n  app_name: {key}\n{extra}  clients: [{{name: Web, redirect_uris: []}}]\n"
        )
    };
    let hub =
        "  authenticator_preferences: {is_centralized: true, login_uri: \"https://h/login\"}\n";
    let text = [
        app("shop", &format!("  subdomain: Shop\n  custom_domain: login.example\n{hub}")),
        app("food", &format!("  subdomain: SHOP\n  custom_domain: ${{env:DOMAIN}}\n{hub}")),
        app("mail", "  subdomain: mail\n  authenticator_preferences: {is_centralized: false, login_uri: \"https://h/login\"}\n"),
    ]
    .join("---\n");
    let mut env = FakeEnvironment::default();
    env.vars.insert("DOMAIN".into(), "LOGIN.example".into());
    let errors = load_one(&text, &env).unwrap_err().0;
    let seen: Vec<(usize, usize, &str)> = errors
        .iter()
        .map(|e| (e.line, e.column, e.field.as_str()))
        .collect();
    assert_eq!(
        seen,
        [
            (16, 14, "spec.subdomain"),
            (17, 18, "spec.custom_domain"),
            (18, 47, "spec.authenticator_preferences.is_centralized"),
        ],
        "{errors:?}"
    );
    assert!(
        errors[0].message.contains("Application `food` holds `subdomain: shop` too, as Application `shop` does (/m/app.yaml:6:14)"),
        "{}",
        errors[0].message
    );
    assert!(errors[0].message.contains("409"));
    // Read from a variable: named, never shown.
    assert!(
        errors[1]
            .message
            .contains("holds the same `custom_domain` too"),
        "{}",
        errors[1].message
    );
    assert!(errors
        .iter()
        .all(|e| !e.message.to_lowercase().contains("login.example")));
    // Distinct values, and a second application that is not the hub, load.
    let fine = [
        app("shop", &format!("  subdomain: shop\n{hub}")),
        app("food", "  subdomain: food\n  authenticator_preferences: {is_centralized: false, login_uri: \"https://h/login\"}\n"),
    ]
    .join("---\n");
    assert!(load_one(&fine, &FakeEnvironment::default()).is_ok());
    // Where every variable reads as a placeholder (`render`, `lint`), values read from two
    // variables are not taken for one.
    let read = [
        app("shop", "  subdomain: \"${env:SUB_SHOP}\"\n"),
        app("food", "  subdomain: \"${env:SUB_FOOD}\"\n"),
    ]
    .join("---\n");
    let placeholders = crate::manifest::interpolate::PlaceholderEnvironment;
    let shared = load(
        &[SourceFile {
            path: PathBuf::from("/m/app.yaml"),
            bytes: read.into_bytes(),
        }],
        &placeholders,
    );
    assert!(shared.is_ok(), "{:?}", shared.err());
}

/// The push keys are secrets by their place, whatever they are called: hashed, redacted, never
/// shown. The FCM key, an object, may be read as text (`${file:…}`) holding its JSON; text that
/// is not a JSON object is refused without being shown.
#[test]
fn push_keys_are_secret_by_place_and_an_fcm_key_file_is_read_as_json() {
    let mut env = FakeEnvironment::default();
    env.vars.insert("APN_KEY".into(), "apn-secret-p8".into());
    env.allow.push("APN_KEY".into());
    env.files.insert(
        "/m/fcm.json".into(),
        r#"{"type": "service_account", "private_key": "fcm-secret-pem"}"#.into(),
    );
    let text = |fcm: &str| {
        format!(
            r#"
apiVersion: tenantsync/v1
kind: Application
metadata: {{name: shop}}
spec:
  app_name: Shop
  clients: [{{name: Web, redirect_uris: ["https://shop.example.com/cb"]}}]
---
apiVersion: tenantsync/v1
kind: LoginPreferences
metadata: {{name: shop-login}}
spec:
  application: shop
  push:
    apn: {{key: "${{env:APN_KEY}}", keyId: K1, teamId: T1, bundle: com.shop}}
    fcm: {{key: {fcm}}}
"#
        )
    };
    let state = load_one(&text("\"${file:fcm.json}\""), &env).unwrap();
    let (_, lp) = state
        .objects
        .iter()
        .find(|(a, _)| a.kind == ObjKind::LoginPreferences.into())
        .unwrap();
    assert_eq!(
        lp.spec["push"]["fcm"]["key"],
        json!({"type": "service_account", "private_key": "fcm-secret-pem"})
    );
    for path in ["push.apn.key", "push.fcm.key"] {
        assert!(
            lp.rules
                .sensitive
                .contains(&FieldPath::parse(path).unwrap()),
            "{path}: {:?}",
            lp.rules
        );
    }
    let redacted = state
        .redactions
        .redact("apn-secret-p8 fcm-secret-pem service_account");
    assert!(!redacted.contains("secret"), "{redacted}");
    // Written in the manifest rather than read: still a secret by its place.
    let written = text("{type: service_account, private_key: written-pem}")
        .replace("\"${env:APN_KEY}\"", "written-p8");
    let state = load_one(&written, &env).unwrap();
    assert!(!state
        .redactions
        .redact("written-p8 written-pem")
        .contains("written"));
    // Text that is no JSON object: refused, and not repeated.
    env.files
        .insert("/m/fcm.json".into(), "-----BEGIN fcm-pem".into());
    let errors = load_one(&text("\"${file:fcm.json}\""), &env).unwrap_err();
    let shown = errors.to_string();
    assert!(
        shown.contains("push.fcm.key") && shown.contains("JSON object"),
        "{shown}"
    );
    assert!(!shown.contains("fcm-pem"), "{shown}");
    // An APN configuration without its key is refused before anything is sent.
    let errors = load_one(
        &text("\"${file:fcm.json}\"").replace("key: \"${env:APN_KEY}\", ", ""),
        &env,
    )
    .unwrap_err()
    .to_string();
    assert!(errors.contains("push.apn.key"), "{errors}");
}

/// A login method's members are checked as upstream's schema types them, at any depth: values,
/// bounds, types, a message's required colour; each problem where it is written.
#[test]
fn login_method_members_are_checked_by_type_values_and_bounds() {
    let text = "
apiVersion: tenantsync/v1
kind: Application
metadata: {name: shop}
spec:
  app_name: Shop
  clients: [{name: Web, redirect_uris: [\"https://shop.example.com/cb\"]}]
---
apiVersion: tenantsync/v1
kind: LoginPreferences
metadata: {name: shop-login}
spec:
  application: shop
  totp: {algorithm: md5}
  email: {expiresIn: 5, message: {subject: Hi}}
  webauthn_api: {rpId: shop.example.com, replaceExistingPasskey: \"yes\"}
  password: {resetValidityMinutes: 5, passwordComplexity: 5, passwordMinLength: 20, blockPreviousPasswords: 0, passwordExpiresIn: 90, maxPasswordFailures: 5, passwordSuspensionDuration: 15, message: {primaryColor: '#111'}}
";
    let errors = load_one(text, &FakeEnvironment::default())
        .unwrap_err()
        .to_string();
    for expected in [
        "app.yaml:14:21: spec.totp.algorithm: `md5` is not an allowed value",
        "app.yaml:15:25: spec.email.message.primaryColor: required field is missing",
        "app.yaml:16:66: spec.webauthn_api.replaceExistingPasskey: expected a boolean",
        "app.yaml:17:81: spec.password.passwordMinLength: must be at most 14, found 20",
    ] {
        assert!(errors.contains(expected), "{expected}: {errors}");
    }
}

#[test]
fn a_client_document_of_an_unknown_application_still_has_its_other_references_checked() {
    let errors = load_one(
        r#"
apiVersion: tenantsync/v1
kind: Application
metadata: {name: shop}
spec:
  app_name: Shop
  clients: [{name: Web, redirect_uris: []}]
---
apiVersion: tenantsync/v1
kind: Resource
metadata: {name: payments}
spec: {name: Payments, uri: "https://payments.example", access_token_ttl: 3600,
  max_refresh_rotate: 10, refresh_token_ttl: 7200}
---
apiVersion: tenantsync/v1
kind: Client
metadata: {name: backend}
spec:
  application: shopp
  name: Backend
  redirect_uris: []
  resources: [paymnts]
  role_ids: [nope]
"#,
        &FakeEnvironment::default(),
    )
    .unwrap_err();
    let text = errors.to_string();
    assert!(text.contains("no Application named `shopp`"), "{text}");
    // The resource names a tenant's object: checked whatever the application.
    assert!(
        text.contains(
            "spec.resources[0]: no Resource document is named `paymnts` (did you mean `payments`?)"
        ),
        "{text}"
    );
    // A role is its application's: not checked until the application is known.
    assert!(!text.contains("nope"), "{text}");
    assert_eq!(errors.0.len(), 2, "{text}");
}

/// A client is never deleted while its application is protected: it carries its application's
/// `tenantsync/protect`, and a Client document in a file the load cache did not parse again
/// follows its application's annotation both ways.
#[test]
fn a_cached_client_document_follows_its_applications_protect_annotation() {
    let file = |name: &str, text: String| SourceFile {
        path: PathBuf::from(format!("/m/{name}.yaml")),
        bytes: text.into_bytes(),
    };
    let app = |protect: bool| {
        let annotations = match protect {
            true => "\n  annotations: {tenantsync/protect: \"true\"}",
            false => "",
        };
        file(
            "shop",
            format!("apiVersion: tenantsync/v1\nkind: Application\nmetadata:\n  name: shop{annotations}\nspec:\n  app_name: Shop\n  clients: [{{name: Web, redirect_uris: ['https://shop.example.com/cb']}}]\n"),
        )
    };
    let admin = file(
        "admin",
        "apiVersion: tenantsync/v1\nkind: Client\nmetadata: {name: shop-admin}\nspec:\n  application: shop\n  name: Admin\n  redirect_uris: ['https://shop.example.com/admin']\n".to_owned(),
    );
    let env = FakeEnvironment::default();
    let protect_of =
        |d: &DesiredState| ["Web", "Admin"].map(|c| d.client("shop", c).unwrap().0.protect);
    let mut cache = LoadCache::default();
    let open = cache
        .load(&[app(false), admin.clone()], &env, false)
        .unwrap();
    assert_eq!(protect_of(&open), [false, false]);
    // Only the application's file changed: the Client document's is not parsed again.
    let protected = cache
        .load(&[app(true), admin.clone()], &env, false)
        .unwrap();
    assert_eq!(cache.parsed_last(), 1);
    assert!(protected.app("shop").unwrap().protect);
    assert_eq!(protect_of(&protected), [true, true]);
    let open_again = cache.load(&[app(false), admin], &env, false).unwrap();
    assert_eq!(cache.parsed_last(), 1);
    assert_eq!(protect_of(&open_again), [false, false]);
}
