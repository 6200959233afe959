//! Names for cipher suites this OpenSSL may not know, and which of them
//! are weak (3DES, RC4, export, single DES).
//!
//! A ClientHello from an XP-era client offers suites that Debian's OpenSSL
//! 3 compiled out; OpenSSL drops them when it turns the offer into its own
//! cipher objects, so the refusal hint needs its own names for them: the
//! IANA names of the suites such clients send (RFC 2246, 4346, 4492, 5246
//! registries), else the hex code.

/// Why a suite is weak, in the words of the warnings and hints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Weakness {
    TripleDes,
    Rc4,
    Export,
    SingleDes,
}

impl Weakness {
    pub fn label(self) -> &'static str {
        match self {
            Weakness::TripleDes => "3DES",
            Weakness::Rc4 => "RC4",
            Weakness::Export => "export-grade",
            Weakness::SingleDes => "DES",
        }
    }
}

/// IANA names of the legacy suites old clients offer, by code.
const IANA: [(u16, &str); 36] = [
    (0x0001, "TLS_RSA_WITH_NULL_MD5"),
    (0x0002, "TLS_RSA_WITH_NULL_SHA"),
    (0x0003, "TLS_RSA_EXPORT_WITH_RC4_40_MD5"),
    (0x0004, "TLS_RSA_WITH_RC4_128_MD5"),
    (0x0005, "TLS_RSA_WITH_RC4_128_SHA"),
    (0x0006, "TLS_RSA_EXPORT_WITH_RC2_CBC_40_MD5"),
    (0x0007, "TLS_RSA_WITH_IDEA_CBC_SHA"),
    (0x0008, "TLS_RSA_EXPORT_WITH_DES40_CBC_SHA"),
    (0x0009, "TLS_RSA_WITH_DES_CBC_SHA"),
    (0x000A, "TLS_RSA_WITH_3DES_EDE_CBC_SHA"),
    (0x0011, "TLS_DHE_DSS_EXPORT_WITH_DES40_CBC_SHA"),
    (0x0012, "TLS_DHE_DSS_WITH_DES_CBC_SHA"),
    (0x0013, "TLS_DHE_DSS_WITH_3DES_EDE_CBC_SHA"),
    (0x0014, "TLS_DHE_RSA_EXPORT_WITH_DES40_CBC_SHA"),
    (0x0015, "TLS_DHE_RSA_WITH_DES_CBC_SHA"),
    (0x0016, "TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA"),
    (0x0017, "TLS_DH_anon_EXPORT_WITH_RC4_40_MD5"),
    (0x0018, "TLS_DH_anon_WITH_RC4_128_MD5"),
    (0x0019, "TLS_DH_anon_EXPORT_WITH_DES40_CBC_SHA"),
    (0x001A, "TLS_DH_anon_WITH_DES_CBC_SHA"),
    (0x001B, "TLS_DH_anon_WITH_3DES_EDE_CBC_SHA"),
    (0x0062, "TLS_RSA_EXPORT1024_WITH_DES_CBC_SHA"),
    (0x0063, "TLS_DHE_DSS_EXPORT1024_WITH_DES_CBC_SHA"),
    (0x0064, "TLS_RSA_EXPORT1024_WITH_RC4_56_SHA"),
    (0x0065, "TLS_DHE_DSS_EXPORT1024_WITH_RC4_56_SHA"),
    (0x0066, "TLS_DHE_DSS_WITH_RC4_128_SHA"),
    (0x008A, "TLS_PSK_WITH_RC4_128_SHA"),
    (0x008B, "TLS_PSK_WITH_3DES_EDE_CBC_SHA"),
    (0xC002, "TLS_ECDH_ECDSA_WITH_RC4_128_SHA"),
    (0xC003, "TLS_ECDH_ECDSA_WITH_3DES_EDE_CBC_SHA"),
    (0xC007, "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA"),
    (0xC008, "TLS_ECDHE_ECDSA_WITH_3DES_EDE_CBC_SHA"),
    (0xC00C, "TLS_ECDH_RSA_WITH_RC4_128_SHA"),
    (0xC00D, "TLS_ECDH_RSA_WITH_3DES_EDE_CBC_SHA"),
    (0xC011, "TLS_ECDHE_RSA_WITH_RC4_128_SHA"),
    (0xC012, "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA"),
];

/// Signalling values, not suites (renegotiation info, fallback): never
/// shown.
pub fn is_signalling(code: u16) -> bool {
    matches!(code, 0x00FF | 0x5600)
}

/// The IANA name of a legacy suite (`TLS_RSA_WITH_3DES_EDE_CBC_SHA` for
/// 0x000A), if it is one old clients offer.
pub fn iana_name(code: u16) -> Option<&'static str> {
    IANA.iter().find(|(c, _)| *c == code).map(|(_, n)| *n)
}

/// The weakness of a suite this OpenSSL does not know, from its IANA name.
pub fn code_weakness(code: u16) -> Option<Weakness> {
    let (_, name) = IANA.iter().find(|(c, _)| *c == code)?;
    of_text(name)
}

/// The weakness of a suite by OpenSSL or IANA name (`DES-CBC3-SHA`,
/// `RC4-MD5`, `TLS_RSA_WITH_3DES_EDE_CBC_SHA`).
pub fn name_weakness(name: &str) -> Option<Weakness> {
    of_text(name)
}

fn of_text(name: &str) -> Option<Weakness> {
    if name.contains("EXP") {
        Some(Weakness::Export)
    } else if name.contains("3DES") || name.contains("DES-CBC3") {
        Some(Weakness::TripleDes)
    } else if name.contains("RC4") {
        Some(Weakness::Rc4)
    } else if name.contains("DES") {
        Some(Weakness::SingleDes)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_weaknesses() {
        assert_eq!(iana_name(0x000A), Some("TLS_RSA_WITH_3DES_EDE_CBC_SHA"));
        assert_eq!(iana_name(0xC0FF), None);
        assert_eq!(code_weakness(0x0004), Some(Weakness::Rc4));
        assert_eq!(code_weakness(0x0003), Some(Weakness::Export));
        assert_eq!(code_weakness(0x0001), None);
        assert_eq!(name_weakness("DES-CBC3-SHA"), Some(Weakness::TripleDes));
        assert_eq!(
            name_weakness("ECDHE-RSA-DES-CBC3-SHA"),
            Some(Weakness::TripleDes)
        );
        assert_eq!(name_weakness("RC4-MD5"), Some(Weakness::Rc4));
        assert_eq!(name_weakness("AES128-SHA"), None);
        assert!(IANA.windows(2).all(|w| w[0].0 < w[1].0));
    }
}
