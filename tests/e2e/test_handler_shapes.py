"""Each handler shape the contract lists runs as written for AWS Lambda or Vercel, unmodified."""

from conftest import FUNCTIONS, unique


def test_python_lambda_v2_response_sets_status_headers_cookies_and_body(gust):
    name = unique("py-v2")
    gust.deploy(FUNCTIONS / "py-lambda-v2", name=name)
    r = gust.get(f"/fn/{name}")
    assert r.status_code == 201
    assert r.text == "created by lambda v2"
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    assert r.headers["x-answer"] == "42"
    assert r.headers["x-flag"].lower() == "true"
    set_cookies = r.raw.headers.getlist("Set-Cookie")
    assert sorted(set_cookies) == ["session=abc; Path=/", "theme=dark"]
    assert r.headers["X-Gust-Activation-Id"]


def test_python_plain_dict_return_is_sent_as_200_json(gust):
    name = unique("py-dict")
    gust.deploy(FUNCTIONS / "py-plain-dict", name=name)
    r = gust.get(f"/fn/{name}")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    assert r.json() == {"greeting": "hello", "numbers": [1, 2, 3], "nested": {"ok": True}}


def test_python_vercel_handler_class_serves_get_with_query_and_header(gust):
    name = unique("py-vercel")
    gust.deploy(FUNCTIONS / "py-vercel", name=name)
    r = gust.get(f"/fn/{name}?q=sunny", headers={"X-Test-Header": "from-test"})
    assert r.status_code == 200
    assert r.headers["x-shape"] == "vercel-python"
    assert r.json() == {"method": "GET", "q": "sunny", "header": "from-test"}


def test_python_vercel_handler_class_serves_post_with_body(gust):
    name = unique("py-vercel")
    gust.deploy(FUNCTIONS / "py-vercel", name=name)
    r = gust.post(f"/fn/{name}", data="posted text", headers={"Content-Type": "text/plain",
                                                              "X-Test-Header": "h2"})
    assert r.status_code == 202
    assert r.json() == {"method": "POST", "body": "posted text", "header": "h2"}


def test_python_vercel_handler_class_without_do_method_answers_501(gust):
    name = unique("py-vercel")
    gust.deploy(FUNCTIONS / "py-vercel", name=name)
    r = gust.request("DELETE", f"/fn/{name}")
    assert r.status_code == 501


def test_node_commonjs_lambda_handler_runs(gust):
    name = unique("node-cjs")
    gust.deploy(FUNCTIONS / "node-cjs", name=name)
    r = gust.get(f"/fn/{name}?q=cjs-query")
    assert r.status_code == 200
    assert r.headers["x-shape"] == "node-cjs"
    body = r.json()
    assert body["shape"] == "cjs"
    assert body["q"] == "cjs-query"
    assert body["functionName"] == name
    assert body["awsRequestId"] == r.headers["X-Gust-Activation-Id"]


def test_node_esm_export_const_handler_runs(gust):
    name = unique("node-esm")
    gust.deploy(FUNCTIONS / "node-esm", name=name)
    r = gust.get(f"/fn/{name}?q=esm-query")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    assert r.json() == {"shape": "esm", "q": "esm-query", "functionName": name,
                        "awsRequestId": r.headers["X-Gust-Activation-Id"]}


def test_node_vercel_commonjs_res_status_json_sets_status_and_body(gust):
    name = unique("node-vercel-cjs")
    gust.deploy(FUNCTIONS / "node-vercel-cjs", name=name)
    r = gust.get(f"/fn/{name}?a=1&b=two", headers={"X-Test-Header": "vh"})
    assert r.status_code == 201
    assert r.headers["content-type"].startswith("application/json")
    assert r.json() == {"shape": "vercel-cjs", "method": "GET", "query": {"a": "1", "b": "two"},
                        "header": "vh"}


def test_node_vercel_esm_export_default_parses_json_body(gust):
    name = unique("node-vercel-esm")
    gust.deploy(FUNCTIONS / "node-vercel-esm", name=name)
    r = gust.post(f"/fn/{name}", json={"posted": [1, 2]})
    assert r.status_code == 200
    assert r.headers["x-shape"] == "vercel-esm"
    assert r.json() == {"shape": "vercel-esm", "method": "POST", "body": {"posted": [1, 2]}}


def test_wsgi_app_in_project_file_serves_request(gust):
    name = unique("wsgi-proj")
    result = gust.deploy(FUNCTIONS / "wsgi-project", name=name)
    assert [r for r in result["routes"] if r.endswith("/api/wsgi_echo")], result["routes"]
    r = gust.post(f"/fn/{name}/api/wsgi_echo?k=v", data=b"payload",
                  headers={"Content-Type": "text/plain"})
    assert r.status_code == 200
    assert r.headers["x-shape"] == "wsgi"
    assert r.text.startswith("wsgi POST ")
    assert r.text.endswith(" k=v payload")
    routed = gust.get("/api/wsgi_echo?k=routed")
    assert routed.status_code == 200
    assert routed.text.startswith("wsgi GET ")
    assert "k=routed" in routed.text
