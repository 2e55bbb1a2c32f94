"""A small JSON-over-HTTP client for OpenAI-compatible servers: timeouts, retries, clear errors.

Retries with exponential backoff on 429, 5xx, timeouts and dropped connections; a 401/403 is
an immediate error that names the server and the key's environment variable. A redirect to
another origin is refused, so the key never leaves the server it was given for. Only the
standard library is used, so the client works wherever Python does.
"""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request

from recsys.errors import RecsysError
from recsys.io.net import same_origin_opener


class LLMServerError(RecsysError):
    """The server could not be used: unreachable, refused the key, or kept failing."""


class LLMTimeout(LLMServerError):
    pass


class LLMAuthError(LLMServerError):
    pass


RETRY_STATUS = {429, 500, 502, 503, 504}


def post_json(url: str, payload: dict, api_key: str = "", timeout: float = 60.0, max_retries: int = 3,
              backoff: float = 0.5, key_env: str = "OPENAI_API_KEY") -> dict:
    data = json.dumps(payload).encode()
    headers = {"Content-Type": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    last: Exception | None = None
    for attempt in range(max_retries + 1):
        if attempt:
            time.sleep(backoff * 2 ** (attempt - 1))
        req = urllib.request.Request(url, data=data, headers=headers, method="POST")
        try:
            with same_origin_opener().open(req, timeout=timeout) as resp:
                return json.loads(resp.read().decode())
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:200]
            if exc.code in (401, 403):
                raise LLMAuthError(f"{url}: HTTP {exc.code}, the server rejected the API key "
                                   f"(read from ${key_env}; set it or check it): {detail}") from exc
            if exc.code not in RETRY_STATUS:
                raise LLMServerError(f"{url}: HTTP {exc.code}: {detail}") from exc
            last = exc
        except (TimeoutError, socket.timeout):
            last = LLMTimeout(f"{url}: no answer within {timeout:g} s")
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, (TimeoutError, socket.timeout)):
                last = LLMTimeout(f"{url}: no answer within {timeout:g} s")
            elif isinstance(exc.reason, ConnectionRefusedError) or attempt == max_retries:
                raise LLMServerError(f"cannot reach {url}: {exc.reason}; is the server running?") from exc
            else:
                last = exc
        except (ConnectionError, json.JSONDecodeError) as exc:
            last = exc
    if isinstance(last, LLMTimeout):
        raise LLMTimeout(f"{last} (after {max_retries + 1} attempts)")
    raise LLMServerError(f"{url}: failed after {max_retries + 1} attempts: {last}")
