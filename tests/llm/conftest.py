"""A small OpenAI-compatible server on 127.0.0.1 for the client tests (bounded, stops with the test)."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class FakeLLM:
    def __init__(self):
        self.requests = 0
        self.fail_next = 0  # answer this many requests with HTTP 500
        self.key = "test-key"
        self.slow_marker = None  # prompts containing this sleep past the client's timeout
        self.delay = 0.0

    def reply(self, path: str, body: dict, auth: str):
        self.requests += 1
        if auth != f"Bearer {self.key}":
            return 401, {"error": {"message": "invalid api key"}}
        if self.fail_next > 0:
            self.fail_next -= 1
            return 500, {"error": {"message": "overloaded"}}
        if path.endswith("/chat/completions"):
            prompt = body["messages"][-1]["content"]
            if self.slow_marker and self.slow_marker in prompt:
                time.sleep(self.delay)
            words = sorted({w for w in prompt.lower().split() if w.isalpha() and len(w) > 5})[:5]
            return 200, {"choices": [{"message": {"role": "assistant", "content": "Likes " + ", ".join(words)}}]}
        if path.endswith("/embeddings"):
            data = [{"index": i, "embedding": [float(len(t)), float(t.count(" ")) + 1.0, 1.0]}
                    for i, t in enumerate(body["input"])]
            return 200, {"data": data}
        return 404, {"error": {"message": "not found"}}


@pytest.fixture
def llm_server(monkeypatch):
    fake = FakeLLM()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            status, payload = fake.reply(self.path, body, self.headers.get("Authorization", ""))
            data = json.dumps(payload).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("RECSYS_TEST_KEY", fake.key)
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield fake
    server.shutdown()
    server.server_close()
