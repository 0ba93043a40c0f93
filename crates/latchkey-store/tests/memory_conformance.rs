//! The shared conformance suite against the in-memory store.

latchkey_store::conformance_tests!(async { latchkey_store::MemoryStore::new() });
