#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| latchkey_upstream::fuzzing::upstream_userinfo(data));
