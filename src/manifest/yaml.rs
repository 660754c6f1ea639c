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

/// The most nodes aliases may add to one file: a few hundred bytes of nested aliases ("billion
/// laughs") would otherwise expand to billions of nodes. Counted per file, not per document, so
/// many small documents cannot add up.
pub const MAX_ALIAS_NODES: usize = 100_000;

/// The most nodes one file may hold, aliases included (a 5 MiB file of `[a,a,…]` is ~2.6 M).
pub const MAX_NODES: usize = 1_000_000;

/// The most documents one file may hold.
pub const MAX_DOCUMENTS: usize = 10_000;

/// The deepest nesting of sequences and mappings accepted (manifests need fewer than 10).
/// Everything that walks the tree recurses, so the depth must be bounded.
pub const MAX_DEPTH: usize = 64;

fn size(node: &Node) -> usize {
    1 + match &node.value {
        NodeValue::Scalar(_) => 0,
        NodeValue::Seq(items) => items.iter().map(size).sum(),
        NodeValue::Map(entries) => entries.iter().map(|(k, v)| size(k) + size(v)).sum(),
    }
}

/// How many levels of collections `node` has (0 for a scalar).
fn height(node: &Node) -> usize {
    match &node.value {
        NodeValue::Scalar(_) => 0,
        NodeValue::Seq(items) => 1 + items.iter().map(height).max().unwrap_or(0),
        NodeValue::Map(entries) => {
            1 + entries
                .iter()
                .map(|(k, v)| height(k).max(height(v)))
                .max()
                .unwrap_or(0)
        }
    }
}

#[derive(Default)]
struct Builder {
    documents: Vec<Document>,
    stack: Vec<(Node, Option<Node>)>,
    /// Anchored nodes, their sizes and heights.
    anchors: HashMap<usize, (Node, usize, usize)>,
    /// Nodes built so far in the file, alias expansions included.
    nodes: usize,
    /// Nodes added by alias expansions so far in the file.
    alias_nodes: usize,
    anchor_of_open: Vec<usize>,
    doc_mark: Mark,
    root: Option<Node>,
    error: Option<SyntaxError>,
}

impl Builder {
    fn refuse(&mut self, mark: Mark, message: String) -> bool {
        self.error.get_or_insert(SyntaxError { mark, message });
        false
    }

    /// Counts `n` more nodes (`alias`: added by an alias); false (and an error) past
    /// [`MAX_NODES`] or [`MAX_ALIAS_NODES`].
    fn count(&mut self, n: usize, alias: bool, mark: Mark) -> bool {
        self.nodes = self.nodes.saturating_add(n);
        if alias {
            self.alias_nodes = self.alias_nodes.saturating_add(n);
            if self.alias_nodes > MAX_ALIAS_NODES {
                return self.refuse(
                    mark,
                    format!("aliases in this file expand to more than {MAX_ALIAS_NODES} nodes (nested aliases?); refused"),
                );
            }
        }
        if self.nodes > MAX_NODES {
            return self.refuse(
                mark,
                format!("the file holds more than {MAX_NODES} values; refused (split it into several files)"),
            );
        }
        true
    }

    fn anchor(&mut self, anchor: usize, node: &Node) {
        if anchor > 0 && self.error.is_none() {
            self.anchors
                .insert(anchor, (node.clone(), size(node), height(node)));
        }
    }

    fn too_deep(&mut self, mark: Mark) -> bool {
        self.refuse(
            mark,
            format!("values are nested more than {MAX_DEPTH} levels deep; refused"),
        )
    }

