"""HTTP redirects we follow, and those we refuse: one rule for downloads and LLM servers.

urllib follows redirects on its own and keeps every header, ``Authorization`` included, even when
a server sends the request to another host. Here a redirect must stay on the same origin (scheme,
host and port) when a credential is sent, and must stay on https (or loopback http) for downloads.
"""

from __future__ import annotations

import urllib.request
from typing import Callable
from urllib.parse import urlsplit

from recsys.errors import RecsysError


class RedirectRefused(RecsysError):
    """A server redirected where we will not follow."""


def origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), port


class _CheckedRedirects(urllib.request.HTTPRedirectHandler):
    def __init__(self, problem: Callable[[str, str], str | None]):
        self._problem = problem

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        why = self._problem(req.full_url, newurl)
        if why:
            raise RedirectRefused(f"{req.full_url}: HTTP {code} redirect to {newurl[:120]} refused: {why}")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def same_origin_opener() -> urllib.request.OpenerDirector:
    """For requests that carry a credential: a redirect to another origin is an error (the key is not sent)."""
    def problem(old: str, new: str) -> str | None:
        if origin(old) != origin(new):
            return "another origin; the API key is never sent to a host it was not given for"
        return None

    return urllib.request.build_opener(_CheckedRedirects(problem))


def https_opener(allowed: Callable[[str], str | None]) -> urllib.request.OpenerDirector:
    """For downloads: every hop must pass ``allowed`` (https, or http on loopback)."""
    return urllib.request.build_opener(_CheckedRedirects(lambda old, new: allowed(new)))
