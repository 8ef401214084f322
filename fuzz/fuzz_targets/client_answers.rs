#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wtool_fuzz::client_answers(data));
