#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| latchkey_dpop::fuzzing::dpop_proof(data));
