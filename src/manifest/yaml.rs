//! YAML with positions: a small tree built from yaml-rust2's marked events, so every value and
//! every mapping key keeps its line and column. Plain scalars are resolved by the YAML 1.2 core
//! schema (so `yes`/`no`/`on` stay strings); quoted scalars are always strings.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// A position in a file, 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Mark {
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1.
    pub col: usize,
}

impl Mark {
    fn from_marker(m: Marker) -> Self {
        Self {
            line: m.line(),
            col: m.col() + 1,
        }
    }
}

/// A scalar as written.
#[derive(Debug, Clone, PartialEq)]
pub struct Scalar {
    /// The text.
    pub text: String,
    /// Unquoted (plain) scalars are typed by content; quoted ones are strings.
    pub plain: bool,
}

/// A YAML value.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeValue {
    /// A scalar (typed later, see [`resolve_plain`]).
    Scalar(Scalar),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in document order.
    Map(Vec<(Node, Node)>),
}

/// A value and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// The value.
    pub value: NodeValue,
    /// Its position.
    pub mark: Mark,
}

/// A syntax error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// Where the parser stopped.
    pub mark: Mark,
    /// What it says.
    pub message: String,
}

/// One document of a stream and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// The root, or `None` for an empty document.
    pub root: Option<Node>,
    /// Where the document starts.
    pub mark: Mark,
}

impl Document {
    /// True for a document with no content (`---` followed by nothing).
    pub fn is_empty(&self) -> bool {
        match &self.root {
            None => true,
            Some(node) => {
                matches!(&node.value, NodeValue::Scalar(s) if s.plain && s.text.is_empty())
            }
        }
    }
}

/// The most nodes one document may expand to, aliases included: a few hundred bytes of nested
/// aliases ("billion laughs") would otherwise expand to billions of nodes.
pub const MAX_NODES: usize = 100_000;

fn size(node: &Node) -> usize {
    1 + match &node.value {
        NodeValue::Scalar(_) => 0,
        NodeValue::Seq(items) => items.iter().map(size).sum(),
        NodeValue::Map(entries) => entries.iter().map(|(k, v)| size(k) + size(v)).sum(),
    }
}

#[derive(Default)]
struct Builder {
    documents: Vec<Document>,
    stack: Vec<(Node, Option<Node>)>,
    /// Anchored nodes and their sizes.
    anchors: HashMap<usize, (Node, usize)>,
    /// Nodes built so far, alias expansions included.
    nodes: usize,
    anchor_of_open: Vec<usize>,
    doc_mark: Mark,
    root: Option<Node>,
    error: Option<SyntaxError>,
}

impl Builder {
    /// Counts `n` more nodes; false (and an error) past [`MAX_NODES`].
    fn count(&mut self, n: usize, mark: Mark) -> bool {
        self.nodes = self.nodes.saturating_add(n);
        if self.nodes > MAX_NODES {
            self.error.get_or_insert(SyntaxError {
                mark,
                message: format!(
                    "the document expands to more than {MAX_NODES} nodes (nested aliases?); refused"
                ),
            });
            return false;
        }
        true
    }

    fn anchor(&mut self, anchor: usize, node: &Node) {
        if anchor > 0 && self.error.is_none() {
            self.anchors.insert(anchor, (node.clone(), size(node)));
        }
    }

    /// Opens a sequence or mapping; its items follow until the matching end event.
    fn open(&mut self, anchor: usize, value: NodeValue, mark: Mark) {
        self.anchor_of_open.push(anchor);
        self.stack.push((Node { value, mark }, None));
    }

    fn push_value(&mut self, node: Node) {
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some((parent, pending_key)) => match &mut parent.value {
                NodeValue::Seq(items) => items.push(node),
                NodeValue::Map(entries) => match pending_key.take() {
                    None => *pending_key = Some(node),
                    Some(key) => entries.push((key, node)),
                },
                NodeValue::Scalar(_) => unreachable!("scalars are never open"),
            },
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, event: Event, marker: Marker) {
        let mark = Mark::from_marker(marker);
        match event {
            Event::DocumentStart => {
                self.doc_mark = mark;
                self.root = None;
                // The limit is per document; anchors do not cross documents.
                self.nodes = 0;
                self.anchors.clear();
            }
            Event::DocumentEnd => self.documents.push(Document {
                root: self.root.take(),
                mark: self.doc_mark,
            }),
            Event::Scalar(text, style, anchor, _tag) => {
                let node = Node {
                    value: NodeValue::Scalar(Scalar {
                        text,
                        plain: style == TScalarStyle::Plain,
                    }),
                    mark,
                };
                if !self.count(1, mark) {
                    return;
                }
                self.anchor(anchor, &node);
                self.push_value(node);
            }
            Event::SequenceStart(anchor, _) => self.open(anchor, NodeValue::Seq(Vec::new()), mark),
            Event::MappingStart(anchor, _) => self.open(anchor, NodeValue::Map(Vec::new()), mark),
            Event::SequenceEnd | Event::MappingEnd => {
                let (mut node, _) = self.stack.pop().expect("balanced events");
                // The parser marks a collection where its first value was recognised; its first
                // key (or item) is where a reader looks for it.
                match &node.value {
                    NodeValue::Map(entries) if !entries.is_empty() => node.mark = entries[0].0.mark,
                    NodeValue::Seq(items) if !items.is_empty() => node.mark = items[0].mark,
                    _ => {}
                }
                let anchor = self.anchor_of_open.pop().unwrap_or(0);
                if !self.count(1, mark) {
                    return;
                }
                self.anchor(anchor, &node);
                self.push_value(node);
            }
            Event::Alias(id) => match self.anchors.get(&id).map(|(_, n)| *n) {
                Some(n) => {
                    if !self.count(n, mark) {
                        return;
                    }
                    let mut node = self.anchors[&id].0.clone();
                    node.mark = mark;
                    self.push_value(node);
                }
                None => {
                    self.error.get_or_insert(SyntaxError {
                        mark,
                        message: "alias refers to an unknown anchor".to_owned(),
                    });
                }
            },
            Event::Nothing | Event::StreamStart | Event::StreamEnd => {}
        }
    }
}

