"""The control API's guard and the listener's robustness against bytes that are not HTTP."""

import json
import socket
import subprocess

import pytest
import requests

from conftest import FUNCTIONS, error_of, unique

CONTROL_PATHS = [("GET", "/api/v1/functions"), ("GET", "/api/v1/activations"),
                 ("GET", "/api/v1/routes"), ("GET", "/api/v1/instances"),
                 ("POST", "/api/v1/functions/sneaky/versions"),
                 ("DELETE", "/api/v1/functions/sneaky")]


@pytest.mark.parametrize("method,path", CONTROL_PATHS)
def test_control_api_without_token_answers_401_json(gust, method, path):
    r = gust.request(method, path, data=b"")
    assert r.status_code == 401
    assert error_of(r)["code"] == "unauthenticated"


@pytest.mark.parametrize("method,path", CONTROL_PATHS)
def test_control_api_with_wrong_token_answers_401_json(gust, method, path):
    r = gust.api(method, path, data=b"", headers={"Authorization": "Bearer " + "0" * len(gust.token)})
    assert r.status_code == 401
    assert error_of(r)["code"] == "unauthenticated"


def test_token_of_another_scheme_or_with_suffix_is_refused(gust):
    for value in (gust.token, f"Basic {gust.token}", f"Bearer {gust.token}x",
                  f"Bearer {gust.token[:-1]}"):
        r = gust.api("GET", "/api/v1/functions", headers={"Authorization": value})
        assert r.status_code == 401, value


def test_unauthenticated_delete_leaves_the_function(gust):
    name = unique("guarded")
    gust.deploy(FUNCTIONS / "py-plain-dict", name=name)
    assert gust.request("DELETE", f"/api/v1/functions/{name}").status_code == 401
    assert gust.get(f"/fn/{name}").status_code == 200


def test_cli_with_wrong_token_fails(gust):
    env = gust.cli_env()
    env["GUST_TOKEN"] = "wrong"
    done = subprocess.run([gust.binary, "ls"], capture_output=True, text=True, timeout=60,
                          env=env, cwd=gust.work_dir)
    assert done.returncode != 0
    assert "401" in done.stderr or "token" in done.stderr, done.stderr


def test_admin_token_file_is_private(gust):
    assert (gust.data / "admin.token").stat().st_mode & 0o777 == 0o600


def test_healthz_needs_no_token(gust):
    r = gust.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}


def send_raw(gust, data: bytes, timeout: float = 10) -> bytes:
    """Sends bytes as they are and returns whatever came back before the server closed."""
    answer = b""
    with socket.create_connection(("127.0.0.1", gust.port), timeout=timeout) as s:
        try:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
        except OSError:  # the server may answer and close before it has read everything
            pass
        try:
            while chunk := s.recv(65536):
                answer += chunk
        except ConnectionResetError:
            pass
    return answer


@pytest.mark.parametrize("garbage", [
    b"GARBAGE\r\n\r\n",
    b"GET / HTTP/9.9\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nBad Header Without Colon\r\n\r\n",
    b"\x00\x01\x02\x03\xff\xfe\r\n\r\n",
], ids=["garbage-line", "bad-version", "bad-content-length", "bad-header", "binary"])
def test_malformed_http_answers_400_and_server_keeps_serving(gust, garbage):
    answer = send_raw(gust, garbage)
    assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
    assert b'"invalid_argument"' in answer
    assert requests.get(gust.url + "/healthz", timeout=10).status_code == 200


def test_oversized_header_is_refused_and_server_keeps_serving(gust):
    answer = send_raw(gust, b"GET /healthz HTTP/1.1\r\nX-Big: " + b"a" * (256 * 1024) + b"\r\n\r\n")
    # The answer can be lost to a reset, since the server stops reading; if it arrives, it is 4xx.
    assert answer == b"" or answer.startswith(b"HTTP/1.1 4"), answer[:200]
    assert requests.get(gust.url + "/healthz", timeout=10).status_code == 200


def test_connection_closed_mid_request_does_not_hurt_the_server(gust):
    for partial in (b"GET /fn/x HT", b"POST /fn/x HTTP/1.1\r\nContent-Length: 100\r\n\r\nabc"):
        with socket.create_connection(("127.0.0.1", gust.port), timeout=10) as s:
            s.sendall(partial)
    assert requests.get(gust.url + "/healthz", timeout=10).status_code == 200


def test_control_api_unknown_function_answers_404_json(gust):
    for method, path in [("GET", "/api/v1/functions/nope-nope"),
                         ("GET", "/api/v1/functions/nope-nope/versions"),
                         ("DELETE", "/api/v1/functions/nope-nope"),
                         ("PUT", "/api/v1/functions/nope-nope/aliases/live"),
                         ("POST", "/api/v1/functions/nope-nope/invoke")]:
        r = gust.api(method, path, json={"version": 1} if method == "PUT" else None)
        assert r.status_code == 404, (method, path, r.text)
        assert error_of(r)["code"] == "not_found"


def test_control_api_rejects_malformed_json_bodies_with_400(gust):
    name = unique("bodies")
    gust.deploy(FUNCTIONS / "py-plain-dict", name=name)
    for method, path, body in [("PUT", f"/api/v1/functions/{name}/aliases/live", b"not json"),
                               ("PUT", f"/api/v1/functions/{name}/aliases/live", b'{"version": "1"}'),
                               ("POST", f"/api/v1/functions/{name}/invoke", b"{broken"),
                               ("GET", "/api/v1/activations?limit=0", b"")]:
        r = gust.api(method, path, data=body, headers={"Content-Type": "application/json"})
        assert r.status_code == 400, (method, path, body, r.text)
        assert error_of(r)["code"] == "invalid_argument"


def test_alias_points_at_a_version_and_is_reachable(gust, tmp_path):
    name = unique("aliased")
    for answer in ("one", "two"):
        (tmp_path / answer).mkdir()
        (tmp_path / answer / "main.py").write_text(
            f"def handler(event, context):\n    return '{answer}'\n")
        gust.deploy(tmp_path / answer, name=name)
    r = gust.api("PUT", f"/api/v1/functions/{name}/aliases/stable", json={"version": 1})
    assert r.status_code == 200, r.text
    assert gust.get(f"/fn/{name}@stable").json() == "one"
    assert gust.get(f"/fn/{name}").json() == "two"
    missing = gust.get(f"/fn/{name}@unstable")
    assert missing.status_code == 404
    assert error_of(missing)["code"] == "not_found"
    bad = gust.api("PUT", f"/api/v1/functions/{name}/aliases/stable", json={"version": 9})
    assert bad.status_code == 404
    assert gust.get(f"/fn/{name}@stable").json() == "one"


@pytest.mark.parametrize("target,authorized", [
    (b"/fn/\xff", False),
    (b"/api/v1/functions/%ff", True),
    (b"/api/v1/activations/\xfe", True),
])
def test_path_that_is_not_utf8_answers_404_json_not_500(gust, target, authorized):
    auth = f"Authorization: Bearer {gust.token}\r\n".encode() if authorized else b""
    answer = send_raw(gust, b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n" + auth +
                      b"Connection: close\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 404"), head
    assert json.loads(body)["error"]["code"] == "not_found"
