"""The downloader against a real HTTP server on 127.0.0.1 (no outside network)."""

import hashlib
import http.server
import threading
from functools import partial

import pytest

from recsys.data import prepare
from recsys.data.download import fetch
from recsys.errors import DataError
from tests.conftest import write


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a, **k: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_fetch_verifies_sha256(server, tmp_path):
    root, url = server
    body = b"1 2 3\n2 3 4\n"
    write(root / "seq.txt", body.decode())
    good = hashlib.sha256(body).hexdigest()
    dest = tmp_path / "dl" / "seq.txt"
    assert fetch(f"{url}/seq.txt", dest, good, progress=False).read_bytes() == body
    # a wrong checksum is refused and leaves neither a partial file nor a changed good one
    other = tmp_path / "dl" / "other.txt"
    with pytest.raises(DataError, match="sha256 mismatch"):
        fetch(f"{url}/seq.txt", other, "0" * 64, progress=False)
    assert not other.exists() and not list(other.parent.glob("*.part-*"))
    write(root / "seq.txt", "tampered\n")
    assert fetch(f"{url}/seq.txt", dest, good, progress=False).read_bytes() == body  # cached copy kept
    with pytest.raises(DataError, match="download failed"):
        fetch(f"{url}/missing.txt", tmp_path / "dl" / "m.txt", None, progress=False)


def test_prepare_downloads_missing_files_only_when_asked(server, tmp_path):
    root, url = server
    body = "".join(f"{u} {u % 5 + 1} {(u + 1) % 5 + 1} {(u + 2) % 5 + 1}\n" for u in range(1, 11))
    write(root / "seq.txt", body)
    sha = hashlib.sha256(body.encode()).hexdigest()
    recipe = write(tmp_path / "remote.toml", f"""
name = "remote-toy"
description = "downloaded"
task = "sequential"
[files.inter]
path = "remote/seq.txt"
url = "{url}/seq.txt"
sha256 = "{sha}"
[interactions]
file = "inter"
format = "s3rec_lines"
[split]
method = "leave_one_out"
""")
    with pytest.raises(DataError, match="--download"):
        prepare(recipe, tmp_path / "empty", progress=False)
    ds = prepare(recipe, tmp_path / "empty", download=True, progress=False)
    assert ds.describe()["interactions"] == 30
    assert ds.meta["files"]["inter"]["sha256"] == sha
