"""Files and network, safely: where things go (``paths``: the cache, names and paths kept inside their
folders), crash-safe writes and locks (``safe_write``), and HTTP with checked redirects (``net``)."""
