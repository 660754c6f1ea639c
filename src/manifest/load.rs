//! Loading a manifest set: each file parsed and checked on its own (on every core), then
//! assembled with the checks across documents; and [`LoadCache`], which re-parses only the
//! files whose bytes changed (the daemon). Pure: file contents in, values out.

use sha2::Digest as _;
use std::path::PathBuf;

use super::assemble::assemble;
use super::desired::{DesiredState, Redactions, SourceInfo};
use super::document::DocContext;
use super::error::{ManifestError, ManifestErrors};
use super::interpolate::Environment;
use super::objects::ObjectDoc;
use super::validate::{file_error, parse_document, AppDoc, ClientDoc, ParsedDoc, SourceFile};
use super::yaml::{self, Mark};

/// Loads and validates manifest files into the desired state, or returns every error.
pub fn load(sources: &[SourceFile], env: &dyn Environment) -> Result<DesiredState, ManifestErrors> {
    load_with(sources, env, true)
}

/// [`load`], keeping where each value is written (`SourceInfo::positions`, read by `lint` and
/// by proposals) only when `keep_positions`; errors are positioned either way. A long-running
/// reader that needs neither keeps about a fifth less memory.
pub fn load_with(
    sources: &[SourceFile],
    env: &dyn Environment,
    keep_positions: bool,
) -> Result<DesiredState, ManifestErrors> {
    let all: Vec<&SourceFile> = sources.iter().collect();
    let parsed = parse_all(&all, env, keep_positions);
    assemble_files(parsed.iter())
}

/// Parses files on every core: each file's checks need nothing but the file, so a large
/// repository (10,000 files) loads in about half the time on two cores. The order is kept.
fn parse_all(
    sources: &[&SourceFile],
    env: &dyn Environment,
    keep_positions: bool,
) -> Vec<ParsedFile> {
    const PER_THREAD_AT_LEAST: usize = 256;
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(sources.len().div_ceil(PER_THREAD_AT_LEAST))
        .max(1);
    if threads == 1 {
        return sources
            .iter()
            .map(|s| ParsedFile::parse(s, env, keep_positions))
            .collect();
    }
    let chunk = sources.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let workers: Vec<_> = sources
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    // Parsing allocates at every node: a thread cache where the command has them.
                    crate::memory::cache_this_thread();
                    part.iter()
                        .map(|s| ParsedFile::parse(s, env, keep_positions))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("a parser thread does not panic"))
            .collect()
    })
}

/// One file's documents after the checks that need nothing but the file: what assembly
/// needs, independent of every other file.
#[derive(Clone)]
struct ParsedFile {
    docs: Vec<ParsedDoc>,
    errors: Vec<ManifestError>,
    sensitive_values: Vec<String>,
    /// A value in it was interpolated: its result depends on more than its bytes.
    interpolates: bool,
}

impl ParsedFile {
    fn parse(source: &SourceFile, env: &dyn Environment, keep_positions: bool) -> ParsedFile {
        let mut file = ParsedFile {
            docs: Vec::new(),
            errors: Vec::new(),
            sensitive_values: Vec::new(),
            interpolates: false,
        };
        if source.bytes.contains(&0) {
            file.errors.push(file_error(
                &source.path,
                Mark { line: 1, col: 1 },
                "this is a binary file, not YAML; keep only manifests in the manifest directories",
            ));
            return file;
        }
        let text = match std::str::from_utf8(&source.bytes) {
            Ok(t) => t,
            Err(e) => {
                let before = &source.bytes[..e.valid_up_to()];
                let line = before.iter().filter(|b| **b == b'\n').count() + 1;
                let col = before.iter().rev().take_while(|b| **b != b'\n').count() + 1;
                file.errors.push(file_error(
                    &source.path,
                    Mark { line, col },
                    "the file is not valid UTF-8 text; save it as UTF-8",
                ));
                return file;
            }
        };
        // A conservative mark: any `$` may start a reference.
        file.interpolates = text.contains('$');
        let documents = match yaml::parse(text) {
            Ok(d) => d,
            Err(e) => {
                file.errors.push(file_error(
                    &source.path,
                    e.mark,
                    format!("YAML syntax error: {}", e.message),
                ));
                return file;
            }
        };
        for document in documents {
            let Some(root) = document.root.as_ref().filter(|_| !document.is_empty()) else {
                continue;
            };
            let mut ctx = DocContext::new(&source.path, env);
            let mut parsed = parse_document(&mut ctx, root);
            file.errors.append(&mut ctx.errors);
            file.sensitive_values.append(&mut ctx.sensitive_values);
            let positions = match keep_positions {
                true => std::sync::Arc::new(ctx.take_positions()),
                false => std::sync::Arc::default(),
            };
            let sources: Vec<&mut SourceInfo> = match &mut parsed {
                Some(ParsedDoc::App(app)) => std::iter::once(&mut app.source)
                    .chain(
                        app.clients
                            .iter_mut()
                            .map(|c| &mut std::sync::Arc::make_mut(&mut c.client).source),
                    )
                    .collect(),
                Some(ParsedDoc::Client(c)) => {
                    vec![&mut std::sync::Arc::make_mut(&mut c.client).source]
                }
                Some(ParsedDoc::Object(o)) => vec![&mut o.object.source],
                _ => Vec::new(),
            };
            for source in sources {
                source.positions = positions.clone();
            }
            file.docs.extend(parsed);
        }
        file
    }
}

