"""Certificates for the TLS lessons, generated at run time with the `cryptography` package.

`make_certificates(folder)` writes a fresh certificate authority (ca.pem) and a server certificate it
signed (server-cert.pem, server-key.pem) for 127.0.0.1 and localhost, valid for one day. This is what
`openssl` or `mkcert` would do for you; nothing here is NATS API. The private keys never leave `folder`
(a temporary folder: never commit a key).

Importing this module also silences one harmless asyncio warning, and only that one (see
`_EofWarningFilter`): a notebook that uses TLS imports it in its set-up.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALID_FOR = datetime.timedelta(days=1)


@dataclass(frozen=True)
class Certificates:
    ca_file: Path  # what a client must trust (public)
    cert_file: Path  # the server's certificate, signed by the CA (public)
    key_file: Path  # the server's private key (secret)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _builder(subject: str, issuer: x509.Name, public_key) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALID_FOR)
    )


def _write_key(path: Path, key) -> None:
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    path.chmod(0o600)


def make_certificates(folder, hosts=("127.0.0.1", "localhost"), ca_name: str = "NATS course CA") -> Certificates:
    """A new CA and a server certificate for `hosts` (IP addresses or DNS names), written into `folder`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        _builder(ca_name, _name(ca_name), ca_key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    names = [x509.IPAddress(ipaddress.ip_address(h)) if h[0].isdigit() else x509.DNSName(h) for h in hosts]
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        _builder("nats-server", ca_cert.subject, key.public_key())
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    certs = Certificates(folder / "ca.pem", folder / "server-cert.pem", folder / "server-key.pem")
    certs.ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    certs.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(certs.key_file, key)
    return certs  # the CA's own key is not kept: this CA signs nothing else


def describe(cert_file) -> dict:
    """Who a certificate names, who signed it, for which hosts, until when: what a client checks."""
    cert = x509.load_pem_x509_certificate(Path(cert_file).read_bytes())
    try:
        names = [str(n.value) for n in cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value]
    except x509.ExtensionNotFound:
        names = []
    return {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "names": names,
        "valid until (UTC)": f"{cert.not_valid_after_utc:%Y-%m-%d %H:%M}",
    }
