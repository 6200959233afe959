//! A throwaway PKI for tests: one CA, server certificates (RSA and ECDSA,
//! `localhost` / 127.0.0.1, plus a second name for SNI), client
//! certificates (trusted, revoked, self-signed), and a CRL revoking one.
//!
//! Self-contained (only the `openssl` crate): include it from any test with
//! `#[path = "common/tls_pki.rs"] mod tls_pki;` and call
//! [`make_pki`] with a temporary directory. Files are PEM; `*_combined`
//! holds certificate then key, as stunnel's `cert =` accepts.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use openssl::asn1::{Asn1Integer, Asn1Object, Asn1OctetString, Asn1Time};
use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::extension::{
    AuthorityKeyIdentifier, BasicConstraints, KeyUsage, SubjectAlternativeName,
    SubjectKeyIdentifier,
};
use openssl::x509::{
    X509Builder, X509CrlBuilder, X509Extension, X509NameBuilder, X509RevokedBuilder, X509,
};

/// Paths of every file [`make_pki`] wrote.
#[derive(Debug, Clone)]
pub struct Pki {
    pub dir: PathBuf,
    /// CA certificate (`CN=rstunnel test CA`), for `CAfile`.
    pub ca: PathBuf,
    pub ca_key: PathBuf,
    /// RSA server certificate: `CN=localhost`, SAN DNS:localhost, IP:127.0.0.1.
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    /// Server certificate followed by its key.
    pub combined: PathBuf,
    /// ECDSA (P-256) server certificate with the same names.
    pub ecdsa_cert: PathBuf,
    pub ecdsa_key: PathBuf,
    pub ecdsa_combined: PathBuf,
    /// Second server identity for SNI tests: `CN=sni.example`, SAN
    /// DNS:sni.example and DNS:*.sni.example.
    pub sni_cert: PathBuf,
    pub sni_key: PathBuf,
    pub sni_combined: PathBuf,
    /// Trusted client certificate: `C=PL, O=rstunnel, CN=client`.
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    pub client_combined: PathBuf,
    /// Client certificate revoked by [`Pki::crl`]: `CN=revoked client`.
    pub revoked_client_cert: PathBuf,
    pub revoked_client_key: PathBuf,
    pub revoked_client_combined: PathBuf,
    /// Self-signed client certificate (`CN=untrusted client`).
    pub untrusted_client_cert: PathBuf,
    pub untrusted_client_key: PathBuf,
    pub untrusted_client_combined: PathBuf,
    /// CRL signed by the CA, revoking the revoked client.
    pub crl: PathBuf,
    /// The CA file and the CRL concatenated.
    pub ca_and_crl: PathBuf,
}

enum Alg {
    Rsa,
    Ec,
}

fn new_key(alg: Alg) -> PKey<Private> {
    match alg {
        Alg::Rsa => PKey::from_rsa(Rsa::generate(2048).expect("rsa keygen")).expect("pkey"),
        Alg::Ec => {
            let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).expect("group");
            PKey::from_ec_key(EcKey::generate(&group).expect("ec keygen")).expect("pkey")
        }
    }
}

struct Spec<'a> {
    subject: &'a [(&'a str, &'a str)],
    serial: u32,
    ca: bool,
    dns: &'a [&'a str],
    ips: &'a [&'a str],
}

fn make_cert(
    spec: &Spec<'_>,
    key: &PKey<Private>,
    issuer: Option<(&X509, &PKey<Private>)>,
) -> X509 {
    let mut name = X509NameBuilder::new().expect("name");
    for (field, value) in spec.subject {
        name.append_entry_by_text(field, value).expect("name entry");
    }
    let name = name.build();
    let mut b = X509Builder::new().expect("x509 builder");
    b.set_version(2).expect("version");
    let serial = Asn1Integer::from_bn(&BigNum::from_u32(spec.serial).expect("bn")).expect("serial");
    b.set_serial_number(&serial).expect("serial");
    b.set_subject_name(&name).expect("subject");
    match issuer {
        Some((cert, _)) => b.set_issuer_name(cert.subject_name()).expect("issuer"),
        None => b.set_issuer_name(&name).expect("issuer"),
    }
    b.set_pubkey(key).expect("pubkey");
    b.set_not_before(&Asn1Time::days_from_now(0).expect("time"))
        .expect("nb");
    b.set_not_after(&Asn1Time::days_from_now(30).expect("time"))
        .expect("na");
    if spec.ca {
        b.append_extension(BasicConstraints::new().critical().ca().build().expect("bc"))
            .expect("ext");
        b.append_extension(
            KeyUsage::new()
                .critical()
                .key_cert_sign()
                .crl_sign()
                .build()
                .expect("ku"),
        )
        .expect("ext");
        let ctx = b.x509v3_context(None, None);
        let skid = SubjectKeyIdentifier::new().build(&ctx).expect("skid");
        b.append_extension(skid).expect("ext");
    }
    if !spec.dns.is_empty() || !spec.ips.is_empty() {
        let mut san = SubjectAlternativeName::new();
        for d in spec.dns {
            san.dns(d);
        }
        for ip in spec.ips {
            san.ip(ip);
        }
        let ctx = b.x509v3_context(issuer.map(|(c, _)| &**c), None);
        let ext = san.build(&ctx).expect("san");
        b.append_extension(ext).expect("ext");
    }
    let signer = issuer.map(|(_, k)| k).unwrap_or(key);
    b.sign(signer, MessageDigest::sha256()).expect("sign");
    b.build()
}

fn write(path: &Path, parts: &[Vec<u8>]) {
    std::fs::write(path, parts.concat()).expect("write pki file");
}

fn key_pem(key: &PKey<Private>) -> Vec<u8> {
    key.private_key_to_pem_pkcs8().expect("key pem")
}

