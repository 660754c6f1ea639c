//! What a message may show of a PostgreSQL URL (never a password), and where a password comes
//! from when the URL has none (`PGPASSWORD`, the password file), as libpq reads them.

/// Query parameters a message may show (everything else, `password` and `sslpassword` among
/// them, is left out).
const SHOWN_PARAMETERS: &[&str] = &[
    "user",
    "dbname",
    "host",
    "hostaddr",
    "port",
    "sslmode",
    "application_name",
    "connect_timeout",
    "target_session_attrs",
    "load_balance_hosts",
];

/// `url` as messages show it: scheme, user, hosts and ports, database and the parameters that
/// hold no secret; never a password, wherever the URL carries one.
pub fn redacted(url: &str) -> String {
    let unreadable = || "(an unreadable PostgreSQL URL)".to_owned();
    let Some((scheme, rest)) = url.split_once("://") else {
        // The `key=value …` form.
        let shown: Vec<String> = key_values(url)
            .into_iter()
            .filter(|(k, _)| SHOWN_PARAMETERS.contains(&k.as_str()))
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        return if shown.is_empty() {
            unreadable()
        } else {
            shown.join(" ")
        };
    };
    if !matches!(scheme, "postgres" | "postgresql") {
        return unreadable();
    }
    // Each part is shown only when it looks like what it should be: a malformed URL (say, a
    // password with a raw `/`, `?` or `@`) must not spill a piece of it into another part.
    let plain = |text: &str, extra: &str| {
        !text.is_empty()
            && text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || extra.contains(c))
    };
    let host = |item: &str| {
        let (name, port) = match item.strip_prefix('[') {
            Some(v6) => match v6.split_once(']') {
                Some((address, rest)) if plain(address, ":.%") => {
                    ("", rest.strip_prefix(':').unwrap_or(rest))
                }
                _ => return false,
            },
            None => item.rsplit_once(':').unwrap_or((item, "")),
        };
        (name.is_empty() || plain(name, ".-_%")) && port.chars().all(|c| c.is_ascii_digit())
    };
    let (address, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (authority, database) = address.split_once('/').unwrap_or((address, ""));
    let (user, hosts) = match authority.rsplit_once('@') {
        Some((userinfo, hosts)) => (userinfo.split(':').next(), hosts),
        None => (None, authority),
    };
    let parameters: Vec<&str> = query
        .split('&')
        .filter(|p| match p.split_once('=') {
            Some((key, value)) => SHOWN_PARAMETERS.contains(&key) && plain(value, "._-%,"),
            None => false,
        })
        .collect();
    let mut shown = format!("{scheme}://");
    if let Some(user) = user.filter(|u| plain(u, "._-%+")) {
        shown.push_str(user);
        shown.push('@');
    }
    if hosts.split(',').all(host) {
        shown.push_str(hosts);
    } else {
        shown.push('…');
    }
    shown.push('/');
    if database.is_empty() || plain(database, "._-%$") {
        shown.push_str(database);
    } else {
        shown.push('…');
    }
    if !parameters.is_empty() {
        shown.push('?');
        shown.push_str(&parameters.join("&"));
    }
    shown
}

/// The pairs of a `key=value …` connection string (values may be single-quoted, with `\'` and
/// `\\` escapes).
fn key_values(text: &str) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let key: String =
            std::iter::from_fn(|| chars.next_if(|c| *c != '=' && !c.is_whitespace())).collect();
        if key.is_empty() {
            return pairs;
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next_if_eq(&'=').is_none() {
            return pairs;
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '\'' => break,
                    c => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                if c == '\\' {
                    value.extend(chars.next());
                } else {
                    value.push(c);
                }
            }
        }
        pairs.push((key, value));
    }
}

/// The password of a `~/.pgpass`-format file's first line matching the connection (`*` matches
/// anything; `\:` and `\\` are escapes), as libpq reads it.
fn password_file_entry(
    text: &str,
    host: &str,
    port: u16,
    database: &str,
    user: &str,
) -> Option<String> {
    let port = port.to_string();
    text.lines().find_map(|line| {
        if line.starts_with('#') {
            return None;
        }
        let mut fields = Vec::new();
        let mut field = String::new();
        let mut chars = line.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => field.extend(chars.next()),
                ':' if fields.len() < 4 => fields.push(std::mem::take(&mut field)),
                c => field.push(c),
            }
        }
        fields.push(field);
        let [h, p, d, u, password] = <[String; 5]>::try_from(fields).ok()?;
        let matches = |pattern: &str, value: &str| pattern == "*" || pattern == value;
        (matches(&h, host) && matches(&p, &port) && matches(&d, database) && matches(&u, user))
            .then_some(password)
    })
}

