-- Latchkey SQLite store, schema version 1.
--
-- Tokens, codes and secrets appear only as SHA-256 digests (32-byte BLOBs);
-- nothing here is usable as a credential. Times are whole seconds since the
-- Unix epoch. Tables are STRICT so a value of the wrong type is refused at
-- write time; CHECK constraints pin digest lengths and closed sets.

-- Registered clients (RFC 7591 section 3.2.1).
CREATE TABLE clients (
    client_id TEXT PRIMARY KEY NOT NULL,
    -- The validated registration metadata, a JSON object.
    metadata TEXT NOT NULL,
    secret_digest BLOB CHECK (secret_digest IS NULL OR length(secret_digest) = 32),
    secret_expires_at INTEGER,
    registration_token_digest BLOB
        CHECK (registration_token_digest IS NULL OR length(registration_token_digest) = 32),
    -- Idempotent registration of public clients: at most one client per fingerprint.
    fingerprint BLOB UNIQUE CHECK (fingerprint IS NULL OR length(fingerprint) = 32),
    issued_at INTEGER NOT NULL,
    first_used_at INTEGER
) STRICT;
-- purge_unused_clients.
CREATE INDEX clients_unused ON clients (issued_at) WHERE first_used_at IS NULL;

-- Authorization codes, by digest (OAuth 2.1 section 4.1.3).
CREATE TABLE codes (
    digest BLOB PRIMARY KEY NOT NULL CHECK (length(digest) = 32),
    client_id TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    redirect_uri_source TEXT NOT NULL CHECK (redirect_uri_source IN ('request', 'registered')),
    code_challenge TEXT NOT NULL,
    code_challenge_method TEXT NOT NULL,
    -- JSON array of canonical resource URIs (RFC 8707).
    resources TEXT NOT NULL,
    scope TEXT NOT NULL,
    subject TEXT NOT NULL,
    auth_time INTEGER NOT NULL,
    dpop_jkt BLOB CHECK (dpop_jkt IS NULL OR length(dpop_jkt) = 32),
    issued_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    consumed INTEGER NOT NULL DEFAULT 0 CHECK (consumed IN (0, 1))
) STRICT;
CREATE INDEX codes_expires_at ON codes (expires_at);

-- Refresh-token families (OAuth 2.1 section 4.3.1, RFC 9700 section 4.14.2).
CREATE TABLE refresh_families (
    id BLOB PRIMARY KEY NOT NULL CHECK (length(id) = 16),
    client_id TEXT NOT NULL,
    subject TEXT NOT NULL,
    scope TEXT NOT NULL,
    resources TEXT NOT NULL,
    dpop_jkt BLOB CHECK (dpop_jkt IS NULL OR length(dpop_jkt) = 32),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    current_digest BLOB NOT NULL CHECK (length(current_digest) = 32),
    generation INTEGER NOT NULL CHECK (generation >= 0),
    previous_digest BLOB CHECK (previous_digest IS NULL OR length(previous_digest) = 32),
    previous_rotated_at INTEGER,
    state TEXT NOT NULL CHECK (state IN ('active', 'revoked')),
    revoked_reason TEXT,
    revoked_at INTEGER,
    -- The code the family was issued from, for revoke_code_grant.
    from_code BLOB CHECK (from_code IS NULL OR length(from_code) = 32)
) STRICT;
CREATE INDEX refresh_families_client_id ON refresh_families (client_id);
CREATE INDEX refresh_families_from_code ON refresh_families (from_code)
    WHERE from_code IS NOT NULL;
CREATE INDEX refresh_families_expires_at ON refresh_families (expires_at);

-- Every token digest a family ever had, current or rotated out: a rotated
-- token presented again must still lead to its family (reuse detection).
CREATE TABLE refresh_tokens (
    digest BLOB PRIMARY KEY NOT NULL CHECK (length(digest) = 32),
    family_id BLOB NOT NULL REFERENCES refresh_families (id) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;
CREATE INDEX refresh_tokens_family_id ON refresh_tokens (family_id);

-- Issued access tokens, by jti (RFC 9068 section 2.2, RFC 7009, RFC 7662).
CREATE TABLE access_tokens (
    jti TEXT PRIMARY KEY NOT NULL,
    client_id TEXT NOT NULL,
    subject TEXT,
    family_id BLOB CHECK (family_id IS NULL OR length(family_id) = 16),
    from_code BLOB CHECK (from_code IS NULL OR length(from_code) = 32),
    expires_at INTEGER NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0 CHECK (revoked IN (0, 1))
) STRICT;
CREATE INDEX access_tokens_client_id ON access_tokens (client_id);
CREATE INDEX access_tokens_family_id ON access_tokens (family_id) WHERE family_id IS NOT NULL;
CREATE INDEX access_tokens_from_code ON access_tokens (from_code) WHERE from_code IS NOT NULL;
CREATE INDEX access_tokens_expires_at ON access_tokens (expires_at);

-- Consent per resource owner and client.
CREATE TABLE consents (
    subject TEXT NOT NULL,
    client_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (subject, client_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX consents_client_id ON consents (client_id);

-- The authorization server's signing keys (PKCS#8 DER).
CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY NOT NULL,
    algorithm TEXT NOT NULL,
    pkcs8 BLOB NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('active', 'verify_only', 'retired')),
    created_at INTEGER NOT NULL
) STRICT;

-- Resource owners (argon2id PHC strings, never passwords).
CREATE TABLE users (
    username TEXT PRIMARY KEY NOT NULL,
    password_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;

-- One-time identifiers (DPoP proof jti, client assertion jti), as 32-byte keys.
CREATE TABLE replay (
    key BLOB PRIMARY KEY NOT NULL CHECK (length(key) = 32),
    expires_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX replay_expires_at ON replay (expires_at);
