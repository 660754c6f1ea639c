//! Typed field paths (`first_client.redirect_uris[2]`) and the per-object field rules a manifest
//! sets: which paths tenantsync leaves alone and which hold secrets.
//!
//! A path is parsed once, where a manifest names it, and compared segment by segment from then
//! on; it is turned into text only to be shown.

use std::collections::BTreeSet;
use std::fmt;

use serde_json::{Map, Value};

use super::catalogue::SENSITIVE;

/// One segment of a field path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PathSegment {
    /// An object key.
    Key(String),
    /// A list index.
    Index(usize),
}

/// Where a value sits inside a document, e.g. `first_client.redirect_uris[2]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FieldPath(pub Vec<PathSegment>);

impl FieldPath {
    /// The empty path (the document itself).
    pub fn root() -> Self {
        Self::default()
    }

    /// This path extended by a key.
    pub fn key(&self, key: &str) -> Self {
        let mut next = self.clone();
        next.0.push(PathSegment::Key(key.to_owned()));
        next
    }

    /// This path extended by an index.
    pub fn index(&self, index: usize) -> Self {
        let mut next = self.clone();
        next.0.push(PathSegment::Index(index));
        next
    }

    /// This path with `prefix` in front.
    pub fn prefixed(&self, prefix: &FieldPath) -> Self {
        let mut segments = prefix.0.clone();
        segments.extend(self.0.iter().cloned());
        Self(segments)
    }

    /// True for the document itself.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for segment in &self.0 {
            match segment {
                PathSegment::Key(k) if first => write!(f, "{k}")?,
                PathSegment::Key(k) => write!(f, ".{k}")?,
                PathSegment::Index(i) => write!(f, "[{i}]")?,
            }
            first = false;
        }
        if first {
            f.write_str("(document)")?;
        }
        Ok(())
    }
}

impl FieldPath {
    /// Parses the dotted form a manifest writes (`token_expiration.refresh_token_ttl`,
    /// `redirect_uris[0]`). `None` for an empty path, an empty key or a malformed index.
    pub fn parse(text: &str) -> Option<Self> {
        let mut segments = Vec::new();
        for part in text.split('.') {
            let (key, mut rest) = part.split_once('[').map_or((part, ""), |(k, r)| (k, r));
            if key.is_empty() {
                return None;
            }
            segments.push(PathSegment::Key(key.to_owned()));
            if !rest.is_empty() {
                rest = rest.strip_suffix(']')?;
                for index in rest.split("][") {
                    segments.push(PathSegment::Index(index.parse().ok()?));
                }
            }
        }
        Some(Self(segments))
    }

    /// The first key (the top-level field the path lies in).
    pub fn head(&self) -> Option<&str> {
        match self.0.first() {
            Some(PathSegment::Key(k)) => Some(k),
            _ => None,
        }
    }

    /// True when this path is `prefix` or lies inside it.
    pub fn starts_with(&self, prefix: &FieldPath) -> bool {
        self.0.len() >= prefix.0.len() && self.0[..prefix.0.len()] == prefix.0[..]
    }

    /// This path relative to `prefix`, if it lies inside it.
    pub fn strip_prefix(&self, prefix: &FieldPath) -> Option<FieldPath> {
        self.starts_with(prefix)
            .then(|| FieldPath(self.0[prefix.0.len()..].to_vec()))
    }

    /// The value at this path inside `value`, if it has one.
    fn find_mut<'v>(&self, value: &'v mut Value) -> Option<&'v mut Value> {
        self.0.iter().try_fold(value, |v, segment| match segment {
            PathSegment::Key(k) => v.as_object_mut()?.get_mut(k),
            PathSegment::Index(i) => v.as_array_mut()?.get_mut(*i),
        })
    }

    /// The key right below the top-level `field` (`token_expiration.refresh_token_ttl` under
    /// `token_expiration` → `refresh_token_ttl`).
    fn key_under(&self, field: &str) -> Option<&str> {
        match self.0.as_slice() {
            [PathSegment::Key(head), PathSegment::Key(sub), ..] if head == field => Some(sub),
            _ => None,
        }
    }
}

