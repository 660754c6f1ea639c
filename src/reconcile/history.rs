//! The apply audit log: one record per apply (who, where, which manifest revision, what the plan
//! said, what happened to each object), appended to the state and shown by `tenantsync history`.

use serde::{Deserialize, Serialize};

use super::execute::ApplyReport;
use crate::plan::Summary;

/// One apply.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryRecord {
    /// When it finished (RFC 3339).
    pub time: String,
    /// Who ran it (`USER`).
    pub user: String,
    /// On which host.
    pub host: String,
    /// The target.
    pub target: String,
    /// Git revision of the manifests (`+dirty` when uncommitted changes existed), if in git.
    pub manifests_revision: Option<String>,
    /// `apply`, `apply --plan FILE` or `sync`.
    pub mode: String,
    /// What the plan said.
    pub plan: Summary,
    /// What happened.
    pub report: ApplyReport,
    /// `succeeded` or `failed` (`promoted` or `refused` for a promotion).
    pub result: String,
    /// For a promotion (`mode` `promote from A`): each gate and whether it held.
    pub gates: Option<Vec<crate::project::promote::Gate>>,
}

impl HistoryRecord {
    /// A record of a run finishing now, by the current user on this host.
    pub fn now(
        target: String,
        manifests_revision: Option<String>,
        mode: String,
        plan: Summary,
        report: ApplyReport,
    ) -> Self {
        let user = std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .unwrap_or_else(|_| "unknown".into());
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_else(|_| "unknown".into());
        let result = if report.failed() > 0 {
            "failed"
        } else {
            "succeeded"
        }
        .to_owned();
        Self {
            time: super::now_rfc3339(),
            user,
            host,
            target,
            manifests_revision,
            mode,
            plan,
            report,
            result,
            gates: None,
        }
    }

    /// A one-line summary.
    pub fn line(&self) -> String {
        let revision = self
            .manifests_revision
            .as_deref()
            .map(|r| format!(" at {r}"))
            .unwrap_or_default();
        format!(
            "{}  {}@{}  {}{}  {}: {} created, {} updated, {} adopted, {} deleted; {} ok, {} failed  ({})",
            self.time,
            self.user,
            self.host,
            self.target,
            revision,
            self.mode,
            self.plan.create,
            self.plan.update,
            self.plan.adopt,
            self.plan.delete,
            self.report.succeeded(),
            self.report.failed(),
            self.result
        )
    }
}
