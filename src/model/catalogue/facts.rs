//! [`FieldFacts`]: the vocabulary the planner reads every kind's fields in, the catalogue's
//! fields (applications, clients) and the described kinds' fields (`model::kinds`) alike.

use serde_json::Value;

use super::{request_form, Field, Presence};

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
}
