"""A real SMTP server for tests (aiosmtpd on 127.0.0.1), with switchable failures, and
self-signed certificates for its STARTTLS and implicit TLS."""

from __future__ import annotations

import socket
import ssl
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass(frozen=True)
class Certificate:
    """A self-signed server certificate: ``cert_file`` is also the CA file a client trusts."""

    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        """For aiosmtpd: ``tls_context=`` (STARTTLS) or ``ssl_context=`` (implicit TLS)."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


def self_signed_certificate(directory: Path, name: str, subject_alt_name: str) -> Certificate:
    """A fresh key and self-signed certificate for ``subject_alt_name`` (e.g.
    ``IP:127.0.0.1``), made with the ``openssl`` command and a configuration of its own (not
    the system's), valid for two days. A CA (so it can be its own trust anchor) with the key
    usages strict X.509 checking asks for."""
    config = directory / f"{name}.cnf"
    config.write_text(
        "[req]\n"
        "distinguished_name = dn\n"
        "prompt = no\n"
        "[dn]\n"
        f"CN = {name}\n"
        "[self_signed]\n"
        "basicConstraints = critical, CA:TRUE\n"
        "keyUsage = critical, digitalSignature, keyEncipherment, keyCertSign\n"
        "extendedKeyUsage = serverAuth\n"
        f"subjectAltName = {subject_alt_name}\n"
        "subjectKeyIdentifier = hash\n"
    )
    certificate = Certificate(directory / f"{name}.pem", directory / f"{name}.key")
    command = "openssl req -x509 -extensions self_signed -newkey rsa:2048 -nodes -days 2 -sha256"
    files = ("-config", config, "-keyout", certificate.key_file, "-out", certificate.cert_file)
    subprocess.run([*command.split(), *files], check=True, capture_output=True)
    return certificate


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes

    @property
    def message(self) -> EmailMessage:
        return message_from_bytes(self.content, policy=policy.default)  # type: ignore[return-value]


@dataclass
class RecordingHandler:
    """Accepts everything unless told otherwise; records what it accepted."""

    received: list[Received] = field(default_factory=list)
    refuse_recipients: dict[str, str] = field(default_factory=dict)  # address -> "550 …"
    drop_connection_on_data: set[int] = field(default_factory=set)  # 1-based DATA counter
    go_down_on_data: int | None = None  # from this DATA on, the server is gone (port closed)
    stop_listening: Callable[[], None] | None = None
    connections: int = 0
    data_commands: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        with self.lock:
            self.connections += 1
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse_recipients:
            return self.refuse_recipients[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.data_commands += 1
            drop = self.data_commands in self.drop_connection_on_data
        if self.go_down_on_data is not None and self.data_commands >= self.go_down_on_data:
            assert self.stop_listening is not None
            self.stop_listening()  # new connections are refused from now on
            drop = True
        if drop:
            # The connection dies before the message is accepted (no 250 is ever sent).
            server.transport.close()
            return "421 connection lost"
        with self.lock:
            self.received.append(
                Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content)
            )
        return "250 Message accepted for delivery"

    def messages(self) -> list[EmailMessage]:
        return [item.message for item in self.received]


class SmtpSink:
    def __init__(self) -> None:
        self.handler = RecordingHandler()
        self.host = "127.0.0.1"
        self.port = free_port()
        self._controller: Controller | None = None

    def start(self, **smtp_options: object) -> SmtpSink:
        """``smtp_options`` go to aiosmtpd's ``Controller`` (``ssl_context``: implicit TLS)
        and ``SMTP`` (``tls_context``, ``require_starttls``, ``authenticator``…)."""
        self._controller = Controller(
            self.handler, hostname=self.host, port=self.port, **smtp_options
        )
        self._controller.start()
        self.handler.stop_listening = self._controller.server.close  # called on its loop
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
