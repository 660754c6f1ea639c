//! Where interpolated values come from: the [`Environment`] trait and its implementations (the
//! process confined to the manifest roots, placeholders for checks that read nothing, the
//! review environment `render` and `env diff` use), what interpolation may read beyond the
//! manifests ([`ReadAllowance`]) and the chosen environment's values ([`EnvValues`]). Only
//! [`ProcessEnvironment`] touches the file system.

use std::fmt;
use std::path::{Path, PathBuf};

/// The largest file `${file:…}` reads.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// Why a file reference was not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileRefused {
    /// No such file.
    NotFound,
    /// The operating system refused.
    PermissionDenied,
    /// Not UTF-8 text.
    NotText,
    /// It resolves (after symlinks) outside the manifest root and the allowed directories.
    OutsideRoots,
    /// A directory, device, FIFO or socket.
    NotRegular,
    /// Larger than [`MAX_FILE_BYTES`].
    TooLarge,
    /// Files cannot be read here at all (e.g. checking exported manifests).
    NoFileAccess,
    /// Anything else, described.
    Other(String),
}

impl fmt::Display for FileRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileRefused::NotFound => f.write_str("no such file"),
            FileRefused::PermissionDenied => f.write_str("permission denied"),
            FileRefused::NotText => f.write_str("not UTF-8 text"),
            FileRefused::OutsideRoots => f.write_str(
                "refused: it is outside the manifest root (symlinks resolved); allow a directory with --allow-file-dir",
            ),
            FileRefused::NotRegular => f.write_str("refused: not a regular file"),
            FileRefused::TooLarge => write!(f, "refused: larger than {} bytes", MAX_FILE_BYTES),
            FileRefused::NoFileAccess => f.write_str("refused: files are not read here"),
            FileRefused::Other(m) => f.write_str(m),
        }
    }
}

/// Where interpolated values come from.
pub trait Environment: Sync {
    /// An environment variable.
    fn var(&self, name: &str) -> Option<String>;
    /// A file's text, if the environment lets a manifest read it.
    fn read_file(&self, path: &Path) -> Result<String, FileRefused>;
    /// Patterns (`*` wildcards) of secret-looking variable names a manifest may still read.
    fn env_allow(&self) -> &[String] {
        &[]
    }
    /// The environment's values (`${var:NAME}`), when one was chosen.
    fn values(&self) -> Option<&EnvValues> {
        None
    }
    /// Whether every variable and file reads as a placeholder rather than its value: checks
    /// that compare values across documents (two applications holding one subdomain) leave
    /// such values alone.
    fn placeholders(&self) -> bool {
        false
    }
}

/// The values `${var:NAME}` reads: those the project file gives the environment chosen with
/// `--env`. They are written in the repository, so they are shown like the manifest's own text.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct EnvValues {
    /// The environment's name, for messages.
    pub environment: String,
    /// Its values by name.
    pub values: std::collections::BTreeMap<String, String>,
}

/// An environment in which every reference resolves to a placeholder, for checks that never
/// use a secret value (`lint`, validating what `export` wrote). It reads no variable and no
/// file.
#[derive(Debug, Default, Clone, Copy)]
pub struct PlaceholderEnvironment;

impl Environment for PlaceholderEnvironment {
    fn var(&self, _: &str) -> Option<String> {
        Some("placeholder".to_owned())
    }
    fn read_file(&self, _: &Path) -> Result<String, FileRefused> {
        Ok("placeholder".to_owned())
    }
    fn env_allow(&self) -> &[String] {
        static ALL: std::sync::LazyLock<Vec<String>> =
            std::sync::LazyLock::new(|| vec!["*".to_owned()]);
        &ALL
    }
    fn placeholders(&self) -> bool {
        true
    }
}

/// The environment `render` checks in: the chosen environment's values, placeholders for every
/// variable and file (nothing outside the repository is read).
#[derive(Debug, Default, Clone)]
pub struct ReviewEnvironment {
    /// The values `${var:…}` reads.
    pub values: Option<EnvValues>,
}

