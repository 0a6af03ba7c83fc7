"""The crm-server binary with a configuration file, against real peers on loopback:
aiosmtpd as the SMTP sink, an HTTP receiver that verifies webhooks with the Standard
Webhooks reference library, two businesses that cannot see each other. Every process
is started on a free port and stopped by its pid."""

from __future__ import annotations

import json
import mailbox
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from standardwebhooks import Webhook

ROOT = Path(__file__).resolve().parents[3]
SERVER = ROOT / "target" / "debug" / "crm-server"
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def eventually(what: str, check: Callable[[], bool], seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"not within {seconds} s: {what}")


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


class Receiver(BaseHTTPRequestHandler):
    """Takes webhooks; keeps those whose signature the reference library accepts."""

    verified: list[dict[str, Any]] = []
    refused: list[str] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        try:
            payload = Webhook(SECRET).verify(body, dict(self.headers))
            Receiver.verified.append({"id": self.headers["webhook-id"], "payload": payload})
            self.send_response(204)
        except Exception as error:  # the library's verification error, or bad JSON
            Receiver.refused.append(str(error))
            self.send_response(400)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    if not SERVER.exists():
        pytest.fail(f"{SERVER} is missing: the Rust suite builds it (cargo build -p crm-server)")
    folder = tmp_path_factory.mktemp("hub")
    smtp_port, http_port, server_port = free_port(), free_port(), free_port()
    maildir = folder / "mail"
    sink = subprocess.Popen(
        [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{smtp_port}",
         "-c", "aiosmtpd.handlers.Mailbox", str(maildir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    receiver = ThreadingHTTPServer(("127.0.0.1", http_port), Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    (folder / "crm-server.toml").write_text(f"""
listen = "127.0.0.1:{server_port}"

[tenants.shop]
data = "shop.sqlite"
[tenants.shop.options]
default_region = "DE"
[tenants.shop.delivery]
webhooks = {{ secret = "{SECRET}" }}
smtp = {{ url = "smtp://127.0.0.1:{smtp_port}", from = "Window shop <crm@shop.example>" }}
first_retry_ms = 200

[tenants.salon]
data = "salon.sqlite"
""")
    log = open(folder / "server.log", "w+")
    server = subprocess.Popen([str(SERVER), "--config", str(folder / "crm-server.toml")],
                              stdout=log, stderr=subprocess.STDOUT)
    try:
        eventually("the SMTP sink listens", lambda: listening(smtp_port))
        eventually("the server listens", lambda: listening(server_port))
        keys = dict(re.findall(r"first admin API key of (\w+) \(shown once, keep it\): (crm_[0-9a-f]{64})",
                               (folder / "server.log").read_text()))
        assert set(keys) == {"shop", "salon"}, (folder / "server.log").read_text()
        yield {"url": f"http://127.0.0.1:{server_port}", "keys": keys, "maildir": maildir,
               "receiver": f"http://127.0.0.1:{http_port}", "log": folder / "server.log"}
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=10) == 0, "a graceful stop"
        sink.terminate()
        sink.wait(timeout=10)
        receiver.shutdown()
        log.close()


def call(hub: dict[str, Any], business: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    request = urllib.request.Request(
        hub["url"] + path, method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {hub['keys'][business]}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            text = response.read()
            return response.status, json.loads(text) if text else None
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_a_new_deal_reaches_the_webhook_receiver_signed_and_the_owner_by_mail(hub: dict[str, Any]) -> None:
    for command in [
        {"type": "create_user", "name": "Anton", "role": "manager", "email": "anton@shop.example"},
        {"type": "create_pipeline", "name": "Windows", "stages": [{"name": "New"}]},
        {"type": "define_rules", "rules": [{"key": "new-deal", "when": {"type": "record_created", "record": "deal"},
                                            "then": [{"type": "webhook", "url": hub["receiver"] + "/crm"},
                                                     {"type": "notify", "to": "owner", "channel": "email",
                                                      "text": "New deal: {{ deal.title }}"}]}]},
    ]:
        status, outcome = call(hub, "shop", "POST", "/v1/commands", command)
        assert status == 200, outcome
    status, outcome = call(hub, "shop", "POST", "/v1/commands", {"commands": [
        {"type": "create_contact", "name": "Anna", "phones": ["030 1234567"]},
        {"type": "create_deal", "title": "Order 1001", "contact": {"$ref": 0}, "owner": "usr-1-2"},
    ]})
    assert status == 200, outcome

    eventually("the webhook arrives, its signature verified", lambda: len(Receiver.verified) == 1)
    assert Receiver.refused == []
    webhook = Receiver.verified[0]
    assert webhook["payload"]["type"] == "new-deal"
    assert webhook["payload"]["data"]["deal"]["title"] == "Order 1001"

    def mail() -> list[Any]:
        return list(mailbox.Maildir(str(hub["maildir"]), create=False)) if hub["maildir"].exists() else []

    eventually("the owner's e-mail is in the sink", lambda: len(mail()) == 1)
    message = mail()[0]
    assert message["To"] == "anton@shop.example"
    assert message["Subject"] == "New deal: Order 1001"
    assert message["Message-ID"].endswith("@crm-server>")
    assert message["Message-ID"].startswith(f"<{webhook['id'].split('-')[0]}-")

    def outbox_empty() -> bool:
        return call(hub, "shop", "POST", "/v1/queries", {"type": "outbox"})[1]["items"] == []

    eventually("both are acknowledged in the journal", outbox_empty)


def test_each_business_is_its_own(hub: dict[str, Any]) -> None:
    status, made = call(hub, "salon", "POST", "/v1/commands", {"type": "create_contact", "name": "Vera"})
    assert status == 200, made
    status, page = call(hub, "shop", "GET", "/v1/contacts")
    assert "Vera" not in json.dumps(page)
    status, page = call(hub, "salon", "GET", "/v1/contacts")
    assert [item["name"] for item in page["items"]] == ["Vera"]
    status, problem = call(hub, "salon", "GET", "/v1/events?after=0")
    assert status == 200 and "Anna" not in json.dumps(problem)
