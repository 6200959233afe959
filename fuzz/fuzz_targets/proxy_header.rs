//! The PROXY protocol header a load balancer sends (`proxyIn`): v1 lines
//! and v2 binary headers, under each accepted-version setting. A header it
//! accepts must lie within the bytes given.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rstunnel::protocol::proxy_in::{parse, Accept, Parsed};

fuzz_target!(|data: &[u8]| {
    for accept in [Accept::V1, Accept::V2, Accept::Any] {
        if let Parsed::Header { len, .. } = parse(data, accept) {
            assert!(len <= data.len());
        }
    }
});
