#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| latchkey_token::fuzzing::access_token(data));