/// Gives `config` a password from the environment when its URL has none: `PGPASSWORD`, else
/// the password file (`PGPASSFILE`, default `~/.pgpass`; ignored, as by libpq, when others may
/// read it).
pub(super) fn password_from_environment(config: &mut tokio_postgres::Config) {
    if config.get_password().is_some() {
        return;
    }
    if let Some(password) = std::env::var_os("PGPASSWORD").filter(|p| !p.is_empty()) {
        config.password(password.as_encoded_bytes());
        return;
    }
    let Some(file) = std::env::var_os("PGPASSFILE")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".pgpass")))
    else {
        return;
    };
    let Ok(metadata) = std::fs::metadata(&file) else {
        return;
    };
    if std::os::unix::fs::PermissionsExt::mode(&metadata.permissions()) & 0o077 != 0 {
        tracing::warn!(
            file = %file.display(),
            "the PostgreSQL password file is readable by others; ignored (chmod 0600 it)"
        );
        return;
    }
    let Ok(text) = std::fs::read_to_string(&file) else {
        return;
    };
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
        _ => "localhost".to_owned(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let Some(user) = config
        .get_user()
        .map(str::to_owned)
        .or_else(|| std::env::var("USER").ok())
    else {
        return;
    };
    let database = config.get_dbname().unwrap_or(&user).to_owned();
    if let Some(password) = password_file_entry(&text, &host, port, &database, &user) {
        config.password(password);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::postgres::{Access, PostgresBackend};

    #[test]
    fn messages_name_the_database_but_never_the_password() {
        let shown = redacted("postgres://ts:hunter2@db.internal:5432/state?sslmode=require");
        assert_eq!(
            shown,
            "postgres://ts@db.internal:5432/state?sslmode=require"
        );
        let shown = redacted(
            "postgresql://ts@db1:5432,db2:5433/state?sslmode=disable&password=hunter2&sslpassword=hunter3&application_name=x",
        );
        assert_eq!(
            shown,
            "postgresql://ts@db1:5432,db2:5433/state?sslmode=disable&application_name=x"
        );
        let shown = redacted("host=db.internal user=ts password='hunter2 host=evil' dbname=state");
        assert_eq!(shown, "host=db.internal user=ts dbname=state");
        assert!(!redacted("not a url hunter2").contains("hunter2"));
        // Malformed: raw separators in a password spill nothing into the other parts.
        for url in [
            "postgres://ts:hun/ter2@db/state",
            "postgres://ts:hun?ter2@db/state",
            "postgres://ts:hun@ter2@db/state",
            "postgres://db/state?password=hun@ter2",
            "postgres://ts@db/state?password=x&sslmode=hun@ter2",
        ] {
            let shown = redacted(url);
            assert!(
                !shown.contains("hun") && !shown.contains("ter2"),
                "{url}: {shown}"
            );
        }
        assert_eq!(
            redacted("postgres://ts@[::1]:5432,db.internal/state"),
            "postgres://ts@[::1]:5432,db.internal/state"
        );
        assert!(!redacted("mysql://ts:hunter2@db/x").contains("hunter2"));
        for url in [
            "postgres://ts:hunter2@",
            "postgres://ts@db/x?password=hunter2&sslpassword=hunter2",
            "postgres://ts@db/x?password=hunter2&bogus=1",
        ] {
            let refused = PostgresBackend::open(url, "default", Access::Read)
                .err()
                .expect("an unusable URL is refused");
            assert!(!refused.to_string().contains("hunter2"), "{refused}");
        }
    }

    #[test]
    fn the_password_file_is_read_as_libpq_reads_it() {
        let file = "# comment\n\
                    other:5432:*:ts:no\n\
                    db\\:x:*:state:ts:escaped\n\
                    db:*:state:ts:pa\\:ss\n\
                    *:*:*:*:fallback\n";
        assert_eq!(
            password_file_entry(file, "db", 5432, "state", "ts").as_deref(),
            Some("pa:ss")
        );
        assert_eq!(
            password_file_entry(file, "db:x", 1, "state", "ts").as_deref(),
            Some("escaped")
        );
        assert_eq!(
            password_file_entry(file, "elsewhere", 5432, "state", "ts").as_deref(),
            Some("fallback")
        );
        assert_eq!(
            password_file_entry("db:5432:state:ts", "db", 5432, "state", "ts"),
            None
        );
    }

    #[test]
    fn connection_strings_split_into_pairs() {
        assert_eq!(
            key_values("host=a  port = 5 password='x \\' y' user=u\\ v"),
            vec![
                ("host".to_owned(), "a".to_owned()),
                ("port".to_owned(), "5".to_owned()),
                ("password".to_owned(), "x ' y".to_owned()),
                ("user".to_owned(), "u v".to_owned()),
            ]
        );
    }
}
