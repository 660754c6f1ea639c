//! Values no two manifest objects may share in one tenant (the catalogue's `Unique` facts: an
//! application's subdomain and custom domain, the Authentication Hub role): each document's
//! values with where it writes them, and the cross-document check that refuses a second holder
//! at its position, naming the first. Upstream would refuse it with 409 halfway through an
//! apply; `validate` says so before anything is sent.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Map, Value};

use super::document::DocContext;
use super::error::ManifestError;
use super::yaml::Mark;
use crate::model::catalogue::{unique_values, Table, UniqueValue};
use crate::model::schema::FieldPath;

/// A unique value a document holds, and where it writes it.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Held {
    /// The value.
    pub(super) value: UniqueValue,
    /// The field path in the document (`spec.subdomain`).
    pub(super) field: FieldPath,
    /// Where the value is written.
    pub(super) mark: Mark,
    /// Read by interpolation, or a secret: messages never show it.
    pub(super) hidden: bool,
}

/// The unique values of `spec` (`table`: its rows; written at `spec_path` of the document
/// `ctx` reads), each with its position; not a value read from a variable or a file where the
/// environment gives placeholders for them (`render`, `lint`: every such value reads alike).
pub(super) fn held(
    ctx: &DocContext<'_>,
    table: impl Into<Table>,
    spec: &Map<String, Value>,
    spec_path: &FieldPath,
) -> Vec<Held> {
    let within = |set: &std::collections::BTreeSet<FieldPath>, field: &FieldPath| {
        (0..=field.0.len()).any(|n| set.contains(&FieldPath(field.0[..n].to_vec())))
    };
    unique_values(table, spec)
        .into_iter()
        .filter_map(|value| {
            let field = value
                .path
                .iter()
                .fold(spec_path.clone(), |path, key| path.key(key));
            let read = within(&ctx.masked, &field);
            if read && ctx.env.placeholders() {
                return None;
            }
            Some(Held {
                mark: ctx.locate(&field, false),
                hidden: read || within(&ctx.sensitive, &field),
                value,
                field,
            })
        })
        .collect()
}

/// One object's unique values, for the cross-document check.
pub(super) struct Holder<'a> {
    /// Its kind (`Application`): values are unique among the objects of one kind.
    pub(super) kind: &'static str,
    /// Its `metadata.name`.
    pub(super) name: &'a str,
    /// Its file.
    pub(super) file: &'a Path,
    /// Its values.
    pub(super) held: &'a [Held],
}

/// Refuses every value a second object of a kind holds, at the second's position (in file
/// order), naming the first and where it writes the value.
pub(super) fn check<'a>(
    holders: impl IntoIterator<Item = Holder<'a>>,
    errors: &mut Vec<ManifestError>,
) {
    let mut all: Vec<(&Holder<'a>, &Held)> = Vec::new();
    let holders: Vec<Holder<'a>> = holders.into_iter().collect();
    for holder in &holders {
        all.extend(holder.held.iter().map(|held| (holder, held)));
    }
    all.sort_by_key(|(holder, held)| (holder.file, held.mark.line, held.mark.col));
    let mut first: BTreeMap<(&str, &UniqueValue), (&Holder<'a>, &Held)> = BTreeMap::new();
    for (holder, held) in all {
        let kind = holder.kind;
        let Some((earlier_holder, earlier)) = first.get(&(kind, &held.value)) else {
            first.insert((kind, &held.value), (holder, held));
            continue;
        };
        let value = if held.hidden || earlier.hidden {
            format!("the same `{}`", held.value.path.join("."))
        } else {
            held.value.to_string()
        };
        errors.push(ManifestError {
            file: holder.file.to_owned(),
            line: held.mark.line,
            column: held.mark.col,
            field: held.field.to_string(),
            message: format!(
                "{kind} `{}` holds {value} too, as {kind} `{}` does ({}:{}:{}); upstream lets one {kind} of a tenant hold it and refuses the second (409): change one of them",
                holder.name,
                earlier_holder.name,
                earlier_holder.file.display(),
                earlier.mark.line,
                earlier.mark.col
            ),
        });
    }
}
