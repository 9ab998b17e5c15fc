"""redis-py and kombu spell a unix-socket Redis URL differently; operators set one ``REDIS_URL``.

redis-py: ``unix:///path/redis.sock?db=N``; kombu: ``redis+socket:///path/redis.sock?virtual_host=N``.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlsplit


def kombu_url(redis_url: str) -> str:
    """kombu's spelling of ``redis_url`` (TCP URLs are the same in both)."""
    parts = urlsplit(redis_url)
    if parts.scheme != "unix":
        return redis_url
    query = parse_qs(parts.query)
    db = query.pop("db", ["0"])[0]
    rest = {key: values[0] for key, values in query.items()}
    rest["virtual_host"] = db
    return f"redis+socket://{parts.path}?{urlencode(rest)}"
