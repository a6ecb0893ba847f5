"""Built-in TLS: a certificate made here, signed by a CA made here; skopeo and podman push and
pull with TLS verification on, trusting that CA (and only that CA)."""

from __future__ import annotations

import datetime
import ipaddress
import secrets
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ._clients import Podman, Skopeo, empty_authfile
from ._images import Corpus
from ._servers import free_port, spawn, tidegate_executable, wait_until

pytestmark = pytest.mark.e2e


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def make_ca_and_server_cert(directory: Path) -> tuple[Path, Path, Path]:
    """(CA certificate, server certificate for 127.0.0.1, server key), PEM files."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Tidegate test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
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
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_path, cert_path, key_path = (directory / n for n in ("ca.pem", "server.crt", "server.key"))
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(_pem_key(key))
    return ca_path, cert_path, key_path


@dataclass
class TlsRegistry:
    host: str
    password: str
    ca: Path
    cert_dir: Path  # what containers/image clients read: <dir>/ca.crt


@pytest.fixture(scope="module")
def tls_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsRegistry]:
    work = tmp_path_factory.mktemp("tls")
    ca, cert, key = make_ca_and_server_cert(work)
    cert_dir = work / "certs.d"
    cert_dir.mkdir()
    (cert_dir / "ca.crt").write_bytes(ca.read_bytes())
    port = free_port()
    password = secrets.token_urlsafe(18)
    env = {
        "TIDEGATE_DATA": str(work / "data"),
        "TIDEGATE_LISTEN": f"127.0.0.1:{port}",
        "TIDEGATE_ADMIN_PASSWORD": password,
        "TIDEGATE_TLS_CERT": str(cert),
        "TIDEGATE_TLS_KEY": str(key),
    }
    daemon = spawn("tidegate", [tidegate_executable(), "serve"], work / "tidegate.log", env)
    try:
        url = f"https://127.0.0.1:{port}/healthz"
        wait_until(
            daemon,
            lambda: httpx.get(url, verify=ssl.create_default_context(cafile=ca)).status_code == 200,
            30,
            f"GET {url} -> 200 over TLS",
        )
        yield TlsRegistry(f"127.0.0.1:{port}", password, ca, cert_dir)
    finally:
        daemon.stop()


def test_challenge_realm_is_https_and_plain_http_is_not_served(tls_registry: TlsRegistry) -> None:
    r = httpx.get(
        f"https://{tls_registry.host}/v2/",
        verify=ssl.create_default_context(cafile=tls_registry.ca),
    )
    assert r.status_code == 401
    assert f'realm="https://{tls_registry.host}/auth/token"' in r.headers["WWW-Authenticate"]
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"https://{tls_registry.host}/v2/", verify=True)  # not a public CA
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://{tls_registry.host}/v2/")


def test_skopeo_and_podman_push_and_pull_with_verification_on(
    tls_registry: TlsRegistry, skopeo: Skopeo, podman: Podman, corpus: Corpus
) -> None:
    host, certs = tls_registry.host, str(tls_registry.cert_dir)
    ref = f"{host}/dev/tls/app:1.0"
    skopeo(
        "copy", "--preserve-digests", "--dest-tls-verify=true", "--dest-cert-dir", certs,
        "--dest-creds", f"admin:{tls_registry.password}", corpus.oci("app"), f"docker://{ref}",
    )  # fmt: skip
    inspected = skopeo(
        "inspect", "--raw", "--tls-verify=true", "--cert-dir", certs,
        "--creds", f"admin:{tls_registry.password}", f"docker://{ref}",
    )  # fmt: skip
    assert '"layers"' in inspected.stdout

    authfile = empty_authfile(podman.workdir / "auth.json")
    podman(
        "login", "--tls-verify=true", "--cert-dir", certs, "--authfile", authfile,
        "--username", "admin", "--password-stdin", host, input=tls_registry.password + "\n",
    )  # fmt: skip
    podman("pull", "--tls-verify=true", "--cert-dir", certs, "--authfile", authfile, ref)
    digest = podman("image", "inspect", "--format", "{{.Digest}}", ref).stdout.strip()
    assert digest == corpus.app.digest
    pushed = f"{host}/dev/tls/podman-app:2.0"
    podman("tag", ref, pushed)
    podman("push", "--tls-verify=true", "--cert-dir", certs, "--authfile", authfile, pushed)
    # without the CA, verification fails: the client really checked the certificate
    refused = skopeo(
        "inspect", "--raw", "--tls-verify=true", "--creds", f"admin:{tls_registry.password}",
        f"docker://{pushed}", check=False,
    )  # fmt: skip
    assert refused.returncode != 0 and "certificate" in refused.stderr
    podman("rmi", "--all", "--force")
