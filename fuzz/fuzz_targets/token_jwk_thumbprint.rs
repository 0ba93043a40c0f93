#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| latchkey_token::code::fuzzing::token_jwk_thumbprint(data));