impl Environment for ReviewEnvironment {
    fn var(&self, name: &str) -> Option<String> {
        PlaceholderEnvironment.var(name)
    }
    fn read_file(&self, path: &Path) -> Result<String, FileRefused> {
        PlaceholderEnvironment.read_file(path)
    }
    fn env_allow(&self) -> &[String] {
        PlaceholderEnvironment.env_allow()
    }
    fn values(&self) -> Option<&EnvValues> {
        self.values.as_ref()
    }
    fn placeholders(&self) -> bool {
        true
    }
}

/// The real process environment and file system, confined to the manifest roots and the
/// allowed directories.
#[derive(Debug, Default, Clone)]
pub struct ProcessEnvironment {
    roots: Vec<PathBuf>,
    env_allow: Vec<String>,
    values: Option<EnvValues>,
}

impl ProcessEnvironment {
    /// An environment whose `${file:…}` reads stay inside `roots` (manifest directories and
    /// `--allow-file-dir`s; a root that cannot be resolved is ignored), and whose `${env:…}`
    /// reads secret-looking names only where `env_allow` names them.
    pub fn confined(roots: &[PathBuf], env_allow: &[String]) -> Self {
        Self {
            roots: roots
                .iter()
                .filter_map(|r| std::fs::canonicalize(r).ok())
                .collect(),
            env_allow: env_allow.to_vec(),
            values: None,
        }
    }
}

/// What interpolation may read beyond the manifests' own directories and non-secret variables
/// (`--allow-file-dir`, `--env-allow`).
#[derive(Debug, Default, Clone)]
pub struct ReadAllowance {
    /// Directories `${file:…}` may read besides the manifest roots.
    pub file_dirs: Vec<PathBuf>,
    /// Secret-looking variable names `${env:…}` may read (`*` wildcards).
    pub env_names: Vec<String>,
    /// What `${var:…}` reads (the environment chosen with `--env`).
    pub values: Option<EnvValues>,
}

impl ProcessEnvironment {
    /// The environment for manifests read from `paths` (each directory, or a file's directory,
    /// is a root) plus what `allowance` adds.
    pub fn for_manifests(paths: &[PathBuf], allowance: &ReadAllowance) -> Self {
        let mut roots: Vec<PathBuf> = paths
            .iter()
            .map(|p| {
                if p.is_dir() {
                    p.clone()
                } else {
                    p.parent()
                        .filter(|d| !d.as_os_str().is_empty())
                        .map_or_else(|| PathBuf::from("."), Path::to_owned)
                }
            })
            .collect();
        roots.extend(allowance.file_dirs.iter().cloned());
        Self {
            values: allowance.values.clone(),
            ..Self::confined(&roots, &allowance.env_names)
        }
    }
}

impl Environment for ProcessEnvironment {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }

    fn read_file(&self, path: &Path) -> Result<String, FileRefused> {
        use std::io::Read as _;
        let real = std::fs::canonicalize(path).map_err(|e| io_refusal(&e))?;
        if !self.roots.iter().any(|root| real.starts_with(root)) {
            return Err(FileRefused::OutsideRoots);
        }
        let meta = std::fs::metadata(&real).map_err(|e| io_refusal(&e))?;
        if !meta.is_file() {
            return Err(FileRefused::NotRegular);
        }
        if meta.len() > MAX_FILE_BYTES {
            return Err(FileRefused::TooLarge);
        }
        let mut bytes = Vec::new();
        std::fs::File::open(&real)
            .and_then(|f| f.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes))
            .map_err(|e| io_refusal(&e))?;
        if bytes.len() as u64 > MAX_FILE_BYTES {
            return Err(FileRefused::TooLarge);
        }
        String::from_utf8(bytes).map_err(|_| FileRefused::NotText)
    }

    fn env_allow(&self) -> &[String] {
        &self.env_allow
    }

    fn values(&self) -> Option<&EnvValues> {
        self.values.as_ref()
    }
}

fn io_refusal(e: &std::io::Error) -> FileRefused {
    match e.kind() {
        std::io::ErrorKind::NotFound => FileRefused::NotFound,
        std::io::ErrorKind::PermissionDenied => FileRefused::PermissionDenied,
        _ => FileRefused::Other(e.to_string()),
    }
}
