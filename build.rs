//! Records the OpenSSL version of the headers we are built against, so
//! `-version` can say `Compiled with …` vs `Running with …` as stunnel does.
fn main() {
    let number = std::env::var("DEP_OPENSSL_VERSION_NUMBER").unwrap_or_else(|_| "0".into());
    println!("cargo:rustc-env=RSTUNNEL_OPENSSL_VERSION_NUMBER={number}");
    println!("cargo:rerun-if-env-changed=DEP_OPENSSL_VERSION_NUMBER");
}
