//! The token endpoint as a standard OAuth 2.0 client library sees it (the `oauth2` crate):
//! client_secret_basic and client_secret_post both get a token, and a wrong secret is a typed
//! `invalid_client` error, while the body keeps upstream's `message` and `error_code`.

use oauth2::basic::{BasicClient, BasicErrorResponseType};
use oauth2::{AuthType, ClientId, ClientSecret, RequestTokenError, TokenResponse, TokenUrl};

use crate::harness::Server;

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test]
async fn an_oauth2_library_gets_tokens_and_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"));
    let (id, secret) = server.admin_credentials();
    let token_url = TokenUrl::new(format!("{}/oidc/token", server.origin)).unwrap();
    for auth in [AuthType::BasicAuth, AuthType::RequestBody] {
        let client = BasicClient::new(ClientId::new(id.clone()))
            .set_client_secret(ClientSecret::new(secret.clone()))
            .set_token_uri(token_url.clone())
            .set_auth_type(auth.clone());
        let token = client
            .exchange_client_credentials()
            .request_async(&http())
            .await
            .unwrap_or_else(|e| panic!("{auth:?}: {e:?}"));
        // The token works against the API.
        let api = server.api(token.access_token().secret());
        assert_eq!(api.get("/v1/applications").await.status, 200, "{auth:?}");

        let wrong = BasicClient::new(ClientId::new(id.clone()))
            .set_client_secret(ClientSecret::new("wrong-secret".to_owned()))
            .set_token_uri(token_url.clone())
            .set_auth_type(auth.clone());
        match wrong
            .exchange_client_credentials()
            .request_async(&http())
            .await
        {
            Err(RequestTokenError::ServerResponse(e)) => {
                assert_eq!(
                    *e.error(),
                    BasicErrorResponseType::InvalidClient,
                    "{auth:?}"
                );
                assert_eq!(
                    e.error_description().map(String::as_str),
                    Some("invalid client credentials")
                );
            }
            other => panic!("{auth:?}: expected invalid_client, got {other:?}"),
        }
    }
    // Upstream's own fields stay; HTTP Basic gets its challenge.
    let r = http()
        .post(format!("{}/oidc/token", server.origin))
        .basic_auth(&id, Some("wrong-secret"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r
        .headers()
        .get("www-authenticate")
        .is_some_and(|v| v.to_str().unwrap().starts_with("Basic")));
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["message"], "invalid client credentials");
    assert_eq!(body["error_code"], 400);
    assert_eq!(body["error"], "invalid_client");
    let r = http()
        .post(format!("{}/oidc/token", server.origin))
        .form(&[("grant_type", "password"), ("client_id", id.as_str())])
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"], "unsupported_grant_type", "{body}");
}
