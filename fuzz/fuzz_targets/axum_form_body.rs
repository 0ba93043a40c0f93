#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| latchkey_axum::fuzzing::axum_form_body(data));
