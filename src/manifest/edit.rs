//! Writes new values into a manifest file's text in place (`sync --on-drift propose`): only the
//! characters of each edited value change; comments, key order, quoting and layout of
//! everything else stay as they were. A value written over several lines, or one that comes
//! from `${…}` interpolation, is not edited: the caller reports it as not proposable.

use serde_json::{Map, Value};

use super::desired::SourceInfo;
use super::yaml::Mark;
use crate::model::FieldPath;

/// Why a value cannot be written in place.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditRefusal {
    /// The manifest does not write this value where it can be found.
    #[error("the manifest does not write it in place")]
    NotFound,
    /// The value spans several lines (a block sequence, mapping or scalar).
    #[error("it is written over several lines")]
    MultiLine,
    /// The value comes from `${env:…}` / `${file:…}`: the manifest names a source, not a value.
    #[error("it comes from ${{…}} interpolation")]
    Interpolated,
}

/// One value to write: where the manifest writes it, and what it becomes.
#[derive(Debug, Clone, PartialEq)]
pub struct ValueEdit {
    /// The value's position in the file.
    pub at: Mark,
    /// The key's line, when the value belongs to a mapping key.
    pub key_line: Option<usize>,
    /// The new value.
    pub value: Value,
}

/// The edits that write `live` values into an object's manifest for the fields named (each
/// an object-valued field's managed sub-fields are edited one by one), or why one cannot be.
pub fn edits_for(
    source: &SourceInfo,
    spec: &Map<String, Value>,
    live: &Map<String, Value>,
    fields: &[String],
) -> Vec<(String, Result<ValueEdit, EditRefusal>)> {
    let mut out = Vec::new();
    for field in fields {
        let path = FieldPath::root().key(field);
        match (spec.get(field), live.get(field)) {
            (Some(Value::Object(want)), Some(Value::Object(now))) => {
                for (sub, was) in want {
                    let now = now.get(sub).cloned().unwrap_or(Value::Null);
                    if &now != was {
                        let name = format!("{field}.{sub}");
                        out.push((name, edit_at(source, &path.key(sub), now)));
                    }
                }
            }
            (Some(_), Some(now)) => out.push((field.clone(), edit_at(source, &path, now.clone()))),
            _ => out.push((field.clone(), Err(EditRefusal::NotFound))),
        }
    }
    out
}

fn edit_at(source: &SourceInfo, path: &FieldPath, value: Value) -> Result<ValueEdit, EditRefusal> {
    let pos = source.position(path).ok_or(EditRefusal::NotFound)?;
    Ok(ValueEdit {
        at: pos.value,
        key_line: pos.key.map(|k| k.line),
        value,
    })
}

/// `text` with every edit applied (each value replaced by the new one as YAML flow).
pub fn apply(text: &str, edits: &[ValueEdit]) -> Result<String, EditRefusal> {
    let mut lines: Vec<String> = text.split('\n').map(str::to_owned).collect();
    // Right to left within a line, so earlier columns stay valid.
    let mut ordered: Vec<&ValueEdit> = edits.iter().collect();
    ordered.sort_by_key(|e| std::cmp::Reverse(e.at));
    for edit in ordered {
        if edit.key_line.is_some_and(|k| k != edit.at.line) {
            return Err(EditRefusal::MultiLine);
        }
        let line = lines
            .get_mut(edit.at.line.wrapping_sub(1))
            .ok_or(EditRefusal::NotFound)?;
        let start = line
            .char_indices()
            .nth(edit.at.col.wrapping_sub(1))
            .map(|(i, _)| i)
            .ok_or(EditRefusal::NotFound)?;
        let end = start + value_len(&line[start..])?;
        if line[start..end].contains("${") {
            return Err(EditRefusal::Interpolated);
        }
        line.replace_range(start..end, &flow(&edit.value));
    }
    Ok(lines.join("\n"))
}

