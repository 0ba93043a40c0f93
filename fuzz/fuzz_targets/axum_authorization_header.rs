#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| latchkey_axum::fuzzing::axum_authorization_header(data));
