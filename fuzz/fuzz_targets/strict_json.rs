#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| latchkey_types::fuzzing::strict_json(data));
