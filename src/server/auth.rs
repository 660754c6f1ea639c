//! Access tokens and credentials: HS256-signed JWTs issued by `/oidc/token` for client
//! credentials (management credentials or an app's own client), and their verification on every
//! API call.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::tenant::{Caller, Permissions, Reach};

/// Token lifetime in seconds (upstream: one hour, not refreshable): management tokens, and an
/// app client's when its `token_expiration.access_token_ttl` is unset or 0.
pub const TOKEN_TTL_SECS: u64 = 3600;

/// How long an app client's access tokens last: its `token_expiration.access_token_ttl`
/// (seconds), or [`TOKEN_TTL_SECS`] when unset or 0.
pub fn client_token_lifetime(client: &crate::model::Client) -> u64 {
    match client {
        crate::model::Client::Oidc(c) => c
            .settings
            .token_expiration
            .as_ref()
            .and_then(|t| t.access_token_ttl)
            .filter(|ttl| *ttl > 0)
            .unwrap_or(TOKEN_TTL_SECS),
        crate::model::Client::Saml(_) => TOKEN_TTL_SECS,
    }
}

type HmacSha256 = Hmac<Sha256>;

/// Claims of an access token (as upstream's client-credentials tokens carry them).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    /// The client id.
    pub sub: String,
    /// Issuer.
    pub iss: String,
    /// Audience: the requested resource or `userid-api`.
    pub aud: String,
    /// Issued at (Unix seconds).
    pub iat: u64,
    /// Expires at (Unix seconds).
    pub exp: u64,
    /// Token id.
    pub jti: String,
    /// Granted permissions, space separated.
    pub scope: String,
    /// `["Admin"]` for management tokens.
    pub roles: Vec<String>,
    /// The client id.
    pub client_id: String,
    /// The app of an app client's token.
    pub app_id: Option<String>,
    /// The app's name, for an app client's token.
    pub app_name: Option<String>,
    /// Tenant id.
    pub tid: String,
    /// Roles (empty: none assigned).
    pub ts_roles: Vec<String>,
    /// Granted permissions.
    pub ts_permissions: Vec<String>,
    /// For a management token: the generation of its credential's secret (a keyed hash), so a
    /// rotated secret revokes the tokens issued before.
    #[serde(rename = "ts_cred_gen")]
    pub cred_gen: Option<String>,
}

impl Claims {
    /// The caller these claims describe.
    pub fn caller(&self) -> Caller {
        Caller {
            client_id: self.client_id.clone(),
            reach: match &self.app_id {
                Some(app) => Reach::App(app.clone()),
                None => Reach::Tenant,
            },
            // A name this build does not know grants nothing.
            permissions: Permissions::from_names(
                self.ts_permissions
                    .iter()
                    .map(String::as_str)
                    .filter(|p| Permissions::known().contains(p)),
            )
            .unwrap_or_default(),
        }
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Signs and verifies tokens with the tenant's key. Verified tokens are remembered until they
/// expire (bounded), so a client reusing its token pays for the HMAC once.
pub struct TokenSigner {
    key: Vec<u8>,
    issuer: String,
    tenant_id: String,
    verified: std::sync::RwLock<std::collections::HashMap<String, Claims>>,
}

/// How many verified tokens are remembered at most.
const VERIFIED_CACHE_LIMIT: usize = 4096;

/// Why a token was not accepted.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not three base64url parts, or the payload does not decode.
    #[error("the bearer token is malformed")]
    Malformed,
    /// The signature does not match.
    #[error("the bearer token's signature is invalid")]
    BadSignature,
    /// Past `exp`.
    #[error("the bearer token has expired; fetch a new one from /oidc/token")]
    Expired,
    /// Issued for another tenant.
    #[error("the bearer token was issued for another tenant")]
    WrongTenant,
}

impl TokenSigner {
    /// A signer for `tenant_id` with `key`.
    pub fn new(key: &[u8], issuer: &str, tenant_id: &str) -> Self {
        Self {
            key: key.to_vec(),
            issuer: issuer.to_owned(),
            tenant_id: tenant_id.to_owned(),
            verified: std::sync::RwLock::new(std::collections::HashMap::new()),
        }
    }

    fn mac(&self) -> HmacSha256 {
        HmacSha256::new_from_slice(&self.key).expect("HMAC takes keys of any length")
    }

    /// The generation of `credential`'s secret: an HMAC of its client id and secret hash under
    /// the tenant's key (the token carries it; only the server can compute it, so it reveals
    /// nothing about the secret).
    pub fn credential_generation(&self, credential: &ManagementCredential) -> String {
        let mut mac = self.mac();
        mac.update(b"tenantsync credential generation\0");
        mac.update(credential.client_id.as_bytes());
        mac.update(b"\0");
        mac.update(&credential.secret_sha256);
        URL_SAFE_NO_PAD.encode(&mac.finalize().into_bytes()[..16])
    }

    /// Whether a token carrying `generation` was issued for `credential`'s current secret.
    pub fn same_generation(
        &self,
        credential: &ManagementCredential,
        generation: Option<&str>,
    ) -> bool {
        generation.is_some_and(|g| {
            bool::from(
                g.as_bytes()
                    .ct_eq(self.credential_generation(credential).as_bytes()),
            )
        })
    }

