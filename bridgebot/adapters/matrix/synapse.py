"""A throw-away Synapse homeserver on 127.0.0.1, for the tests and ``bridgebot demo``.

Unlike Telegram and Discord, Matrix needs no fake: Synapse (the ``matrix`` extra) starts
locally in a few seconds. :class:`LocalSynapse` writes a minimal config (SQLite, one
client listener on a free port, no federation, rate limits raised, the appservice
registration), runs ``synapse.app.homeserver`` as a child process, waits until it
answers, creates people through the shared-secret admin API (what
``register_new_matrix_user`` does) and stops it again.

Everything is synchronous (a subprocess and ``urllib``) so a session-wide pytest fixture
can hold one homeserver for every Matrix test, whatever event loop each test runs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from bridgebot.adapters.matrix.registration import registration_yaml
from bridgebot.adapters.matrix.settings import MatrixSettings

SERVER_NAME = "bridgebot.test"
START_TIMEOUT = 60.0
_HIGH = {"per_second": 1000, "burst_count": 1000}


class SynapseUnavailable(RuntimeError):
    """Synapse is not installed, or it did not start; the message says why."""


@dataclass(frozen=True)
class MatrixUser:
    user_id: str
    access_token: str
    password: str


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def synapse_installed() -> bool:
    try:
        import synapse  # noqa: F401
    except ImportError:
        return False
    return True


def _signing_key() -> str:
    """An ed25519 signing key in Synapse's file format: "ed25519 <version> <seed>"."""
    seed = base64.b64encode(secrets.token_bytes(32)).decode().rstrip("=")
    return f"ed25519 a_test {seed}\n"


class LocalSynapse:
    """One Synapse process with its config and database in ``directory``."""

    def __init__(self, directory: Path, *, appservice_port: int | None = None,
                 server_name: str = SERVER_NAME) -> None:
        self.directory = Path(directory)
        self.server_name = server_name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.shared_secret = secrets.token_urlsafe(24)
        self.appservice = MatrixSettings(
            homeserver=self.url, server_name=server_name,
            as_token=SecretStr(secrets.token_urlsafe(24)),
            hs_token=SecretStr(secrets.token_urlsafe(24)),
            port=appservice_port or free_port(),
        )
        self.process: subprocess.Popen[bytes] | None = None
        self.start_seconds: float | None = None
        self.log_path = self.directory / "homeserver.log"

    # -- config ------------------------------------------------------------------

    def write_config(self) -> Path:
        d = self.directory
        d.mkdir(parents=True, exist_ok=True)
        (d / "appservice.yaml").write_text(registration_yaml(self.appservice), encoding="utf-8")
        (d / "signing.key").write_text(_signing_key(), encoding="utf-8")
        (d / "log.yaml").write_text(json.dumps({
            "version": 1,
            "formatters": {"plain": {"format": "%(asctime)s %(name)s %(levelname)s %(message)s"}},
            "handlers": {"file": {"class": "logging.FileHandler", "formatter": "plain",
                                  "filename": str(self.log_path)}},
            "root": {"level": "INFO", "handlers": ["file"]},
            "disable_existing_loggers": False,
        }), encoding="utf-8")
        config = {
            "server_name": self.server_name,
            "pid_file": str(d / "homeserver.pid"),
            "listeners": [{"port": self.port, "bind_addresses": ["127.0.0.1"], "type": "http",
                           "tls": False, "x_forwarded": False,
                           "resources": [{"names": ["client"], "compress": False}]}],
            "database": {"name": "sqlite3", "args": {"database": str(d / "homeserver.db")}},
            "log_config": str(d / "log.yaml"),
            "media_store_path": str(d / "media"),
            "signing_key_path": str(d / "signing.key"),
            "registration_shared_secret": self.shared_secret,
            "enable_registration": False,
            "report_stats": False,
            "macaroon_secret_key": secrets.token_urlsafe(24),
            "form_secret": secrets.token_urlsafe(24),
            "trusted_key_servers": [],
            "suppress_key_server_warning": True,
            "federation_domain_whitelist": [],
            "presence": {"enabled": False},
            "enable_metrics": False,
            "app_service_config_files": [str(d / "appservice.yaml")],
            # Tests act fast and often: Synapse's anti-abuse limits would only slow them.
            "rc_message": _HIGH, "rc_registration": _HIGH, "rc_room_creation": _HIGH,
            "rc_login": {"address": _HIGH, "account": _HIGH, "failed_attempts": _HIGH},
            "rc_joins": {"local": _HIGH, "remote": _HIGH}, "rc_joins_per_room": _HIGH,
            "rc_invites": {"per_room": _HIGH, "per_user": _HIGH, "per_issuer": _HIGH},
            "rc_admin_redaction": _HIGH, "rc_profile": _HIGH, "rc_media_create": _HIGH,
        }
        path = d / "homeserver.yaml"
        path.write_text(json.dumps(config, indent=1), encoding="utf-8")  # JSON is valid YAML
        return path

    # -- process -----------------------------------------------------------------

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Start Synapse and wait until its client API answers; raise with the reason if not."""
        if not synapse_installed():
            raise SynapseUnavailable(
                "Synapse is not installed: pip install -e '.[matrix]' (the matrix-synapse package)")
        config = self.write_config()
        began = time.monotonic()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "synapse.app.homeserver", "-c", str(config)],
            cwd=self.directory, stdout=subprocess.DEVNULL,
            stderr=(self.directory / "stderr.log").open("wb"),
        )
        while time.monotonic() - began < timeout:
            if self.process.poll() is not None:
                raise SynapseUnavailable(f"Synapse exited with code {self.process.returncode}: "
                                         f"{self._tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/_matrix/client/versions", timeout=2):
                    self.start_seconds = time.monotonic() - began
                    return
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        self.stop()
        raise SynapseUnavailable(f"Synapse did not answer within {timeout:.0f}s: {self._tail()}")

    def _tail(self) -> str:
        for path in (self.directory / "stderr.log", self.log_path):
            if path.exists():
                lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
                if lines:
                    return " | ".join(lines[-5:])
        return "no output"

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)

    # -- people ------------------------------------------------------------------

    def _request(self, method: str, path: str, body: object | None = None,
                 token: str | None = None) -> dict[str, object]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.url}{path}", data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        with urllib.request.urlopen(request, timeout=30) as response:
            answer: dict[str, object] = json.loads(response.read() or b"{}")
            return answer

    def register(self, localpart: str, *, admin: bool = False,
                 password: str | None = None) -> MatrixUser:
        """Create a person with the shared secret, as ``register_new_matrix_user`` does."""
        password = password or secrets.token_urlsafe(12)
        nonce = str(self._request("GET", "/_synapse/admin/v1/register")["nonce"])
        kind = "admin" if admin else "notadmin"
        mac = hmac.new(self.shared_secret.encode(), digestmod=hashlib.sha1)
        mac.update(b"\x00".join(p.encode() for p in (nonce, localpart, password, kind)))
        digest = mac.hexdigest()
        answer = self._request("POST", "/_synapse/admin/v1/register", {
            "nonce": nonce, "username": localpart, "password": password, "admin": admin,
            "mac": digest,
        })
        return MatrixUser(str(answer["user_id"]), str(answer["access_token"]), password)


def environment_says_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")
