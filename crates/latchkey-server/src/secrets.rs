//! The engine secrets file: the refresh-token rotation key and the DPoP nonce
//! key, kept next to the database as `<database>.secrets`.
//!
//! The file is created on first start with mode `0600` (owner read and write
//! only) and holds two lines, `rotation_key=<base64url>` and
//! `nonce_key=<base64url>`, each 256 random bits. It is refused when other
//! users can read it. Its contents are never logged. Losing it invalidates
//! every refresh token (their successors are derived from the rotation key);
//! keep it with the database in backups.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use base64ct::{Base64UrlUnpadded, Encoding};
use latchkey_dpop::NonceKey;
use latchkey_engine::EngineSecrets;
use latchkey_token::refresh::RotationKey;
use latchkey_types::SecretString;
use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::error::ServerError;

/// Reads the secrets at `path`, or creates the file with fresh secrets when it
/// does not exist.
pub fn load_or_create(path: &Path, rng: &mut impl CryptoRng) -> Result<EngineSecrets, ServerError> {
    let problem = |problem| ServerError::SecretsFile {
        path: path.display().to_string(),
        problem,
    };
    let text = match std::fs::metadata(path) {
        Ok(metadata) => {
            if metadata.permissions().mode() & 0o077 != 0 {
                return Err(problem("can be read by other users; run chmod 600 on it"));
            }
            Zeroizing::new(std::fs::read_to_string(path).map_err(|_| problem("could not be read"))?)
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let text = Zeroizing::new(format!(
                "rotation_key={}\nnonce_key={}\n",
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

fn parse(text: &str) -> Option<EngineSecrets> {
    let mut rotation = None;
    let mut nonce = None;
    for line in text.lines() {
        match line.split_once('=') {
            Some(("rotation_key", value)) => rotation = Some(SecretString::new(value.to_owned())),
            Some(("nonce_key", value)) => nonce = Some(SecretString::new(value.to_owned())),
            _ => {}
        }
    }
    let rotation_key = RotationKey::new(&rotation?).ok()?;
    let nonce_key = NonceKey::new(nonce?.expose_secret().as_bytes()).ok()?;
    Some(EngineSecrets {
        rotation_key,
        nonce_key,
    })
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
