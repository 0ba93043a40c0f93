#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| latchkey_engine::fuzzing::client_assertion_claims(data));