/// Loads a manifest set again and again (the daemon), parsing only the files whose bytes
/// changed since the last load. A file that interpolates is parsed every time: a variable or
/// a file it reads may have changed while its own bytes did not. Assembly, the checks across
/// documents, runs over the whole set every time, so the result is exactly [`load_with`]'s.
#[derive(Default)]
pub struct LoadCache {
    /// By path: the SHA-256 of the bytes parsed (not the bytes: a daemon keeps this for good),
    /// and what they parsed to.
    files: std::collections::HashMap<PathBuf, ([u8; 32], ParsedFile)>,
    /// The `keep_positions` its files were parsed with.
    positions: bool,
    /// How many files the last load parsed (the rest were reused).
    parsed_last: usize,
}

impl LoadCache {
    /// [`load_with`] over `sources`, reusing what it parsed of unchanged files; forgets files
    /// that are no longer among `sources`.
    pub fn load(
        &mut self,
        sources: &[SourceFile],
        env: &dyn Environment,
        keep_positions: bool,
    ) -> Result<DesiredState, ManifestErrors> {
        if self.positions != keep_positions {
            self.files.clear();
            self.positions = keep_positions;
        }
        let mut kept = std::collections::HashMap::with_capacity(sources.len());
        let mut stale: Vec<&SourceFile> = Vec::new();
        let digest = |bytes: &[u8]| -> [u8; 32] { sha2::Sha256::digest(bytes).into() };
        for source in sources {
            match self.files.remove(&source.path) {
                Some((seen, parsed)) if seen == digest(&source.bytes) && !parsed.interpolates => {
                    kept.insert(source.path.clone(), (seen, parsed));
                }
                _ => stale.push(source),
            }
        }
        self.parsed_last = stale.len();
        for (source, parsed) in stale.iter().zip(parse_all(&stale, env, keep_positions)) {
            kept.insert(source.path.clone(), (digest(&source.bytes), parsed));
        }
        self.files = kept;
        assemble_files(sources.iter().map(|s| &self.files[&s.path].1))
    }

    /// How many files the last load parsed; the others were reused.
    pub fn parsed_last(&self) -> usize {
        self.parsed_last
    }
}

/// Assembles parsed files (in order) into the desired state, with the checks across
/// documents; every error of every file, or the state.
fn assemble_files<'a>(
    files: impl Iterator<Item = &'a ParsedFile>,
) -> Result<DesiredState, ManifestErrors> {
    let mut errors = Vec::new();
    let mut apps: Vec<AppDoc> = Vec::new();
    let mut client_docs: Vec<ClientDoc> = Vec::new();
    let mut object_docs: Vec<ObjectDoc> = Vec::new();
    let mut invalid_client_apps: Vec<String> = Vec::new();
    let mut sensitive_values: Vec<String> = Vec::new();
    for file in files {
        errors.extend(file.errors.iter().cloned());
        sensitive_values.extend(file.sensitive_values.iter().cloned());
        for doc in &file.docs {
            match doc.clone() {
                ParsedDoc::App(app) => apps.push(app),
                ParsedDoc::Client(c) => client_docs.push(c),
                ParsedDoc::Object(o) => object_docs.push(o),
                ParsedDoc::InvalidClient(application) => {
                    invalid_client_apps.extend(application);
                }
            }
        }
    }
    let mut state = assemble(
        apps,
        client_docs,
        object_docs,
        &invalid_client_apps,
        &mut errors,
    );
    state.redactions = Redactions::new(sensitive_values);
    // Every message, the cross-document ones included, goes through the same redactions.
    for e in &mut errors {
        e.message = state.redactions.redact(&e.message);
    }
    if errors.is_empty() {
        Ok(state)
    } else {
        errors.sort();
        errors.dedup();
        Err(ManifestErrors(errors))
    }
}
