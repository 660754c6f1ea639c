//! Watching the manifest directories (and files: a project file, an overlay) with notify:
//! each event that concerns them is a trigger, nothing more (every round re-reads what it
//! reads).

use std::path::{Path, PathBuf};

use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;

use super::source::Trigger;

/// Watches `paths` (directories recursively; a file through its directory) and sends a trigger
/// per event batch. The returned watcher must be kept alive.
pub fn watch_directories(
    paths: &[PathBuf],
    triggers: mpsc::UnboundedSender<Trigger>,
) -> notify::Result<notify::RecommendedWatcher> {
    // A file is watched through its directory: only events naming it (or a Kubernetes
    // volume's `..data` swap beside it) are its changes, not another file's there (a log).
    let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_owned());
    let dirs: Vec<PathBuf> = paths
        .iter()
        .filter(|p| p.is_dir())
        .map(|p| absolute(p))
        .collect();
    let files: Vec<PathBuf> = paths
        .iter()
        .filter(|p| !p.is_dir())
        .map(|p| absolute(p))
        .collect();
    let concerns = move |path: &Path| concerns(&dirs, &files, &absolute(path));
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let trigger = match &event {
            Ok(e) if e.need_rescan() => Trigger::Rescan,
            Ok(e) if e.kind.is_access() => return,
            Ok(e) if !e.paths.is_empty() && !e.paths.iter().any(|p| concerns(p)) => return,
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

/// Whether a change at `path` concerns what is watched: anything below one of `dirs`, or one of
/// `files` itself (or a Kubernetes volume's `..data` swap beside it). All paths absolute.
fn concerns(dirs: &[PathBuf], files: &[PathBuf], path: &Path) -> bool {
    dirs.iter().any(|d| path.starts_with(d))
        || files.iter().any(|f| {
            path == f
                || (path.parent() == f.parent()
                    && path
                        .file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with("..")))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_concerned_by_its_own_changes_only_a_directory_by_all_below_it() {
        let dirs = [PathBuf::from("/repo/manifests")];
        let files = [PathBuf::from("/repo/tenantsync.yaml")];
        let at = |p: &str| concerns(&dirs, &files, Path::new(p));
        assert!(at("/repo/manifests/shop.yaml"));
        assert!(at("/repo/manifests/sub/dir/x.yaml"));
        assert!(at("/repo/tenantsync.yaml"));
        assert!(at("/repo/..data"), "a ConfigMap's swap");
        assert!(
            !at("/repo/daemon.log"),
            "another file beside the project file"
        );
        assert!(!at("/repo/.tenantsync"));
        assert!(!at("/repo/manifests-old/x.yaml"));
    }
}
