#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| latchkey_jose::fuzzing::jws_structured(data));