fn cert_pem(cert: &X509) -> Vec<u8> {
    cert.to_pem().expect("cert pem")
}

/// Write a leaf certificate, its key and the combined file; return paths.
fn leaf(
    dir: &Path,
    stem: &str,
    spec: &Spec<'_>,
    alg: Alg,
    issuer: Option<(&X509, &PKey<Private>)>,
) -> (PathBuf, PathBuf, PathBuf) {
    let key = new_key(alg);
    let cert = make_cert(spec, &key, issuer);
    let (c, k, both) = (
        dir.join(format!("{stem}.pem")),
        dir.join(format!("{stem}.key")),
        dir.join(format!("{stem}-combined.pem")),
    );
    write(&c, &[cert_pem(&cert)]);
    write(&k, &[key_pem(&key)]);
    write(&both, &[cert_pem(&cert), key_pem(&key)]);
    (c, k, both)
}

/// Create the whole PKI in `dir` (which must exist).
pub fn make_pki(dir: &Path) -> Pki {
    let ca_key = new_key(Alg::Rsa);
    let ca_spec = Spec {
        subject: &[("CN", "rstunnel test CA")],
        serial: 1,
        ca: true,
        dns: &[],
        ips: &[],
    };
    let ca = make_cert(&ca_spec, &ca_key, None);
    let ca_path = dir.join("ca.pem");
    let ca_key_path = dir.join("ca.key");
    write(&ca_path, &[cert_pem(&ca)]);
    write(&ca_key_path, &[key_pem(&ca_key)]);
    let issuer = Some((&ca, &ca_key));

    let server = Spec {
        subject: &[("CN", "localhost")],
        serial: 2,
        ca: false,
        dns: &["localhost"],
        ips: &["127.0.0.1"],
    };
    let (server_cert, server_key, combined) = leaf(dir, "server", &server, Alg::Rsa, issuer);
    let ecdsa = Spec {
        serial: 3,
        ..server
    };
    let (ecdsa_cert, ecdsa_key, ecdsa_combined) = leaf(dir, "ecdsa", &ecdsa, Alg::Ec, issuer);
    let sni = Spec {
        subject: &[("CN", "sni.example")],
        serial: 4,
        ca: false,
        dns: &["sni.example", "*.sni.example"],
        ips: &[],
    };
    let (sni_cert, sni_key, sni_combined) = leaf(dir, "sni", &sni, Alg::Rsa, issuer);
    let client = Spec {
        subject: &[("C", "PL"), ("O", "rstunnel"), ("CN", "client")],
        serial: 5,
        ca: false,
        dns: &[],
        ips: &[],
    };
    let (client_cert, client_key, client_combined) = leaf(dir, "client", &client, Alg::Rsa, issuer);
    let revoked = Spec {
        subject: &[("CN", "revoked client")],
        serial: 6,
        ..client
    };
    let (revoked_client_cert, revoked_client_key, revoked_client_combined) =
        leaf(dir, "revoked", &revoked, Alg::Rsa, issuer);
    let untrusted = Spec {
        subject: &[("CN", "untrusted client")],
        serial: 7,
        ..client
    };
    let (untrusted_client_cert, untrusted_client_key, untrusted_client_combined) =
        leaf(dir, "untrusted", &untrusted, Alg::Rsa, None);

    let mut crl = X509CrlBuilder::new().expect("crl");
    crl.set_issuer_name(ca.subject_name()).expect("crl issuer");
    let now = Asn1Time::days_from_now(0).expect("time");
    crl.set_last_update(&now).expect("last update");
    crl.set_next_update(&Asn1Time::days_from_now(30).expect("time"))
        .expect("next update");
    let scratch = X509Builder::new().expect("builder");
    let akid_ctx = scratch.x509v3_context(Some(&ca), None);
    let akid = AuthorityKeyIdentifier::new()
        .keyid(true)
        .build(&akid_ctx)
        .expect("akid");
    crl.append_extension(akid).expect("crl akid");
    let crl_number = X509Extension::new_from_der(
        &Asn1Object::from_str("2.5.29.20").expect("oid"),
        false,
        &Asn1OctetString::new_from_bytes(&[0x02, 0x01, 0x01]).expect("der"),
    )
    .expect("crl number");
    crl.append_extension(crl_number).expect("crl number");
    let mut rev = X509RevokedBuilder::new().expect("revoked");
    rev.set_serial_number(
        &Asn1Integer::from_bn(&BigNum::from_u32(6).expect("bn")).expect("serial"),
    )
    .expect("serial");
    rev.set_revocation_date(&now).expect("date");
    crl.add_revoked(rev.build()).expect("add revoked");
    crl.sign(&ca_key, MessageDigest::sha256())
        .expect("crl sign");
    let crl = crl.build().expect("crl build");
    let crl_path = dir.join("crl.pem");
    let crl_pem = crl.to_pem().expect("crl pem");
    write(&crl_path, std::slice::from_ref(&crl_pem));
    let ca_and_crl = dir.join("ca-and-crl.pem");
    write(&ca_and_crl, &[cert_pem(&ca), crl_pem]);

    Pki {
        dir: dir.to_path_buf(),
        ca: ca_path,
        ca_key: ca_key_path,
        server_cert,
        server_key,
        combined,
        ecdsa_cert,
        ecdsa_key,
        ecdsa_combined,
        sni_cert,
        sni_key,
        sni_combined,
        client_cert,
        client_key,
        client_combined,
        revoked_client_cert,
        revoked_client_key,
        revoked_client_combined,
        untrusted_client_cert,
        untrusted_client_key,
        untrusted_client_combined,
        crl: crl_path,
        ca_and_crl,
    }
}
