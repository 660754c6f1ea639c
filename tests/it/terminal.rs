//! One-shot commands on a terminal show their output and nothing else: no log line at the
//! default level, logs with `-v`. Run through a real pseudo-terminal (`script`).

use std::path::Path;
use std::process::Command;

use crate::harness::bin;

/// Runs `args` under a pseudo-terminal (util-linux `script`) with RUST_LOG unset; returns what
/// the terminal showed.
fn on_terminal(state_dir: &Path, args: &str) -> String {
    let manifests = Path::new(env!("CARGO_MANIFEST_DIR")).join("manifests");
    let command = format!(
        "'{}' --state-dir '{}' {args} '{}'",
        bin(),
        state_dir.display(),
        manifests.display()
    );
    let out = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1")
        .output()
        .expect("util-linux `script` runs commands under a pseudo-terminal");
    assert!(out.status.success(), "{command}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn log_lines(screen: &str) -> Vec<&str> {
    screen
        .lines()
        .filter(|l| l.contains(" INFO ") || l.contains(" DEBUG ") || l.contains(" WARN "))
        .collect()
}

#[test]
fn plan_and_apply_print_no_log_line_unless_asked() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let screen = on_terminal(&state, "plan");
    assert!(screen.contains("Plan:"), "{screen}");
    assert_eq!(log_lines(&screen), Vec::<&str>::new(), "{screen}");
    let screen = on_terminal(&state, "apply --yes");
    assert!(screen.contains("Apply complete"), "{screen}");
    // The live progress line ends on its last object, and the summary starts a line of its own.
    // `Plan: C to create, U to update, D to delete, A to adopt.`: every change is one object.
    let summary = screen
        .split("Plan: ")
        .nth(1)
        .and_then(|rest| rest.lines().next())
        .expect("a plan summary");
    let total: usize = summary
        .split(", ")
        .filter_map(|part| part.split(' ').next()?.parse::<usize>().ok())
        .sum();
    assert!(screen.contains(&format!("[{total}/{total}] ")), "{screen}");
    assert!(
        screen.lines().any(|l| l.starts_with("Apply complete")),
        "{screen}"
    );
    assert_eq!(log_lines(&screen), Vec::<&str>::new(), "{screen}");
    // Asked for: logs (on stderr, which the terminal shows too).
    let screen = on_terminal(&state, "-v plan");
    assert!(
        screen
            .lines()
            .any(|l| l.contains(" INFO ") && l.contains("plan made")),
        "{screen}"
    );
}

/// A reader that goes away (`tenantsync schema | head -1`) ends the command quietly, as a pipe's
/// writer does (128 + SIGPIPE), never with a panic.
#[test]
fn a_closed_stdout_pipe_ends_the_command_quietly() {
    let mut child = Command::new(bin())
        .arg("schema")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Close the reading end before the command writes (it starts in milliseconds; should it
    // win the race, its write lands in the pipe's buffer and it ends with 0).
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        matches!(out.status.code(), Some(141 | 0)),
        "{:?}: {stderr}",
        out.status
    );
}
