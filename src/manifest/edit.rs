//! Writes new values into a manifest file's text in place (`sync --on-drift propose`): only the
//! characters of each edited value change; comments, key order, quoting and layout of
//! everything else stay as they were. A value written over several lines, or one that comes
//! from `${…}` interpolation, is not edited: the caller reports it as not proposable.
//!
//! A live value is untrusted text: a string is written plain only when it is printable and
//! reads back as itself, otherwise double-quoted with every control or invisible character
//! escaped; and the edited file is read back and must differ from the original in the edited
//! values only, or nothing is written.

use std::fmt::Write as _;

use serde_json::{Map, Value};

use super::desired::SourceInfo;
use super::yaml::{self, Mark, Node, NodeValue, Resolved};
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
    /// The edited text does not read back as the original with the new values (nothing is
    /// written).
    #[error(
        "the edited file would not read back as the intended values ({0}); nothing was changed"
    )]
    Unfaithful(String),
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
        let end = start + value_len(&line[start..], in_flow(&line[..start]))?;
        if line[start..end].contains("${") {
            return Err(EditRefusal::Interpolated);
        }
        line.replace_range(start..end, &flow(&edit.value));
    }
    let edited = lines.join("\n");
    check_faithful(text, &edited, edits)?;
    Ok(edited)
}

/// Reads `original` and `edited` back and requires them to be the same documents except where
/// a value became one of the edits' values: a value that broke out of its place (new keys, new
/// items, another document) is refused.
fn check_faithful(original: &str, edited: &str, edits: &[ValueEdit]) -> Result<(), EditRefusal> {
    let read = |text: &str, which: &str| {
        yaml::parse(text)
            .map(|docs| {
                docs.iter()
                    .map(|d| d.root.as_ref().map_or(Value::Null, node_value))
                    .collect::<Vec<_>>()
            })
            .map_err(|e| {
                EditRefusal::Unfaithful(format!(
                    "{which} does not parse at line {}: {}",
                    e.mark.line, e.message
                ))
            })
    };
    let before = read(original, "the manifest")?;
    let after = read(edited, "the edited manifest")?;
    if before.len() != after.len() {
        return Err(EditRefusal::Unfaithful(format!(
            "{} documents became {}",
            before.len(),
            after.len()
        )));
    }
    let wanted: Vec<&Value> = edits.iter().map(|e| &e.value).collect();
    for (i, (old, new)) in before.iter().zip(&after).enumerate() {
        same_but_edits(old, new, &wanted, &format!("document {}", i + 1))
            .map_err(EditRefusal::Unfaithful)?;
    }
    Ok(())
}

fn same_but_edits(old: &Value, new: &Value, wanted: &[&Value], at: &str) -> Result<(), String> {
    if old == new || wanted.contains(&new) {
        return Ok(());
    }
    match (old, new) {
        (Value::Object(a), Value::Object(b))
            if a.len() == b.len() && a.keys().all(|k| b.contains_key(k)) =>
        {
            a.iter()
                .try_for_each(|(k, v)| same_but_edits(v, &b[k], wanted, &format!("{at}: {k}")))
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => a
            .iter()
            .zip(b)
            .enumerate()
            .try_for_each(|(i, (x, y))| same_but_edits(x, y, wanted, &format!("{at}[{i}]"))),
        _ => Err(format!("{at} changed beyond the edited values")),
    }
}

/// A parsed YAML node as JSON, scalars typed as the manifest loader types them.
fn node_value(node: &Node) -> Value {
    match &node.value {
        NodeValue::Scalar(s) if !s.plain => Value::String(s.text.clone()),
        NodeValue::Scalar(s) => match yaml::resolve_plain(&s.text) {
            Resolved::Null => Value::Null,
            Resolved::Bool(b) => Value::Bool(b),
            Resolved::Int(i) => Value::from(i),
            Resolved::Float(f) => serde_json::Number::from_f64(f)
                .map_or_else(|| Value::String(s.text.clone()), Value::Number),
            Resolved::Str => Value::String(s.text.clone()),
        },
        NodeValue::Seq(items) => Value::Array(items.iter().map(node_value).collect()),
        NodeValue::Map(entries) => Value::Object(
            entries
                .iter()
                .map(|(k, v)| {
                    let key = match node_value(k) {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    (key, node_value(v))
                })
                .collect(),
        ),
    }
}

/// The byte length of the YAML value that `rest` starts with, when it ends on this line.
/// Whether a value that starts after `before` (the start of its line) is inside a flow
/// collection (`totp: {period: 30}`): a `{` or `[` there is still open, outside quotes.
fn in_flow(before: &str) -> bool {
    let (mut depth, mut quote) = (0usize, None::<char>);
    for c in before.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '[' | '{') => depth += 1,
            (None, ']' | '}') => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    depth > 0
}

fn value_len(rest: &str, flow_item: bool) -> Result<usize, EditRefusal> {
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
            // A plain scalar: up to a comment or the end of the line, or, as an item of a flow
            // collection, up to the `,`, `}` or `]` that ends the item.
            let mut end = rest.find(" #").unwrap_or(rest.len());
            if flow_item {
                end = end.min(rest.find([',', '}', ']']).unwrap_or(rest.len()));
            }
            Ok(rest[..end].trim_end().len())
        }
    }
}

