//! [`FieldFacts`]: the vocabulary the planner reads every kind's fields in, and what a
//! [`Field`] says of its members (a catalogue object's fields, or the members a described
//! kind's object field lists).

use serde_json::{Map, Value};

use super::{request_form, Field, Presence, Table};

/// What upstream's documents say about one field, in the words the planner reads a live answer
/// with: implemented by every kind's [`Field`] and by [`Undocumented`], so that what an answer
/// means for a field is decided in one place (`plan::fields::read_live`) for every kind.
pub trait FieldFacts {
    /// Whether responses carry it.
    fn presence(&self) -> Presence;
    /// What an answer that leaves it out means; `None`: nothing (only the last applied value
    /// can be compared).
    fn response_default(&self) -> Option<Value>;
    /// A list compared without order or repeats.
    fn is_set(&self) -> bool;
    /// What an update sends when a manifest stops setting it (`None`: it cannot be cleared).
    fn reset(&self) -> Option<Value>;
    /// A returned value in the form requests write it.
    fn request_form(&self, returned: &Value) -> Value {
        returned.clone()
    }
    /// For an object field: what an answer that leaves out member `member` means (the default
    /// upstream documents for it); `None`: nothing.
    fn member_default(&self, _member: &str) -> Option<Value> {
        None
    }
    /// For an object field: whether member `member` is a list compared as a set.
    fn member_is_set(&self, _member: &str) -> bool {
        false
    }
    /// For an object field: whether member `member` is a secret or holds one at any depth
    /// (an APN configuration's `key`): never shown, recorded and compared by its hash.
    fn member_is_secret(&self, _member: &str) -> bool {
        false
    }
    /// For an object field: member `member`'s `value` without the secrets it holds, if it
    /// holds some and is not one (what a response shows of it, compared with the live one);
    /// `None` otherwise.
    fn member_visible(&self, _member: &str, _value: &Value) -> Option<Value> {
        None
    }
    /// For an object field: member `member`'s row, where one is documented.
    fn member_row(&self, _member: &str) -> Option<&'static Field> {
        None
    }
    /// For an object field: the members that are secrets themselves (never answered: a
    /// social login's `clientSecret`).
    fn secret_member_names(&self) -> Vec<&'static str> {
        Vec::new()
    }
    /// For an object field: member `member`'s `value` with the secrets it holds written as
    /// [`SENSITIVE`], if it holds some and is not one (how a plan shows it); `None` otherwise.
    fn member_shown(&self, _member: &str, _value: &Value) -> Option<Value> {
        None
    }
}

/// How plans, messages and pages show a hidden value (a secret, or one read from the
/// environment).
pub const SENSITIVE: &str = "(sensitive)";

/// A field nothing is documented of: no defaults, no sets, no secrets, maybe answered.
pub struct Undocumented;

impl FieldFacts for Undocumented {
    fn presence(&self) -> Presence {
        Presence::Optional
    }
    fn response_default(&self) -> Option<Value> {
        None
    }
    fn is_set(&self) -> bool {
        false
    }
    fn reset(&self) -> Option<Value> {
        None
    }
}

impl FieldFacts for Field {
    fn presence(&self) -> Presence {
        self.presence
    }
    fn response_default(&self) -> Option<Value> {
        self.response_default_value()
    }
    fn is_set(&self) -> bool {
        self.set_like
    }
    fn reset(&self) -> Option<Value> {
        self.reset_value()
    }
    fn request_form(&self, returned: &Value) -> Value {
        request_form(Some(self), returned)
    }
    fn member_default(&self, member: &str) -> Option<Value> {
        Field::member_default(self, member)
    }
    fn member_is_set(&self, member: &str) -> bool {
        self.member_field(member).is_some_and(|f| f.set_like)
    }
    fn member_is_secret(&self, member: &str) -> bool {
        Field::member_is_secret(self, member)
    }
    fn member_visible(&self, member: &str, value: &Value) -> Option<Value> {
        let mut value = value.clone();
        self.holder(member)?.remove_secrets(&mut value);
        Some(value)
    }
    fn secret_member_names(&self) -> Vec<&'static str> {
        self.secret_members().collect()
    }
    fn member_row(&self, member: &str) -> Option<&'static Field> {
        self.member_field(member)
    }
    fn member_shown(&self, member: &str, value: &Value) -> Option<Value> {
        let mut value = value.clone();
        self.holder(member)?.mask_secrets(&mut value);
        Some(value)
    }
}

