"""A fake Discord webhook server on 127.0.0.1 for tests: real HTTP, scripted failures.

In a test::

    with FakeDiscord() as discord:
        discord.fail_next(500, times=2)
        url = discord.webhook_url("alerts")      # http://127.0.0.1:PORT/api/webhooks/…/…
        ...
        assert len(discord.messages) == 1

As a separate process (end-to-end tests)::

    python -m tests.support.fake_discord --port 0 [--ready-file F]

prints `{"port": P}` on its first line (and writes it to the ready file), then serves until
killed. Control endpoint: `POST /_control` with a JSON body, one of
`{"action": "fail", "status": 500, "times": 2}`, `{"action": "fail", "status": 429,
"retry_after": 0.2, "times": 1}`, `{"action": "fail", "status": 500}` (until told otherwise),
`{"action": "heal"}`, `{"action": "reset"}`; `GET /_messages` returns the recorded messages.
"""

from __future__ import annotations

import argparse
import email.parser
import email.policy
import json
import sys
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

WEBHOOK_IDS = {"dashboard": ("1001", "dashboard-secret-token-AAAA"), "alerts": ("1002", "alerts-secret-token-BBBB")}


@dataclass
class Failure:
    status: int
    times: int | None  # None: until healed
    retry_after: float = 0.0


@dataclass
class _State:
    messages: list[dict[str, Any]] = field(default_factory=list)
    requests: int = 0
    failures: list[Failure] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_failure(self) -> Failure | None:
        with self.lock:
            self.requests += 1
            if not self.failures:
                return None
            failure = self.failures[0]
            if failure.times is not None:
                failure.times -= 1
                if failure.times <= 0:
                    self.failures.pop(0)
            return failure


class FakeDiscord:
    """The server, in a thread of the test process; port 0 lets the OS choose."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.state = _State()
        self._server = ThreadingHTTPServer((host, port), _handler_for(self.state))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-discord", daemon=True)

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def webhook_url(self, channel: str) -> str:
        webhook_id, token = WEBHOOK_IDS[channel]
        return f"{self.base_url}/api/webhooks/{webhook_id}/{token}"

    def webhook_urls(self) -> dict[str, str]:
        return {channel: self.webhook_url(channel) for channel in WEBHOOK_IDS}

    @property
    def messages(self) -> list[dict[str, Any]]:
        with self.state.lock:
            return list(self.state.messages)

    @property
    def requests(self) -> int:
        return self.state.requests

    def fail_next(self, status: int, times: int | None = 1, retry_after: float = 0.0) -> None:
        """Answer the next `times` requests (None: all, until `heal`) with `status`."""
        with self.state.lock:
            self.state.failures.append(Failure(status, times, retry_after))

    def heal(self) -> None:
        with self.state.lock:
            self.state.failures.clear()

    def start(self) -> FakeDiscord:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeDiscord:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _handler_for(state: _State) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # keep test output (and URLs) quiet
            pass

        def do_GET(self) -> None:
            if self.path.startswith("/_messages"):
                with state.lock:
                    self._answer(200, {"messages": state.messages, "requests": state.requests})
            else:
                self._answer(404, {"message": "Unknown route", "code": 0})

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            if self.path.startswith("/_control"):
                self._control(json.loads(body or b"{}"))
                return
            channel = _channel_of(self.path)
            if channel is None:
                self._answer(404, {"message": "Unknown Webhook", "code": 10015})
                return
            failure = state.next_failure()
            if failure is not None:
                if failure.status == 429:
                    self._answer(429, {"message": "You are being rate limited.", "retry_after": failure.retry_after,
                                       "global": False})
                elif failure.status == 404:
                    self._answer(404, {"message": "Unknown Webhook", "code": 10015})
                else:
                    self._answer(failure.status, {"message": "upstream trouble"})
                return
            message = _decode(self.headers.get("content-type", ""), body)
            message["channel"] = channel
            with state.lock:
                state.messages.append(message)
            self._answer(200, {"id": str(len(state.messages)), "channel_id": channel})

        def _control(self, command: dict[str, Any]) -> None:
            action = command.get("action")
            with state.lock:
                if action == "fail":
                    state.failures.append(Failure(int(command["status"]), command.get("times"),
                                                  float(command.get("retry_after", 0))))
                elif action == "heal":
                    state.failures.clear()
                elif action == "reset":
                    state.failures.clear()
                    state.messages.clear()
                    state.requests = 0
                else:
                    self._answer(400, {"message": f"unknown action {action!r}"})
                    return
            self._answer(200, {"ok": True})

        def _answer(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


def _channel_of(path: str) -> str | None:
    route = path.split("?", 1)[0]
    for channel, (webhook_id, token) in WEBHOOK_IDS.items():
        if route == f"/api/webhooks/{webhook_id}/{token}":
            return channel
    return None


def _decode(content_type: str, body: bytes) -> dict[str, Any]:
    """A JSON body, or a multipart one (`payload_json` plus files) as Discord accepts them."""
    if content_type.startswith("application/json"):
        return {"payload": json.loads(body), "files": []}
    parsed = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"content-type: {content_type}\r\n\r\n".encode() + body
    )
    payload: dict[str, Any] = {}
    files = []
    for part in parsed.iter_parts():
        name = part.get_param("name", header="content-disposition")
        content = part.get_payload(decode=True) or b""
        if name == "payload_json":
            payload = json.loads(content)
        else:
            files.append({"field": name, "filename": part.get_filename(), "bytes": len(content),
                          "png": content.startswith(b"\x89PNG")})
    return {"payload": payload, "files": files}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="fake Discord webhook server on 127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--ready-file", type=Path)
    args = parser.parse_args(argv)
    server = FakeDiscord(port=args.port)
    ready = json.dumps({"port": server.port, "webhooks": server.webhook_urls()})
    print(ready, flush=True)
    if args.ready_file:
        args.ready_file.write_text(ready)
    try:
        server._server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
