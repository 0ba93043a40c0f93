//! The engine: configuration, store, signing keys and server secrets in one value.

use std::sync::{Arc, PoisonError, RwLock};

use base64ct::{Base64UrlUnpadded, Encoding};
use latchkey_dpop::{DpopConfig, DpopNonces, NonceKey};
use latchkey_jose::{Algorithm, KeyWrapKey, SigningKey, is_sealed};
use latchkey_store::{KeyStatus, Store, StoredKey};
use latchkey_token::KeySet;
use latchkey_token::refresh::RotationKey;
use latchkey_types::UnixTime;
use rand_core::CryptoRng;

use crate::clients::{MetadataFetcher, NoMetadataFetcher};
use crate::config::EngineConfig;
use crate::error::EngineError;

/// The server secrets the engine derives values with. Both come from
/// configuration in production (so retries and nonces survive restarts and
/// work across replicas).
pub struct EngineSecrets {
    /// Derives refresh-token successors (see `latchkey_token::refresh`).
    pub rotation_key: RotationKey,
    /// Keys the stateless DPoP nonces (RFC 9449 section 8).
    pub nonce_key: NonceKey,
    /// Seals the private signing keys the engine stores (AES-256-GCM, see
    /// [`KeyWrapKey`]), so the store alone holds no usable key. `None` stores
    /// them as plain PKCS#8, for tests and stores that are themselves
    /// encrypted. Keys stored plain before a wrap key was set still load;
    /// a sealed key without the wrap key does not.
    pub key_wrap_key: Option<KeyWrapKey>,
}

impl core::fmt::Debug for EngineSecrets {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("EngineSecrets(..)")
    }
}

/// The OAuth 2.1 authorization server over store `S`, fetching client ID
/// metadata documents through `F`.
pub struct Engine<S: Store, F: MetadataFetcher = NoMetadataFetcher> {
    store: Arc<S>,
    config: EngineConfig,
    keys: RwLock<Arc<KeySet>>,
    secrets: EngineSecrets,
    fetcher: F,
    dpop: DpopConfig,
}

