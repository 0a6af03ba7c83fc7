#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| crm_fuzz::command_mutated(data));
