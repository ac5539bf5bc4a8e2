"""A real Dovecot IMAP server on loopback for the bounce tests.

Started once per test session from Debian's ``dovecot-imapd`` with a config of its own in a
temporary folder: one passwd-file user (with a non-ASCII password), a maildir, plain IMAP
(and STARTTLS) on one free port and implicit TLS on another, with a certificate from a
test CA (trustme). Each test gets the mailbox emptied. Without Dovecot the tests skip and
say how to install it — except under CI (``CI`` set), where ``.ci/run`` installs it and a
missing server is a failure.
"""

from __future__ import annotations

import contextlib
import imaplib
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
import trustme

from tests.smtp_sink import free_port

USER = "bounces"
PASSWORD = "pässwörd-for-tests"
DOVECOT = "/usr/sbin/dovecot"
INSTALL = "apt-get install dovecot-imapd"


@dataclass
class ImapServer:
    host: str
    port: int
    tls_port: int
    root: Path
    ca: trustme.CA

    def url(self, scheme: str = "imap", *, password: str = PASSWORD, mailbox: str = "") -> str:
        port = self.tls_port if scheme == "imaps" else self.port
        path = f"/{mailbox}" if mailbox else ""
        return f"{scheme}://{USER}:{quote(password, safe='')}@{self.host}:{port}{path}"

    @contextlib.contextmanager
    def client(self) -> Iterator[imaplib.IMAP4]:
        imap = imaplib.IMAP4(self.host, self.port, timeout=10)
        secret = b"\0" + USER.encode() + b"\0" + PASSWORD.encode()
        imap.authenticate("PLAIN", lambda _: secret)
        try:
            yield imap
        finally:
            imap.logout()

    def append(self, data: bytes, mailbox: str = "INBOX") -> None:
        with self.client() as imap:
            typ, reply = imap.append(mailbox, None, None, data)
            assert typ == "OK", reply

    def contents(self, mailbox: str = "INBOX") -> list[bytes]:
        """Every message in ``mailbox`` (without setting a flag); [] when it does not exist."""
        with self.client() as imap:
            typ, _ = imap.select(mailbox, readonly=True)
            if typ != "OK":
                return []
            _, found = imap.uid("SEARCH", "ALL")
            out = []
            for uid in found[0].split():
                _, parts = imap.uid("FETCH", uid.decode(), "(BODY.PEEK[])")
                out.extend(p[1] for p in parts if isinstance(p, tuple))
            return out

    def flags(self, mailbox: str = "INBOX") -> list[str]:
        with self.client() as imap:
            imap.select(mailbox, readonly=True)
            _, found = imap.uid("FETCH", "1:*", "(FLAGS)")
            return [f.decode() for f in found if isinstance(f, bytes)]

    def folders(self) -> list[str]:
        with self.client() as imap:
            _, listed = imap.list()
            return [line.decode().rsplit(" ", 1)[-1].strip('"') for line in listed if line]

    def reset(self) -> None:
        """An empty INBOX and no other folder."""
        with self.client() as imap:
            for folder in self.folders_of(imap):
                if folder != "INBOX":
                    imap.delete(folder)
            _, (count,) = imap.select("INBOX")
            if count and int(count):
                imap.store("1:*", "+FLAGS.SILENT", r"(\Deleted)")
                imap.expunge()

    @staticmethod
    def folders_of(imap: imaplib.IMAP4) -> list[str]:
        _, listed = imap.list()
        return [line.decode().rsplit(" ", 1)[-1].strip('"') for line in listed if line]


def _config(root: Path, port: int, tls_port: int, cert: Path, key: Path, tls: bool) -> str:
    if os.geteuid() == 0:  # Dovecot's own users, as the Debian package sets them up
        internal, login, uid, gid = "dovecot", "dovenull", "dovecot", "dovecot"
    else:
        internal = login = uid = os.environ.get("USER") or str(os.getuid())
        gid = str(os.getgid())
    return f"""\
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
{f"ssl = yes{chr(10)}ssl_cert = <{cert}{chr(10)}ssl_key = <{key}" if tls else "ssl = no"}
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = {internal}
default_internal_group = {gid if os.geteuid() != 0 else "dovecot"}
default_login_user = {login}
first_valid_uid = 0
mail_location = maildir:{root}/mail/%u
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/mail/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port if tls else 0}
    ssl = {"yes" if tls else "no"}
  }}
}}
service anvil {{
  chroot =
}}
service stats {{
  chroot =
}}
"""


def _wait_until_greeting(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"dovecot exited: {log.read_text() if log.exists() else ''}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1) as s:
            if s.recv(64).startswith(b"* OK"):
                return
        time.sleep(0.05)
    raise RuntimeError(f"dovecot did not answer: {log.read_text() if log.exists() else ''}")


@contextlib.contextmanager
def dovecot(*, tls: bool = True) -> Iterator[ImapServer]:
    """Start Dovecot (without ``tls``: no STARTTLS, no implicit TLS); stop it at the end."""
    binary = shutil.which("dovecot") or (DOVECOT if Path(DOVECOT).exists() else None)
    if binary is None:
        raise FileNotFoundError(INSTALL)
    # Not under pytest's tmp_path: Dovecot's unprivileged users must reach this folder.
    root = Path(tempfile.mkdtemp(prefix="newsletter-dovecot-"))
    try:
        ca = trustme.CA()
        leaf = ca.issue_cert("localhost", "127.0.0.1")
        cert, key = root / "cert.pem", root / "key.pem"
        cert.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
        key.write_bytes(leaf.private_key_pem.bytes())
        key.chmod(0o600)
        (root / "mail").mkdir()
        (root / "users").write_text(f"{USER}:{{PLAIN}}{PASSWORD}\n", encoding="utf-8")
        port, tls_port = free_port(), free_port()
        config = root / "dovecot.conf"
        config.write_text(_config(root, port, tls_port, cert, key, tls), encoding="utf-8")
        root.chmod(0o755)
        if os.geteuid() == 0:
            shutil.chown(root / "mail", "dovecot", "dovecot")
            shutil.chown(root / "users", "dovecot", "dovecot")
        log = root / "dovecot.log"
        process = subprocess.Popen(
            [binary, "-F", "-c", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_until_greeting(port, process, log)
            yield ImapServer("127.0.0.1", port, tls_port, root, ca)
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def dovecot_server() -> Iterator[ImapServer]:
    try:
        with dovecot() as server:
            yield server
    except FileNotFoundError:
        if os.environ.get("CI"):
            pytest.fail(f"Dovecot is missing under CI: .ci/run must `{INSTALL}`")
        pytest.skip(f"Dovecot is not installed here (to run these tests: {INSTALL})")


@pytest.fixture
def imap(dovecot_server: ImapServer) -> ImapServer:
    """The session's Dovecot with an empty mailbox."""
    dovecot_server.reset()
    return dovecot_server


def tls_context(server: ImapServer) -> ssl.SSLContext:
    context = ssl.create_default_context()
    server.ca.configure_trust(context)
    return context