/// Parses a YAML stream into documents with positions.
pub fn parse(text: &str) -> Result<Vec<Document>, SyntaxError> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    parser.load(&mut builder, true).map_err(|e| SyntaxError {
        mark: Mark::from_marker(*e.marker()),
        message: e.info().to_owned(),
    })?;
    if let Some(error) = builder.error {
        return Err(error);
    }
    Ok(builder.documents)
}

/// A plain scalar's value under the YAML 1.2 core schema.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolved {
    /// `null`, `~` or empty.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A whole number.
    Int(i64),
    /// A decimal number.
    Float(f64),
    /// Anything else.
    Str,
}

/// Types a plain scalar by the YAML 1.2 core schema.
pub fn resolve_plain(text: &str) -> Resolved {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Resolved::Null,
        "true" | "True" | "TRUE" => return Resolved::Bool(true),
        "false" | "False" | "FALSE" => return Resolved::Bool(false),
        _ => {}
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(i) = text.parse::<i64>() {
            return Resolved::Int(i);
        }
    }
    if let Some(hex) = text.strip_prefix("0x") {
        if let Ok(i) = i64::from_str_radix(hex, 16) {
            return Resolved::Int(i);
        }
    }
    let looks_numeric = digits.bytes().all(|b| {
        b.is_ascii_digit() || b == b'.' || b == b'e' || b == b'E' || b == b'-' || b == b'+'
    }) && digits.bytes().any(|b| b.is_ascii_digit());
    if looks_numeric {
        if let Ok(f) = text.parse::<f64>() {
            return Resolved::Float(f);
        }
    }
    Resolved::Str
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_documents_and_anchors() {
        let text = "a: 1\nb:\n  - x\n  - 'y'\n---\n---\nc: &base {d: true}\ne: *base\n";
        let docs = parse(text).unwrap();
        assert_eq!(docs.len(), 3);
        let NodeValue::Map(entries) = &docs[0].root.as_ref().unwrap().value else {
            panic!()
        };
        assert_eq!(entries[0].0.mark, Mark { line: 1, col: 1 });
        assert_eq!(entries[0].1.mark, Mark { line: 1, col: 4 });
        let NodeValue::Seq(items) = &entries[1].1.value else {
            panic!()
        };
        assert_eq!(items[1].mark, Mark { line: 4, col: 5 });
        assert_eq!(
            items[1].value,
            NodeValue::Scalar(Scalar {
                text: "y".into(),
                plain: false
            })
        );
        assert!(docs[1].is_empty(), "empty document");
        let NodeValue::Map(entries) = &docs[2].root.as_ref().unwrap().value else {
            panic!()
        };
        assert_eq!(entries[0].1.value, entries[1].1.value, "alias resolved");
    }

    #[test]
    fn syntax_errors_have_positions() {
        let err = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(err.mark.line >= 1);
        assert!(!err.message.is_empty());
    }

    #[test]
    fn core_schema_resolution() {
        assert_eq!(resolve_plain("3600"), Resolved::Int(3600));
        assert_eq!(resolve_plain("-5"), Resolved::Int(-5));
        assert_eq!(resolve_plain("1.5"), Resolved::Float(1.5));
        assert_eq!(resolve_plain("true"), Resolved::Bool(true));
        assert_eq!(resolve_plain("yes"), Resolved::Str);
        assert_eq!(resolve_plain("~"), Resolved::Null);
        assert_eq!(resolve_plain("1.2.3"), Resolved::Str);
        assert_eq!(resolve_plain("https://x"), Resolved::Str);
    }
}

#[cfg(test)]
mod limit_tests {
    use super::*;

    #[test]
    fn alias_bombs_are_refused_small_aliases_are_fine() {
        let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for level in 1..9 {
            let prev = (b'a' + level - 1) as char;
            let this = (b'a' + level) as char;
            bomb.push_str(&format!(
                "{this}: &{this} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"
            ));
        }
        let err = parse(&bomb).unwrap_err();
        assert!(
            err.message.contains("more than 100000 nodes"),
            "{}",
            err.message
        );
        let fine = parse("base: &b {x: 1}\nfirst: *b\nsecond: *b\n").unwrap();
        assert_eq!(fine.len(), 1);
    }
}
