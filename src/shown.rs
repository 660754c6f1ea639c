//! Untrusted strings made safe to show (pure): control characters (ANSI/OSC escapes, carriage
//! returns, newlines, C1 codes) and bidirectional overrides written as visible escapes for a
//! terminal, and markdown code spans and text that no value can break out of.

use std::borrow::Cow;

/// Whether `c` must not reach a terminal or a markdown document as itself.
fn unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `text` with every control character and bidirectional override written as an escape
/// (`\e`, `\r`, `\n`, `\t`, `\u{9b}`…); unchanged (borrowed) when it has none.
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    if !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\u{1b}' => out.push_str("\\e"),
            '\r' => out.push_str("\\r"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if unsafe_char(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// A markdown (CommonMark) code span showing `text` literally: control characters escaped, a
/// backtick fence longer than any run of backticks inside, and padded with spaces when the text
/// starts or ends with a backtick or a space. HTML and emphasis inside a code span are text.
pub fn code_span(text: &str) -> String {
    let text = escape_controls(text);
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    let pad = if text.starts_with(['`', ' ']) || text.ends_with(['`', ' ']) {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{text}{pad}{fence}")
}

/// `text` as markdown text that renders as itself: control characters escaped, and every ASCII
/// punctuation character that markdown, HTML or a table could read as syntax backslash-escaped.
pub fn markdown_text(text: &str) -> String {
    let text = escape_controls(text);
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if matches!(
            c,
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '#' | '!' | '|' | '~' | '&'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The shortest fence of backticks (at least three) that no line of `body` can close.
pub fn code_fence(body: &str) -> String {
    let longest = body.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    "`".repeat((longest + 1).max(3))
}

/// A relative path as a URI reference: each segment percent-encoded (RFC 3986: everything but
/// unreserved characters), `/` between segments.
pub fn path_uri(relative: &str) -> String {
    relative
        .split('/')
        .map(|segment| {
            segment
                .bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                        (b as char).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_become_visible() {
        assert!(matches!(
            escape_controls("plain é"),
            Cow::Borrowed("plain é")
        ));
        assert_eq!(
            escape_controls("a\u{1b}[2J\u{1b}]0;title\u{7}\rb\nc\u{9b}d\u{202e}"),
            "a\\e[2J\\e]0;title\\u{7}\\rb\\nc\\u{9b}d\\u{202e}"
        );
    }

    #[test]
    fn code_spans_cannot_be_closed() {
        assert_eq!(code_span("Web"), "`Web`");
        assert_eq!(code_span("a`b"), "``a`b``");
        assert_eq!(code_span("``x"), "``` ``x ```");
        assert_eq!(code_span("<img src=x>\n**b**"), "`<img src=x>\\n**b**`");
    }

    #[test]
    fn markdown_text_is_literal() {
        assert_eq!(
            markdown_text("**bold** <img> a|b `c`"),
            "\\*\\*bold\\*\\* \\<img\\> a\\|b \\`c\\`"
        );
        assert_eq!(code_fence("x\n```\ny"), "````");
        assert_eq!(code_fence("x"), "```");
    }

    #[test]
    fn uris_are_percent_encoded() {
        assert_eq!(
            path_uri("we ird#dir?x/a b#c?d%41.yaml"),
            "we%20ird%23dir%3Fx/a%20b%23c%3Fd%2541.yaml"
        );
        assert_eq!(path_uri("manifests/shop.yaml"), "manifests/shop.yaml");
        assert_eq!(path_uri("é.yaml"), "%C3%A9.yaml");
    }
}
