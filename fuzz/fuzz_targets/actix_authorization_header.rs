#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| latchkey_actix::fuzzing::actix_authorization_header(data));