impl Field {
    /// Member `member` of this object field: a field of its catalogue object, or one it lists.
    pub fn member_field(&self, member: &str) -> Option<&'static Field> {
        self.member_table().and_then(|table| table.field(member))
    }

    /// The rows of this object field's members: its catalogue object's table, or the members
    /// it lists (`None`: nothing is documented of them).
    pub fn member_table(&self) -> Option<Table> {
        self.nested
            .map(Table::Object)
            .or_else(|| (!self.members.is_empty()).then_some(Table::Rows(self.members)))
    }

    /// The documented default of member `member` of this object field: what an answer that
    /// leaves it out means.
    pub fn member_default(&self, member: &str) -> Option<Value> {
        self.member_field(member)
            .and_then(Field::response_default_value)
    }

    /// Whether member `member` of this object field is a secret, or holds one at any depth
    /// (never answered in full: shown as `(sensitive)`, recorded and compared by its hash).
    pub fn member_is_secret(&self, member: &str) -> bool {
        self.member_field(member)
            .is_some_and(|f| f.secret || f.holds_secrets())
    }

    /// Member `member`'s row when it holds a secret deeper and is not one itself (`apn` under
    /// `push`).
    fn holder(&self, member: &str) -> Option<&'static Field> {
        self.member_field(member)
            .filter(|f| !f.secret && f.holds_secrets())
    }

    /// The rows of its members (none: nothing is documented of them, or it is no object).
    pub fn member_rows(&self) -> &'static [Field] {
        self.member_table().map_or(&[], Table::rows)
    }

    /// The names of its members that are secrets themselves (not those that hold one deeper).
    pub fn secret_members(&self) -> impl Iterator<Item = &'static str> {
        self.member_rows()
            .iter()
            .filter(|f| f.secret)
            .map(|f| f.name)
    }

    /// Whether any of its members, at any depth, is a secret.
    pub fn holds_secrets(&self) -> bool {
        self.member_rows()
            .iter()
            .any(|f| f.secret || f.holds_secrets())
    }

    /// The paths below this field of the secrets it holds, at any depth (`[apn, key]` under
    /// `push`), each with its row.
    pub fn secret_paths(&self) -> Vec<(Vec<&'static str>, &'static Field)> {
        let mut out = Vec::new();
        for member in self.member_rows() {
            if member.secret {
                out.push((vec![member.name], member));
            } else {
                for (mut path, row) in member.secret_paths() {
                    path.insert(0, member.name);
                    out.push((path, row));
                }
            }
        }
        out
    }

    /// Removes from `value` (a value of this field) the secrets it holds at any depth: what a
    /// response may show of it. Whatever is not an object is left as it is.
    pub fn remove_secrets(&self, value: &mut Value) {
        self.each_secret(value, &mut |members, name| {
            members.shift_remove(name);
        });
    }

    /// `value` (a value of this field) with each secret it holds at any depth written as
    /// [`SENSITIVE`]: how a plan shows it.
    pub fn mask_secrets(&self, value: &mut Value) {
        self.each_secret(value, &mut |members, name| {
            if let Some(secret) = members.get_mut(name) {
                *secret = Value::from(SENSITIVE);
            }
        });
    }

    /// Calls `with` on each object of `value` holding a secret member, with its name, at any
    /// depth.
    fn each_secret(&self, value: &mut Value, with: &mut dyn FnMut(&mut Map<String, Value>, &str)) {
        let Value::Object(members) = value else {
            return;
        };
        for row in self.member_rows() {
            if row.secret {
                with(members, row.name);
            } else if let Some(inner) = members.get_mut(row.name) {
                row.each_secret(inner, with);
            }
        }
    }

    /// The names of its members a request that sends it must set.
    pub fn required_members(&self) -> impl Iterator<Item = &'static str> {
        self.member_rows()
            .iter()
            .filter(|f| f.required_on_create)
            .map(|f| f.name)
    }

    /// `object` (a value of this object field) with every member default it documents and
    /// leaves out filled in: what upstream stores for it.
    pub fn with_member_defaults(&self, object: &mut Map<String, Value>) {
        for member in self.member_rows() {
            if let Some(value) = member.request_default_value() {
                object.entry(member.name).or_insert(value);
            }
        }
    }
}
