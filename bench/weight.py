"""What a logged-in member's browser downloads: the home page's first visit (its HTML and
every stylesheet and script it loads) and a later page (the notes list, the static files
already cached), asked with `Accept-Encoding: gzip` as browsers do. Bytes are what crosses
the wire: the response headers plus the body as sent. Prints one JSON line.

    .venv/bin/python bench/weight.py
"""

from __future__ import annotations

import json
import re
import urllib.request
from contextlib import ExitStack

from common import demo_node, log_in

# The first visit's weight before issue 11 (no compression, htmx on every page), measured
# with this script at commit e0e7cff.
BEFORE_FIRST_VISIT = 63_933
ASSETS = re.compile(r'<(?:script[^>]*\ssrc|link[^>]*\shref)="(/static/[^"]+)"')


def transferred(url: str, cookie: str) -> int:
    """The bytes one response puts on the wire: its headers and its (encoded) body."""
    request = urllib.request.Request(
        url, headers={"Cookie": f"hameau_session={cookie}", "Accept-Encoding": "gzip"}
    )
    with urllib.request.urlopen(request) as answer:
        body = answer.read()  # urllib does not decode: the body as sent
        headers = sum(len(f"{name}: {value}\r\n") for name, value in answer.getheaders())
    return len("HTTP/1.1 200 OK\r\n\r\n") + headers + len(body)


def visit(base: str, path: str, cookie: str, cached: set[str]) -> int:
    """A page and the static files it loads that are not cached yet (they are kept a year)."""
    request = urllib.request.Request(base + path, headers={"Cookie": f"hameau_session={cookie}"})
    html = urllib.request.urlopen(request).read().decode()
    total = transferred(base + path, cookie)
    for asset in ASSETS.findall(html):
        if asset not in cached:
            cached.add(asset)
            total += transferred(base + asset, cookie)
    return total


def main() -> None:
    with ExitStack() as stack:
        node, logins = stack.enter_context(demo_node())
        cookie = log_in(node.url, "alex", logins["alex"])
        cached: set[str] = set()
        first = visit(node.url, "/", cookie, cached)
        later = visit(node.url, "/notes", cookie, cached)
    print(
        json.dumps(
            {
                "bench": "weight",
                "first_visit_bytes": first,
                "later_page_bytes": later,
                "first_visit_before_bytes": BEFORE_FIRST_VISIT,
                "first_visit_ratio_to_before": round(first / BEFORE_FIRST_VISIT, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
