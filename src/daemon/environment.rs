//! The chosen environment as each round reads it (`sync --env NAME`): its values and overlay
//! are taken from the project file of the set the round reconciles (the commit's, for a git
//! source; the file as it is now, for directories), so a promoted change of values or overlay
//! is applied with the commit that carries it. Target, credentials and state are what the
//! daemon started with.

use std::path::{Path, PathBuf};

use crate::manifest::{EnvValues, ReadAllowance};

/// Where a round finds the chosen environment.
#[derive(Debug, Clone)]
pub struct EnvironmentSource {
    /// The environment's name.
    pub name: String,
    /// The project file: for a git source, its path in the repository; else the file itself.
    pub project: PathBuf,
}

/// The environment one round reads its manifests with.
#[derive(Debug, Clone)]
pub struct RoundEnvironment {
    /// What `${file:}`, `${env:}` and `${var:}` may read (the values of the round's project
    /// file).
    pub reads: ReadAllowance,
    /// The overlay directory applied to the manifests.
    pub overlay: Option<PathBuf>,
}

impl EnvironmentSource {
    /// The environment as the project file under `root` (a commit's checkout) has it, or as
    /// the file has it now (`root` none); `reads` gives what the command line allows. The
    /// error says which file, and why.
    pub fn read(
        &self,
        root: Option<&Path>,
        reads: &ReadAllowance,
    ) -> Result<RoundEnvironment, String> {
        let path = match root {
            Some(root) => root.join(&self.project),
            None => self.project.clone(),
        };
        let text = std::fs::read_to_string(&path).map_err(|e| {
            format!(
                "{}: the project file could not be read ({e}); the environment `{}` takes its values and overlay from it",
                path.display(),
                self.name
            )
        })?;
        let project = crate::project::parse(&path, &text).map_err(|e| e.to_string())?;
        let env = project.environment(&self.name)?;
        Ok(RoundEnvironment {
            reads: ReadAllowance {
                values: Some(EnvValues {
                    environment: env.name.clone(),
                    values: env.values.clone(),
                }),
                ..reads.clone()
            },
            overlay: env.overlay.clone(),
        })
    }
}

/// The path of `project` (a local file) in its git repository, from the repository's root;
/// the file's name alone (the repository's root) when it is not in a git checkout.
pub fn path_in_repository(project: &Path) -> PathBuf {
    let name = project
        .file_name()
        .map_or_else(|| PathBuf::from(crate::project::FILE_NAME), PathBuf::from);
    let dir = project
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let prefix = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["rev-parse", "--show-prefix"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    match prefix {
        Some(prefix) if !prefix.is_empty() => Path::new(&prefix).join(name),
        _ => name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_round_reads_the_values_and_overlay_of_the_project_file_it_is_given() {
        let dir = tempfile::tempdir().unwrap();
        let commit = dir.path().join("commit");
        std::fs::create_dir_all(commit.join("config")).unwrap();
        std::fs::write(
            commit.join("config/tenantsync.yaml"),
            "apiVersion: tenantsync/v1\nkind: Project\nenvironments:\n  prod: {target: local, values: {ORIGIN: v2}, overlay: environments/prod}\n",
        )
        .unwrap();
        let source = EnvironmentSource {
            name: "prod".into(),
            project: "config/tenantsync.yaml".into(),
        };
        let allowed = ReadAllowance {
            env_names: vec!["SHOP_*".into()],
            ..ReadAllowance::default()
        };
        let round = source.read(Some(&commit), &allowed).unwrap();
        assert_eq!(round.reads.values.unwrap().values["ORIGIN"], "v2");
        assert_eq!(round.reads.env_names, ["SHOP_*"]);
        assert_eq!(round.overlay, Some(commit.join("config/environments/prod")));
        // Another environment's name, or no project file in the commit: the round fails, naming it.
        let wrong = EnvironmentSource {
            name: "prd".into(),
            ..source.clone()
        };
        assert!(wrong
            .read(Some(&commit), &allowed)
            .unwrap_err()
            .contains("did you mean `prod`"));
        let missing = source.read(Some(dir.path()), &allowed).unwrap_err();
        assert!(missing.contains("could not be read"), "{missing}");
    }
}
