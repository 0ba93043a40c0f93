#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| latchkey_engine::authorize::fuzzing::engine_authorization_request(data));
