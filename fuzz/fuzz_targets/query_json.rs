#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| crm_fuzz::query_json(data));
