//! `tenantsync export --out DIR`: write clean manifests for everything live (one file per
//! application), leave out (with a warning and an `ignore_fields` entry) live fields and values
//! the manifests cannot hold, check them with the validator, and record every exported object
//! the state does not map yet as adopted (unless `--no-adopt`), so the next plan is empty. An
//! object the state maps is exported under the state's name and its entry is left as it is.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use serde_json::{json, Map, Value};

use super::common::{open_target, RequestSummary};
use crate::cli::{ExportArgs, GlobalArgs};
use crate::export::kinds::{
    adopted_entry, export_objects, render, write_only_references, write_references, KindDocument,
    LiveKindObject, OutOfBand, Unmanaged, Unreturned,
};
use crate::export::{
    app_names, app_spec, client_names, client_spec, slug, LeftOut, Managed, SecretReference,
};
use crate::manifest::interpolate::PlaceholderEnvironment;
use crate::manifest::{self, files};
use crate::model::catalogue::Object;
use crate::model::kinds::{AnyKind, ObjKind, APPLICATION, CLIENT, DEFAULT_CLIENT_FIELD};
use crate::model::AuthenticationProtocol;
use crate::plan::applied;
use crate::plan::diff::Subject;
use crate::reconcile::now_rfc3339;
use crate::shown::escape_controls;
use crate::state::address::Address;
use crate::state::entry::{Ownership, StateEntry, StateSnapshot};
use crate::targets::{Target, TargetErrorKind};

/// Resolves every `${env:…}` to a placeholder (exported files are validated before the
/// variables they introduce exist) and reads no file: live data is escaped on export, so a file
/// reference can only be an attack.
/// The `$schema` link for files written to `out`, relative to them so that it resolves: the
/// repository's committed `schema/tenantsync.schema.json` when `out` is inside a repository that
/// has one, else a copy written next to the export.
fn schema_reference(out: &Path) -> anyhow::Result<String> {
    let out = std::fs::canonicalize(out).with_context(|| format!("resolving {}", out.display()))?;
    for dir in out.ancestors() {
        let committed = dir.join("schema").join("tenantsync.schema.json");
        if committed.is_file() {
            return Ok(relative_path(&out, &committed));
        }
        if dir.join(".git").exists() {
            break; // the repository's root: no committed schema
        }
    }
    let copy = out.join("tenantsync.schema.json");
    std::fs::write(
        &copy,
        serde_json::to_string_pretty(&manifest::raw::document_schema())? + "\n",
    )
    .with_context(|| format!("writing {}", copy.display()))?;
    Ok("tenantsync.schema.json".to_owned())
}

/// `to` relative to the directory `from` (both absolute).
fn relative_path(from: &Path, to: &Path) -> String {
    let from: Vec<_> = from.components().collect();
    let to: Vec<_> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<String> = vec!["..".to_owned(); from.len() - common];
    parts.extend(
        to[common..]
            .iter()
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    parts.join("/")
}

fn str_of<'a>(m: &'a Map<String, Value>, k: &str) -> &'a str {
    m.get(k).and_then(Value::as_str).unwrap_or_default()
}

