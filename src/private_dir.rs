//! Directories that hold secrets (the reconciler state, the tenant store with its token signing
//! key and client secrets, the git mirror): created `0700` with files `0600`, whatever the
//! umask, and a warning when an existing one is open to other users. [`SecretDir`]: a directory
//! secrets are written into for others to read (`--credentials-out`), opened without following
//! links and refused unless this user owns it and nobody else can write to it.

use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, Mode, OFlags};
use rustix::io::Errno;

/// The umask every command that writes state runs under: files 0600, directories 0700.
pub const PRIVATE_UMASK: u32 = 0o077;

/// Makes files and directories this process creates from now on private to its user (sled
/// creates its files itself, so the mode must come from the umask). rustix wraps umask(2)
/// safely; the crate denies `unsafe` (one glibc call in `memory` aside).
pub fn restrict_umask() {
    rustix::process::umask(Mode::from_bits_truncate(PRIVATE_UMASK));
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

/// Why a directory may not hold delivered secrets, or an operation in it failed. Each refusal
/// names the fix; nothing is written or removed after one.
#[derive(Debug, thiserror::Error)]
pub enum SecretDirError {
    /// The directory is a symbolic link.
    #[error("{}: is a symbolic link; secrets are never written through a link: give the directory itself, or replace the link with a directory", path.display())]
    Symlink {
        /// The directory.
        path: PathBuf,
    },
    /// Not a directory.
    #[error("{}: is not a directory", path.display())]
    NotDirectory {
        /// The path.
        path: PathBuf,
    },
    /// Owned by another user.
    #[error("{}: owned by uid {owner}, not by this process's user (uid {me}); secrets are only written into a directory of your own: `chown {me} {}`, or give a path inside it for tenantsync to create", path.display(), path.display())]
    Owner {
        /// The directory.
        path: PathBuf,
        /// Its owner.
        owner: u32,
        /// This process's effective user.
        me: u32,
    },
    /// Group or others may write to it (replace or plant files in it).
    #[error("{}: other users can write to it (mode {mode:03o}); secrets are only written where nobody else can: run `chmod go-w {}`, or give a path inside it for tenantsync to create", path.display(), path.display())]
    Writable {
        /// The directory.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A name that is not one plain path component.
    #[error("`{name}` is not a plain file name")]
    Name {
        /// The name.
        name: String,
    },
    /// The system refused an operation.
    #[error("{}: {source}", path.display())]
    Io {
        /// What was being opened, written or removed.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
}

/// An open directory that holds delivered secrets: this user's, writable by nobody else,
/// reached without following a symbolic link. Files are created, replaced and removed relative
/// to the open directory, so swapping a path component for a link afterwards redirects nothing.
#[derive(Debug)]
pub struct SecretDir {
    fd: OwnedFd,
    path: PathBuf,
}

fn io_error(path: &Path, e: Errno) -> SecretDirError {
    SecretDirError::Io {
        path: path.to_owned(),
        source: e.into(),
    }
}

/// `name` as one path component, or why not.
fn plain_name(name: &str) -> Result<&str, SecretDirError> {
    if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\0']) {
        return Err(SecretDirError::Name {
            name: name.to_owned(),
        });
    }
    Ok(name)
}

impl SecretDir {
    const DIR_FLAGS: OFlags = OFlags::RDONLY
        .union(OFlags::DIRECTORY)
        .union(OFlags::NOFOLLOW)
        .union(OFlags::CLOEXEC);

    /// Opens `path` (created `0700` with its missing parents when `create`); `None` when it
    /// does not exist and `create` is false. Refused when `path` itself is a symbolic link,
    /// belongs to another user, or group or others may write to it.
    pub fn open(path: &Path, create: bool) -> Result<Option<Self>, SecretDirError> {
        use std::os::unix::fs::DirBuilderExt as _;
        if create && std::fs::symlink_metadata(path).is_err() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(path)
                .map_err(|source| SecretDirError::Io {
                    path: path.to_owned(),
                    source,
                })?;
        }
        Self::checked(rustix::fs::CWD, path, path.to_owned())
    }

    /// The directory `name` in this one (created `0700` when `create`), checked as
    /// [`SecretDir::open`] checks.
    pub fn child(&self, name: &str, create: bool) -> Result<Option<Self>, SecretDirError> {
        let name = plain_name(name)?;
        let path = self.path.join(name);
        if create {
            match rustix::fs::mkdirat(&self.fd, name, Mode::from_raw_mode(0o700)) {
                Ok(()) | Err(Errno::EXIST) => {}
                Err(e) => return Err(io_error(&path, e)),
            }
        }
        Self::checked(&self.fd, name, path)
    }

    fn checked(
        at: impl std::os::fd::AsFd,
        name: impl rustix::path::Arg,
        path: PathBuf,
    ) -> Result<Option<Self>, SecretDirError> {
        let fd = match rustix::fs::openat(at, name, Self::DIR_FLAGS, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => return Ok(None),
            Err(Errno::LOOP) => return Err(SecretDirError::Symlink { path }),
            Err(Errno::NOTDIR) => {
                // O_DIRECTORY|O_NOFOLLOW on a link answers ENOTDIR on some systems.
                let link = std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_symlink());
                return Err(if link {
                    SecretDirError::Symlink { path }
                } else {
                    SecretDirError::NotDirectory { path }
                });
            }
            Err(e) => return Err(io_error(&path, e)),
        };
        let stat = rustix::fs::fstat(&fd).map_err(|e| io_error(&path, e))?;
        let me = rustix::process::geteuid().as_raw();
        if stat.st_uid != me {
            return Err(SecretDirError::Owner {
                path,
                owner: stat.st_uid,
                me,
            });
        }
        let mode = stat.st_mode & 0o7777;
        if mode & 0o022 != 0 {
            return Err(SecretDirError::Writable { path, mode });
        }
        if mode & 0o055 != 0 {
            tracing::warn!(
                path = %path.display(),
                mode = format!("{:o}", mode & 0o777),
                "this directory holds secrets and other users can list it; run `chmod 700` on it"
            );
        }
        Ok(Some(Self { fd, path }))
    }

    /// The directory's path, as given.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Replaces the file `name` with `bytes` atomically: a new `0600` file under a random name
    /// (created exclusively, never through a link), synced, then renamed over `name` (a link
    /// at `name` is replaced, not followed).
    pub fn write(&self, name: &str, bytes: &[u8]) -> Result<(), SecretDirError> {
        use std::io::Write as _;
        let name = plain_name(name)?;
        let path = self.path.join(name);
        let temp = format!(".{name}.{:016x}.tmp", rand::random::<u64>());
        let fd = rustix::fs::openat(
            &self.fd,
            temp.as_str(),
            OFlags::WRONLY
                .union(OFlags::CREATE)
                .union(OFlags::EXCL)
                .union(OFlags::NOFOLLOW)
                .union(OFlags::CLOEXEC),
            Mode::from_raw_mode(0o600),
        )
        .map_err(|e| io_error(&path, e))?;
        let mut file = std::fs::File::from(fd);
        let written = file
            .write_all(bytes)
            .and_then(|()| file.sync_all())
            .map_err(|source| SecretDirError::Io {
                path: path.clone(),
                source,
            })
            .and_then(|()| {
                rustix::fs::renameat(&self.fd, temp.as_str(), &self.fd, name)
                    .map_err(|e| io_error(&path, e))
            });
        if written.is_err() {
            let _ = rustix::fs::unlinkat(&self.fd, temp.as_str(), AtFlags::empty());
            return written;
        }
        // The rename itself durable.
        let _ = rustix::fs::fsync(&self.fd);
        Ok(())
    }

    /// Removes the file `name` from this directory (not through a link); a missing one is fine.
    pub fn remove(&self, name: &str) -> Result<(), SecretDirError> {
        let name = plain_name(name)?;
        match rustix::fs::unlinkat(&self.fd, name, AtFlags::empty()) {
            Ok(()) | Err(Errno::NOENT) => Ok(()),
            Err(e) => Err(io_error(&self.path.join(name), e)),
        }
    }
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

    #[test]
    fn a_secret_dir_is_refused_through_a_link_or_open_to_others_and_never_follows_one() {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().join("out");
        let dir = SecretDir::open(&base, true).unwrap().unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&base), 0o700);
        assert!(SecretDir::open(&tmp.path().join("none"), false)
            .unwrap()
            .is_none());

        // A link in place of the directory, or of a directory inside it.
        let elsewhere = tmp.path().join("elsewhere");
        std::fs::create_dir(&elsewhere).unwrap();
        std::fs::set_permissions(&elsewhere, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::os::unix::fs::symlink(&elsewhere, tmp.path().join("link")).unwrap();
        let err = SecretDir::open(&tmp.path().join("link"), true).unwrap_err();
        assert!(matches!(err, SecretDirError::Symlink { .. }), "{err}");
        std::os::unix::fs::symlink(&elsewhere, base.join("app")).unwrap();
        let err = dir.child("app", true).unwrap_err();
        assert!(matches!(err, SecretDirError::Symlink { .. }), "{err}");
        assert!(err.to_string().contains("symbolic link"), "{err}");

        // Writable by others.
        let open = tmp.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = SecretDir::open(&open, true).unwrap_err();
        assert!(err.to_string().contains("chmod go-w"), "{err}");

        // Names are single components.
        for bad in ["..", ".", "a/b", ""] {
            assert!(dir.child(bad, true).is_err(), "{bad}");
            assert!(dir.write(bad, b"x").is_err(), "{bad}");
        }

        // A link at the file's name is replaced, its target untouched; removal unlinks.
        let app = dir.child("shop", true).unwrap().unwrap();
        assert_eq!(mode(&base.join("shop")), 0o700);
        let victim = tmp.path().join("victim");
        std::fs::write(&victim, "original").unwrap();
        std::os::unix::fs::symlink(&victim, base.join("shop/Web.json")).unwrap();
        app.write("Web.json", b"secret").unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "original");
        let written = base.join("shop/Web.json");
        assert!(!std::fs::symlink_metadata(&written).unwrap().is_symlink());
        assert_eq!(mode(&written), 0o600);
        assert_eq!(std::fs::read_to_string(&written).unwrap(), "secret");
        assert_eq!(std::fs::read_dir(base.join("shop")).unwrap().count(), 1);
        app.remove("Web.json").unwrap();
        app.remove("Web.json").unwrap();
        assert!(!written.exists());
    }
}
