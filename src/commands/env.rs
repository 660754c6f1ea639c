//! `tenantsync env`: the project file's environments (`list`), and how two of them differ in
//! their manifests after values and overlays (`diff`).

use std::fmt::Write as _;
use std::process::ExitCode;

use super::environments::{choose, load_project};
use super::validate::{load_reviewed, report_errors};
use crate::cli::{EnvArgs, EnvCommand, EnvDiffArgs, GlobalArgs, OutputFormat};
use crate::manifest::{self, DesiredState};
use crate::project::diff::{self, ObjectDiff};
use crate::project::StateSpec;
use crate::shown::{code_span, escape_controls as clean};

/// Runs `env`.
pub async fn run(global: &GlobalArgs, args: &EnvArgs) -> anyhow::Result<ExitCode> {
    match &args.command {
        EnvCommand::List => list(global),
        EnvCommand::Diff(d) => env_diff(global, d).await,
    }
}

fn list(global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let project = load_project(global)?;
    for env in project.environments.values() {
        let state = match &env.state {
            StateSpec::Dir(d) => d.display().to_string(),
            StateSpec::Url { scope, .. } => format!("shared state, scope {scope}"),
        };
        outln!(
            "{}\t{}\tstate {}{}{}{}",
            env.name,
            clean(&crate::targets::http::display_url(&env.target)),
            clean(&state),
            env.overlay
                .as_ref()
                .map(|o| format!("\toverlay {}", o.display()))
                .unwrap_or_default(),
            env.git_ref
                .as_ref()
                .map(|r| format!("\tref {r}"))
                .unwrap_or_default(),
            if env.protected { "\tprotected" } else { "" }
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// One environment's desired state as the repository says it (values and overlay applied;
/// variables and files not read), its errors reported.
fn desired_of(global: &GlobalArgs, args: &EnvDiffArgs) -> Result<DesiredState, ExitCode> {
    load_reviewed(global, &args.manifests.paths)
        .map(|(_, desired)| desired)
        .map_err(|e| {
            report_errors(&e, args.format);
            ExitCode::from(1)
        })
}

/// One environment's live tenant as manifests: exported (read-only, nothing adopted) into a
/// temporary directory and loaded from there, so it compares like the desired state does.
async fn live_of(
    global: &GlobalArgs,
    args: &EnvDiffArgs,
) -> anyhow::Result<Result<DesiredState, ExitCode>> {
    let dir = tempfile::tempdir()?;
    let out = dir.path().join("live");
    let export = crate::cli::ExportArgs {
        out: out.clone(),
        no_adopt: true,
        quiet: true,
    };
    if super::export::run(global, &export).await? != ExitCode::SUCCESS {
        return Ok(Err(ExitCode::from(1)));
    }
    let sources = manifest::files::read_sources(&[out]).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(
        manifest::load(&sources, &manifest::interpolate::PlaceholderEnvironment).map_err(|e| {
            report_errors(&e, args.format);
            ExitCode::from(1)
        }),
    )
}

async fn env_diff(global: &GlobalArgs, args: &EnvDiffArgs) -> anyhow::Result<ExitCode> {
    let project = load_project(global)?;
    let a = choose(global, &project, &args.a)?;
    let b = choose(global, &project, &args.b)?;
    let sides = if args.live {
        let (x, y) = futures::future::join(live_of(&a, args), live_of(&b, args)).await;
        (x?, y?)
    } else {
        (desired_of(&a, args), desired_of(&b, args))
    };
    let (a_state, b_state) = match sides {
        (Ok(x), Ok(y)) => (x, y),
        (Err(code), _) | (_, Err(code)) => return Ok(code),
    };
    let mut diffs = diff::desired(&args.a, &a_state, &args.b, &b_state);
    if !args.live {
        // B's manifests and overlay with A's values: what still differs is not the values'.
        let mut b_as_a = b.clone();
        if let (Some(env), Some(a_env)) = (b_as_a.environment.as_mut(), a.environment.as_ref()) {
            env.values.clone_from(&a_env.values);
        }
        // Errors are not reported: B's overlay may use a value only B has.
        if let Ok((_, same)) = load_reviewed(&b_as_a, &args.manifests.paths) {
            diff::from_values(
                &mut diffs,
                &diff::desired(&args.a, &a_state, &args.b, &same),
            );
        }
    }
    if args.ignore_values {
        for d in &mut diffs {
            d.fields.retain(|f| !f.from_values);
        }
        diffs.retain(|d| d.only_in.is_some() || !d.fields.is_empty());
    }
    match args.format {
        OutputFormat::Json => outln!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "format_version": 1,
                "a": args.a,
                "b": args.b,
                "compared": if args.live { "live" } else { "desired" },
                "differences": diffs,
            }))?
        ),
        OutputFormat::Markdown => out!("{}", markdown(&args.a, &args.b, &diffs)),
        OutputFormat::Text => out!("{}", text(&args.a, &args.b, &diffs)),
    }
    Ok(if diffs.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

fn value_text(v: &serde_json::Value, hidden: bool) -> String {
    match (hidden, v) {
        (true, _) => "(sensitive)".to_owned(),
        (false, serde_json::Value::Null) => "(not set)".to_owned(),
        (false, v) => clean(&v.to_string()).into_owned(),
    }
}

fn text(a: &str, b: &str, diffs: &[ObjectDiff]) -> String {
    let mut out = String::new();
    if diffs.is_empty() {
        let _ = writeln!(
            out,
            "{a} and {b} want the same objects with the same fields."
        );
        return out;
    }
    for d in diffs {
        match &d.only_in {
            Some(env) => {
                let _ = writeln!(
                    out,
                    "{} {} (only in {env})",
                    if env == a { "-" } else { "+" },
                    clean(&d.object)
                );
            }
            None => {
                let _ = writeln!(out, "~ {}", clean(&d.object));
                for f in &d.fields {
                    let _ = writeln!(
                        out,
                        "    {}: {a}: {}  {b}: {}{}",
                        clean(&f.field),
                        value_text(&f.a, f.hidden),
                        value_text(&f.b, f.hidden),
                        if f.from_values { "  (values)" } else { "" }
                    );
                }
            }
        }
    }
    let _ = writeln!(
        out,
        "{} object{} differ between {a} and {b}.",
        diffs.len(),
        if diffs.len() == 1 { "" } else { "s" }
    );
    out
}

fn markdown(a: &str, b: &str, diffs: &[ObjectDiff]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "### {} vs {}\n", code_span(a), code_span(b));
    if diffs.is_empty() {
        let _ = writeln!(out, "**The same.**");
        return out;
    }
    let _ = writeln!(
        out,
        "| object | field | {} | {} |",
        code_span(a),
        code_span(b)
    );
    let _ = writeln!(out, "|---|---|---|---|");
    for d in diffs {
        match &d.only_in {
            Some(env) => {
                let (x, y) = if env == a {
                    ("present", "absent")
                } else {
                    ("absent", "present")
                };
                let _ = writeln!(out, "| {} | | {x} | {y} |", code_span(&d.object));
            }
            None => {
                for f in &d.fields {
                    let _ = writeln!(
                        out,
                        "| {} | {}{} | {} | {} |",
                        code_span(&d.object),
                        code_span(&f.field),
                        if f.from_values { " (values)" } else { "" },
                        code_span(&value_text(&f.a, f.hidden)),
                        code_span(&value_text(&f.b, f.hidden))
                    );
                }
            }
        }
    }
    out
}
