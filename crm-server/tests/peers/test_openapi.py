"""schemathesis against the live crm-server, from the OpenAPI document it serves: every
operation with generated valid and invalid requests (examples, coverage and fuzzing
phases); the server must answer no 5xx, and every answer must match the document
(status code, content type, JSON schema)."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
SERVER = ROOT / "target" / "debug" / "crm-server"
CHECKS = "not_a_server_error,response_schema_conformance,content_type_conformance,status_code_conformance"


def test_schemathesis_finds_no_server_error_and_no_schema_violation(tmp_path: Path) -> None:
    if not SERVER.exists():
        pytest.fail(f"{SERVER} is missing: the Rust suite builds it")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # The generator is one key sending thousands of requests: its rate limit is lifted.
    (tmp_path / "fuzz.toml").write_text(
        f'listen = "127.0.0.1:{port}"\n[tenants.fuzz]\ndata = "fuzz.sqlite"\n'
        "rate_limit = { per_minute = 100000000, burst = 100000000 }\n")
    log = open(tmp_path / "server.log", "w+")
    server = subprocess.Popen([str(SERVER), "--config", str(tmp_path / "fuzz.toml")], stdout=log,
                              stderr=subprocess.STDOUT)
    try:
        key = None
        for _ in range(100):
            found = re.search(r"crm_[0-9a-f]{64}", (tmp_path / "server.log").read_text())
            with socket.socket() as probe:
                if found and probe.connect_ex(("127.0.0.1", port)) == 0:
                    key = found.group(0)
                    break
            time.sleep(0.1)
        assert key, (tmp_path / "server.log").read_text()
        run = subprocess.run(
            [str(Path(sys.executable).parent / "schemathesis"), "run", f"http://127.0.0.1:{port}/v1/openapi.json",
             "-H", f"Authorization: Bearer {key}", "--checks", CHECKS, "--max-examples", "10",
             "--phases", "examples,coverage,fuzzing", "--seed", "20261205", "--no-color",
             "--suppress-health-check", "all", "--generation-database", "none",
             # Revoking keys by number would sooner or later revoke the run's own key
             # (number 1), and every later request would be a 401: tested in http.rs.
             "--exclude-operation-id", "revoke_key"],
            capture_output=True, text=True, timeout=1200)
        print(run.stdout[-4000:])
        assert run.returncode == 0, run.stdout[-8000:]
        generated = re.search(r"(\d+) generated, (\d+) passed", run.stdout)
        assert generated and generated.group(1) == generated.group(2) and int(generated.group(1)) > 1000, run.stdout[-2000:]
    finally:
        server.terminate()
        server.wait(timeout=10)
        log.close()
