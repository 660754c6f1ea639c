//! Semantic rules the API documents in prose, beyond what a schema says:
//! redirect URI schemes and the UserInfo-claims exclusivity. Used by the server and by
//! `validate`, so a manifest is refused for the same reasons the API would refuse it.

use super::enums::{Claim, ClientType};

/// Checks one redirect URI for a client of `client_type`; `Err` says what is wrong and what is
/// allowed.
///
/// Web clients must use `https`, except `http` to a loopback host (localhost, 127.0.0.0/8, ::1,
/// `*.localhost`). Native clients may also use a custom scheme in reverse-domain form
/// (`com.example.app://callback`). Fragments are never allowed (RFC 6749 §3.1.2).
pub fn check_redirect_uri(uri: &str, client_type: ClientType) -> Result<(), String> {
    let parsed =
        url::Url::parse(uri).map_err(|e| format!("`{uri}` is not an absolute URI ({e})"))?;
    if parsed.fragment().is_some() {
        return Err(format!("`{uri}` must not contain a fragment (`#…`)"));
    }
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(&parsed) => Ok(()),
        "http" => Err(format!(
            "`{uri}` must use https; plain http is allowed only for localhost and loopback addresses"
        )),
        scheme if client_type == ClientType::Native && is_reverse_domain(scheme) => Ok(()),
        _ if client_type == ClientType::Native => Err(format!(
            "`{uri}` must use https, http to a loopback address, or a reverse-domain custom scheme such as `com.example.app://callback`"
        )),
        _ => Err(format!(
            "`{uri}` must use https (custom schemes are allowed only for native clients; set `client_type: native`)"
        )),
    }
}

fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost" || d.ends_with(".localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

fn is_reverse_domain(scheme: &str) -> bool {
    let labels: Vec<&str> = scheme.split('.').collect();
    labels.len() >= 2 && labels.iter().all(|l| !l.is_empty())
}

/// `default_user_info_claims` and `sync_id_token_claims_to_userinfo: true` exclude each other.
pub fn check_userinfo_claims(
    default_user_info_claims: Option<&[Claim]>,
    sync_id_token_claims_to_userinfo: Option<bool>,
) -> Result<(), String> {
    match (default_user_info_claims, sync_id_token_claims_to_userinfo) {
        (Some(claims), Some(true)) if !claims.is_empty() => Err(
            "`default_user_info_claims` cannot be set together with `sync_id_token_claims_to_userinfo: true`; choose one"
                .to_owned(),
        ),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uri_rules() {
        let web = ClientType::Web;
        let native = ClientType::Native;
        assert!(check_redirect_uri("https://app.example.com/cb", web).is_ok());
        assert!(check_redirect_uri("http://localhost:3000/cb", web).is_ok());
        assert!(check_redirect_uri("http://127.0.0.1/cb", web).is_ok());
        assert!(check_redirect_uri("http://[::1]:8080/cb", web).is_ok());
        assert!(check_redirect_uri("http://app.example.com/cb", web).is_err());
        assert!(check_redirect_uri("com.example.app://cb", web).is_err());
        assert!(check_redirect_uri("com.example.app://cb", native).is_ok());
        assert!(check_redirect_uri("myapp://cb", native).is_err());
        assert!(check_redirect_uri("https://a.example.com/cb#x", web).is_err());
        assert!(check_redirect_uri("/relative", web).is_err());
    }

    #[test]
    fn userinfo_exclusivity() {
        assert!(check_userinfo_claims(Some(&[Claim::Email]), Some(true)).is_err());
        assert!(check_userinfo_claims(Some(&[Claim::Email]), Some(false)).is_ok());
        assert!(check_userinfo_claims(None, Some(true)).is_ok());
    }
}
