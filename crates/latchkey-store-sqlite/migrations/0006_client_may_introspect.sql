-- RFC 7662 section 2.1: whether the client may call the introspection
-- endpoint. Only an administrator sets it (`latchkey clients add
-- --introspect`); registration stores 0 and an RFC 7592 update keeps it.
ALTER TABLE clients ADD COLUMN may_introspect INTEGER NOT NULL DEFAULT 0
    CHECK (may_introspect IN (0, 1));
