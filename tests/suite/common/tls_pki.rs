//! A throwaway PKI for tests: one CA, server certificates (RSA and ECDSA,
//! `localhost` / 127.0.0.1, plus a second name for SNI), client
//! certificates (trusted, revoked, self-signed), and a CRL revoking one.
//!
//! Self-contained (only the `openssl` crate): call [`make_pki`] with a
//! temporary directory. Files are PEM; `*_combined`
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
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName,
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
    /// Authority Information Access: the OCSP responder URL.
    aia: Option<&'a str>,
    /// Extended key usage OCSPSigning (a delegated OCSP responder).
    ocsp_signer: bool,
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
    if let Some(url) = spec.aia {
        let ctx = b.x509v3_context(issuer.map(|(c, _)| &**c), None);
        #[allow(deprecated)]
        let ext = X509Extension::new(
            None,
            Some(&ctx),
            "authorityInfoAccess",
            &format!("OCSP;URI:{url}"),
        )
        .expect("aia");
        b.append_extension(ext).expect("ext");
    }
    if spec.ocsp_signer {
        let eku = ExtendedKeyUsage::new()
            .other("OCSPSigning")
            .build()
            .expect("eku");
        b.append_extension(eku).expect("ext");
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
        aia: None,
        ocsp_signer: false,
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
        aia: None,
        ocsp_signer: false,
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
        aia: None,
        ocsp_signer: false,
    };
    let (sni_cert, sni_key, sni_combined) = leaf(dir, "sni", &sni, Alg::Rsa, issuer);
    let client = Spec {
        subject: &[("C", "PL"), ("O", "rstunnel"), ("CN", "client")],
        serial: 5,
        ca: false,
        dns: &[],
        ips: &[],
        aia: None,
        ocsp_signer: false,
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

/// OCSP material on top of a [`Pki`]: a delegated responder certificate,
/// server/client leaves (`CN=localhost`, SAN localhost and 127.0.0.1)
/// whose AIA names the responder, and the `openssl ocsp -index` database
/// marking one good and one revoked (keyCompromise).
#[derive(Debug, Clone)]
pub struct OcspPki {
    /// Responder certificate (EKU OCSPSigning, issued by the CA) and key.
    pub signer_cert: PathBuf,
    pub signer_key: PathBuf,
    /// Good leaf, certificate then key.
    pub good_combined: PathBuf,
    /// Revoked leaf, certificate then key.
    pub revoked_combined: PathBuf,
    /// The revoked leaf's certificate alone (a `verifyPeer` CAfile that
    /// holds no CA).
    pub revoked_cert: PathBuf,
    /// The CA database for `openssl ocsp -index`.
    pub index: PathBuf,
}

/// Serials of the OCSP leaves (hex in the index).
const OCSP_GOOD_SERIAL: u32 = 0x20;
const OCSP_REVOKED_SERIAL: u32 = 0x21;
/// The leaf the two responders disagree on: good at the first,
/// revoked at the second (see [`make_ocsp_second_index`]).
const OCSP_DISPUTED_SERIAL: u32 = 0x22;

/// Write the responder certificate and the index (they do not depend on
/// the responder's port): call before starting `openssl ocsp`.
pub fn make_ocsp_responder(pki: &Pki) -> (PathBuf, PathBuf, PathBuf) {
    let (ca, ca_key) = load_ca(pki);
    let spec = Spec {
        subject: &[("CN", "rstunnel test OCSP responder")],
        serial: 0x1f,
        ca: false,
        dns: &[],
        ips: &[],
        aia: None,
        ocsp_signer: true,
    };
    let (cert, key, _) = leaf(
        &pki.dir,
        "ocsp-signer",
        &spec,
        Alg::Rsa,
        Some((&ca, &ca_key)),
    );
    let index = pki.dir.join("ocsp-index.txt");
    std::fs::write(
        &index,
        format!(
            "V\t301231235959Z\t\t{OCSP_GOOD_SERIAL:X}\tunknown\t/CN=localhost\n\
             R\t301231235959Z\t240101000000Z,keyCompromise\t{OCSP_REVOKED_SERIAL:X}\tunknown\t/O=revoked/CN=localhost\n\
             V\t301231235959Z\t\t{OCSP_DISPUTED_SERIAL:X}\tunknown\t/O=disputed/CN=localhost\n"
        ),
    )
    .expect("index");
    (cert, key, index)
}

/// The index of a second responder (same CA and signer as the first)
/// that holds the disputed leaf as revoked (keyCompromise).
pub fn make_ocsp_second_index(pki: &Pki) -> PathBuf {
    let index = pki.dir.join("ocsp-index-second.txt");
    std::fs::write(
        &index,
        format!(
            "R\t301231235959Z\t240101000000Z,keyCompromise\t{OCSP_DISPUTED_SERIAL:X}\tunknown\t/O=disputed/CN=localhost\n"
        ),
    )
    .expect("second index");
    index
}

/// The disputed leaf (`O=disputed, CN=localhost`, SAN localhost and
/// 127.0.0.1), certificate then key, with `aia` as its OCSP responder:
/// good at the first responder, revoked at the second.
pub fn make_ocsp_disputed_leaf(pki: &Pki, aia: &str) -> PathBuf {
    let (ca, ca_key) = load_ca(pki);
    let spec = Spec {
        subject: &[("O", "disputed"), ("CN", "localhost")],
        serial: OCSP_DISPUTED_SERIAL,
        ca: false,
        dns: &["localhost"],
        ips: &["127.0.0.1"],
        aia: Some(aia),
        ocsp_signer: false,
    };
    let (_, _, combined) = leaf(
        &pki.dir,
        "ocsp-disputed",
        &spec,
        Alg::Rsa,
        Some((&ca, &ca_key)),
    );
    combined
}

/// The leaves, with `aia` as their OCSP responder URL.
pub fn make_ocsp_leaves(pki: &Pki, aia: &str) -> OcspPki {
    let (ca, ca_key) = load_ca(pki);
    let (signer_cert, signer_key, index) = (
        pki.dir.join("ocsp-signer.pem"),
        pki.dir.join("ocsp-signer.key"),
        pki.dir.join("ocsp-index.txt"),
    );
    let good = Spec {
        subject: &[("CN", "localhost")],
        serial: OCSP_GOOD_SERIAL,
        ca: false,
        dns: &["localhost"],
        ips: &["127.0.0.1"],
        aia: Some(aia),
        ocsp_signer: false,
    };
    let (_, _, good_combined) = leaf(&pki.dir, "ocsp-good", &good, Alg::Rsa, Some((&ca, &ca_key)));
    // Distinct subjects: the responder's index requires unique ones.
    let revoked = Spec {
        subject: &[("O", "revoked"), ("CN", "localhost")],
        serial: OCSP_REVOKED_SERIAL,
        ..good
    };
    let (revoked_cert, _, revoked_combined) = leaf(
        &pki.dir,
        "ocsp-revoked",
        &revoked,
        Alg::Rsa,
        Some((&ca, &ca_key)),
    );
    OcspPki {
        signer_cert,
        signer_key,
        good_combined,
        revoked_combined,
        revoked_cert,
        index,
    }
}

fn load_ca(pki: &Pki) -> (X509, PKey<Private>) {
    let ca = X509::from_pem(&std::fs::read(&pki.ca).expect("ca")).expect("ca pem");
    let key = PKey::private_key_from_pem(&std::fs::read(&pki.ca_key).expect("ca key"))
        .expect("ca key pem");
    (ca, key)
}
