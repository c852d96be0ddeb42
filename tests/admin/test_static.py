"""The web UI's static files over real HTTP: content types, ETag/304, the SPA fallback, no way out of the
directory, the ``server.static_dir`` override, and no API key needed to load them."""

from __future__ import annotations

import socket
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from antigravityd.admin.static_files import PACKAGE_STATIC_DIR, StaticFiles
from tests.admin.harness import client, start_admin_daemon


def raw_get(url: str, target: str) -> bytes:
    """Send a request line exactly as written (an HTTP client would normalise the dots away)."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as s:
        s.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        chunks = []
        while data := s.recv(65536):
            chunks.append(data)
    return b"".join(chunks)


def test_ui_files_are_public_typed_and_cacheable(admin_daemon):
    with client(admin_daemon, key="") as c:
        index = c.get("/")
        assert index.status_code == 200 and index.headers["content-type"] == "text/html; charset=utf-8"
        assert b'src="/ui/app.js"' in index.content
        csp = index.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert index.headers["x-content-type-options"] == "nosniff"
        assert index.headers["cache-control"] == "no-cache"

        js = c.get("/ui/app.js")
        assert js.status_code == 200 and js.headers["content-type"] == "text/javascript; charset=utf-8"
        assert c.get("/ui/style.css").headers["content-type"] == "text/css; charset=utf-8"
        assert c.get("/ui/favicon.svg").headers["content-type"] == "image/svg+xml"
        assert c.get("/ui/pages/accounts.js").status_code == 200

        etag = js.headers["etag"]
        again = c.get("/ui/app.js", headers={"if-none-match": etag})
        assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
        assert c.get("/ui/app.js", headers={"if-none-match": '"other", W/' + etag}).status_code == 304
        assert c.get("/ui/app.js", headers={"if-none-match": '"stale"'}).status_code == 200
        head = c.head("/ui/app.js")
        assert head.status_code == 200 and head.content == b""


def test_spa_routes_fall_back_to_index_but_missing_files_are_404(admin_daemon):
    with client(admin_daemon, key="") as c:
        index = c.get("/").content
        for route in ("/ui/accounts", "/ui/login", "/ui/", "/ui/monitor/deep/link"):
            r = c.get(route)
            assert r.status_code == 200 and r.content == index, route
        for missing in ("/ui/nope.js", "/ui/pages/nope.css", "/ui/app.jss"):
            r = c.get(missing)
            assert r.status_code == 404 and r.json()["error"]["code"] == 404, missing


@pytest.mark.parametrize("target", [
    "/ui/../../../../etc/passwd", "/ui/%2e%2e/%2e%2e/%2e%2e/etc/passwd", "/ui/..%2f..%2f..%2fetc%2fpasswd",
    "/ui/pages/../../static_files.py", "/ui/.hidden", "/ui/%00.js", "/ui/..\\..\\etc\\passwd",
    "/ui/pages%2f..%2f..%2fstatic_files.py",
])
def test_no_way_out_of_the_directory(admin_daemon, target):
    answer = raw_get(admin_daemon.url, target)
    assert b"root:" not in answer and b"def register" not in answer
    status = int(answer.split(b" ", 2)[1])
    # Either refused, or the SPA shell for something that looks like a route — never a file outside the UI.
    assert status in (400, 404) or (status == 200 and b"<!doctype html>" in answer), answer[:200]


def test_locate_rejects_escapes():
    files = StaticFiles(PACKAGE_STATIC_DIR)
    assert files.locate("app.js") == PACKAGE_STATIC_DIR / "app.js"
    assert files.locate("pages/login.js") == PACKAGE_STATIC_DIR / "pages" / "login.js"
    for bad in ("../x", "a/../../x", "%2e%2e/x", ".env", "a/.git/config", "a\\b", "x%00", ""):
        assert files.locate(bad) is None, bad


def test_static_dir_override(fake, workdir: Path):
    custom = workdir / "ui"
    (custom / "sub").mkdir(parents=True)
    (custom / "index.html").write_text("<!doctype html><title>custom</title>")
    (custom / "sub" / "x.js").write_text("export const x = 1;")
    d = start_admin_daemon(workdir / "d", fake, settings={"server.static_dir": str(custom)})
    try:
        with client(d, key="") as c:
            assert b"custom" in c.get("/").content
            assert c.get("/ui/sub/x.js").text == "export const x = 1;"
            assert c.get("/ui/app.js").status_code == 404  # the packaged UI is not mixed in
            r1 = c.get("/ui/sub/x.js")
            (custom / "sub" / "x.js").write_text("export const x = 2;")  # an edit is served (and re-tagged)
            r2 = c.get("/ui/sub/x.js")
            assert r2.text == "export const x = 2;" and r2.headers["etag"] != r1.headers["etag"]
    finally:
        d.close()
