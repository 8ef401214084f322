#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wtool_fuzz::envelope(data));
