//! Fixtures shared by the unit tests.

use latchkey_types::UnixTime;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde_json::{Value, json};

use crate::{CallbackUrl, ClientSecret, Endpoints, Provider, ProviderConfig};

pub(crate) const ISSUER: &str = "https://login.example.com";
pub(crate) const T0: UnixTime = UnixTime::from_secs(1_700_000_000);

pub(crate) fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

pub(crate) fn provider_with(extra: &str) -> Provider {
    let config: ProviderConfig = toml::from_str(&format!(
        r#"
        id = "corp"
        kind = "oidc"
        display_name = "Corp SSO"
        issuer = "{ISSUER}"
        client_id = "latchkey"
        client_secret = "s3cret"
        scopes = ["openid", "email", "profile"]
        {extra}
        "#
    ))
    .unwrap();
    config.validate().unwrap()
}

pub(crate) fn oidc_provider() -> Provider {
    provider_with("")
}

pub(crate) fn oauth2_provider() -> Provider {
    let config: ProviderConfig = toml::from_str(
        r#"
        id = "github"
        kind = "oauth2"
        display_name = "GitHub"
        client_id = "Iv1.abc"
        client_secret = "gh-secret"
        scopes = ["read:user", "user:email"]
        authorization_endpoint = "https://github.com/login/oauth/authorize"
        token_endpoint = "https://github.com/login/oauth/access_token"
        userinfo_endpoint = "https://api.github.com/user"
        subject_field = "id"
        token_endpoint_auth_method = "client_secret_post"
        "#,
    )
    .unwrap();
    config.validate().unwrap()
}

pub(crate) fn discovery_json() -> Value {
    json!({
        "issuer": ISSUER,
        "authorization_endpoint": "https://login.example.com/authorize",
        "token_endpoint": "https://login.example.com/token",
        "userinfo_endpoint": "https://login.example.com/userinfo",
        "jwks_uri": "https://login.example.com/jwks",
        "response_types_supported": ["code", "id_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256", "PS256", "ES256", "EdDSA", "HS256"],
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": true,
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"]
    })
}

pub(crate) fn oidc_endpoints() -> Endpoints {
    Endpoints::from_discovery(&oidc_provider(), discovery_json().to_string().as_bytes()).unwrap()
}

pub(crate) fn callback_url() -> CallbackUrl {
    CallbackUrl::new("https://auth.example.com", oidc_provider().id()).unwrap()
}

pub(crate) fn secret() -> ClientSecret {
    ClientSecret::new("s3cret".to_owned())
}
