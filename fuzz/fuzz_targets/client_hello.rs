//! A ClientHello as the server-side hint code inspects it: the bytes go to
//! a real OpenSSL server `SSL` (memory stream), whose client-hello callback
//! runs rstunnel's inspection (offered versions from supported_versions or
//! legacy_version, cipher list decoding, SSLv2-compatible hellos).
#![no_main]

use std::io::{self, Read, Write};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use openssl::ssl::{ClientHelloResponse, Ssl, SslContext, SslMethod, SslVersion};
use rstunnel::tls::parsers::client_hello;

/// The client's bytes in, the server's discarded.
struct Wire<'a>(&'a [u8]);

impl Read for Wire<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl Write for Wire<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn context() -> &'static SslContext {
    static CTX: OnceLock<SslContext> = OnceLock::new();
    CTX.get_or_init(|| {
        let mut b = SslContext::builder(SslMethod::tls_server()).expect("SSL_CTX");
        // Every version this OpenSSL has, at level 0: the most hellos
        // reach the callback.
        b.set_security_level(0);
        b.set_min_proto_version(Some(SslVersion::SSL3)).ok();
        b.set_client_hello_callback(|ssl, _alert| {
            let offer = client_hello(ssl);
            std::hint::black_box(format!("{offer:?}"));
            Ok(ClientHelloResponse::SUCCESS)
        });
        b.build()
    })
}

fuzz_target!(|data: &[u8]| {
    rstunnel_fuzz::quiet_log();
    let Ok(ssl) = Ssl::new(context()) else {
        return;
    };
    let _ = ssl.accept(Wire(data));
});
