//! Where the daemon's manifests come from: directories watched with notify (`watch.rs`: events
//! are only triggers; every reconcile re-reads everything), or a git branch fetched every poll
//! and checked out as a clean snapshot of one commit, never a half-pulled tree.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

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
    /// A tick of the drift sweep: re-reads a slice of the managed applications.
    Sweep,
    /// `POST /hooks/sync`.
    Hook,
    /// A retry after an error.
    Retry,
    /// This replica became the leader of a shared state.
    Elected,
    /// Watching directories with --prune: held deletions are due for a second look.
    PruneRecheck,
}

impl Trigger {
    /// Lower-case name for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Start => "start",
            Trigger::FileChange => "file_change",
            Trigger::Rescan => "rescan",
            Trigger::GitCommit => "git_commit",
            Trigger::Sweep => "sweep",
            Trigger::Hook => "hook",
            Trigger::Retry => "retry",
            Trigger::Elected => "elected",
            Trigger::PruneRecheck => "prune_recheck",
        }
    }
}

/// Errors of the git source. Messages never carry credentials: git only ever sees the URL
/// without them.
#[derive(Debug, thiserror::Error)]
#[error("git {what}: {message}")]
pub struct GitError {
    what: String,
    message: String,
}

/// Credentials for an http(s) git remote. They reach git through its environment (an
/// `Authorization` header in `GIT_CONFIG_*`), never through its command line, which every local
/// user can read in the process list.
#[derive(Clone)]
pub struct GitCredentials {
    username: String,
    password: String,
}

impl std::fmt::Debug for GitCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GitCredentials({}, sensitive)", self.username)
    }
}

impl GitCredentials {
    /// Reads `USER:TOKEN`, or a token alone (sent as `x-access-token:TOKEN`, as GitHub expects),
    /// from the first line of `path`.
    pub fn from_file(path: &Path) -> Result<Self, GitError> {
        let text = std::fs::read_to_string(path).map_err(|e| GitError {
            what: "credentials".into(),
            message: format!("cannot read {}: {e}", path.display()),
        })?;
        let line = text.lines().next().unwrap_or_default().trim();
        if line.is_empty() {
            return Err(GitError {
                what: "credentials".into(),
                message: format!("{} is empty", path.display()),
            });
        }
        Ok(match line.split_once(':') {
            Some((user, token)) => Self {
                username: user.to_owned(),
                password: token.to_owned(),
            },
            None => Self {
                username: "x-access-token".to_owned(),
                password: line.to_owned(),
            },
        })
    }

    fn env(&self) -> Vec<(String, String)> {
        use base64::Engine as _;
        let basic = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", self.username, self.password));
        vec![
            ("GIT_CONFIG_COUNT".into(), "1".into()),
            ("GIT_CONFIG_KEY_0".into(), "http.extraHeader".into()),
            (
                "GIT_CONFIG_VALUE_0".into(),
                format!("Authorization: Basic {basic}"),
            ),
        ]
    }
}

/// A git URL without the credentials it may carry, and those credentials. An http(s) URL loses
/// its user and password; any other loses its password (an ssh user name is not a secret).
pub fn split_credentials(url: &str) -> (String, Option<GitCredentials>) {
    let Ok(mut parsed) = url::Url::parse(url) else {
        return (url.to_owned(), None); // scp-like `git@host:repo`: no password possible
    };
    let http = matches!(parsed.scheme(), "http" | "https");
    let username = url_decode(parsed.username());
    let password = parsed.password().map(url_decode);
    if password.is_none() && (!http || username.is_empty()) {
        return (url.to_owned(), None);
    }
    let _ = parsed.set_password(None);
    if http {
        let _ = parsed.set_username("");
    }
    let credentials = match password {
        Some(p) => GitCredentials {
            username: if username.is_empty() {
                "x-access-token".to_owned()
            } else {
                username
            },
            password: p,
        },
        // https://TOKEN@host/…: the token is the user part.
        None => GitCredentials {
            username: "x-access-token".to_owned(),
            password: username,
        },
    };
    (parsed.to_string(), Some(credentials))
}

