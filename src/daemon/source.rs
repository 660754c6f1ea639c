//! Where the daemon's manifests come from: directories watched with notify (events are only
//! triggers; every reconcile re-reads everything), or a git branch fetched every poll and
//! checked out as a clean snapshot of one commit, never a half-pulled tree.

use std::path::{Path, PathBuf};
use std::process::Command;

use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;

/// Why a reconcile runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// The first reconcile after start.
    Start,
    /// A file changed in a watched directory.
    FileChange,
    /// The watcher lost events (overflow) and asks for a full rescan.
    Rescan,
    /// The git branch moved.
    GitCommit,
    /// The periodic full resync (self-heal).
    Interval,
    /// `POST /hooks/sync`.
    Hook,
    /// A retry after an error.
    Retry,
}

impl Trigger {
    /// Lower-case name for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Start => "start",
            Trigger::FileChange => "file_change",
            Trigger::Rescan => "rescan",
            Trigger::GitCommit => "git_commit",
            Trigger::Interval => "interval",
            Trigger::Hook => "hook",
            Trigger::Retry => "retry",
        }
    }
}

/// Watches `paths` (directories recursively; a file through its directory) and sends a trigger
/// per event batch. The returned watcher must be kept alive.
pub fn watch_directories(
    paths: &[PathBuf],
    triggers: mpsc::UnboundedSender<Trigger>,
) -> notify::Result<notify::RecommendedWatcher> {
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let trigger = match &event {
            Ok(e) if e.need_rescan() => Trigger::Rescan,
            Ok(e) if e.kind.is_access() => return,
            Ok(_) => Trigger::FileChange,
            Err(_) => Trigger::Rescan,
        };
        let _ = triggers.send(trigger);
    })?;
    for path in paths {
        if path.is_dir() {
            watcher.watch(path, RecursiveMode::Recursive)?;
        } else {
            let dir = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            watcher.watch(dir, RecursiveMode::NonRecursive)?;
        }
    }
    Ok(watcher)
}

/// Errors of the git source.
#[derive(Debug, thiserror::Error)]
#[error("git {what}: {message}")]
pub struct GitError {
    what: String,
    message: String,
}

fn git(args: &[&str], dir: Option<&Path>, envs: &[(&str, &Path)]) -> Result<String, GitError> {
    let mut cmd = Command::new("git");
    if let Some(d) = dir {
        cmd.arg("-C").arg(d);
    }
    cmd.args(args).env("GIT_TERMINAL_PROMPT", "0");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().map_err(|e| GitError {
        what: args.first().copied().unwrap_or("").to_owned(),
        message: format!("could not run git: {e}"),
    })?;
    if !out.status.success() {
        return Err(GitError {
            what: args.first().copied().unwrap_or("").to_owned(),
            message: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// A git branch mirrored under the state directory.
pub struct GitSource {
    url: String,
    branch: String,
    path: PathBuf,
    mirror: PathBuf,
    snapshots: PathBuf,
}

impl GitSource {
    /// A source for `url`'s `branch`, manifests under `path` in the repository.
    pub fn new(url: &str, branch: &str, path: &Path, work: &Path) -> Self {
        Self {
            url: url.to_owned(),
            branch: branch.to_owned(),
            path: path.to_owned(),
            mirror: work.join("mirror.git"),
            snapshots: work.join("snapshots"),
        }
    }

    /// Fetches the branch; returns its commit.
    pub fn fetch(&self) -> Result<String, GitError> {
        if !self.mirror.join("HEAD").exists() {
            std::fs::create_dir_all(&self.mirror).map_err(|e| GitError {
                what: "init".into(),
                message: e.to_string(),
            })?;
            git(&["init", "--bare", "--quiet"], Some(&self.mirror), &[])?;
        }
        let refspec = format!("+refs/heads/{}:refs/heads/{}", self.branch, self.branch);
        git(
            &[
                "fetch",
                "--quiet",
                "--force",
                "--no-tags",
                &self.url,
                &refspec,
            ],
            Some(&self.mirror),
            &[],
        )?;
        git(
            &["rev-parse", &format!("refs/heads/{}", self.branch)],
            Some(&self.mirror),
            &[],
        )
    }

    /// A clean checkout of exactly `commit` (created once, reused); returns the manifest dir.
    pub fn snapshot(&self, commit: &str) -> Result<PathBuf, GitError> {
        let dir = self.snapshots.join(commit);
        if !dir.join(".complete").exists() {
            let tmp = self.snapshots.join(format!("{commit}.partial"));
            let _ = std::fs::remove_dir_all(&tmp);
            std::fs::create_dir_all(&tmp).map_err(|e| GitError {
                what: "checkout".into(),
                message: e.to_string(),
            })?;
            let index = self.snapshots.join(format!("{commit}.index"));
            let git_dir = self.mirror.to_string_lossy().into_owned();
            let work_tree = tmp.to_string_lossy().into_owned();
            let envs = [("GIT_INDEX_FILE", index.as_path())];
            git(
                &[
                    "--git-dir",
                    &git_dir,
                    "--work-tree",
                    &work_tree,
                    "read-tree",
                    commit,
                ],
                None,
                &envs,
            )?;
            git(
                &[
                    "--git-dir",
                    &git_dir,
                    "--work-tree",
                    &work_tree,
                    "checkout-index",
                    "-a",
                    "-f",
                ],
                None,
                &envs,
            )?;
            let _ = std::fs::remove_file(&index);
            std::fs::write(tmp.join(".complete"), commit).map_err(|e| GitError {
                what: "checkout".into(),
                message: e.to_string(),
            })?;
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::rename(&tmp, &dir).map_err(|e| GitError {
                what: "checkout".into(),
                message: e.to_string(),
            })?;
        }
        // Older snapshots are no longer needed.
        if let Ok(entries) = std::fs::read_dir(&self.snapshots) {
            for e in entries.flatten() {
                if e.file_name().to_string_lossy() != commit {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
        Ok(dir.join(&self.path))
    }
}
