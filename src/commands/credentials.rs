//! `tenantsync credentials`: prints the client ids and secrets of the managed clients it is
//! asked for, read live. The one command that prints secrets, so it prints them only for
//! clients named explicitly (or `--all`), and writes nothing: no state, no history, no log
//! line with a value.

use std::process::ExitCode;

use anyhow::bail;

use super::common::{open_target, read_state, resolve_address, RequestSummary};
use crate::cli::{CredentialsArgs, CredentialsFormat, GlobalArgs};
use crate::credentials::{env_prefix, shell_quote, Credential, Event};
use crate::model::kinds::AnyKind;
use crate::reconcile::deliver::read_credentials;
use crate::state::address::Address;

/// Runs `credentials`.
pub async fn run(global: &GlobalArgs, args: &CredentialsArgs) -> anyhow::Result<ExitCode> {
    if args.objects.is_empty() && !args.all {
        eprintln!(
            "error: name the clients whose secrets to print (Client/APP/NAME, Client/DOCUMENT or Application/APP), \
             or pass --all; nothing was printed"
        );
        return Ok(ExitCode::from(1));
    }
    let snapshot = read_state(global)?;
    let managed: Vec<&Address> = snapshot
        .app_entries()
        .map(|(a, _)| a)
        .filter(|a| a.kind == AnyKind::Client)
        .collect();
    let mut wanted: Vec<Address> = Vec::new();
    for text in &args.objects {
        let address = resolve_address(global, text, &args.manifests)?;
        let matching: Vec<Address> = managed
            .iter()
            .filter(|m| match address.kind {
                AnyKind::Client => **m == &address,
                _ => m.app == address.app,
            })
            .map(|m| (*m).clone())
            .collect();
        if matching.is_empty() {
            bail!("`{text}` names no client tenantsync manages (see `tenantsync state list`)");
        }
        wanted.extend(matching);
    }
    let target = open_target(global, false, None)?;
    let _requests = RequestSummary::of(&*target);
    let only = (!args.all).then_some(wanted.as_slice());
    let credentials = read_credentials(&*target, &snapshot, only).await?;
    if let Some(address) = wanted
        .iter()
        .find(|w| !credentials.iter().any(|c| &c.address == *w))
    {
        bail!("{address} is managed but the target no longer has it; run plan");
    }
    for c in credentials.iter().filter(|c| c.secret_withheld) {
        eprintln!(
            "warning: {}: the target does not show this client's secret to the credential in use \
             (an application's own client sees only its own secret); use a management credential",
            c.address
        );
    }
    out!("{}", render(&credentials, args.format));
    Ok(ExitCode::SUCCESS)
}

/// The credentials as printed.
fn render(credentials: &[Credential], format: CredentialsFormat) -> String {
    match format {
        CredentialsFormat::Json => {
            let docs: Vec<serde_json::Value> = credentials
                .iter()
                .map(|c| {
                    let mut doc = c.document(Event::Created);
                    doc.as_object_mut().map(|d| d.remove("event"));
                    doc
                })
                .collect();
            format!("{:#}\n", serde_json::Value::Array(docs))
        }
        CredentialsFormat::Env => credentials
            .iter()
            .map(|c| {
                let token = c
                    .token_url
                    .as_deref()
                    .map(|u| format!(" (token URL {})", shell_quote(u)))
                    .unwrap_or_default();
                format!(
                    "# {}{token}\n{}",
                    c.address,
                    c.env_lines(&env_prefix(&c.address), false)
                )
            })
            .collect(),
    }
}
