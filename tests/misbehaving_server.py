"""A small OpenAI-compatible HTTP server on 127.0.0.1 that misbehaves on purpose.

Each request to /v1/chat/completions takes the next action of its script (then `default`):
    ("ok", text)            a well-formed chat completion with `text` (and reasoning_content)
    ("status", code)        an error status with a JSON error body
    ("retry_after", secs)   429 with a Retry-After header
    ("sleep", secs)         wait, then answer ok (a client timeout shorter than secs fails)
    ("slow", (secs, text))  wait, then answer `text`
    ("garbage", body)       200 with a body that is not a chat completion
    ("drop", None)          close the connection without answering
Every request is recorded (body and Authorization header) for the test to inspect.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Script:
    actions: list[tuple[str, Any]] = field(default_factory=list)
    default: tuple[str, Any] = ("ok", "1. step")
    # responder(body) -> action, used when the script is empty: answers by request content
    responder: Any = None
    requests: list[dict[str, Any]] = field(default_factory=list)
    auth: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next(self, body: dict[str, Any]) -> tuple[str, Any]:
        with self.lock:
            if self.actions:
                return self.actions.pop(0)
        return self.responder(body) if self.responder else self.default


def _completion(text: str, model: str) -> bytes:
    return json.dumps(
        {
            "id": "cmpl-1",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": text,
                        "reasoning_content": "thinking about " + text[:20],
                    },
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18},
        }
    ).encode()


@contextmanager
def misbehaving_server(script: Script) -> Iterator[str]:
    """Serve `script` on a free port; yields the base URL (http://127.0.0.1:PORT/v1)."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # keep test output clean
            pass

        def _send(self, code: int, body: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with script.lock:
                script.requests.append(body)
                script.auth.append(self.headers.get("Authorization", ""))
            kind, arg = script.next(body)
            if kind == "ok":
                self._send(200, _completion(arg, body.get("model", "")))
            elif kind == "status":
                self._send(arg, json.dumps({"error": {"message": f"boom {arg}"}}).encode())
            elif kind == "retry_after":
                err = json.dumps({"error": {"message": "slow down"}}).encode()
                self._send(429, err, {"Retry-After": str(arg)})
            elif kind == "sleep":
                time.sleep(arg)
                with suppress(OSError):  # the client may have given up already
                    self._send(200, _completion("late", body.get("model", "")))
            elif kind == "slow":  # (seconds, text): a correct answer, late
                time.sleep(arg[0])
                with suppress(OSError):
                    self._send(200, _completion(arg[1], body.get("model", "")))
            elif kind == "garbage":
                self._send(200, arg.encode())
            elif kind == "drop":
                self.close_connection = True
                self.connection.shutdown(2)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()
