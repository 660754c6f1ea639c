//! `${env:NAME}`, `${env:NAME:-default}`, `${file:PATH}` and `${var:NAME}` (a value of the
//! environment chosen with `--env`) inside manifest strings, resolved at load time through an
//! [`Environment`] (the process, or a fake in tests). `$${` writes a literal `${`. Errors name
//! the variable, file or value and the rule that refused it, never a value read.
//!
//! Manifests may come from untrusted pull requests, so what a reference may read is limited:
//! `${env:…}` never reads tenantsync's own variables (`TENANTSYNC_*`), and reads a name that looks
//! secret (see [`SECRET_LOOKING`]), or a `*_URL` variable whose value carries credentials
//! (`scheme://user:password@host`), only where the environment's allow-list names it
//! (`--env-allow`). `${file:…}` reads only regular files of at
//! most [`MAX_FILE_BYTES`] inside the manifest root or an allowed directory, after resolving
//! symlinks; the [`Environment`] enforces that, since only it can see the file system.

use std::fmt;
use std::path::{Path, PathBuf};

pub use super::environment::{
    EnvValues, Environment, FileRefused, PlaceholderEnvironment, ProcessEnvironment, ReadAllowance,
    ReviewEnvironment, MAX_FILE_BYTES,
};

/// Name fragments that make a variable look like a secret (`PASS` covers `PASSWORD`, `PASSWD`
/// and `PASSPHRASE`; `KEY` covers `API_KEY` and `AWS_ACCESS_KEY_ID`).
pub const SECRET_LOOKING: &[&str] = &[
    "SECRET",
    "TOKEN",
    "PASS",
    "PWD",
    "PRIVATE",
    "CREDENTIAL",
    "KEY",
    "DSN",
    "AUTH",
];

/// Whether a URL carries userinfo (`scheme://user:password@host/…`, or a token as the user).
pub fn url_has_userinfo(value: &str) -> bool {
    let Some((_, rest)) = value.split_once("://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    authority.contains('@')
}

/// Whether `name` is allowed by one of the `--env-allow` patterns.
fn allowed(name: &str, allow: &[String]) -> bool {
    allow.iter().any(|p| glob_matches(p, name))
}

/// Whether `pattern` (with `*` wildcards) matches `name`, case-insensitively.
fn glob_matches(pattern: &str, name: &str) -> bool {
    let (pattern, name) = (pattern.to_ascii_uppercase(), name.to_ascii_uppercase());
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == name;
    }
    let mut rest = name.as_str();
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            match rest.strip_prefix(part) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(at) => rest = &rest[at + part.len()..],
                None => return false,
            }
        }
    }
    true
}

/// The rule that forbids a manifest to use `value`, read from the variable `name`, if any: a
/// `*_URL` variable whose value carries credentials (userinfo) needs `--env-allow` too. The
/// message never quotes the value.
pub fn value_refusal(name: &str, value: &str, allow: &[String]) -> Option<String> {
    let url_name = name.to_ascii_uppercase().ends_with("_URL");
    (url_name && url_has_userinfo(value) && !allowed(name, allow)).then(|| {
        format!(
            "refused: the URL holds credentials (user:password@); allow it with --env-allow {name} (or TENANTSYNC_ENV_ALLOW)"
        )
    })
}

/// The rule that forbids a manifest to read the variable `name`, if any.
pub fn env_refusal(name: &str, allow: &[String]) -> Option<String> {
    let upper = name.to_ascii_uppercase();
    if upper.starts_with("TENANTSYNC_") {
        return Some(
            "refused: tenantsync's own variables (TENANTSYNC_*) are never readable from a manifest"
                .to_owned(),
        );
    }
    if looks_secret(name) && !allowed(name, allow) {
        return Some(format!(
            "refused: the name looks like a secret; allow it with --env-allow {name} (or TENANTSYNC_ENV_ALLOW)"
        ));
    }
    None
}

