"""Shared fixtures. Tests that need the real datasets in ../shared/datasets skip cleanly without them."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# Everything the tests prepare goes to one scratch cache (kept across tests for speed),
# never into ~/.cache or the repository. Set before recsys is imported anywhere.
os.environ.setdefault("RECSYS_CACHE", tempfile.mkdtemp(prefix="recsys-test-cache-"))
os.environ.setdefault("TQDM_DISABLE", "1")
# Under pytest-xdist (`make test` runs two workers) each worker uses one thread, so two workers share
# two cores instead of oversubscribing them. Set before torch is imported.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("MKL_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("RECSYS_TEST_DATA", REPO.parent / "shared" / "datasets"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED / "MANIFEST.md").is_file():
        pytest.skip(f"real datasets not found at {SHARED} (set RECSYS_TEST_DATA)")
    return SHARED


@pytest.fixture(scope="session")
def ml100k():
    from recsys.data import prepare

    return prepare("ml-100k", progress=False)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path
