//! Issue 24, plan and doctor: `Client/DOCUMENT` addresses, creates refused when the credential
//! cannot see the whole tenant, prune refusing to cascade into clients tenantsync never managed,
//! control characters and markdown in rendered values, and `doctor --write`'s token-lifetime
//! units check (through a small proxy of this file's own that stretches token lifetimes).

use std::path::Path;

use serde_json::{json, Value};

use crate::harness::{output_text, Workspace};

/// Copies the repository's example manifests (with `manifests/clients/`) into `to`.
fn copy_examples(to: &Path) {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("manifests");
    let mut stack = vec![(from, to.to_owned())];
    while let Some((src, dst)) = stack.pop() {
        std::fs::create_dir_all(&dst).unwrap();
        for entry in std::fs::read_dir(&src).unwrap() {
            let path = entry.unwrap().path();
            let target = dst.join(path.file_name().unwrap());
            if path.is_dir() {
                stack.push((path, target));
            } else {
                std::fs::copy(&path, &target).unwrap();
            }
        }
    }
}

#[tokio::test]
async fn a_client_document_is_addressed_by_its_metadata_name() {
    let ws = Workspace::new();
    copy_examples(&ws.manifests());
    let applied = ws.run(&["apply", "--yes"]);
    assert!(applied.status.success(), "{}", output_text(&applied));
    let manifests = ws.manifests().display().to_string();
    let by_document = ws
        .command(
            &ws.server.base,
            &[
                "credentials",
                "Client/partner-portal-support-console",
                "--manifests",
                &manifests,
            ],
        )
        .output()
        .unwrap();
    assert!(by_document.status.success(), "{}", output_text(&by_document));
    let by_address = ws
        .command(
            &ws.server.base,
            &["credentials", "Client/partner-portal/Support console"],
        )
        .output()
        .unwrap();
    assert!(by_address.status.success(), "{}", output_text(&by_address));
    let shown = String::from_utf8(by_document.stdout).unwrap();
    assert_eq!(shown, String::from_utf8(by_address.stdout).unwrap());
    assert!(
        shown.contains("PARTNER_PORTAL_SUPPORT_CONSOLE_CLIENT_ID='"),
        "{shown}"
    );
    // The state commands read the same form.
    let state = ws
        .command(
            &ws.server.base,
            &[
                "state",
                "show",
                "Client/partner-portal-support-console",
                "--manifests",
                &manifests,
            ],
        )
        .output()
        .unwrap();
    assert!(state.status.success(), "{}", output_text(&state));
    let entry: Value = serde_json::from_slice(&state.stdout).unwrap();
    assert_eq!(
        entry["address"],
        json!({"kind": "Client", "app": "partner-portal", "client": "Support console"})
    );
    // An unknown document is named, with the forms that work.
    let unknown = ws
        .command(
            &ws.server.base,
            &["credentials", "Client/no-such-document", "--manifests", &manifests],
        )
        .output()
        .unwrap();
    assert_eq!(unknown.status.code(), Some(1));
    let said = output_text(&unknown);
    assert!(
        said.contains("no Client document named `no-such-document`")
            && said.contains("Client/APP/NAME"),
        "{said}"
    );
}
