-- Latchkey PostgreSQL store, initial schema.
--
-- Every time is BIGINT unix seconds. Every token, code and secret is stored
-- only as its SHA-256 digest (BYTEA, 32 bytes); nothing here is a bearer
-- credential. Tables are created unqualified, in the schema the connection's
-- search_path names (see `PostgresStore::connect_with_schema`).

-- Registered clients (RFC 7591, RFC 7592).
CREATE TABLE clients (
    client_id                 TEXT PRIMARY KEY,
    metadata                  JSONB NOT NULL,
    secret_digest             BYTEA NULL,
    secret_expires_at         BIGINT NULL,
    registration_token_digest BYTEA NULL,
    -- Idempotent public-client registration looks clients up by fingerprint;
    -- UNIQUE is the backstop behind the registration lock.
    fingerprint               BYTEA NULL UNIQUE,
    issued_at                 BIGINT NOT NULL,
    first_used_at             BIGINT NULL
);
-- purge_unused_clients
CREATE INDEX clients_unused ON clients (issued_at) WHERE first_used_at IS NULL;

-- Authorization codes, by digest; `consumed` flips once (OAuth 2.1 section 4.1.3).
CREATE TABLE codes (
    digest                BYTEA PRIMARY KEY,
    client_id             TEXT NOT NULL,
    redirect_uri          TEXT NOT NULL,
    redirect_uri_source   TEXT NOT NULL,
    code_challenge        TEXT NOT NULL,
    code_challenge_method TEXT NOT NULL,
    resources             TEXT[] NOT NULL,
    scope                 TEXT NOT NULL,
    subject               TEXT NOT NULL,
    auth_time             BIGINT NOT NULL,
    dpop_jkt              TEXT NULL,
    issued_at             BIGINT NOT NULL,
    expires_at            BIGINT NOT NULL,
    consumed              BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX codes_expires_at ON codes (expires_at);

-- Refresh token families (OAuth 2.1 section 4.3.1, RFC 9700 section 4.14.2).
CREATE TABLE refresh_families (
    id                  BYTEA PRIMARY KEY,
    client_id           TEXT NOT NULL,
    subject             TEXT NOT NULL,
    scope               TEXT NOT NULL,
    resources           TEXT[] NOT NULL,
    dpop_jkt            TEXT NULL,
    created_at          BIGINT NOT NULL,
    expires_at          BIGINT NOT NULL,
    current_digest      BYTEA NOT NULL,
    generation          BIGINT NOT NULL,
    previous_digest     BYTEA NULL,
    previous_rotated_at BIGINT NULL,
    state               TEXT NOT NULL,
    revoked_reason      TEXT NULL,
    revoked_at          BIGINT NULL,
    -- The code the family was issued from, for revoke_code_grant.
    from_code           BYTEA NULL
);
CREATE INDEX refresh_families_client_id ON refresh_families (client_id);
CREATE INDEX refresh_families_from_code ON refresh_families (from_code) WHERE from_code IS NOT NULL;
CREATE INDEX refresh_families_expires_at ON refresh_families (expires_at);

-- Every token digest a family ever had (current and rotated), so that reuse
-- of a rotated token still finds its family.
CREATE TABLE refresh_tokens (
    digest    BYTEA PRIMARY KEY,
    family_id BYTEA NOT NULL REFERENCES refresh_families (id) ON DELETE CASCADE
);
CREATE INDEX refresh_tokens_family_id ON refresh_tokens (family_id);

-- Issued access tokens, by jti, for revocation and introspection.
CREATE TABLE access_tokens (
    jti        TEXT PRIMARY KEY,
    client_id  TEXT NOT NULL,
    subject    TEXT NULL,
    family_id  BYTEA NULL,
    from_code  BYTEA NULL,
    expires_at BIGINT NOT NULL,
    revoked    BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX access_tokens_client_id ON access_tokens (client_id);
CREATE INDEX access_tokens_family_id ON access_tokens (family_id) WHERE family_id IS NOT NULL;
CREATE INDEX access_tokens_from_code ON access_tokens (from_code) WHERE from_code IS NOT NULL;
CREATE INDEX access_tokens_expires_at ON access_tokens (expires_at);

-- Consent per resource owner and client.
CREATE TABLE consents (
    subject    TEXT NOT NULL,
    client_id  TEXT NOT NULL,
    scope      TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (subject, client_id)
);
CREATE INDEX consents_client_id ON consents (client_id);

-- The authorization server's signing keys; `seq` keeps insertion order.
CREATE TABLE signing_keys (
    kid        TEXT PRIMARY KEY,
    algorithm  TEXT NOT NULL,
    pkcs8      BYTEA NOT NULL,
    status     TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    seq        BIGINT GENERATED ALWAYS AS IDENTITY
);

-- Resource owners.
CREATE TABLE users (
    username      TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    created_at    BIGINT NOT NULL
);

-- One-time identifiers (RFC 9449 section 11.1, RFC 7523 section 3), by digest.
CREATE TABLE replay (
    key        BYTEA PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE INDEX replay_expires_at ON replay (expires_at);
