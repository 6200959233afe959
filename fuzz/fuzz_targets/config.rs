//! stunnel.conf text: the lexer, every option's parser and the rules that
//! span options (`config::parse_bytes`, as a reload reads a file).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    rstunnel_fuzz::quiet_log();
    let _ = rstunnel::config::parse_bytes(data, "/fuzz/stunnel.conf");
});