/// The byte length of the YAML value that `rest` starts with, when it ends on this line.
fn value_len(rest: &str) -> Result<usize, EditRefusal> {
    let bytes = rest.as_bytes();
    match bytes.first() {
        None | Some(b'|' | b'>') => Err(EditRefusal::MultiLine),
        Some(b'"') => {
            let mut escaped = false;
            for (i, c) in rest.char_indices().skip(1) {
                match c {
                    '\\' if !escaped => escaped = true,
                    '"' if !escaped => return Ok(i + 1),
                    _ => escaped = false,
                }
            }
            Err(EditRefusal::MultiLine)
        }
        Some(b'\'') => {
            let mut chars = rest.char_indices().skip(1).peekable();
            while let Some((i, c)) = chars.next() {
                if c == '\'' {
                    if chars.peek().is_some_and(|(_, n)| *n == '\'') {
                        chars.next();
                    } else {
                        return Ok(i + 1);
                    }
                }
            }
            Err(EditRefusal::MultiLine)
        }
        Some(b'[' | b'{') => {
            let (mut depth, mut quote) = (0usize, None::<char>);
            for (i, c) in rest.char_indices() {
                match (quote, c) {
                    (Some(q), c) if c == q => quote = None,
                    (Some(_), _) => {}
                    (None, '"' | '\'') => quote = Some(c),
                    (None, '[' | '{') => depth += 1,
                    (None, ']' | '}') => {
                        depth -= 1;
                        if depth == 0 {
                            return Ok(i + 1);
                        }
                    }
                    _ => {}
                }
            }
            Err(EditRefusal::MultiLine)
        }
        Some(_) => {
            // A plain scalar: up to a comment or the end of the line (or of a flow item).
            let end = rest.find(" #").unwrap_or(rest.len());
            Ok(rest[..end].trim_end().len())
        }
    }
}

/// `value` as YAML flow: plain where that reads back as the same string, JSON otherwise (JSON
/// is valid YAML flow).
fn flow(value: &Value) -> String {
    match value {
        Value::String(s) if plain_safe(s) => s.clone(),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(flow).collect::<Vec<_>>().join(", ")
        ),
        other => other.to_string(),
    }
}

/// Whether `s` written plain reads back as the same string.
fn plain_safe(s: &str) -> bool {
    let first_ok = s
        .chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '/' || c == '.');
    let typed = matches!(
        s.to_ascii_lowercase().as_str(),
        "true" | "false" | "null" | "~" | "yes" | "no" | "on" | "off"
    ) || s.parse::<f64>().is_ok();
    first_ok
        && !typed
        && !s.ends_with(' ')
        && !s.contains(": ")
        && !s.contains(" #")
        && !s.contains(['[', ']', '{', '}', ',', '"', '\'', '\n', '`', '\\'])
        && !s.contains("${")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const TEXT: &str = "# The shop.
apiVersion: tenantsync/v1
kind: Application
metadata: {name: shop}
spec:
  app_name: Shop
  # Shown on the consent screen.
  app_description: Online shop   # keep it short
  token: \"${env:SHOP_TOKEN}\"
  redirect_uris: [https://a.example.com/cb, \"https://b.example.com/cb\"]
  lines:
    - one
";

    fn at(line: usize, col: usize, value: Value) -> ValueEdit {
        ValueEdit {
            at: Mark { line, col },
            key_line: Some(line),
            value,
        }
    }

    #[test]
    fn only_the_value_changes_and_comments_stay() {
        let edited = apply(TEXT, &[at(8, 20, json!("Changed in the portal"))]).unwrap();
        let expected = TEXT.replace(
            "app_description: Online shop   # keep it short",
            "app_description: Changed in the portal   # keep it short",
        );
        assert_eq!(edited, expected);
        let list = apply(TEXT, &[at(10, 18, json!(["https://c.example.com/cb"]))]).unwrap();
        assert!(
            list.contains("  redirect_uris: [https://c.example.com/cb]\n"),
            "{list}"
        );
        let quoted = apply(TEXT, &[at(8, 20, json!("yes"))]).unwrap();
        assert!(quoted.contains("app_description: \"yes\"   # keep it short"));
    }

    #[test]
    fn interpolated_and_multi_line_values_are_refused() {
        assert_eq!(
            apply(TEXT, &[at(9, 10, json!("x"))]),
            Err(EditRefusal::Interpolated)
        );
        let block = ValueEdit {
            at: Mark { line: 12, col: 5 },
            key_line: Some(11),
            value: json!(["two"]),
        };
        assert_eq!(apply(TEXT, &[block]), Err(EditRefusal::MultiLine));
    }
}