fn url_decode(text: &str) -> String {
    url::form_urlencoded::parse(format!("x={text}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| text.to_owned())
}

/// A URL as it may be shown (logs, `/status`, metrics, history): credentials removed.
pub fn redacted(url: &str) -> String {
    split_credentials(url).0
}

/// How one git command may run.
struct Run<'a> {
    env: Vec<(String, String)>,
    deadline: Duration,
    stop: Option<&'a AtomicBool>,
}

fn git(args: &[&str], dir: Option<&Path>, run: &Run<'_>) -> Result<String, GitError> {
    use std::io::Read as _;
    use std::os::unix::process::CommandExt as _;
    let what = args
        .iter()
        .find(|a| !a.starts_with('-') && !a.contains('/'))
        .copied()
        .unwrap_or("")
        .to_owned();
    let mut cmd = Command::new("git");
    if let Some(d) = dir {
        cmd.arg("-C").arg(d);
    }
    cmd.args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .envs(run.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group: a timeout or shutdown kills git and its helpers
        // (git-remote-https) together.
        .process_group(0);
    let mut child = cmd.spawn().map_err(|e| GitError {
        what: what.clone(),
        message: format!("could not run git: {e}"),
    })?;
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let out = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stdout.read_to_end(&mut buf);
        buf
    });
    let err = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stderr.read_to_end(&mut buf);
        buf
    });
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {}
            Err(e) => {
                return Err(GitError {
                    what,
                    message: e.to_string(),
                })
            }
        }
        let stopping = run.stop.is_some_and(|s| s.load(Ordering::SeqCst));
        if stopping || started.elapsed() > run.deadline {
            let group = rustix::process::Pid::from_child(&child);
            let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
            let _ = child.wait();
            let message = if stopping {
                "stopped: the daemon is shutting down".to_owned()
            } else {
                format!(
                    "no answer within {:?} (--git-timeout); killed",
                    run.deadline
                )
            };
            return Err(GitError { what, message });
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    if !status.success() {
        return Err(GitError {
            what,
            message: String::from_utf8_lossy(&stderr).trim().to_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&stdout).trim().to_owned())
}

/// The files `git ls-tree -r -z` lists (`MODE TYPE OBJECT\tPATH` records) that are not in
/// `checkout`. Submodules (`commit` entries) are not checked out and are not expected.
fn missing_files(listed: &str, checkout: &Path) -> Vec<String> {
    listed
        .split('\0')
        .filter_map(|record| {
            let (meta, path) = record.split_once('\t')?;
            (meta.split(' ').nth(1) == Some("blob")).then_some(path)
        })
        .filter(|path| std::fs::symlink_metadata(checkout.join(path)).is_err())
        .map(str::to_owned)
        .collect()
}

/// A git branch mirrored under the state directory.
pub struct GitSource {
    /// The URL without credentials: the only form git, logs and `/status` ever see.
    url: String,
    credentials: Option<GitCredentials>,
    branch: String,
    path: PathBuf,
    mirror: PathBuf,
    snapshots: PathBuf,
    timeout: Duration,
    stop: Arc<AtomicBool>,
}

/// How long a git command may take unless configured otherwise.
pub const DEFAULT_GIT_TIMEOUT: Duration = Duration::from_secs(60);

impl GitSource {
    /// A source for `url`'s `branch`, manifests under `path` in the repository, mirrored under
    /// `work` (made absolute: git resolves a relative path from where it runs, which for the
    /// index of a checkout is inside the work tree). Credentials in the URL are taken out of it
    /// (and used, unless `credentials` are given).
    pub fn new(
        url: &str,
        branch: &str,
        path: &Path,
        work: &Path,
        credentials: Option<GitCredentials>,
    ) -> Self {
        let (url, embedded) = split_credentials(url);
        if embedded.is_some() {
            tracing::warn!(
                url = %url,
                "the git URL carries credentials; pass them with --git-credentials-file instead (a URL is visible in the process list)"
            );
        }
        let work = std::path::absolute(work).unwrap_or_else(|_| work.to_owned());
        Self {
            url,
            credentials: credentials.or(embedded),
            branch: branch.to_owned(),
            path: path.to_owned(),
            mirror: work.join("mirror.git"),
            snapshots: work.join("snapshots"),
            timeout: DEFAULT_GIT_TIMEOUT,
            stop: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Gives every git command at most `timeout`.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The URL as it may be shown: without credentials, query or fragment (a
    /// `?private_token=` is a credential too).
    pub fn url(&self) -> String {
        crate::targets::http::display_url(&self.url)
    }

    /// Setting it kills a git command in progress (shutdown).
    pub fn stop_handle(&self) -> Arc<AtomicBool> {
        self.stop.clone()
    }

    fn run(&self, with_credentials: bool) -> Run<'_> {
        Run {
            env: match (&self.credentials, with_credentials) {
                (Some(c), true) => c.env(),
                _ => Vec::new(),
            },
            deadline: self.timeout,
            stop: Some(&self.stop),
        }
    }

    /// Fetches the branch; returns its commit.
    pub fn fetch(&self) -> Result<String, GitError> {
        if !self.mirror.join("HEAD").exists() {
            std::fs::create_dir_all(&self.mirror).map_err(|e| GitError {
                what: "init".into(),
                message: e.to_string(),
            })?;
            git(
                &["init", "--bare", "--quiet"],
                Some(&self.mirror),
                &self.run(false),
            )?;
        }
        let refspec = format!("+refs/heads/{}:refs/heads/{}", self.branch, self.branch);
        git(
            &[
                "-c",
                "http.lowSpeedLimit=1000",
                "-c",
                "http.lowSpeedTime=30",
                "fetch",
                "--quiet",
                "--force",
                "--no-tags",
                // Nothing after this is an option, whatever the URL looks like.
                "--end-of-options",
                &self.url,
                &refspec,
            ],
            Some(&self.mirror),
            &self.run(true),
        )?;
        git(
            &["rev-parse", &format!("refs/heads/{}", self.branch)],
            Some(&self.mirror),
            &self.run(false),
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
            let mut run = self.run(false);
            run.env.push((
                "GIT_INDEX_FILE".into(),
                index.to_string_lossy().into_owned(),
            ));
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
                &run,
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
                &run,
            )?;
            let _ = std::fs::remove_file(&index);
            // Only a checkout holding every file of the commit is ever marked complete.
            let listed = git(
                &["--git-dir", &git_dir, "ls-tree", "-r", "-z", commit],
                None,
                &self.run(false),
            )?;
            let missing = missing_files(&listed, &tmp);
            if !missing.is_empty() {
                let _ = std::fs::remove_dir_all(&tmp);
                return Err(GitError {
                    what: "checkout".into(),
                    message: format!(
                        "the snapshot of {commit} lacks {} of its files (first: {}); not used",
                        missing.len(),
                        missing[0]
                    ),
                });
            }
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

    /// Where the snapshot of `commit` has the repository's root (what [`GitSource::snapshot`]
    /// made).
    pub fn snapshot_root(&self, commit: &str) -> PathBuf {
        self.snapshots.join(commit)
    }

    /// The repository path of `file`, a file of the snapshot of `commit`.
    pub fn repo_path(&self, commit: &str, file: &Path) -> Option<String> {
        let rel = file.strip_prefix(self.snapshots.join(commit)).ok()?;
        Some(rel.to_string_lossy().into_owned())
    }

    /// Commits `files` (repository path, new contents) on top of `parent` and pushes the commit
    /// to `branch` of the remote, replacing what the branch held. The commit is the same for the
    /// same inputs (author, committer and date are fixed by the caller's `date`), so pushing it
    /// again changes nothing. Returns the commit.
    pub fn propose(
        &self,
        parent: &str,
        files: &[(String, String)],
        branch: &str,
        message: &str,
        date: &str,
    ) -> Result<String, GitError> {
        let git_dir = self.mirror.to_string_lossy().into_owned();
        let work = self.mirror.join("tenantsync-propose");
        std::fs::create_dir_all(&work).map_err(|e| GitError {
            what: "propose".into(),
            message: e.to_string(),
        })?;
        let index = work.join("index");
        let _ = std::fs::remove_file(&index);
        let mut run = self.run(false);
        run.env.push((
            "GIT_INDEX_FILE".into(),
            index.to_string_lossy().into_owned(),
        ));
        for (role, value) in [
            ("GIT_AUTHOR_NAME", "tenantsync"),
            ("GIT_AUTHOR_EMAIL", "tenantsync@localhost"),
            ("GIT_COMMITTER_NAME", "tenantsync"),
            ("GIT_COMMITTER_EMAIL", "tenantsync@localhost"),
            ("GIT_AUTHOR_DATE", date),
            ("GIT_COMMITTER_DATE", date),
        ] {
            run.env.push((role.into(), value.into()));
        }
        let in_mirror = |args: &[&str]| {
            let mut all = vec!["--git-dir", git_dir.as_str()];
            all.extend_from_slice(args);
            git(&all, None, &run)
        };
        in_mirror(&["read-tree", parent])?;
        for (path, contents) in files {
            let blob_file = work.join("blob");
            std::fs::write(&blob_file, contents).map_err(|e| GitError {
                what: "propose".into(),
                message: e.to_string(),
            })?;
            let blob = in_mirror(&["hash-object", "-w", "--", &blob_file.to_string_lossy()])?;
            in_mirror(&[
                "update-index",
                "--add",
                "--cacheinfo",
                &format!("100644,{blob},{path}"),
            ])?;
        }
        let tree = in_mirror(&["write-tree"])?;
        let commit = in_mirror(&["commit-tree", &tree, "-p", parent, "-m", message])?;
        let _ = std::fs::remove_file(&index);
        self.push(&format!("+{commit}:refs/heads/{branch}"))?;
        Ok(commit)
    }

    /// Pushes one refspec to the remote, with the source's credentials.
    fn push(&self, refspec: &str) -> Result<String, GitError> {
        let args = ["push", "--quiet", "--end-of-options", &self.url, refspec];
        git(&args, Some(&self.mirror), &self.run(true))
    }

    /// Deletes `branch` of the remote (nothing when it does not exist).
    pub fn retract(&self, branch: &str) -> Result<(), GitError> {
        let listed = git(
            &[
                "ls-remote",
                "--heads",
                "--end-of-options",
                &self.url,
                branch,
            ],
            Some(&self.mirror),
            &self.run(true),
        )?;
        if listed.is_empty() {
            return Ok(());
        }
        self.push(&format!(":refs/heads/{branch}")).map(|_| ())
    }
}

#[cfg(test)]
mod credential_tests {
    use super::*;

    #[test]
    fn credentials_leave_the_url() {
        let (url, c) =
            split_credentials("https://x-access-token:CANARY@git.example.com/org/repo.git");
        assert_eq!(url, "https://git.example.com/org/repo.git");
        let c = c.unwrap();
        assert_eq!(
            (c.username.as_str(), c.password.as_str()),
            ("x-access-token", "CANARY")
        );
        assert!(!format!("{c:?}").contains("CANARY"));
        let (url, c) = split_credentials("https://CANARY@git.example.com/repo.git");
        assert_eq!(url, "https://git.example.com/repo.git");
        assert_eq!(c.unwrap().password, "CANARY");
        // ssh keeps its user (not a secret) but never a password.
        assert_eq!(
            split_credentials("ssh://git@git.example.com/repo.git").0,
            "ssh://git@git.example.com/repo.git"
        );
        assert_eq!(
            redacted("ssh://git:CANARY@git.example.com/repo.git"),
            "ssh://git@git.example.com/repo.git"
        );
        assert_eq!(
            redacted("git@github.com:org/repo.git"),
            "git@github.com:org/repo.git"
        );
        assert_eq!(redacted("file:///srv/repo.git"), "file:///srv/repo.git");
        let env = GitCredentials {
            username: "u".into(),
            password: "p".into(),
        }
        .env();
        assert_eq!(env[2].1, "Authorization: Basic dTpw");
    }

    #[test]
    fn a_checkout_missing_a_listed_file_is_incomplete() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("manifests")).unwrap();
        std::fs::write(dir.path().join("manifests/a.yaml"), "x").unwrap();
        let listed = "100644 blob 1111\tmanifests/a.yaml\0\
                      100644 blob 2222\tmanifests/b c.yaml\0\
                      160000 commit 3333\tvendor/sub\0";
        assert_eq!(
            missing_files(listed, dir.path()),
            vec!["manifests/b c.yaml"]
        );
        std::fs::write(dir.path().join("manifests/b c.yaml"), "y").unwrap();
        assert!(missing_files(listed, dir.path()).is_empty());
        assert!(missing_files("", dir.path()).is_empty());
    }

    #[test]
    fn a_hanging_fetch_is_killed_at_the_deadline() {
        // A remote that accepts the connection and never answers.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = silent.local_addr().unwrap().port();
        let dir = tempfile::tempdir().unwrap();
        let mut source = GitSource::new(
            &format!("http://127.0.0.1:{port}/repo.git"),
            "main",
            Path::new("."),
            dir.path(),
            None,
        )
        .with_timeout(Duration::from_millis(500));
        source.stop = Arc::new(AtomicBool::new(false));
        let started = Instant::now();
        let err = source.fetch().unwrap_err();
        assert!(
            err.to_string()
                .contains("no answer within 500ms (--git-timeout); killed"),
            "{err}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
        // Shutdown stops it too.
        let source = source.with_timeout(Duration::from_secs(60));
        let stop = source.stop_handle();
        let stopper = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            stop.store(true, Ordering::SeqCst);
        });
        let err = source.fetch().unwrap_err();
        stopper.join().unwrap();
        assert!(err.to_string().contains("shutting down"), "{err}");
        drop(silent);
    }
}
