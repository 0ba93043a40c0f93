//! Finding a client: registered in the store, or described by a client ID
//! metadata document fetched through a [`MetadataFetcher`].

use core::fmt;
use std::future::Future;

use latchkey_registration::{
    ClientIdMetadataUrl, ClientMetadata, MetadataUri, is_client_id_metadata_url,
    validate_client_id_metadata_document,
};
use latchkey_store::{ClientRecord, Store, StoreError};
use latchkey_types::{ClientId, TokenDigest, UnixTime};

use crate::engine::Engine;
use crate::error::EngineError;
use crate::events::{SecurityEvent, emit};

/// Fetches client ID metadata documents. The HTTP implementation lives in the
/// server (SSRF rules, 5 KB bound, no redirects, timeouts, cache); the engine
/// only validates what it returns.
pub trait MetadataFetcher: Send + Sync {
    /// The document body at `url`.
    fn fetch(
        &self,
        url: &ClientIdMetadataUrl,
    ) -> impl Future<Output = Result<Vec<u8>, FetchError>> + Send;

    /// The JWK Set at a `private_key_jwt` client's registered `jwks_uri`
    /// (RFC 7591 section 2, RFC 7523 section 3), under the same rules as
    /// documents but up to `latchkey_jose::Jwks::MAX_LEN` bytes. A fetcher
    /// that does not implement it fetches nothing: [`FetchError::Disabled`],
    /// so such a client cannot authenticate.
    fn fetch_jwks(
        &self,
        url: &MetadataUri,
    ) -> impl Future<Output = Result<Vec<u8>, FetchError>> + Send {
        let _ = url;
        async { Err(FetchError::Disabled) }
    }
}

/// A fetcher that fetches nothing: every call is [`FetchError::Disabled`].
#[derive(Clone, Copy, Debug, Default)]
pub struct NoMetadataFetcher;

impl MetadataFetcher for NoMetadataFetcher {
    async fn fetch(&self, _url: &ClientIdMetadataUrl) -> Result<Vec<u8>, FetchError> {
        Err(FetchError::Disabled)
    }
}

/// Why a metadata document could not be fetched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FetchError {
    /// Fetching is turned off.
    Disabled,
    /// The fetcher refused the URL (for example a private address).
    Refused(&'static str),
    /// The document exceeded the size bound.
    TooLarge,
    /// The fetch took too long.
    Timeout,
    /// The server answered with this non-200 status.
    Status(u16),
    /// A network failure.
    Network,
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Disabled => f.write_str("fetching is disabled"),
            Self::Refused(why) => write!(f, "fetch refused: {why}"),
            Self::TooLarge => f.write_str("document too large"),
            Self::Timeout => f.write_str("fetch timed out"),
            Self::Status(status) => write!(f, "status {status}"),
            Self::Network => f.write_str("network failure"),
        }
    }
}

/// A client the engine found, with its metadata parsed.
#[derive(Clone, Debug)]
pub struct ResolvedClient {
    /// The client identifier.
    pub client_id: ClientId,
    /// The metadata, defaults applied.
    pub metadata: ClientMetadata,
    /// SHA-256 of the client secret, for secret-based clients.
    pub secret_digest: Option<TokenDigest>,
    /// When the secret expires; `None` is never.
    pub secret_expires_at: Option<UnixTime>,
    /// Where the client came from.
    pub source: ClientSource,
    /// When a registered client first obtained a token; `None` if never, and
    /// always for a client ID metadata document (nothing is stored for it).
    pub first_used_at: Option<UnixTime>,
    /// Whether an administrator let this registered client introspect
    /// ([`ClientRecord::may_introspect`]); always `false` for a client ID
    /// metadata document, whatever it says.
    pub may_introspect: bool,
}

