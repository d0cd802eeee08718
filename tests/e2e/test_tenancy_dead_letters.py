"""Dead letters across tenants (issue #15): a tenant that names another tenant's function gets
the 404 that a function of nobody's gets, for the list, the replay and the purge alike, and the
other tenant's dead letters stay as they were."""

from __future__ import annotations

import time

from conftest import GustServer, error_of, pack, unique
from test_tenancy import Client, new_tenant

ALWAYS_FAILS = {
    "gust.toml": 'runtime = "python3"\nhandler = "main.handler"\nmax_retries = 0\n',
    "main.py": "def handler(event, context):\n    raise RuntimeError('always fails')\n",
}


def dead_letter_of(owner: Client, name: str) -> str:
    """Deploys an always-failing function for `owner`, invokes it asynchronously once and
    returns the invocation's id once it is a dead letter."""
    r = owner.deploy(name, pack(ALWAYS_FAILS))
    assert r.status_code == 201, (r.status_code, r.text)
    r = owner.api("POST", f"/api/v1/functions/{name}/invoke", json={},
                  headers={"X-Gust-Invocation-Type": "Event"})
    assert r.status_code == 202, (r.status_code, r.text)
    invocation_id = r.headers["X-Gust-Activation-Id"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        state = owner.api("GET", f"/api/v1/invocations/{invocation_id}").json().get("state")
        if state == "dead":
            return invocation_id
        time.sleep(0.1)
    raise AssertionError(f"{invocation_id} did not become a dead letter (last state {state})")


def dead_letter_ids(client: Client, name: str) -> list[str]:
    r = client.api("GET", f"/api/v1/functions/{name}/dead-letters")
    assert r.status_code == 200, (r.status_code, r.text)
    return [item["id"] for item in r.json()["dead_letters"]]


def test_another_tenants_dead_letters_answer_404_to_list_replay_and_purge(gust: GustServer):
    _, owner = new_tenant(gust, "dlq-owner")
    _, intruder = new_tenant(gust, "dlq-intruder")
    name = unique("dlq-private")
    letter = dead_letter_of(owner, name)
    ghost = unique("dlq-ghost")  # nobody's function: what the intruder's answers must look like

    for target in (name, ghost):
        listed = intruder.api("GET", f"/api/v1/functions/{target}/dead-letters")
        assert listed.status_code == 404, (target, listed.status_code, listed.text)
        for body in (None, {"ids": [letter]}):
            kw = {} if body is None else {"json": body}
            replay = intruder.api("POST", f"/api/v1/functions/{target}/dead-letters/replay", **kw)
            assert replay.status_code == 404, (target, body, replay.status_code, replay.text)
            assert error_of(replay)["code"] == "not_found"
            purge = intruder.api("DELETE", f"/api/v1/functions/{target}/dead-letters", **kw)
            assert purge.status_code == 404, (target, body, purge.status_code, purge.text)
            assert error_of(purge)["code"] == "not_found"

    # The owner's dead letter is untouched, and the owner can still act on it.
    assert dead_letter_ids(owner, name) == [letter]
    assert owner.api("GET", f"/api/v1/invocations/{letter}").json()["state"] == "dead"
    purged = owner.api("DELETE", f"/api/v1/functions/{name}/dead-letters")
    assert purged.status_code == 200 and purged.json()["purged"] == [letter], purged.text


def test_replay_and_purge_of_a_function_without_dead_letters_still_answer_200(gust: GustServer):
    """A function of one's own with no dead letters is not a 404: the answer lists none."""
    _, owner = new_tenant(gust, "dlq-empty")
    name = unique("dlq-none")
    r = owner.deploy(name, pack(ALWAYS_FAILS))
    assert r.status_code == 201, (r.status_code, r.text)
    replay = owner.api("POST", f"/api/v1/functions/{name}/dead-letters/replay")
    assert replay.status_code == 200 and replay.json()["replayed"] == [], replay.text
    purge = owner.api("DELETE", f"/api/v1/functions/{name}/dead-letters")
    assert purge.status_code == 200 and purge.json()["purged"] == [], purge.text