/// Every object of the described kinds the export covers (with what the state last applied to
/// it): each parentless kind's collection once, and each parented kind's once per exported
/// application. A collection the target does
/// not serve or the credential may not read is left out with a warning (references to its
/// objects are then written as ids).
async fn read_kinds(
    target: &dyn Target,
    apps: &[(String, String)],
    state: &StateSnapshot,
) -> Vec<LiveKindObject> {
    let mut out = Vec::new();
    for kind in ObjKind::ALL {
        let spec = kind.spec();
        let scopes: Vec<Option<&(String, String)>> = match spec.parent {
            None => vec![None],
            Some(_) => apps.iter().map(Some).collect(),
        };
        for scope in scopes {
            let app_id = scope.map(|(_, id)| id.as_str());
            let mut objects = match target.list_objects(kind.into(), app_id).await {
                Ok(objects) => objects,
                Err(e) => {
                    let of = scope
                        .map(|(key, _)| format!(" of application `{key}`"))
                        .unwrap_or_default();
                    let hint = match e.kind {
                        TargetErrorKind::Forbidden | TargetErrorKind::Unauthorized => format!(
                            " (the credential needs `{}`; see `tenantsync doctor`)",
                            spec.read_permission
                        ),
                        _ => String::new(),
                    };
                    eprintln!("warning: the {}{of} could not be read ({e}){hint}; they are not exported, and references to them are written as {{id: …}}", spec.plural);
                    continue;
                }
            };
            // A stable order: by natural key, then id.
            objects.sort_by_cached_key(|o| (spec.key_of(o).map(str::to_owned), spec.id_of(o)));
            for object in objects {
                let id = spec.id_of(&object);
                let applied = state
                    .object_entries()
                    .find(|(a, e)| {
                        a.kind == kind.into() && e.id == id && e.app_id.as_deref() == app_id
                    })
                    .map(|(_, e)| e.last_applied.clone());
                out.push(LiveKindObject {
                    kind,
                    app: scope.cloned(),
                    object,
                    applied,
                });
            }
        }
    }
    out
}

