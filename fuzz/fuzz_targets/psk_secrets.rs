//! A `PSKsecrets` file.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    rstunnel_fuzz::quiet_log();
    let _ = rstunnel::config::options::verify::parse_psk_secrets(data);
});
