//! Directories that hold secrets (the reconciler state, the tenant store with its token signing
//! key and client secrets, the git mirror): created `0700` with files `0600`, whatever the
//! umask, and a warning when an existing one is open to other users.

use std::io;
use std::path::Path;

/// The umask every command that writes state runs under: files 0600, directories 0700.
pub const PRIVATE_UMASK: u32 = 0o077;

/// Makes files and directories this process creates from now on private to its user (sled
/// creates its files itself, so the mode must come from the umask). rustix wraps umask(2)
/// safely; the crate forbids `unsafe`.
pub fn restrict_umask() {
    rustix::process::umask(rustix::fs::Mode::from_bits_truncate(PRIVATE_UMASK));
}

/// Creates `dir` (and missing parents) with mode 0700; an existing directory that group or
/// others can read gets a warning naming the fix.
pub fn create(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
    if dir.is_dir() {
        let mode = std::fs::metadata(dir)?.permissions().mode();
        if mode & 0o077 != 0 {
            tracing::warn!(
                path = %dir.display(),
                mode = format!("{:o}", mode & 0o777),
                "this directory holds secrets but other users can open it; run `chmod 700` on it"
            );
        }
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn created_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b");
        create(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode & 0o077, 0, "{mode:o}");
    }
}
