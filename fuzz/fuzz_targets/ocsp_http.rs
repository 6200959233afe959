//! What an OCSP responder sends back (the HTTP answer around the DER
//! body), and a responder URL (`OCSP = URL` or a certificate's AIA).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rstunnel::tls::parsers::{ocsp_http_answer, ocsp_url};

fuzz_target!(|data: &[u8]| {
    rstunnel_fuzz::quiet_log();
    let _ = ocsp_http_answer(data, false);
    let _ = ocsp_http_answer(data, true);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = ocsp_url(text);
    }
});