    /// Issues a token for a caller, valid `lifetime` seconds (`generation`: its management
    /// credential's, see [`Self::credential_generation`]).
    pub fn issue(
        &self,
        caller: &Caller,
        app_name: Option<&str>,
        resource: Option<&str>,
        admin: bool,
        generation: Option<String>,
        lifetime: u64,
    ) -> (String, Claims) {
        let now = unix_now();
        let mut jti = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut jti);
        let permissions: Vec<String> = caller.permissions.names().map(str::to_owned).collect();
        let claims = Claims {
            sub: caller.client_id.clone(),
            iss: self.issuer.clone(),
            aud: resource.unwrap_or("userid-api").to_owned(),
            iat: now,
            exp: now + lifetime,
            jti: URL_SAFE_NO_PAD.encode(jti),
            scope: permissions.join(" "),
            roles: if admin {
                vec!["Admin".to_owned()]
            } else {
                Vec::new()
            },
            client_id: caller.client_id.clone(),
            app_id: caller.own_app().map(str::to_owned),
            app_name: app_name.map(str::to_owned),
            tid: self.tenant_id.clone(),
            ts_roles: Vec::new(),
            ts_permissions: permissions,
            cred_gen: generation,
        };
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let payload =
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).expect("claims serialize"));
        let signing_input = format!("{header}.{payload}");
        let mut mac = self.mac();
        mac.update(signing_input.as_bytes());
        let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        (format!("{signing_input}.{signature}"), claims)
    }

    /// Verifies a token and returns its claims.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let cached = self
            .verified
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(token)
            .cloned();
        if let Some(claims) = cached {
            if claims.exp > unix_now() {
                return Ok(claims);
            }
        }
        let claims = self.verify_uncached(token)?;
        let mut verified = self
            .verified
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if verified.len() >= VERIFIED_CACHE_LIMIT {
            let now = unix_now();
            verified.retain(|_, c| c.exp > now);
            if verified.len() >= VERIFIED_CACHE_LIMIT {
                verified.clear();
            }
        }
        verified.insert(token.to_owned(), claims.clone());
        Ok(claims)
    }

    fn verify_uncached(&self, token: &str) -> Result<Claims, TokenError> {
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| TokenError::Malformed)?;
        let mut mac = self.mac();
        mac.update(header.as_bytes());
        mac.update(b".");
        mac.update(payload.as_bytes());
        mac.verify_slice(&signature)
            .map_err(|_| TokenError::BadSignature)?;
        let payload = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| TokenError::Malformed)?;
        let claims: Claims = serde_json::from_slice(&payload).map_err(|_| TokenError::Malformed)?;
        if claims.exp <= unix_now() {
            return Err(TokenError::Expired);
        }
        if claims.tid != self.tenant_id {
            return Err(TokenError::WrongTenant);
        }
        Ok(claims)
    }
}

/// A management credential (the bootstrap admin or a configured extra one).
#[derive(Clone)]
pub struct ManagementCredential {
    /// Its client id.
    pub client_id: String,
    secret_sha256: [u8; 32],
    /// What its tokens may do.
    pub permissions: Permissions,
}

impl std::fmt::Debug for ManagementCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManagementCredential")
            .field("client_id", &self.client_id)
            .field("secret", &"(sensitive)")
            .field("permissions", &self.permissions)
            .finish()
    }
}

impl ManagementCredential {
    /// A credential; only a hash of the secret is kept.
    pub fn new(client_id: &str, secret: &str, permissions: Permissions) -> Self {
        Self {
            client_id: client_id.to_owned(),
            secret_sha256: Sha256::digest(secret.as_bytes()).into(),
            permissions,
        }
    }

    /// Whether these are its credentials (constant time in the secret).
    pub fn matches(&self, client_id: &str, secret: &str) -> bool {
        let candidate: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
        client_id == self.client_id && bool::from(candidate.ct_eq(&self.secret_sha256))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_then_verify_round_trips_and_rejects_tampering() {
        let signer = TokenSigner::new(b"k1", "iss", "t1");
        let caller = Caller::admin("admin");
        let cred = ManagementCredential::new("admin", "s1", Permissions::all());
        let generation = signer.credential_generation(&cred);
        let (token, claims) = signer.issue(
            &caller,
            None,
            None,
            true,
            Some(generation.clone()),
            TOKEN_TTL_SECS,
        );
        let verified = signer.verify(&token).unwrap();
        assert_eq!(verified, claims);
        assert_eq!(verified.caller(), caller);
        assert_eq!(verified.roles, vec!["Admin"]);
        let other = TokenSigner::new(b"k2", "iss", "t1");
        assert_eq!(other.verify(&token), Err(TokenError::BadSignature));
        let other_tenant = TokenSigner::new(b"k1", "iss", "t2");
        assert_eq!(other_tenant.verify(&token), Err(TokenError::WrongTenant));
        assert_eq!(signer.verify("a.b"), Err(TokenError::Malformed));
        // The generation follows the secret, and is not the secret's plain hash.
        assert!(signer.same_generation(&cred, verified.cred_gen.as_deref()));
        let rotated = ManagementCredential::new("admin", "s2", Permissions::all());
        assert!(!signer.same_generation(&rotated, verified.cred_gen.as_deref()));
        assert!(!signer.same_generation(&cred, None));
        assert_ne!(
            other.credential_generation(&cred),
            generation,
            "keyed by the tenant's key"
        );
    }

    #[test]
    fn credentials_match_only_their_secret_and_hide_it_in_debug() {
        let cred = ManagementCredential::new("id", "s3cret-canary", Permissions::all());
        assert!(cred.matches("id", "s3cret-canary"));
        assert!(!cred.matches("id", "wrong"));
        assert!(!cred.matches("other", "s3cret-canary"));
        assert!(!format!("{cred:?}").contains("s3cret-canary"));
    }
}