/// Which fields of one object a manifest leaves alone (`ignore_fields`), which hold secrets
/// (by catalogue name, or private JWK members) and which hold values read by `${env:…}` /
/// `${file:…}` interpolation. Paths are relative to the object's own fields.
///
/// Secret and interpolated fields are both *hidden*: shown only as `(sensitive)`, hashed in the
/// state and in fingerprints. They differ in how they are compared: a secret with the hash of
/// the value last applied, an interpolated value with the live one like any other field (so
/// drift in it is still seen and healed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldRules {
    /// Paths diff and apply leave alone.
    pub ignored: BTreeSet<FieldPath>,
    /// Paths whose values are secret.
    pub sensitive: BTreeSet<FieldPath>,
    /// Paths whose values were read by interpolation: hidden, but compared live.
    pub masked: BTreeSet<FieldPath>,
}

impl FieldRules {
    /// True when the whole top-level `field` is left alone.
    pub fn ignores(&self, field: &str) -> bool {
        self.ignored
            .iter()
            .any(|p| p.0.len() == 1 && p.head() == Some(field))
    }

    /// The keys of the object-valued `field` that are left alone.
    pub fn ignored_keys_of<'a>(&'a self, field: &str) -> BTreeSet<&'a str> {
        self.ignored
            .iter()
            .filter_map(|p| p.key_under(field))
            .collect()
    }

    /// The object value of `field` without the keys left alone.
    pub fn managed_part(&self, field: &str, value: &Map<String, Value>) -> Map<String, Value> {
        let ignored = self.ignored_keys_of(field);
        value
            .iter()
            .filter(|(k, _)| !ignored.contains(k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// True when the top-level `field` is secret or holds a secret.
    pub fn is_sensitive(&self, field: &str) -> bool {
        self.sensitive.iter().any(|p| p.head() == Some(field))
    }

    /// The top-level fields that are secret or hold a secret.
    pub fn sensitive_fields(&self) -> BTreeSet<&str> {
        self.sensitive.iter().filter_map(FieldPath::head).collect()
    }

    /// True when the top-level `field` is, or holds, a value read by interpolation.
    pub fn is_masked(&self, field: &str) -> bool {
        self.masked.iter().any(|p| p.head() == Some(field))
    }

    /// True when the top-level `field` is never shown: secret or interpolated.
    pub fn is_hidden(&self, field: &str) -> bool {
        self.is_sensitive(field) || self.is_masked(field)
    }

    /// Whether member `member` of object field `field` is never shown: secret or interpolated,
    /// itself, in part, or as part of the whole field.
    pub fn hides_member(&self, field: &str, member: &str) -> bool {
        let path = FieldPath::root().key(field).key(member);
        self.sensitive
            .iter()
            .chain(&self.masked)
            .any(|p| p.starts_with(&path) || path.starts_with(p))
    }

    /// Whether member `member` of object field `field` is never shown at all: read from the
    /// environment itself, or as part of the whole field. (Parts of it may be hidden besides:
    /// [`FieldRules::mask_below`].)
    pub fn hides_member_whole(&self, field: &str, member: &str) -> bool {
        let path = FieldPath::root().key(field).key(member);
        self.sensitive
            .iter()
            .chain(&self.masked)
            .any(|p| path.starts_with(p))
    }

    /// `value`, member `member` of object field `field`, with each part below it the manifest
    /// hides (secret, or read from the environment) written as [`SENSITIVE`].
    /// A hidden part inside a list hides the whole list: a live list may hold its items in
    /// another order than the manifest's, so an index says nothing of where a value is.
    pub fn mask_below(&self, field: &str, member: &str, value: &mut Value) {
        let path = FieldPath::root().key(field).key(member);
        for below in self.sensitive.iter().chain(&self.masked) {
            if let Some(rest) = below.strip_prefix(&path).filter(|r| !r.is_root()) {
                let up_to_a_list = rest
                    .0
                    .iter()
                    .position(|s| matches!(s, PathSegment::Index(_)))
                    .map_or(rest.clone(), |i| FieldPath(rest.0[..i].to_vec()));
                let hidden = match up_to_a_list.is_root() {
                    true => Some(&mut *value),
                    false => up_to_a_list.find_mut(value),
                };
                if let Some(hidden) = hidden {
                    *hidden = Value::from(SENSITIVE);
                }
            }
        }
    }

    /// Whether top-level field `field` is never shown as a whole (not only in some members).
    pub fn hides_whole(&self, field: &str) -> bool {
        let path = FieldPath::root().key(field);
        self.sensitive
            .iter()
            .chain(&self.masked)
            .any(|p| *p == path)
    }

    /// The top-level fields never shown, and hashed in the state: secret or interpolated.
    pub fn hidden_fields(&self) -> BTreeSet<&str> {
        self.sensitive
            .iter()
            .chain(&self.masked)
            .filter_map(FieldPath::head)
            .collect()
    }

    /// A rule set from dotted paths (tests and fixtures).
    pub fn from_dotted(ignored: &[&str], sensitive: &[&str]) -> Self {
        let parse = |list: &[&str]| {
            list.iter()
                .map(|p| FieldPath::parse(p).expect("a valid field path"))
                .collect()
        };
        Self {
            ignored: parse(ignored),
            sensitive: parse(sensitive),
            masked: BTreeSet::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_display_round_trip_and_malformed_paths_are_refused() {
        for text in [
            "logo",
            "token_expiration.refresh_token_ttl",
            "redirect_uris[2]",
            "a.b[0][1].c",
        ] {
            assert_eq!(FieldPath::parse(text).unwrap().to_string(), text);
        }
        for bad in ["", ".logo", "logo.", "a[x]", "a[1", "a..b"] {
            assert_eq!(FieldPath::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_member_is_hidden_by_its_own_path_a_deeper_one_or_the_whole_field() {
        let rules =
            FieldRules::from_dotted(&[], &["google.clientSecret", "apple", "sms.message.from"]);
        assert!(rules.hides_member("google", "clientSecret"));
        assert!(!rules.hides_member("google", "clientId"));
        assert!(!rules.hides_member("google", "clientSecretOld"));
        assert!(rules.hides_member("apple", "keyId"));
        assert!(rules.hides_member("sms", "message"));
        assert!(!rules.hides_member("sms", "expiresIn"));
        assert!(rules.hides_whole("apple") && !rules.hides_whole("google"));
    }

    #[test]
    fn rules_answer_by_segment_not_by_text_prefix() {
        let rules = FieldRules::from_dotted(
            &["logo", "token_expiration.refresh_token_ttl"],
            &["client_secret", "jwks.keys"],
        );
        assert!(rules.ignores("logo"));
        assert!(
            !rules.ignores("logo_uri"),
            "a text prefix is not a path prefix"
        );
        assert!(!rules.ignores("token_expiration"));
        assert_eq!(
            rules.ignored_keys_of("token_expiration"),
            BTreeSet::from(["refresh_token_ttl"])
        );
        assert!(rules.is_sensitive("jwks") && rules.is_sensitive("client_secret"));
        assert!(!rules.is_sensitive("client_secret_expires_at"));
        assert_eq!(
            rules.sensitive_fields(),
            BTreeSet::from(["client_secret", "jwks"])
        );
        let prefix = FieldPath::root().key("jwks");
        let inside = FieldPath::parse("jwks.keys").unwrap();
        assert_eq!(inside.strip_prefix(&prefix), FieldPath::parse("keys"));
        assert_eq!(prefix.strip_prefix(&inside), None);
    }

    #[test]
    fn parts_below_a_member_are_masked_and_a_list_holding_one_is_masked_whole() {
        let rules = FieldRules::from_dotted(&[], &["push.apn.keyId", "google.redirectUris[1]"]);
        let mut apn = serde_json::json!({"keyId": "K1", "teamId": "T1"});
        rules.mask_below("push", "apn", &mut apn);
        assert_eq!(
            apn,
            serde_json::json!({"keyId": "(sensitive)", "teamId": "T1"})
        );
        assert!(!rules.hides_member_whole("push", "apn") && rules.hides_member("push", "apn"));
        let mut uris = serde_json::json!(["https://a", "https://secret"]);
        rules.mask_below("google", "redirectUris", &mut uris);
        assert_eq!(uris, serde_json::json!("(sensitive)"));
        let mut google =
            serde_json::json!({"clientId": "c", "redirectUris": ["https://a", "https://b"]});
        let rules = FieldRules::from_dotted(&[], &["google.x.redirectUris[0]"]);
        rules.mask_below("google", "x", &mut google);
        assert_eq!(google["redirectUris"], serde_json::json!("(sensitive)"));
    }
}