/// Where a [`ResolvedClient`] came from, and so who could have created it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientSource {
    /// Added to the store by an administrator (`latchkey clients add`, or a
    /// [`ClientRecord`] stored directly): no registration access token.
    Registered,
    /// Registered by anyone through dynamic client registration (RFC 7591),
    /// recognised by the RFC 7592 registration access token (or the
    /// idempotent-registration fingerprint) that such a registration always
    /// stores.
    DynamicallyRegistered,
    /// A client ID metadata document.
    MetadataDocument {
        /// Every redirect URI is loopback (MCP A8: the consent page warns).
        redirect_uris_all_loopback: bool,
    },
}

impl ResolvedClient {
    /// Whether the client is confidential (it authenticates with something
    /// other than `none`, OAuth 2.1 section 2.1).
    pub fn is_confidential(&self) -> bool {
        !self.metadata.is_public()
    }

    /// A registered client from its store record; corrupt metadata is a store error.
    pub fn from_record(record: ClientRecord) -> Result<Self, EngineError> {
        let metadata: ClientMetadata =
            serde_json::from_value(serde_json::Value::Object(record.metadata)).map_err(|_| {
                EngineError::Store(StoreError::Corrupt {
                    what: "client metadata",
                })
            })?;
        Ok(Self {
            client_id: record.client_id,
            metadata,
            secret_digest: record.secret_digest,
            secret_expires_at: record.secret_expires_at,
            source: if record.registration_token_digest.is_some() || record.fingerprint.is_some() {
                ClientSource::DynamicallyRegistered
            } else {
                ClientSource::Registered
            },
            first_used_at: record.first_used_at,
            may_introspect: record.may_introspect,
        })
    }
}

impl<S: Store, F: MetadataFetcher> Engine<S, F> {
    /// The client `client_id`: a registered client from the store (its stored
    /// metadata read back into [`ClientMetadata`]), or, when client ID metadata
    /// documents are on and `client_id` is such a URL, the fetched and
    /// validated document. `Ok(None)` when there is no such client. A URL this
    /// server does not accept as a document URL (CIMD draft section 3: `https`
    /// only, unless loopback `http` is allowed for tests) is `invalid_client`
    /// saying why, and nothing is fetched. A document that cannot be fetched
    /// or is invalid is `invalid_client` and a [`SecurityEvent::CimdFetchRefused`].
    pub async fn resolve_client(
        &self,
        client_id: &ClientId,
        _now: UnixTime,
    ) -> Result<Option<ResolvedClient>, EngineError> {
        if let Some(record) = self.store().client(client_id).await? {
            return ResolvedClient::from_record(record).map(Some);
        }
        let Some(policy) = &self.config().cimd else {
            return Ok(None);
        };
        if !is_client_id_metadata_url(client_id.as_str()) {
            return Ok(None);
        }
        let url = ClientIdMetadataUrl::parse_with(client_id.as_str(), policy)
            .map_err(EngineError::ClientIdMetadataUrl)?;
        let body = match self.fetcher().fetch(&url).await {
            Ok(body) => body,
            Err(error) => {
                let reason = error.to_string();
                emit(&SecurityEvent::CimdFetchRefused {
                    host: url.host(),
                    reason: &reason,
                });
                return Err(EngineError::ClientIdMetadataUnavailable);
            }
        };
        match validate_client_id_metadata_document(&url, &body, policy) {
            Ok(document) => Ok(Some(ResolvedClient {
                client_id: document.client_id(),
                source: ClientSource::MetadataDocument {
                    redirect_uris_all_loopback: document.redirect_uris_all_loopback(),
                },
                metadata: document.metadata().clone(),
                secret_digest: None,
                secret_expires_at: None,
                first_used_at: None,
                // RFC 7662 section 2.1: a document anyone can publish never
                // grants a permission.
                may_introspect: false,
            })),
            Err(error) => {
                let reason = error.to_string();
                emit(&SecurityEvent::CimdFetchRefused {
                    host: url.host(),
                    reason: &reason,
                });
                Err(EngineError::ClientIdMetadataInvalid)
            }
        }
    }
}
