-- Consent is remembered per resource owner, client, set of resources and
-- kind of redirect (loopback or not), with the scope approved for that set: a
-- consent for one resource no longer covers another, and a loopback request
-- is covered only by a consent the user chose to remember for one. Rows of
-- the old table named no resources, so what they approved is unknown: they
-- are dropped, and their users are asked again on the consent page.
DROP TABLE consents;
CREATE TABLE consents (
    subject           TEXT NOT NULL,
    client_id         TEXT NOT NULL,
    -- Canonical resource URIs, sorted, without repeats.
    resources         TEXT[] NOT NULL,
    loopback_redirect BOOLEAN NOT NULL,
    scope             TEXT NOT NULL,
    updated_at        BIGINT NOT NULL,
    PRIMARY KEY (subject, client_id, resources, loopback_redirect)
);
CREATE INDEX consents_client_id ON consents (client_id);
