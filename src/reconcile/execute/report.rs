//! What an apply did: one [`ObjectResult`] per object, and the [`ApplyReport`] of the run.

use serde::{Deserialize, Serialize};

use crate::plan::Action;

/// What happened to one object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Outcome {
    /// Done.
    Ok,
    /// Not done: why.
    Failed {
        /// The error.
        message: String,
    },
    /// Not attempted: why.
    Skipped {
        /// The reason.
        message: String,
    },
}

/// One object's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObjectResult {
    /// The object.
    pub name: String,
    /// The planned action.
    pub action: Action,
    /// What happened.
    #[serde(flatten)]
    pub outcome: Outcome,
}

impl ObjectResult {
    /// The result with its message redacted: a target's error may quote a value sent, and no
    /// value read by interpolation may be shown.
    pub fn redacted(&self, redactions: &crate::manifest::Redactions) -> Self {
        let outcome = match &self.outcome {
            Outcome::Ok => Outcome::Ok,
            Outcome::Failed { message } => Outcome::Failed {
                message: redactions.redact(message),
            },
            Outcome::Skipped { message } => Outcome::Skipped {
                message: redactions.redact(message),
            },
        };
        Self {
            outcome,
            ..self.clone()
        }
    }
}

/// The result of an apply.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ApplyReport {
    /// Per-object results, in plan order.
    pub objects: Vec<ObjectResult>,
    /// State entries rewritten without a target write.
    pub state_updates: usize,
}

impl ApplyReport {
    /// Objects that failed.
    pub fn failed(&self) -> usize {
        self.objects
            .iter()
            .filter(|o| matches!(o.outcome, Outcome::Failed { .. }))
            .count()
    }

    /// Objects skipped (not sent: something they depend on was not done, or shutting down).
    pub fn skipped(&self) -> usize {
        self.objects
            .iter()
            .filter(|o| matches!(o.outcome, Outcome::Skipped { .. }))
            .count()
    }

    /// Objects done.
    pub fn succeeded(&self) -> usize {
        self.objects
            .iter()
            .filter(|o| o.outcome == Outcome::Ok)
            .count()
    }
}
