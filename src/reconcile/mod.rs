//! The edges of planning: [`gather`] observes the target, [`execute`] carries a plan out through a
//! [`crate::targets::Target`] and records each success in the state. Neither decides anything:
//! decisions are the pure planner's (`crate::plan`).

pub mod bind;
pub mod deliver;
pub mod execute;
pub mod gather;
pub mod history;
pub mod intents;
pub mod pipeline;

/// The current time, RFC 3339 (state timestamps).
pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