/// One reference found in a string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    /// `${env:NAME}` (with or without a default).
    Env(String),
    /// `${file:PATH}` as written.
    File(String),
    /// `${var:NAME}`.
    Var(String),
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reference::Env(name) => write!(f, "${{env:{name}}}"),
            Reference::File(path) => write!(f, "${{file:{path}}}"),
            Reference::Var(name) => write!(f, "${{var:{name}}}"),
        }
    }
}

/// Whether a variable name looks like a secret's.
pub fn looks_secret(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    SECRET_LOOKING.iter().any(|s| upper.contains(s))
}

/// A string after interpolation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interpolated {
    /// The resolved text.
    pub text: String,
    /// The references it used (empty: the string had none).
    pub references: Vec<Reference>,
    /// Whether any text came from outside the manifest (a variable that was set, or a file).
    /// False when every reference fell back to the manifest's own `:-default`, whose text is in
    /// the manifest already.
    pub external: bool,
    /// Each piece of text read from outside the manifest (a variable's value, a file's
    /// content): a message that quotes part of the resolved text (a URI's scheme, say) must
    /// not show these either.
    pub read: Vec<String>,
}

/// Whether `text` holds a reference (`${…}` not written as the literal `$${`).
pub fn has_reference(text: &str) -> bool {
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        let tail = &rest[at..];
        if let Some(after) = tail.strip_prefix("$${") {
            rest = after;
        } else if tail.starts_with("${") {
            return true;
        } else {
            rest = &tail[1..];
        }
    }
    false
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Resolves every reference in `text`; `base_dir` anchors relative `${file:…}` paths. Returns
/// every problem (one per bad reference).
pub fn interpolate(
    text: &str,
    base_dir: &Path,
    env: &dyn Environment,
) -> Result<Interpolated, Vec<String>> {
    let mut out = String::with_capacity(text.len());
    let mut references = Vec::new();
    let mut errors = Vec::new();
    let mut external = false;
    let mut read = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        if let Some(after) = tail.strip_prefix("$${") {
            out.push_str("${");
            rest = after;
            continue;
        }
        let Some(body_start) = tail.strip_prefix("${") else {
            out.push('$');
            rest = &tail[1..];
            continue;
        };
        let Some(end) = body_start.find('}') else {
            errors.push(format!(
                "unterminated reference `{}`: close it with `}}` (write `$${{` for a literal `${{`)",
                tail.chars().take(40).collect::<String>()
            ));
            rest = "";
            break;
        };
        let body = &body_start[..end];
        rest = &body_start[end + 1..];
        if let Some(spec) = body.strip_prefix("env:") {
            let (name, default) = match spec.split_once(":-") {
                Some((n, d)) => (n, Some(d)),
                None => (spec, None),
            };
            if !valid_name(name) {
                errors.push(format!(
                    "`${{env:{name}}}`: `{name}` is not a valid environment variable name"
                ));
                continue;
            }
            references.push(Reference::Env(name.to_owned()));
            if let Some(rule) = env_refusal(name, env.env_allow()) {
                errors.push(format!("`${{env:{name}}}`: {rule}"));
                continue;
            }
            match (env.var(name), default) {
                (Some(v), _) => {
                    if let Some(rule) = value_refusal(name, &v, env.env_allow()) {
                        errors.push(format!("`${{env:{name}}}`: {rule}"));
                        continue;
                    }
                    external = true;
                    out.push_str(&v);
                    read.push(v);
                }
                (None, Some(d)) => out.push_str(d),
                (None, None) => errors.push(format!(
                    "environment variable `{name}` is not set (referenced as ${{env:{name}}}; write ${{env:{name}:-default}} to give a default)"
                )),
            }
        } else if let Some(path) = body.strip_prefix("file:") {
            references.push(Reference::File(path.to_owned()));
            let full: PathBuf = base_dir.join(path);
            match env.read_file(&full) {
                Ok(content) => {
                    external = true;
                    let content = content.strip_suffix('\n').unwrap_or(&content);
                    out.push_str(content);
                    read.push(content.to_owned());
                }
                Err(why) => errors.push(format!(
                    "cannot read `{}` (referenced as ${{file:{path}}}): {why}",
                    full.display()
                )),
            }
        } else if let Some(name) = body.strip_prefix("var:") {
            if !valid_name(name) {
                errors.push(format!(
                    "`${{var:{name}}}`: `{name}` is not a valid value name (letters, digits and `_`)"
                ));
                continue;
            }
            references.push(Reference::Var(name.to_owned()));
            match env.values() {
                Some(values) => match values.values.get(name) {
                    // Written in the repository: shown like the manifest's own text.
                    Some(v) => out.push_str(v),
                    None => errors.push(format!(
                        "`${{var:{name}}}`: environment `{env_name}` has no value `{name}`; add it under environments.{env_name}.values in tenantsync.yaml",
                        env_name = values.environment
                    )),
                },
                None => errors.push(format!(
                    "`${{var:{name}}}` reads a value of an environment: choose one with --env NAME (the environments are named in tenantsync.yaml)"
                )),
            }
        } else {
            errors.push(format!(
                "unknown reference `${{{body}}}`: use ${{env:NAME}}, ${{env:NAME:-default}}, ${{file:PATH}} or ${{var:NAME}} (write `$${{` for a literal `${{`)"
            ));
        }
    }
    out.push_str(rest);
    if errors.is_empty() {
        Ok(Interpolated {
            text: out,
            references,
            external,
            read,
        })
    } else {
        Err(errors)
    }
}

