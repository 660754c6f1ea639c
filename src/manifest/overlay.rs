//! An environment's overlay: documents that add objects to the manifests, or patch the document
//! of the same kind and `metadata.name`. A patch replaces each field it writes whole, as the API
//! replaces object-valued fields (an application's `clients` are matched by `name`, each
//! client's fields again replaced whole). Pure: files in, files out.
//!
//! A file holding a patched document is written anew (YAML, without its comments) and named
//! `<file> (with <overlay file>)`; positions in it are those of `tenantsync render`'s output.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_yaml::{Mapping, Value};

use super::error::{ManifestError, ManifestErrors};
use super::validate::SourceFile;

/// A document's identity for patching: kind and `metadata.name`.
fn identity(doc: &Value) -> Option<(String, String)> {
    let kind = doc.get("kind")?.as_str()?.to_owned();
    let name = doc.get("metadata")?.get("name")?.as_str()?.to_owned();
    Some((kind, name))
}

fn documents(source: &SourceFile) -> Result<Vec<Value>, ManifestError> {
    let text = std::str::from_utf8(&source.bytes).map_err(|_| ManifestError {
        file: source.path.clone(),
        line: 1,
        column: 1,
        field: "(document)".into(),
        message: "the file is not valid UTF-8 text".into(),
    })?;
    let mut out = Vec::new();
    for document in serde_yaml::Deserializer::from_str(text) {
        let value = serde::Deserialize::deserialize(document).map_err(|e| {
            let (line, column) = e.location().map_or((1, 1), |l| (l.line(), l.column()));
            ManifestError {
                file: source.path.clone(),
                line,
                column,
                field: "(document)".into(),
                message: format!("YAML syntax error: {e}"),
            }
        })?;
        if !matches!(value, Value::Null) {
            out.push(value);
        }
    }
    Ok(out)
}

/// `base` with `patch`'s fields written over it (see the module's rules).
fn patched(base: &Value, patch: &Value) -> Value {
    let mut out = base.clone();
    for section in ["metadata", "spec"] {
        let Some(Value::Mapping(fields)) = patch.get(section) else {
            continue;
        };
        let target = match out.get_mut(section) {
            Some(Value::Mapping(m)) => m,
            _ => {
                out[section] = Value::Mapping(Mapping::new());
                match out.get_mut(section) {
                    Some(Value::Mapping(m)) => m,
                    _ => unreachable!("just set"),
                }
            }
        };
        for (key, value) in fields {
            if section == "spec" && key.as_str() == Some("clients") {
                let merged = clients(target.get(key), value);
                target.insert(key.clone(), merged);
            } else {
                target.insert(key.clone(), value.clone());
            }
        }
    }
    out
}

/// An application's clients with the overlay's matched by `name` (fields replaced whole) and
/// the new ones appended.
fn clients(base: Option<&Value>, patch: &Value) -> Value {
    let (Some(Value::Sequence(base)), Value::Sequence(patch)) = (base, patch) else {
        return patch.clone();
    };
    let mut out = base.clone();
    for client in patch {
        let name = client.get("name").and_then(Value::as_str);
        match out
            .iter_mut()
            .find(|c| name.is_some() && c.get("name").and_then(Value::as_str) == name)
        {
            Some(existing) => {
                if let (Value::Mapping(into), Value::Mapping(from)) = (existing, client) {
                    for (k, v) in from {
                        into.insert(k.clone(), v.clone());
                    }
                }
            }
            None => out.push(client.clone()),
        }
    }
    Value::Sequence(out)
}

/// What a patched file's name adds to its own: ` (with environments/prod/x.yaml)`.
const PATCHED: &str = " (with ";

/// The file a source was read from: `path` itself, or the manifest file a patched source
/// (`manifests/app.yaml (with environments/prod/x.yaml)`) was made from, whose directory
/// `${file:…}` paths in it are relative to.
pub fn file_of(path: &Path) -> PathBuf {
    let text = path.to_string_lossy();
    match text.rfind(PATCHED) {
        Some(at) if text.ends_with(')') => PathBuf::from(&text[..at]),
        _ => path.to_path_buf(),
    }
}

fn emit(docs: &[Value]) -> Vec<u8> {
    docs.iter()
        .map(|d| serde_yaml::to_string(d).expect("YAML values serialize"))
        .collect::<Vec<_>>()
        .join("---\n")
        .into_bytes()
}

