//! The engine secrets file: the refresh-token rotation key, the DPoP nonce
//! key and the key wrap key, kept next to the database as
//! `<database>.secrets`.
//!
//! The file is created on first start with mode `0600` (owner read and write
//! only) and holds three lines, `rotation_key=<base64url>`,
//! `nonce_key=<base64url>` and `key_wrap_key=<base64url>`, each 256 random
//! bits. A file from before the key wrap key existed gets that line appended
//! on the next start. It is refused when other users can read it. Its contents
//! are never logged.
//!
//! The key wrap key seals the private signing keys stored in the database
//! (AES-256-GCM, `latchkey_jose::KeyWrapKey`), so a copy of the database alone
//! holds no usable signing key. Keys stored before it existed stay plain
//! PKCS#8 and still load; `latchkey keys rotate` makes a sealed one active.
//!
//! The login pages' [`PageKey`] (which seals the login form's state, see
//! [`crate::sealed`]) is derived from the key wrap key with HKDF-SHA256 under
//! its own label, so it needs no line of its own: it is the same after a
//! restart and on every instance that shares the file.
//!
//! Losing the file invalidates every refresh token (their successors are
//! derived from the rotation key) and makes the sealed signing keys unusable
//! (the server then refuses to start); keep it with the database in backups,
//! stored apart from them.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use base64ct::{Base64UrlUnpadded, Encoding};
use latchkey_dpop::NonceKey;
use latchkey_engine::EngineSecrets;
use latchkey_engine::KeyWrapKey;
use latchkey_token::refresh::RotationKey;
use latchkey_types::SecretString;
use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::error::ServerError;
use crate::sealed::PageKey;

/// Reads the secrets at `path`, or creates the file with fresh secrets when it
/// does not exist.
pub fn load_or_create(path: &Path, rng: &mut impl CryptoRng) -> Result<EngineSecrets, ServerError> {
    load_or_create_with_page_key(path, rng).map(|(secrets, _)| secrets)
}

/// [`load_or_create`], with the login pages' [`PageKey`] derived from the file.
pub fn load_or_create_with_page_key(
    path: &Path,
    rng: &mut impl CryptoRng,
) -> Result<(EngineSecrets, PageKey), ServerError> {
    let problem = |problem| ServerError::SecretsFile {
        path: path.display().to_string(),
        problem,
    };
    let text = match std::fs::metadata(path) {
        Ok(metadata) => {
            if metadata.permissions().mode() & 0o077 != 0 {
                return Err(problem("can be read by other users; run chmod 600 on it"));
            }
            let mut text = Zeroizing::new(
                std::fs::read_to_string(path).map_err(|_| problem("could not be read"))?,
            );
            if !text.lines().any(|line| line.starts_with("key_wrap_key=")) {
                let line = Zeroizing::new(format!(
                    "key_wrap_key={}\n",
                    random_b64(rng).expose_secret()
                ));
                let mut file = std::fs::OpenOptions::new()
                    .append(true)
                    .open(path)
                    .map_err(|_| problem("could not be written"))?;
                if !text.is_empty() && !text.ends_with('\n') {
                    text.push('\n');
                    file.write_all(b"\n")
                        .map_err(|_| problem("could not be written"))?;
                }
                file.write_all(line.as_bytes())
                    .and_then(|()| file.sync_all())
                    .map_err(|_| problem("could not be written"))?;
                text.push_str(&line);
            }
            text
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let text = Zeroizing::new(format!(
                "rotation_key={}\nnonce_key={}\nkey_wrap_key={}\n",
                random_b64(rng).expose_secret(),
                random_b64(rng).expose_secret(),
                random_b64(rng).expose_secret()
            ));
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(|_| problem("could not be created"))?;
            file.write_all(text.as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(|_| problem("could not be written"))?;
            text
        }
        Err(_) => return Err(problem("could not be read")),
    };
    parse(&text).ok_or_else(|| problem("is damaged; restore it from a backup"))
}

fn parse(text: &str) -> Option<(EngineSecrets, PageKey)> {
    let mut rotation = None;
    let mut nonce = None;
    let mut wrap = None;
    for line in text.lines() {
        match line.split_once('=') {
            Some(("rotation_key", value)) => rotation = Some(SecretString::new(value.to_owned())),
            Some(("nonce_key", value)) => nonce = Some(SecretString::new(value.to_owned())),
            Some(("key_wrap_key", value)) => wrap = Some(SecretString::new(value.to_owned())),
            _ => {}
        }
    }
    let rotation_key = RotationKey::new(&rotation?).ok()?;
    let nonce_key = NonceKey::new(nonce?.expose_secret().as_bytes()).ok()?;
    let wrap = Zeroizing::new(Base64UrlUnpadded::decode_vec(wrap?.expose_secret()).ok()?);
    let wrap: &[u8; 32] = wrap.as_slice().try_into().ok()?;
    let secrets = EngineSecrets {
        rotation_key,
        nonce_key,
        key_wrap_key: Some(KeyWrapKey::new(wrap)),
    };
    Some((secrets, PageKey::derive(wrap)))
}

fn random_b64(rng: &mut impl CryptoRng) -> SecretString {
    let mut bytes = Zeroizing::new([0u8; 32]);
    rng.fill_bytes(bytes.as_mut());
    SecretString::new(Base64UrlUnpadded::encode_string(bytes.as_ref()))
}

#[cfg(test)]
mod tests {
    use rand_core::SeedableRng;

    use super::*;
    use crate::testing::temp_path;

    #[test]
    fn created_with_mode_0600_and_read_back() {
        let path = temp_path("secrets");
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
        load_or_create(&path, &mut rng).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let first = std::fs::read_to_string(&path).unwrap();
        load_or_create(&path, &mut rng).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), first);
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn a_file_without_a_key_wrap_key_gets_one_appended_once() {
        let path = temp_path("secrets-upgrade");
        let old = format!(
            "rotation_key={}\nnonce_key={}\n",
            "a".repeat(43),
            "b".repeat(43)
        );
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .unwrap()
            .write_all(old.as_bytes())
            .unwrap();
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(4);
        let secrets = load_or_create(&path, &mut rng).unwrap();
        assert!(secrets.key_wrap_key.is_some());
        let upgraded = std::fs::read_to_string(&path).unwrap();
        assert!(
            upgraded.starts_with(&old),
            "the old lines are kept as they were"
        );
        assert_eq!(upgraded.lines().count(), 3);
        load_or_create(&path, &mut rng).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), upgraded);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn readable_by_others_is_refused() {
        let path = temp_path("secrets-open");
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(2);
        load_or_create(&path, &mut rng).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let error = load_or_create(&path, &mut rng).unwrap_err();
        assert!(matches!(error, ServerError::SecretsFile { .. }));
        assert!(error.to_string().contains("chmod 600"));
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn damaged_file_is_refused() {
        let path = temp_path("secrets-bad");
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .unwrap()
            .write_all(b"rotation_key=short\n")
            .unwrap();
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(3);
        let error = load_or_create(&path, &mut rng).unwrap_err();
        assert!(error.to_string().contains("damaged"));
        std::fs::remove_file(&path).unwrap();
    }
}
