"""Side-by-side speed measurements against RecBole (``recsys perf``)."""