/// The manifests `base` with the overlay files `overlay` applied: patched files written anew,
/// the overlay's new documents added, everything else as it was. A patch whose document names
/// no kind or name is an error; so is one matching two documents.
pub fn apply(
    base: Vec<SourceFile>,
    overlay: &[SourceFile],
) -> Result<Vec<SourceFile>, ManifestErrors> {
    let mut errors = Vec::new();
    let mut patches: BTreeMap<(String, String), (Value, PathBuf)> = BTreeMap::new();
    let mut added: Vec<SourceFile> = Vec::new();
    let mut parsed_base: Vec<(SourceFile, Option<Vec<Value>>)> = Vec::new();
    let mut base_ids: BTreeMap<(String, String), usize> = BTreeMap::new();
    for source in base {
        // A base file that does not parse is left to the loader, which says why.
        let docs = documents(&source).ok();
        for id in docs.iter().flatten().filter_map(identity) {
            *base_ids.entry(id).or_default() += 1;
        }
        parsed_base.push((source, docs));
    }
    for source in overlay {
        let docs = match documents(source) {
            Ok(d) => d,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        let mut new_docs = Vec::new();
        let count = docs.len();
        for doc in docs {
            match identity(&doc) {
                Some(id) if base_ids.get(&id) == Some(&1) => {
                    patches.insert(id, (doc, source.path.clone()));
                }
                Some(id) if base_ids.get(&id).is_some_and(|n| *n > 1) => {
                    errors.push(ManifestError {
                        file: source.path.clone(),
                        line: 1,
                        column: 1,
                        field: "metadata.name".into(),
                        message: format!(
                            "patches {}/{}, which the manifests define more than once",
                            id.0, id.1
                        ),
                    });
                }
                Some(_) => new_docs.push(doc),
                None => errors.push(ManifestError {
                    file: source.path.clone(),
                    line: 1,
                    column: 1,
                    field: "(document)".into(),
                    message: "an overlay document needs `kind` and `metadata.name`: it adds that object, or patches the manifests' document of that kind and name".into(),
                }),
            }
        }
        if new_docs.len() == count {
            // Every document is new: the file as written, so positions stay true.
            added.push(source.clone());
        } else if !new_docs.is_empty() {
            added.push(SourceFile {
                path: source.path.clone(),
                bytes: emit(&new_docs),
            });
        }
    }
    if !errors.is_empty() {
        return Err(ManifestErrors(errors));
    }
    let mut out = Vec::new();
    for (source, docs) in parsed_base {
        let Some(docs) = docs else {
            out.push(source);
            continue;
        };
        let mut by: Vec<PathBuf> = Vec::new();
        let merged: Vec<Value> = docs
            .iter()
            .map(|doc| match identity(doc).and_then(|id| patches.get(&id)) {
                Some((patch, from)) => {
                    by.push(from.clone());
                    patched(doc, patch)
                }
                None => doc.clone(),
            })
            .collect();
        if by.is_empty() {
            out.push(source);
        } else {
            by.dedup();
            let names: Vec<String> = by.iter().map(|p| p.display().to_string()).collect();
            out.push(SourceFile {
                path: PathBuf::from(format!(
                    "{}{PATCHED}{})",
                    source.path.display(),
                    names.join(", ")
                )),
                bytes: emit(&merged),
            });
        }
    }
    out.extend(added);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, text: &str) -> SourceFile {
        SourceFile {
            path: PathBuf::from(path),
            bytes: text.as_bytes().to_vec(),
        }
    }

    #[test]
    fn a_patched_files_own_file_is_the_manifest_it_was_made_from() {
        let patched = Path::new(
            "manifests/app.yaml (with environments/prod/a.yaml, environments/prod/b.yaml)",
        );
        assert_eq!(file_of(patched), Path::new("manifests/app.yaml"));
        assert_eq!(
            file_of(Path::new("manifests/x (with).yaml")),
            Path::new("manifests/x (with).yaml")
        );
    }

    #[test]
    fn patches_replace_fields_whole_match_clients_by_name_and_add_new_documents() {
        let base = vec![
            file(
                "m/shop.yaml",
                "apiVersion: tenantsync/v1\nkind: Application\nmetadata: {name: shop}\nspec:\n  app_name: Shop\n  app_description: base\n  clients:\n    - {name: Web, redirect_uris: ['https://dev/cb'], description: kept}\n    - {name: iOS, redirect_uris: ['app://cb']}\n",
            ),
            file(
                "m/blog.yaml",
                "apiVersion: tenantsync/v1\nkind: Application\nmetadata: {name: blog}\nspec: {app_name: Blog}\n",
            ),
        ];
        let overlay = vec![file(
            "env/prod/shop.yaml",
            "apiVersion: tenantsync/v1\nkind: Application\nmetadata: {name: shop}\nspec:\n  app_description: prod\n  clients:\n    - {name: Web, redirect_uris: ['https://prod/cb']}\n    - {name: Admin, redirect_uris: []}\n---\napiVersion: tenantsync/v1\nkind: Resource\nmetadata: {name: audit}\nspec: {uri: 'https://audit.example.com'}\n",
        )];
        let out = apply(base, &overlay).unwrap();
        assert_eq!(out.len(), 3);
        assert_eq!(
            out[0].path,
            PathBuf::from("m/shop.yaml (with env/prod/shop.yaml)")
        );
        let shop: Value = serde_yaml::from_slice(&out[0].bytes).unwrap();
        assert_eq!(shop["spec"]["app_name"], "Shop");
        assert_eq!(shop["spec"]["app_description"], "prod");
        let clients = shop["spec"]["clients"].as_sequence().unwrap();
        let names: Vec<&str> = clients
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["Web", "iOS", "Admin"]);
        assert_eq!(clients[0]["redirect_uris"][0], "https://prod/cb");
        assert_eq!(clients[0]["description"], "kept");
        // An untouched file is passed on byte for byte.
        assert_eq!(out[1].path, PathBuf::from("m/blog.yaml"));
        assert_eq!(out[2].path, PathBuf::from("env/prod/shop.yaml"));
        let added: Value = serde_yaml::from_slice(&out[2].bytes).unwrap();
        assert_eq!(added["kind"], "Resource");
    }

    #[test]
    fn an_overlay_document_without_a_name_is_refused() {
        let base = vec![file("m/a.yaml", "kind: Application\nmetadata: {name: a}\n")];
        let errors = apply(base, &[file("o/x.yaml", "kind: Application\nspec: {}\n")])
            .unwrap_err()
            .to_string();
        assert!(
            errors.contains("o/x.yaml:1:1") && errors.contains("metadata.name"),
            "{errors}"
        );
    }
}