impl<S: Store, F: MetadataFetcher> Engine<S, F> {
    /// An engine over `store` with `config` (validated here). Loads the signing
    /// keys from the store; when there is none, generates an ES256 key, stores
    /// it and makes it active.
    pub async fn new(
        store: Arc<S>,
        config: EngineConfig,
        secrets: EngineSecrets,
        fetcher: F,
        now: UnixTime,
        rng: &mut impl CryptoRng,
    ) -> Result<Self, EngineError> {
        config.validate()?;
        if store.signing_keys().await?.is_empty() {
            let kid =
                generate_and_store_key(store.as_ref(), secrets.key_wrap_key.as_ref(), now, rng)
                    .await?;
            if !store.activate_key(&kid).await? {
                return Err(EngineError::Keys(
                    "the new signing key could not be activated",
                ));
            }
        }
        let keys = load_keys(store.as_ref(), secrets.key_wrap_key.as_ref()).await?;
        let mut dpop = config.dpop.clone();
        dpop.nonces = config
            .dpop_nonce_required
            .then(|| DpopNonces::new(secrets.nonce_key.clone()));
        Ok(Self {
            store,
            config,
            keys: RwLock::new(Arc::new(keys)),
            secrets,
            fetcher,
            dpop,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// The store.
    pub fn store(&self) -> &Arc<S> {
        &self.store
    }

    /// The metadata fetcher.
    pub fn fetcher(&self) -> &F {
        &self.fetcher
    }

    /// The current signing keys.
    pub fn keys(&self) -> Arc<KeySet> {
        Arc::clone(&self.keys.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// The server secrets.
    pub fn secrets(&self) -> &EngineSecrets {
        &self.secrets
    }

    /// The DPoP policy in force: the configured one with the engine's nonces
    /// when `dpop_nonce_required` is set.
    pub fn dpop_config(&self) -> &DpopConfig {
        &self.dpop
    }

    /// Generates a new ES256 key, stores it and makes it the active signing key;
    /// the previous key keeps verifying. Returns the new `kid`.
    pub async fn rotate_signing_key(
        &self,
        now: UnixTime,
        rng: &mut impl CryptoRng,
    ) -> Result<String, EngineError> {
        let kid = generate_and_store_key(
            self.store.as_ref(),
            self.secrets.key_wrap_key.as_ref(),
            now,
            rng,
        )
        .await?;
        if !self.store.activate_key(&kid).await? {
            return Err(EngineError::Keys(
                "the new signing key could not be activated",
            ));
        }
        self.reload_keys().await?;
        Ok(kid)
    }

    /// Reloads the signing keys from the store (after another replica rotated them).
    pub async fn reload_keys(&self) -> Result<(), EngineError> {
        let keys = load_keys(self.store.as_ref(), self.secrets.key_wrap_key.as_ref()).await?;
        *self.keys.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(keys);
        Ok(())
    }
}

impl<S: Store, F: MetadataFetcher> core::fmt::Debug for Engine<S, F> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Engine")
            .field("issuer", &self.config.issuer)
            .finish_non_exhaustive()
    }
}

/// Generates an ES256 key with a random 128-bit `kid` and stores it as verify-only.
async fn generate_and_store_key<S: Store>(
    store: &S,
    wrap: Option<&KeyWrapKey>,
    now: UnixTime,
    rng: &mut impl CryptoRng,
) -> Result<String, EngineError> {
    let mut kid_bytes = [0u8; 16];
    rng.fill_bytes(&mut kid_bytes);
    let kid = Base64UrlUnpadded::encode_string(&kid_bytes);
    let key = SigningKey::generate(Algorithm::Es256, kid.clone(), rng);
    let stored = StoredKey {
        kid: kid.clone(),
        algorithm: Algorithm::Es256.as_str().to_owned(),
        pkcs8: match wrap {
            Some(wrap) => wrap.seal(&kid, Algorithm::Es256, &key.to_pkcs8(), rng),
            None => key.to_pkcs8(),
        },
        status: KeyStatus::VerifyOnly,
        created_at: now,
    };
    store.insert_key(&stored).await?;
    Ok(kid)
}

/// Builds the key set from the stored keys: every verify-only key (oldest
/// first), then the one active key, which signs. Retired keys are left out.
async fn load_keys<S: Store>(store: &S, wrap: Option<&KeyWrapKey>) -> Result<KeySet, EngineError> {
    let stored = store.signing_keys().await?;
    let mut active = None;
    let mut verify_only = Vec::new();
    for key in &stored {
        let algorithm = Algorithm::parse(&key.algorithm)
            .map_err(|_| EngineError::Keys("a stored key has an unknown algorithm"))?;
        let parsed = || {
            let opened;
            let pkcs8: &[u8] = if is_sealed(&key.pkcs8) {
                let wrap = wrap.ok_or(EngineError::Keys(
                    "a stored key is sealed and no key wrap key is configured",
                ))?;
                opened = wrap.open(&key.kid, algorithm, &key.pkcs8).map_err(|_| {
                    EngineError::Keys("a stored key does not open with the key wrap key")
                })?;
                &opened
            } else {
                &key.pkcs8
            };
            SigningKey::from_pkcs8(algorithm, key.kid.clone(), pkcs8)
                .map_err(|_| EngineError::Keys("a stored key cannot be parsed"))
        };
        match key.status {
            KeyStatus::Active => {
                if active.is_some() {
                    return Err(EngineError::Keys("more than one stored key is active"));
                }
                active = Some(parsed()?);
            }
            KeyStatus::VerifyOnly => verify_only.push(parsed()?),
            KeyStatus::Retired => {}
        }
    }
    let active = active.ok_or(EngineError::Keys("no stored key is active"))?;
    let mut keys = verify_only.into_iter();
    let Some(first) = keys.next() else {
        return KeySet::new(active).map_err(|_| EngineError::Keys("a stored key has no key id"));
    };
    let mut set =
        KeySet::new(first).map_err(|_| EngineError::Keys("a stored key has no key id"))?;
    for key in keys.chain(core::iter::once(active)) {
        set.rotate(key)
            .map_err(|_| EngineError::Keys("the stored keys do not form a key set"))?;
    }
    Ok(set)
}
