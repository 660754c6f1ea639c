//! [`FieldFacts`]: the vocabulary the planner reads every kind's fields in, the catalogue's
//! fields (applications, clients) and the described kinds' fields (`model::kinds`) alike.

use serde_json::Value;

use super::{request_form, Field, Object, Presence};

/// What upstream's documents say about one field, in the words the planner reads a live answer
/// with: the one vocabulary of the catalogue's fields and of the described kinds' fields
/// (`model::kinds::Field`), so that what an answer means for a field is decided in one place
/// (`plan::fields::read_live`) for every kind.
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
    /// For an object field: whether member `member` is a secret (never answered, compared by
    /// its hash).
    fn member_is_secret(&self, _member: &str) -> bool {
        false
    }
}

impl Object {
    /// What the catalogue says of field `name`, in the planner's vocabulary ([`Undocumented`]
    /// if it does not know the field).
    pub fn facts(self, name: &str) -> &'static dyn FieldFacts {
        match self.field(name) {
            Some(field) => field,
            None => &Undocumented,
        }
    }
}

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
        self.nested_field(member)
            .and_then(Field::response_default_value)
    }
    fn member_is_set(&self, member: &str) -> bool {
        self.nested_field(member).is_some_and(|f| f.set_like)
    }
    fn member_is_secret(&self, member: &str) -> bool {
        self.nested_field(member).is_some_and(|f| f.secret)
    }
}

impl Field {
    /// Member `member` of this object field, if the catalogue describes the object.
    fn nested_field(&self, member: &str) -> Option<&'static Field> {
        self.nested.and_then(|object| object.field(member))
    }
}
