//! Certificates for the TLS tests, made at run time with rcgen: a CA, a server certificate
//! for 127.0.0.1 and localhost (good as a client's too, as cluster nodes use it), a client
//! certificate, and a second CA that signed nothing
//! the servers present (the "wrong CA"). Nothing is committed; the files live in a temporary
//! directory the test owns.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use jobs_conformance::faults::servers::TlsFiles;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// The PEM files one TLS test uses.
pub struct Pki {
    /// What the server loads: its certificate and key, and the CA its clients' certificates
    /// must chain to.
    pub server: TlsFiles,
    /// The CA that signed the server's certificate (what a client trusts).
    pub ca: PathBuf,
    /// A CA that signed neither certificate.
    pub wrong_ca: PathBuf,
    /// A client certificate and its key, signed by [`Pki::ca`].
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

fn ca(name: &str) -> (String, Issuer<'static, KeyPair>) {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let key = KeyPair::generate().expect("CA key");
    let cert = params.self_signed(&key).expect("self-signed CA");
    (cert.pem(), Issuer::new(params, key))
}

fn leaf(
    names: &[&str],
    common_name: &str,
    usages: &[ExtendedKeyUsagePurpose],
    issuer: &Issuer<'_, KeyPair>,
) -> (String, String) {
    let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    let mut params = CertificateParams::new(names).expect("leaf params");
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.extended_key_usages = usages.to_vec();
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    let key = KeyPair::generate().expect("leaf key");
    let cert = params.signed_by(&key, issuer).expect("signed leaf");
    (cert.pem(), key.serialize_pem())
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    path
}

/// Makes every file under `dir` (created if missing).
pub fn make(dir: &Path) -> Pki {
    std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    let (ca_pem, issuer) = ca("jobs test CA");
    let (wrong_pem, _) = ca("jobs wrong CA");
    // A Redis Cluster node presents its one certificate on both sides of the cluster bus
    // (`--tls-cluster yes`): as a server, and as a client to the other nodes.
    let (server_cert, server_key) = leaf(
        &["127.0.0.1", "localhost"],
        "127.0.0.1",
        &[
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ],
        &issuer,
    );
    let (client_cert, client_key) = leaf(
        &["worker"],
        "worker",
        &[ExtendedKeyUsagePurpose::ClientAuth],
        &issuer,
    );
    let ca = write(dir, "ca.pem", &ca_pem);
    Pki {
        server: TlsFiles {
            cert: write(dir, "server.pem", &server_cert),
            key: write(dir, "server.key", &server_key),
            ca: ca.clone(),
        },
        ca,
        wrong_ca: write(dir, "wrong-ca.pem", &wrong_pem),
        client_cert: write(dir, "client.pem", &client_cert),
        client_key: write(dir, "client.key", &client_key),
    }
}

/// A new temporary directory for one test, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("jobs-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