/// `value` as YAML flow: plain where that reads back as the same string, JSON otherwise (JSON
/// is valid YAML flow), with strings escaped by [`quoted`].
fn flow(value: &Value) -> String {
    match value {
        Value::String(s) if plain_safe(s) => s.clone(),
        Value::String(s) => quoted(s),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(flow).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(entries) => format!(
            "{{{}}}",
            entries
                .iter()
                .map(|(k, v)| format!("{}: {}", quoted(k), flow(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => other.to_string(),
    }
}

/// `s` double-quoted, valid as JSON and as YAML: quotes and backslashes escaped, and every
/// control character, line or paragraph separator, other whitespace than the space and
/// invisible formatting character (bidirectional overrides, zero-width, BOM) written as an
/// escape, so what a reviewer sees is what the file says.
fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if invisible(c) => {
                for unit in c.encode_utf16(&mut [0; 2]) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Characters that must not appear raw in an edited manifest.
fn invisible(c: char) -> bool {
    c.is_control()
        || (c.is_whitespace() && c != ' ')
        || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}')
}

/// Whether `s` written plain reads back as the same string: printable ASCII (or non-ASCII
/// letters and digits) only, no YAML indicator where it would act as one.
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
        && s.chars()
            .all(|c| c == ' ' || c.is_ascii_graphic() || (!c.is_ascii() && c.is_alphanumeric()))
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

    /// A value inside a flow mapping or sequence ends where its item does.
    #[test]
    fn a_value_in_a_flow_collection_is_replaced_up_to_its_item_end() {
        let text = "spec:\n  totp: {period: 30, digits: 6}   # on\n  uris: [a, b]\n";
        let edited = apply(
            text,
            &[
                at(2, 18, json!(45)),
                at(2, 30, json!(8)),
                at(3, 13, json!("c")),
            ],
        )
        .unwrap();
        assert_eq!(
            edited,
            "spec:\n  totp: {period: 45, digits: 8}   # on\n  uris: [a, c]\n"
        );
        // Outside a flow collection a plain scalar may hold those characters.
        let block = "spec:\n  name: a,b}\n";
        assert_eq!(
            apply(block, &[at(2, 9, json!("x"))]).unwrap(),
            "spec:\n  name: x\n"
        );
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

    /// The review's payload: carriage returns that a plain scalar would turn into new keys.
    const PAYLOAD: &str = "Shop\r  allow_public_signup:\r    true\r  ignore_fields:\r  - login_uri";

    fn spec_of(text: &str) -> Value {
        let docs = yaml::parse(text).unwrap();
        node_value(docs[0].root.as_ref().unwrap())["spec"].clone()
    }

    #[test]
    fn a_live_value_with_line_breaks_or_controls_is_escaped_and_injects_nothing() {
        let edited = apply(TEXT, &[at(8, 20, json!(PAYLOAD))]).unwrap();
        assert!(!edited.contains('\r'), "{edited:?}");
        assert!(
            edited.contains(r#"app_description: "Shop\r  allow_public_signup:\r    true\r  ignore_fields:\r  - login_uri"   # keep it short"#),
            "{edited}"
        );
        let spec = spec_of(&edited);
        assert_eq!(spec["app_description"], PAYLOAD);
        assert!(spec.get("allow_public_signup").is_none() && spec.get("ignore_fields").is_none());
        assert_eq!(
            spec_of(&edited).as_object().unwrap().len(),
            spec_of(TEXT).as_object().unwrap().len()
        );

        for (value, escaped) in [
            ("a\tb", r#""a\tb""#),
            ("a\u{1b}[2Jb", r#""a\u001b[2Jb""#),
            ("del\u{7f}", r#""del\u007f""#),
            ("nel\u{85}x", r#""nel\u0085x""#),
            ("ls\u{2028}x", r#""ls\u2028x""#),
            ("rlo\u{202e}x", r#""rlo\u202ex""#),
            ("nb\u{a0}sp", r#""nb\u00a0sp""#),
            ("quote\"back\\", r#""quote\"back\\""#),
        ] {
            assert!(!plain_safe(value), "{value:?}");
            assert_eq!(flow(&json!(value)), escaped);
            let edited = apply(TEXT, &[at(8, 20, json!(value))]).unwrap();
            assert_eq!(spec_of(&edited)["app_description"], value, "{edited}");
            // The same escaping is valid JSON.
            assert_eq!(serde_json::from_str::<String>(escaped).unwrap(), value);
        }
        assert!(plain_safe("Online shop") && plain_safe("Boutique élégante"));
        let list = apply(
            TEXT,
            &[at(10, 18, json!(["https://c.example.com/cb", "x\ry: z"]))],
        )
        .unwrap();
        assert_eq!(
            spec_of(&list)["redirect_uris"],
            json!(["https://c.example.com/cb", "x\ry: z"])
        );
        let object = flow(&json!({"a\rb": "c\r"}));
        assert_eq!(object, r#"{"a\rb": "c\r"}"#);
    }

    #[test]
    fn an_edit_that_reads_back_as_more_than_its_value_is_refused() {
        let edit = at(8, 20, json!("Shop"));
        // What the old writer produced for the payload: a plain scalar split by carriage returns.
        let injected = TEXT.replace("Online shop", PAYLOAD);
        let refused = check_faithful(TEXT, &injected, std::slice::from_ref(&edit));
        assert!(
            matches!(&refused, Err(EditRefusal::Unfaithful(why)) if why.contains("beyond")),
            "{refused:?}"
        );
        let faithful = TEXT.replace("Online shop", "Shop");
        assert_eq!(
            check_faithful(TEXT, &faithful, std::slice::from_ref(&edit)),
            Ok(())
        );
        // Another value changed than the one edited.
        let other = faithful.replace("app_name: Shop", "app_name: Evil");
        assert!(check_faithful(TEXT, &other, std::slice::from_ref(&edit)).is_err());
        let more_docs = format!("{faithful}---\nkind: Application\n");
        assert!(check_faithful(TEXT, &more_docs, &[edit]).is_err());
    }
}
