//! What `doctor` concludes about the described kinds: the permissions each one's operations
//! need (as upstream documents them) and whether a kind's collection reads as documented.

use serde_json::Value;

use super::Check;
use crate::model::catalogue::Presence;
use crate::model::kinds::{AnyKind, ObjKind};

/// The operations of `kind` none of whose documented permissions (its description's
/// [`Permissions`](crate::model::kinds::Permissions)) `granted` holds, each with the permission
/// to grant for it: the first of the family the kind's read permission belongs to (`roles:…`
/// for roles, `apps:…` for service providers), else the first documented.
pub fn missing_permissions(kind: AnyKind, granted: &[&str]) -> Vec<(&'static str, &'static str)> {
    missing_with_alternatives(kind, granted)
        .into_iter()
        .map(|(op, grant, _)| (op, grant))
        .collect()
}

/// [`missing_permissions`], each with every permission upstream documents for the operation
/// (any one of which suffices).
fn missing_with_alternatives(
    kind: AnyKind,
    granted: &[&str],
) -> Vec<(&'static str, &'static str, &'static [&'static str])> {
    let spec = kind.spec();
    let family = spec.read_permission.split_once(':').map_or("", |(f, _)| f);
    let p = &spec.permissions;
    [
        ("read", p.read),
        ("create", p.create),
        ("edit", p.edit),
        ("delete", p.delete),
    ]
    .into_iter()
    .filter(|(_, any)| !any.is_empty() && !any.iter().any(|p| granted.contains(p)))
    .map(|(op, any)| {
        let own = any
            .iter()
            .find(|p| p.split_once(':').is_some_and(|(f, _)| f == family));
        (op, *own.unwrap_or(&any[0]), any)
    })
    .collect()
}

/// What the token's permissions allow of the kinds beyond applications and clients, by
/// upstream's documents: one check, a warning naming what to grant (only needed where the
/// manifests manage that kind).
pub fn kind_permissions(granted: &[&str]) -> Check {
    const NAME: &str = "kind permissions";
    let gaps: Vec<String> = ObjKind::ALL
        .into_iter()
        .map(AnyKind::Described)
        .filter_map(|kind| {
            let missing = missing_with_alternatives(kind, granted);
            (!missing.is_empty()).then(|| {
                let ops: Vec<String> = missing
                    .iter()
                    .map(|(op, grant, any)| {
                        let others: Vec<String> = any
                            .iter()
                            .filter(|p| *p != grant)
                            .map(|p| format!("`{p}`"))
                            .collect();
                        match others.is_empty() {
                            true => format!("{op} (`{grant}`)"),
                            false => format!("{op} (`{grant}`, or {})", others.join(", ")),
                        }
                    })
                    .collect();
                format!("{kind} {}", ops.join(", "))
            })
        })
        .collect();
    if gaps.is_empty() {
        let kinds: Vec<&str> = ObjKind::ALL.iter().map(|k| k.name()).collect();
        Check::ok(NAME, format!("{}: read and write", kinds.join(", ")))
    } else {
        Check::warn(
            NAME,
            format!(
                "the token's permissions include none of those upstream documents for {}",
                gaps.join("; ")
            ),
            "grant them to the management client if the manifests manage those kinds (plan needs read, apply the rest); a read below that succeeds means the target grants it otherwise",
        )
    }
}

/// A read of a kind's collection as a check: the permission a refusal points at, a target that
/// does not serve the kind, or the answer's shape against upstream's response schema (the
/// fields it always returns). A kind the manifests do not use needs none of this, so a refusal
/// is a warning.
pub fn kind_read(kind: ObjKind, what: &str, status: u16, message: &str, body: &Value) -> Check {
    let spec = kind.spec();
    let name = format!("read {}", spec.noun);
    let grant = spec.permissions.read;
    match status {
        200..=299 => {}
        401 | 403 => {
            return Check::warn(
                &name,
                format!(
                    "{what}: {status}: the credential lacks `{}` ({message})",
                    spec.read_permission
                ),
                format!(
                    "grant the management client one of {} if the manifests manage {}",
                    grant
                        .iter()
                        .map(|p| format!("`{p}`"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    spec.plural
                ),
            )
        }
        404 => {
            return Check::warn(
                &name,
                format!(
                    "{what}: 404: the target does not serve {} ({message})",
                    spec.plural
                ),
                format!("{} documents cannot be applied to this target", kind),
            )
        }
        _ => {
            return Check::warn(
                &name,
                format!("{what}: HTTP {status}: {message}"),
                "run doctor again; if it persists the target does not answer as upstream documents",
            )
        }
    }
    let Some(result) = body.get("result") else {
        return Check::warn(
            &name,
            format!("{what}: no `{{\"result\": …}}` envelope"),
            "the target does not answer as upstream documents; check --target",
        );
    };
    let items: Vec<&Value> = match (spec.api.singleton_field, result) {
        (Some(field), Value::Object(m)) => {
            m.get(field).filter(|v| !v.is_null()).into_iter().collect()
        }
        (None, Value::Array(items)) => items.iter().collect(),
        _ => {
            return Check::warn(
                &name,
                format!("{what}: the result is not what upstream documents"),
                "the target does not answer as upstream documents; check --target",
            )
        }
    };
    let mut problems: Vec<String> = items
        .iter()
        .flat_map(|item| {
            spec.fields
                .iter()
                .filter(|f| f.presence == Presence::Required && item.get(f.name).is_none())
                .map(|f| format!("`{}` missing", f.name))
                .collect::<Vec<_>>()
        })
        .collect();
    problems.sort();
    problems.dedup();
    if problems.is_empty() {
        Check::ok(
            &name,
            format!(
                "{what}: {} item(s), as upstream's response schema promises",
                items.len()
            ),
        )
    } else {
        Check::warn(
            &name,
            format!("{what}: differs from upstream's response schema: {}", problems.join("; ")),
            "tenantsync relies only on documented fields, but report this: the target is not the documented API",
        )
    }
}
