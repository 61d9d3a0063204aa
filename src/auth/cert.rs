//! A client certificate's subject, the principal of a connection that presented one (only with
//! `[server] client_ca` set, so the certificate was verified during the handshake).

use x509_parser::prelude::{FromDer, X509Certificate};

/// The subject of a DER certificate, as RFC 4514 writes it in certificate order
/// (`CN=billing`, `CN=billing, O=Acme`); `None` if it does not parse.
pub fn subject_of(der: &[u8]) -> Option<String> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    Some(cert.subject().to_string())
}

/// The common name of a subject, for rules that name only `cert:CN=…`.
pub fn common_name(subject: &str) -> Option<&str> {
    subject.split(", ").find_map(|rdn| rdn.strip_prefix("CN="))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subject_and_its_common_name() {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, "Acme");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "billing");
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let subject = subject_of(cert.der()).unwrap();
        assert_eq!(subject, "CN=billing, O=Acme");
        assert_eq!(common_name(&subject), Some("billing"));
        assert_eq!(subject_of(b"not a certificate"), None);
    }
}
