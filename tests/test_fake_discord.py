"""The fake Discord webhook server also runs as its own process, steered over a control endpoint."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def test_separate_process_records_messages_and_obeys_control(tmp_path):
    ready = tmp_path / "ready.json"
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.support.fake_discord", "--port", "0", "--ready-file", str(ready)],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )
    try:
        info = json.loads(server.stdout.readline())
        base = f"http://127.0.0.1:{info['port']}"
        hook = info["webhooks"]["alerts"]
        with httpx.Client(timeout=5) as client:
            client.post(f"{base}/_control", json={"action": "fail", "status": 500, "times": 1}).raise_for_status()
            assert client.post(hook, json={"content": "a"}).status_code == 500
            assert client.post(hook, json={"content": "b"}).status_code == 200
            client.post(f"{base}/_control", json={"action": "fail", "status": 429, "retry_after": 0.5})
            limited = client.post(hook, json={"content": "c"})
            assert limited.status_code == 429 and limited.json()["retry_after"] == 0.5
            assert client.post(f"{base}/api/webhooks/0/wrong", json={}).status_code == 404
            recorded = client.get(f"{base}/_messages").json()
        assert [m["payload"]["content"] for m in recorded["messages"]] == ["b"]
        assert recorded["requests"] == 3
        assert json.loads(ready.read_text())["port"] == info["port"]
    finally:
        server.terminate()
        server.wait(timeout=10)
