#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wtool_fuzz::lock_and_config(data));
