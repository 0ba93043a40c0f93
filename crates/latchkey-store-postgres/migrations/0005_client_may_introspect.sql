-- RFC 7662 section 2.1: whether the client may call the introspection
-- endpoint. Only an administrator sets it (`latchkey clients add
-- --introspect`); registration stores FALSE and an RFC 7592 update keeps it.
ALTER TABLE clients ADD COLUMN may_introspect BOOLEAN NOT NULL DEFAULT FALSE;