/// Runs `export`.
pub async fn run(global: &GlobalArgs, args: &ExportArgs) -> anyhow::Result<ExitCode> {
    let target = open_target(global, false, None)?;
    let _requests = RequestSummary::of(&*target);
    let mut apps = Vec::new();
    for listed in target.list_apps().await? {
        let id = APPLICATION.id_str(&listed).to_owned();
        let full = target.get_app(&id).await?.unwrap_or(listed);
        let mut clients = target.list_clients(&id).await?;
        clients.sort_by(|a, b| {
            (str_of(a, "created_at"), CLIENT.id_str(a))
                .cmp(&(str_of(b, "created_at"), CLIENT.id_str(b)))
        });
        apps.push((full, clients));
    }
    apps.sort_by(|(a, _), (b, _)| {
        (
            APPLICATION.key_str(a),
            str_of(a, "created_at"),
            APPLICATION.id_str(a),
        )
            .cmp(&(
                APPLICATION.key_str(b),
                str_of(b, "created_at"),
                APPLICATION.id_str(b),
            ))
    });
    // The state decides the names of what it already maps (and those entries stay as they
    // are); only what it does not map is adopted. Written only with adoption.
    let store = if args.no_adopt {
        None
    } else {
        Some(super::common::open_state(global)?)
    };
    let snapshot = match &store {
        Some(store) => store.snapshot()?,
        None => super::common::read_state(global)?,
    };
    let managed = Managed::of(snapshot.entries.values());
    let keys = app_names(
        apps.iter()
            .map(|(a, _)| (APPLICATION.id_str(a), APPLICATION.key_str(a))),
        &managed,
    );
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let schema_ref = schema_reference(&args.out)?;

    let mut secrets: Vec<SecretReference> = Vec::new();
    let mut left_out: Vec<LeftOut> = Vec::new();

    // The described kinds: of the applications exported (those with clients).
    let exported_apps: Vec<(String, String)> = apps
        .iter()
        .zip(&keys)
        .filter(|((_, clients), _)| !clients.is_empty())
        .map(|((app, _), named)| (named.name.clone(), APPLICATION.id_str(app).to_owned()))
        .collect();
    let live_kinds = read_kinds(&*target, &exported_apps, &snapshot).await;
    let mut unreturned: Vec<Unreturned> = Vec::new();
    let (documents, names) = export_objects(
        &live_kinds,
        &managed,
        &mut OutOfBand {
            secrets: &mut secrets,
            left_out: &mut left_out,
            unreturned: &mut unreturned,
        },
    );
    let mut unmanaged: Vec<(String, Unmanaged)> = Vec::new();

    let mut written = Vec::new();
    // Each adoption: its address, its application's id, its own id, and its live name when
    // exported under another (several clients of one application named alike).
    let mut adoptions: Vec<(Address, String, Option<String>, Option<String>)> = Vec::new();
    let mut client_total = 0;
    let mut already_managed = 0;
    let mut roles_unknown = 0;
    for ((app, clients), named) in apps.iter().zip(&keys) {
        let key = &named.name;
        let app_id = APPLICATION.id_str(app).to_owned();
        if clients.is_empty() {
            eprintln!("warning: application `{}` ({app_id}) has no clients; a manifest needs at least one, so it is not exported", APPLICATION.key_str(app));
            continue;
        }
        let default_id = str_of(app, DEFAULT_CLIENT_FIELD);
        let mut ordered: Vec<&Map<String, Value>> = clients
            .iter()
            .filter(|c| CLIENT.id_str(c) == default_id)
            .collect();
        ordered.extend(clients.iter().filter(|c| CLIENT.id_str(c) != default_id));
        let client_named = client_names(
            key,
            ordered
                .iter()
                .map(|c| (CLIENT.id_str(c), CLIENT.key_str(c))),
            &managed,
        );
        let mut managed_clients = 0;
        let mut client_docs = Vec::new();
        for (i, (c, cn)) in ordered.iter().zip(&client_named).enumerate() {
            let mut spec = client_spec(
                c,
                key,
                i == 0 && !default_id.is_empty(),
                &mut secrets,
                &mut left_out,
            );
            let live_name = CLIENT.key_str(c);
            if cn.name != live_name {
                if cn.managed && !args.quiet {
                    eprintln!("note: Client/{key}/{} is named `{live_name}` live; exported under the name the state has", cn.name);
                } else if !cn.managed {
                    eprintln!("warning: application `{key}` has several clients named `{live_name}`; one is exported as `{}` (apply would rename it)", cn.name);
                }
                spec.insert(CLIENT.key_field().into(), json!(cn.name));
            }
            let address = Address::client(key, &cn.name);
            let object = Object::client(AuthenticationProtocol::of(c));
            if cn.managed {
                managed_clients += 1;
                // Reference fields upstream never returns (`role_ids`): as last applied.
                if let Some(entry) = snapshot.entry(&address) {
                    spec.extend(write_only_references(object, &entry.last_applied));
                }
            } else {
                if object == Object::OidcClient {
                    roles_unknown += 1;
                }
                adoptions.push((
                    address.clone(),
                    app_id.clone(),
                    Some(CLIENT.id_str(c).to_owned()),
                    (cn.name != live_name).then(|| live_name.to_owned()),
                ));
            }
            for u in write_references(AnyKind::Client, &mut spec, Some(key), &names) {
                unmanaged.push((address.to_string(), u));
            }
            client_docs.push(Value::Object(spec));
        }
        already_managed += managed_clients;
        if named.managed {
            already_managed += 1;
        }
        if named.managed && !args.quiet {
            eprintln!(
                "note: Application/{key} ({app_id}, {managed_clients} of its {} clients) is already in the state: exported under that name; its state entries are left as they are",
                client_docs.len()
            );
        }
        client_total += client_docs.len();
        let mut spec = app_spec(app, key, &mut secrets, &mut left_out);
        for u in write_references(AnyKind::Application, &mut spec, Some(key), &names) {
            unmanaged.push((format!("Application/{key}"), u));
        }
        spec.insert("clients".into(), Value::Array(client_docs));
        let document = json!({
            "apiVersion": "tenantsync/v1",
            "kind": "Application",
            "metadata": {"name": key},
            "spec": spec,
        });
        let header = format!(
            "# yaml-language-server: $schema={schema_ref}\n# Exported by tenantsync from {}; app_id {}.\n",
            escape_controls(&target.describe()),
            escape_controls(&app_id)
        );
        let mut text = render(&document, &header)?;
        // The application's own objects (roles, role groups, login preferences) follow it in its file.
        for d in documents
            .iter()
            .filter(|d| d.app.as_ref().is_some_and(|(k, _)| k == key))
        {
            text.push_str("---\n");
            text.push_str(&render(&d.document(), &d.comment())?);
        }
        let path = args.out.join(format!("{key}.yaml"));
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        written.push(path);
        if !named.managed {
            adoptions.push((Address::app(key), app_id, None, None));
        }
    }
    // The tenant's own objects: one file per kind under shared/.
    let shared_schema = if Path::new(&schema_ref).is_absolute() {
        schema_ref.clone()
    } else {
        format!("../{schema_ref}")
    };
    for kind in ObjKind::ALL
        .into_iter()
        .filter(|k| k.spec().parent.is_none())
    {
        let of_kind: Vec<&KindDocument> = documents.iter().filter(|d| d.kind == kind).collect();
        if of_kind.is_empty() {
            continue;
        }
        let dir = args.out.join("shared");
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut text = format!(
            "# yaml-language-server: $schema={shared_schema}\n# {} exported by tenantsync from {}.\n",
            kind.spec().plural,
            escape_controls(&target.describe())
        );
        for (i, d) in of_kind.iter().enumerate() {
            if i > 0 {
                text.push_str("---\n");
            }
            text.push_str(&render(&d.document(), &d.comment())?);
        }
        let path = dir.join(format!("{}.yaml", slug(kind.spec().plural)));
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        written.push(path);
    }

    for l in &left_out {
        let kept = if l.ignored {
            "listed in its ignore_fields, so plan and apply leave the live value alone"
        } else {
            "not listed in ignore_fields (a manifest could not name it there: too close to a known field's name, or not a plain key); plan and apply never compare it"
        };
        eprintln!(
            "warning: {}: `{}` is left out of the export ({}); {kept}",
            l.object, l.field, l.reason
        );
    }
    for u in &unreturned {
        match &u.left_out {
            None => eprintln!(
                "warning: {}: `{}` is a secret upstream never returns, so it is not in the export; add it as `${{env:…}}` before changing these login preferences (they are replaced whole, and an update that cannot send it back is held with a warning)",
                u.object, u.field
            ),
            Some(holder) => eprintln!(
                "warning: {}: `{holder}` is left out of the export: `{}` is a secret upstream never returns, and a write without it would erase it. It stays live; to manage it, add `{holder}` with the secret read by `${{env:…}}` or `${{file:…}}` (until then an update of these login preferences is held with a warning)",
                u.object, u.field
            ),
        }
    }
    for (holder, u) in unmanaged.iter().filter(|_| !args.quiet) {
        eprintln!(
            "note: {holder}: `{}` names the {} {} that no exported document describes; written as {{id: …}} (tenantsync does not manage it)",
            u.field,
            u.target.spec().noun,
            escape_controls(&u.id)
        );
    }

    let sources = files::read_sources(&written).map_err(|e| anyhow::anyhow!("{e}"))?;
    let desired = match manifest::load(&sources, &PlaceholderEnvironment) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("{e}");
            eprintln!("error: the exported files do not validate (live values break a manifest rule); fix them before committing; nothing was adopted");
            return Ok(ExitCode::from(1));
        }
    };

    let mut objects_adopted = 0;
    if let Some(state) = &store {
        let salt = &snapshot.salt;
        // The live id of an object a reference names: the state's, else the exported
        // document's with that address.
        let id_of = |address: &Address| -> Option<String> {
            if let Some(entry) = snapshot.entry(address) {
                return entry.id.clone();
            }
            let spec = address.kind.spec();
            documents
                .iter()
                .find(|d| {
                    address.kind == d.kind.into()
                        && d.app.as_ref().map(|(k, _)| k.as_str()) == address.app.as_deref()
                        && spec.key_of(&d.spec) == Some(address.key.as_str())
                })
                .and_then(|d| d.id.clone())
        };
        for (address, app_id, client_id, live_name) in &adoptions {
            // (Adoptions name the objects this export wrote: always there.)
            let Some(written) = desired.object(&address.clone()) else {
                continue;
            };
            let mut last_applied = applied(
                Subject::of(written.shape()),
                &written.spec,
                &written.rules,
                None,
                salt,
            );
            // Its references as the ids they name, as an apply records them.
            crate::export::kinds::record_references(&mut last_applied, &written.refs, &id_of);
            // Exported under another name than its live one: the rename the next apply makes
            // is the manifest's (pending), not a change made outside tenantsync (drift).
            if let Some(live_name) = live_name {
                last_applied.insert(CLIENT.key_field().into(), json!(live_name));
            }
            // Only ids the state does not map get here, under names no entry holds.
            state.put_pending(&StateEntry {
                address: address.into(),
                name: String::new(),
                app_id: Some(app_id.clone()),
                id: client_id.clone(),
                ownership: Ownership::Adopted,
                last_applied,
                // An application's, or its client's (which has its application's).
                protect: written.protect,
                applied_at: now_rfc3339(),
            })?;
        }
        for d in documents.iter().filter(|d| !d.named.managed) {
            let app_key = d.app.as_ref().map(|(k, _)| k.as_str());
            let Some(object) = desired.objects.values().find(|o| {
                o.kind() == d.kind.into()
                    && o.name == d.named.name
                    && o.address.app.as_deref() == app_key
            }) else {
                continue;
            };
            if snapshot.entry(&object.address).is_some() {
                continue; // its natural key is the state's under another id: plan decides
            }
            state.put_pending(&adopted_entry(
                object,
                d.id.clone(),
                d.app.as_ref().map(|(_, id)| id.clone()),
                salt,
                now_rfc3339(),
                &id_of,
            ))?;
            objects_adopted += 1;
        }
        state.flush()?;
    }
    let adopted = if args.no_adopt {
        String::new()
    } else {
        format!(
            "; recorded {} as adopted in the state",
            adoptions.len() + objects_adopted
        )
    };
    let kept = if already_managed > 0 {
        format!(" ({already_managed} already managed, left as they are)")
    } else {
        String::new()
    };
    let apps_written = written.len() - documents_files(&documents);
    let what = if documents.is_empty() {
        format!("{apps_written} applications and {client_total} clients")
    } else {
        let mut counts = vec![
            format!("{apps_written} applications"),
            format!("{client_total} clients"),
        ];
        counts.extend(ObjKind::ALL.into_iter().map(|k| {
            let n = documents.iter().filter(|d| d.kind == k).count();
            format!("{n} {}", k.spec().plural)
        }));
        let last = counts.pop().unwrap_or_default();
        format!("{} and {last}", counts.join(", "))
    };
    if args.quiet {
        return Ok(ExitCode::SUCCESS);
    }
    outln!("Exported {what} to {}{adopted}{kept}.", args.out.display(),);
    // Only worth saying where the tenant has roles to assign.
    if roles_unknown > 0 && documents.iter().any(|d| d.kind == ObjKind::Role) {
        eprintln!("note: upstream never returns a client's role_ids: {roles_unknown} clients tenantsync did not manage before are exported without them (lint reports those that authenticate: TS014); add them by Role name where they have roles");
    }
    if !secrets.is_empty() {
        outln!("Secret values were replaced by environment references; set these before planning:");
        for s in &secrets {
            outln!("  {}  ({})", s.variable, s.location);
        }
        outln!("and let manifests read them: --env-allow 'SECRET_*' (or TENANTSYNC_ENV_ALLOW).");
    }
    Ok(ExitCode::SUCCESS)
}

/// How many files hold the tenant's own objects (one per parentless kind exported).
fn documents_files(documents: &[KindDocument]) -> usize {
    ObjKind::ALL
        .into_iter()
        .filter(|k| k.spec().parent.is_none() && documents.iter().any(|d| d.kind == *k))
        .count()
}
