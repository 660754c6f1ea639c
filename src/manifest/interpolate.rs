//! `${env:NAME}`, `${env:NAME:-default}` and `${file:PATH}` inside manifest strings, resolved at
//! load time through an [`Environment`] (the process, or a fake in tests). `$${` writes a literal
//! `${`. Errors name the variable or file, never a value.

use std::fmt;
use std::path::{Path, PathBuf};

/// Where interpolated values come from.
pub trait Environment {
    /// An environment variable.
    fn var(&self, name: &str) -> Option<String>;
    /// A file's text.
    fn read_file(&self, path: &Path) -> std::io::Result<String>;
}

/// The real process environment and file system.
#[derive(Debug, Default, Clone, Copy)]
pub struct ProcessEnvironment;

impl Environment for ProcessEnvironment {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }

    fn read_file(&self, path: &Path) -> std::io::Result<String> {
        std::fs::read_to_string(path)
    }
}

/// One reference found in a string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    /// `${env:NAME}` (with or without a default).
    Env(String),
    /// `${file:PATH}` as written.
    File(String),
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reference::Env(name) => write!(f, "${{env:{name}}}"),
            Reference::File(path) => write!(f, "${{file:{path}}}"),
        }
    }
}

/// A string after interpolation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interpolated {
    /// The resolved text.
    pub text: String,
    /// The references it used (empty: the string had none).
    pub references: Vec<Reference>,
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
            match (env.var(name), default) {
                (Some(v), _) => out.push_str(&v),
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
                    out.push_str(content.strip_suffix('\n').unwrap_or(&content));
                }
                Err(e) => {
                    let why = match e.kind() {
                        std::io::ErrorKind::NotFound => "no such file".to_owned(),
                        std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
                        std::io::ErrorKind::InvalidData => "not UTF-8 text".to_owned(),
                        _ => e.to_string(),
                    };
                    errors.push(format!(
                        "cannot read `{}` (referenced as ${{file:{path}}}): {why}",
                        full.display()
                    ))
                }
            }
        } else {
            errors.push(format!(
                "unknown reference `${{{body}}}`: use ${{env:NAME}}, ${{env:NAME:-default}} or ${{file:PATH}} (write `$${{` for a literal `${{`)"
            ));
        }
    }
    out.push_str(rest);
    if errors.is_empty() {
        Ok(Interpolated {
            text: out,
            references,
        })
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
        pub vars: HashMap<String, String>,
        pub files: HashMap<PathBuf, String>,
    }

    impl Environment for FakeEnvironment {
        fn var(&self, name: &str) -> Option<String> {
            self.vars.get(name).cloned()
        }
        fn read_file(&self, path: &Path) -> std::io::Result<String> {
            self.files
                .get(path)
                .cloned()
                .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound))
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
    fn errors_name_the_reference_not_a_value() {
        let env = FakeEnvironment::default();
        let errs = interpolate(
            "${env:MISSING} ${file:nope.txt} ${vault:x} ${env:1BAD}",
            Path::new("/m"),
            &env,
        )
        .unwrap_err();
        assert_eq!(errs.len(), 4, "{errs:?}");
        assert!(errs[0].contains("`MISSING` is not set"));
        assert!(errs[1].contains("/m/nope.txt") && errs[1].contains("${file:nope.txt}"));
        assert!(errs[2].contains("unknown reference `${vault:x}`"));
        assert!(errs[3].contains("not a valid environment variable name"));
        let unterminated = interpolate("${env:X", Path::new("/"), &env).unwrap_err();
        assert!(unterminated[0].contains("unterminated"));
    }
}
