//! Opening the SQLite database file, readable by its owner only.
//!
//! The database holds the sealed signing keys, password hashes, and the
//! digests of every code and token; nobody but the server's user has reason
//! to read it. A new file is created with mode `0600` (by
//! `SqliteStore::open`; SQLite gives its `-wal` and `-shm` files the same
//! mode). An existing file, or its `-wal` or `-shm` file, that its group or
//! other users may read or write is refused with a message saying how to fix
//! it, as the secrets file is ([`crate::secrets`]): the server does not
//! start, and no administration command opens it.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use latchkey_store_sqlite::{SqliteOptions, SqliteStore, Synchronous};

use crate::error::ServerError;

/// Checks the permissions of the database at `path` (if it exists), then
/// opens it, creating it with mode `0600` when it does not.
pub async fn open(path: &Path) -> Result<SqliteStore, ServerError> {
    open_with(path, Synchronous::default()).await
}

/// [`open`], with the `synchronous` setting of the configuration
/// (`database_synchronous`).
pub async fn open_with(path: &Path, synchronous: Synchronous) -> Result<SqliteStore, ServerError> {
    check_private(path)?;
    let options = SqliteOptions::default().synchronous(synchronous);
    Ok(SqliteStore::open_with(path, options).await?)
}

/// Refuses a database file (or its `-wal`/`-shm` file) that anyone but its
/// owner may read or write. A file that does not exist yet is fine.
pub fn check_private(path: &Path) -> Result<(), ServerError> {
    for file in [
        path.to_path_buf(),
        with_suffix(path, "-wal"),
        with_suffix(path, "-shm"),
    ] {
        match std::fs::metadata(&file) {
            Ok(metadata) if metadata.permissions().mode() & 0o077 != 0 => {
                return Err(ServerError::DatabaseFile {
                    path: file.display().to_string(),
                    problem: "can be read or written by other users; run chmod 600 on it",
                });
            }
            Ok(_) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(_) => {
                return Err(ServerError::DatabaseFile {
                    path: file.display().to_string(),
                    problem: "could not be inspected",
                });
            }
        }
    }
    Ok(())
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::temp_path;

    #[tokio::test]
    async fn a_new_database_is_created_readable_by_its_owner_only() {
        let path = temp_path("new.db");
        let store = open(&path).await.unwrap();
        store.close().await;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        // Opening it again is fine.
        open(&path).await.unwrap().close().await;
    }

    #[tokio::test]
    async fn an_existing_database_others_can_read_is_refused() {
        let path = temp_path("shared.db");
        open(&path).await.unwrap().close().await;
        for mode in [0o640, 0o604, 0o660] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            let error = open(&path).await.unwrap_err();
            assert!(
                matches!(&error, ServerError::DatabaseFile { path: p, .. } if *p == path.display().to_string()),
                "{error:?}"
            );
            assert_eq!(
                error.to_string(),
                format!(
                    "the database file {} can be read or written by other users; run chmod 600 on it",
                    path.display()
                )
            );
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        // A readable write-ahead log is refused too.
        let wal = with_suffix(&path, "-wal");
        std::fs::write(&wal, b"").unwrap();
        std::fs::set_permissions(&wal, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            check_private(&path),
            Err(ServerError::DatabaseFile { path: p, .. }) if p == wal.display().to_string()
        ));
        std::fs::remove_file(&wal).unwrap();
        assert!(check_private(&path).is_ok());
    }
}