/// `text` with each `${var:NAME}` replaced by the environment's value and everything else
/// (`${env:…}`, `${file:…}`, `$${`) left as written: what `tenantsync render` shows, which
/// reads no variable and no file.
pub fn substitute_values(text: &str, values: &EnvValues) -> Result<String, Vec<String>> {
    let mut out = String::with_capacity(text.len());
    let mut errors = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        if let Some(after) = tail.strip_prefix("$${") {
            out.push_str("$${");
            rest = after;
            continue;
        }
        let reference = tail
            .strip_prefix("${var:")
            .and_then(|body| body.find('}').map(|end| (&body[..end], &body[end + 1..])));
        match reference {
            Some((name, after)) => {
                match values.values.get(name) {
                    Some(v) => out.push_str(v),
                    None => errors.push(format!(
                        "`${{var:{name}}}`: environment `{env}` has no value `{name}`; add it under environments.{env}.values in tenantsync.yaml",
                        env = values.environment
                    )),
                }
                rest = after;
            }
            None => {
                out.push('$');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::collections::HashMap;

    /// An in-memory environment for tests.
    #[derive(Default)]
    pub struct FakeEnvironment {
        pub values: Option<EnvValues>,
        pub vars: HashMap<String, String>,
        pub files: HashMap<PathBuf, String>,
        /// `--env-allow` patterns.
        pub allow: Vec<String>,
    }

    impl Environment for FakeEnvironment {
        fn var(&self, name: &str) -> Option<String> {
            self.vars.get(name).cloned()
        }
        fn read_file(&self, path: &Path) -> Result<String, FileRefused> {
            self.files.get(path).cloned().ok_or(FileRefused::NotFound)
        }
        fn env_allow(&self) -> &[String] {
            &self.allow
        }
        fn values(&self) -> Option<&EnvValues> {
            self.values.as_ref()
        }
    }

    #[test]
    fn resolves_env_defaults_files_and_escapes() {
        let mut env = FakeEnvironment::default();
        env.vars.insert("HOST".into(), "prod.example.com".into());
        env.files
            .insert(PathBuf::from("/m/secret.txt"), "s3cr3t\n".into());
        let got = interpolate(
            "https://${env:HOST}/cb?x=${env:PORT:-443}&k=${file:secret.txt}&lit=$${env:X}&$5",
            Path::new("/m"),
            &env,
        )
        .unwrap();
        assert_eq!(
            got.text,
            "https://prod.example.com/cb?x=443&k=s3cr3t&lit=${env:X}&$5"
        );
        assert_eq!(got.references.len(), 3);
    }

    #[test]
    fn var_reads_the_chosen_environments_values_and_names_what_is_missing() {
        let mut env = FakeEnvironment::default();
        let none = errors_at_m("${var:ORIGIN}/cb", &env);
        assert!(none[0].contains("choose one with --env NAME"), "{none:?}");
        env.values = Some(EnvValues {
            environment: "prod".into(),
            values: [("ORIGIN".to_owned(), "https://example.com".to_owned())].into(),
        });
        let got = interpolate("${var:ORIGIN}/cb", Path::new("/m"), &env).unwrap();
        assert_eq!(got.text, "https://example.com/cb");
        // A value is in the repository: not read from outside, so not masked.
        assert!(!got.external);
        assert_eq!(got.references, [Reference::Var("ORIGIN".into())]);
        let missing = errors_at_m("${var:TTL}", &env);
        assert_eq!(
            missing,
            ["`${var:TTL}`: environment `prod` has no value `TTL`; add it under environments.prod.values in tenantsync.yaml"]
        );
    }

    #[test]
    fn render_substitutes_values_only() {
        let values = EnvValues {
            environment: "dev".into(),
            values: [("HOST".to_owned(), "dev.example.com".to_owned())].into(),
        };
        assert_eq!(
            substitute_values(
                "https://${var:HOST}/${env:P}/${file:x}/$${var:HOST}",
                &values
            )
            .unwrap(),
            "https://dev.example.com/${env:P}/${file:x}/$${var:HOST}"
        );
        assert!(substitute_values("${var:NOPE}", &values).unwrap_err()[0]
            .contains("environment `dev` has no value `NOPE`"));
    }

    /// The errors of interpolating `text` in a manifest under `/m`.
    pub(super) fn errors_at_m(text: &str, env: &FakeEnvironment) -> Vec<String> {
        interpolate(text, Path::new("/m"), env).unwrap_err()
    }

    #[test]
    fn errors_name_the_reference_not_a_value() {
        let env = FakeEnvironment::default();
        let errs = errors_at_m(
            "${env:MISSING} ${file:nope.txt} ${vault:x} ${env:1BAD}",
            &env,
        );
        assert_eq!(errs.len(), 4, "{errs:?}");
        assert!(errs[0].contains("`MISSING` is not set"));
        assert!(errs[1].contains("/m/nope.txt") && errs[1].contains("${file:nope.txt}"));
        assert!(errs[2].contains("unknown reference `${vault:x}`"));
        assert!(errs[3].contains("not a valid environment variable name"));
        let unterminated = interpolate("${env:X", Path::new("/"), &env).unwrap_err();
        assert!(unterminated[0].contains("unterminated"));
    }
}

#[cfg(test)]
mod policy_tests {
    use super::tests::{errors_at_m, FakeEnvironment};
    use super::*;

    #[test]
    fn own_and_secret_looking_variables_are_refused_without_echoing_them() {
        let mut env = FakeEnvironment::default();
        env.vars
            .insert("TENANTSYNC_CLIENT_SECRET".into(), "canary-value".into());
        env.vars.insert("DB_PASSWORD".into(), "canary-value".into());
        env.vars.insert("HOST".into(), "ok".into());
        let errs = errors_at_m(
            "${env:TENANTSYNC_CLIENT_SECRET} ${env:DB_PASSWORD} ${env:HOST}",
            &env,
        );
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert!(errs[0].contains("TENANTSYNC_*"), "{}", errs[0]);
        assert!(errs[1].contains("--env-allow DB_PASSWORD"), "{}", errs[1]);
        assert!(errs.iter().all(|e| !e.contains("canary-value")));
    }

    #[test]
    fn credential_names_and_urls_with_userinfo_are_secret_looking() {
        for name in [
            "AWS_ACCESS_KEY_ID",
            "API_KEY",
            "DB_PASS",
            "MYSQL_PWD",
            "SENTRY_DSN",
            "BASIC_AUTH",
            "DB_PASSWORD",
        ] {
            assert!(env_refusal(name, &[]).is_some(), "{name}");
            assert!(env_refusal(name, &[name.to_owned()]).is_none(), "{name}");
        }
        assert!(env_refusal("FOOD_ORIGIN", &[]).is_none());
        let mut env = FakeEnvironment::default();
        env.vars
            .insert("DATABASE_URL".into(), "postgres://u:pw-canary@h/db".into());
        env.vars
            .insert("GIT_URL".into(), "https://tok-canary@git.example/x".into());
        env.vars
            .insert("PUBLIC_URL".into(), "https://shop.example.com/a@b".into());
        let errs = errors_at_m("${env:DATABASE_URL} ${env:GIT_URL} ${env:PUBLIC_URL}", &env);
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert!(errs[0].contains("--env-allow DATABASE_URL"), "{}", errs[0]);
        assert!(errs.iter().all(|e| !e.contains("canary")));
        env.allow = vec!["DATABASE_URL".into()];
        let done = interpolate("${env:DATABASE_URL}", Path::new("/m"), &env).unwrap();
        assert_eq!(done.text, "postgres://u:pw-canary@h/db");
        assert!(done.external);
        // Only the manifest's own default was used: nothing came from outside.
        let default = interpolate("${env:UNSET_X:-https://a}", Path::new("/m"), &env).unwrap();
        assert!(!default.external);
        assert!(has_reference("a ${env:X} b") && !has_reference("a $${env:X} $5"));
    }

    #[test]
    fn env_allow_patterns() {
        assert!(env_refusal("DB_PASSWORD", &["DB_*".into()]).is_none());
        assert!(env_refusal("DB_PASSWORD", &["db_password".into()]).is_none());
        assert!(env_refusal("DB_PASSWORD", &["*_TOKEN".into()]).is_some());
        assert!(env_refusal("API_TOKEN", &["*_TOKEN".into()]).is_none());
        assert!(env_refusal("HOST", &[]).is_none());
        // Never, whatever the allow-list says.
        assert!(env_refusal("TENANTSYNC_TOKEN", &["*".into()]).is_some());
        assert!(glob_matches("A*B*C", "AxxBxxC") && !glob_matches("A*B*C", "AxxC"));
    }

    #[test]
    fn files_stay_inside_the_roots() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("manifests");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(root.join("ok.txt"), "inside\n").unwrap();
        std::fs::write(dir.path().join("outside.txt"), "canary").unwrap();
        std::os::unix::fs::symlink(dir.path().join("outside.txt"), root.join("link.txt")).unwrap();
        std::fs::write(
            root.join("big.txt"),
            vec![b'x'; MAX_FILE_BYTES as usize + 1],
        )
        .unwrap();
        let env = ProcessEnvironment::confined(std::slice::from_ref(&root), &[]);
        assert_eq!(env.read_file(&root.join("ok.txt")).unwrap(), "inside\n");
        assert_eq!(
            env.read_file(&root.join("../outside.txt")),
            Err(FileRefused::OutsideRoots)
        );
        assert_eq!(
            env.read_file(&root.join("link.txt")),
            Err(FileRefused::OutsideRoots)
        );
        assert_eq!(env.read_file(&root), Err(FileRefused::NotRegular));
        assert_eq!(
            env.read_file(&root.join("big.txt")),
            Err(FileRefused::TooLarge)
        );
        assert_eq!(
            env.read_file(Path::new("/etc/passwd")),
            Err(FileRefused::OutsideRoots)
        );
        let allowed = ProcessEnvironment::confined(&[root.clone(), dir.path().to_owned()], &[]);
        assert_eq!(allowed.read_file(&root.join("link.txt")).unwrap(), "canary");
    }
}