    /// Opens a sequence or mapping; its items follow until the matching end event.
    fn open(&mut self, anchor: usize, value: NodeValue, mark: Mark) {
        if self.stack.len() >= MAX_DEPTH {
            self.too_deep(mark);
            return;
        }
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
        if self.error.is_some() {
            return; // refused: nothing more is built
        }
        let mark = Mark::from_marker(marker);
        match event {
            Event::DocumentStart => {
                if self.documents.len() >= MAX_DOCUMENTS {
                    self.refuse(
                        mark,
                        format!("the file holds more than {MAX_DOCUMENTS} documents; refused (split it into several files)"),
                    );
                    return;
                }
                self.doc_mark = mark;
                self.root = None;
                // Anchors do not cross documents; the node budgets are the file's.
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
                if !self.count(1, false, mark) {
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
                if !self.count(1, false, mark) {
                    return;
                }
                self.anchor(anchor, &node);
                self.push_value(node);
            }
            Event::Alias(id) => match self.anchors.get(&id).map(|(_, n, h)| (*n, *h)) {
                Some((n, h)) => {
                    if self.stack.len() + h > MAX_DEPTH {
                        self.too_deep(mark);
                        return;
                    }
                    if !self.count(n, true, mark) {
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
    // Events are pulled one by one (yaml-rust2's own `load` recurses once per nesting level,
    // so a deeply nested file would overflow the stack before the builder could refuse it),
    // and parsing stops at the builder's first refusal.
    loop {
        let (event, marker) = parser.next_token().map_err(|e| SyntaxError {
            mark: Mark::from_marker(*e.marker()),
            message: e.info().to_owned(),
        })?;
        let end = event == Event::StreamEnd;
        builder.on_event(event, marker);
        if let Some(error) = builder.error {
            return Err(error);
        }
        if end {
            return Ok(builder.documents);
        }
    }
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

#[cfg(test)]
mod file_limit_tests {
    use super::*;

    /// One document whose aliases expand to about `10^levels` nodes, below the file's budget.
    fn alias_document(levels: u8) -> String {
        let mut doc = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for level in 1..levels {
            let prev = (b'a' + level - 1) as char;
            let this = (b'a' + level) as char;
            doc.push_str(&format!(
                "{this}: &{this} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"
            ));
        }
        doc
    }

    #[test]
    fn the_alias_budget_is_the_files_not_each_documents() {
        // One document of ~11,110 alias nodes is fine; 40 of them in one file are not.
        let one = alias_document(4);
        assert_eq!(parse(&one).unwrap().len(), 1);
        let many = vec![one; 40].join("---\n");
        let err = parse(&many).unwrap_err();
        assert!(
            err.message.contains("expand to more than 100000 nodes"),
            "{}",
            err.message
        );
    }

    #[test]
    fn documents_per_file_are_capped() {
        let fine = "---\na: 1\n".repeat(100);
        assert_eq!(parse(&fine).unwrap().len(), 100);
        let err = parse(&"---\na: 1\n".repeat(MAX_DOCUMENTS + 1)).unwrap_err();
        assert!(
            err.message.contains("more than 10000 documents"),
            "{}",
            err.message
        );
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let block: String = (0..10_000)
            .map(|i| format!("{}- \n", "  ".repeat(i)))
            .collect();
        let block = block + &"  ".repeat(10_000) + "x\n";
        let compact = "- ".repeat(10_000) + "x\n";
        let flow = "[".repeat(10_000) + &"]".repeat(10_000);
        for text in [block, compact, flow] {
            let err = parse(&text).unwrap_err();
            assert!(!err.message.is_empty());
        }
        let ok = "- ".repeat(MAX_DEPTH) + "x\n";
        assert!(parse(&ok).is_ok());
        let err = parse(&("- ".repeat(MAX_DEPTH + 1) + "x\n")).unwrap_err();
        assert!(
            err.message.contains("more than 64 levels"),
            "{}",
            err.message
        );
    }

    #[test]
    fn aliases_cannot_nest_past_the_depth_limit() {
        // Each anchor nests the previous one two levels deeper.
        let mut text = String::from("a0: &a0 [x]\n");
        for i in 1..60 {
            text.push_str(&format!("a{i}: &a{i} [[*a{}]]\n", i - 1));
        }
        let err = parse(&text).unwrap_err();
        assert!(err.message.contains("levels deep"), "{}", err.message);
    }
}
