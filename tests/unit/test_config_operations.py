"""Operations settings (TLS, proxies, public URL, SMTP, event delivery): every invalid
setting is refused at start with a message that names the key and the reason."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tidegate.config import load_settings
from tidegate.errors import ConfigInvalid


def write_pair(directory: Path, name: str = "server") -> tuple[Path, Path]:
    """A self-signed certificate and its key, PEM."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def error_for(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> str:
    path = tmp_path / "tidegate.yaml"
    path.write_text(text)
    with pytest.raises(ConfigInvalid) as raised:
        load_settings(path, environ or {})
    return raised.value.message


@pytest.mark.parametrize(
    ("text", "key", "reason"),
    [
        ("public_url: registry.example.com\n", "public_url", "must be an http(s) URL"),
        ("public_url: https://u:p@r.example.com\n", "public_url", "must not have credentials"),
        ("trusted_proxies: [10.0.0.0/33]\n", "trusted_proxies", "not an IP address or CIDR"),
        ("trusted_proxies: nginx\n", "trusted_proxies", "valid list"),
        ("tls: {cert: /nonexistent.crt, key: /nonexistent.key}\n", "tls", "no such file"),
        ("tls: {cert: /etc/hostname}\n", "tls.key", "Field required"),
        ("smtp: {port: 25}\n", "smtp.host", "Field required"),
        ("smtp: {host: mail, port: 70000}\n", "smtp.port", "less than or equal to 65535"),
        ("smtp: {host: mail, from: nobody}\n", "smtp.from", "must be an email address"),
        ("smtp: {host: mail, username: u}\n", "smtp", "username and smtp.password go together"),
        ("smtp: {host: mail, security: ssl}\n", "smtp.security", "'none', 'starttls' or 'tls'"),
        ("events: {max_attempts: 0}\n", "events.max_attempts", "greater than or equal to 1"),
        ("events: {backoff: -1}\n", "events.backoff", "greater than 0"),
        ("events: {backoff: 60, backoff_max: 10}\n", "events", "must not be smaller"),
        ("events: {timeout: forever}\n", "events.timeout", "valid number"),
        ("events: {retries: 3}\n", "events.retries", "Extra inputs are not permitted"),
    ],
)
def test_each_invalid_setting_names_its_key_and_the_reason(
    tmp_path: Path, text: str, key: str, reason: str
) -> None:
    message = error_for(tmp_path, text)
    line = next((ln for ln in message.splitlines() if ln.strip().startswith(f"{key}:")), None)
    assert line is not None, message
    assert reason in line, message


def test_a_key_that_is_not_the_certificates_is_refused(tmp_path: Path) -> None:
    cert, _ = write_pair(tmp_path, "one")
    _, other_key = write_pair(tmp_path, "two")
    message = error_for(tmp_path, f"tls: {{cert: {cert}, key: {other_key}}}\n")
    assert "tls: " in message and "cannot be used together" in message


def test_tls_from_the_environment_and_the_url_it_implies(tmp_path: Path) -> None:
    cert, key = write_pair(tmp_path)
    settings = load_settings(
        None,
        {"TIDEGATE_TLS_CERT": str(cert), "TIDEGATE_TLS_KEY": str(key), "TIDEGATE_LISTEN": "h:1"},
    )
    assert settings.tls is not None and settings.tls.cert == cert
    assert settings.url == "https://h:1"
    message = error_for(tmp_path, "", {"TIDEGATE_TLS_CERT": str(cert)})
    assert "tls.key: Field required" in message


def test_environment_overrides_merge_into_a_section_of_the_file(tmp_path: Path) -> None:
    path = tmp_path / "tidegate.yaml"
    path.write_text("smtp: {host: mail.example.com, port: 2525, from: reg@example.com}\n")
    settings = load_settings(path, {"TIDEGATE_SMTP_HOST": "relay.example.com"})
    assert settings.smtp is not None
    assert (settings.smtp.host, settings.smtp.port) == ("relay.example.com", 2525)
    assert settings.smtp.sender == "reg@example.com"


def test_the_smtp_password_is_hidden_when_shown(tmp_path: Path) -> None:
    path = tmp_path / "tidegate.yaml"
    path.write_text("smtp: {host: mail, username: reg, password: hunter2hunter2}\n")
    assert "hunter2hunter2" not in str(load_settings(path, {}).redacted())


def test_the_settings_shown_use_the_names_of_the_file(tmp_path: Path) -> None:
    """`config check` shows smtp.from (what docs and files say), not the attribute name."""
    path = tmp_path / "tidegate.yaml"
    path.write_text("smtp: {host: mail, from: reg@example.com}\n")
    shown = load_settings(path, {}).redacted()["smtp"]
    assert shown["from"] == "reg@example.com" and "sender" not in shown
