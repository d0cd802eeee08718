"""Configuration and event limits (T-CFG-1, T-EV-1): out-of-range limits are refused at deploy;
hostile event shapes reach the function opaque and leave the server unharmed. Not sandbox
layers, but part of the abuse surface: both modes must behave the same."""

import pytest

from conftest import unique


@pytest.mark.parametrize("setting", ["timeout_s = 36000", "memory_mb = 1048576", "memory_mb = 1",
                                     'network = "host"', "tmp_mb = 1048576", "max_instances = 100000"])
def test_T_CFG_1_out_of_range_limits_are_refused(mode, setting, tmp_path):
    d = tmp_path / "fn"
    d.mkdir()
    (d / "main.py").write_text("def handler(e, c):\n    return {}\n")
    (d / "gust.toml").write_text(f'runtime = "python3"\n{setting}\n')
    done = mode.server.cli("deploy", str(d), "--name", unique("cfg"))
    assert done.returncode != 0, f"{setting} was accepted:\n{done.stdout}"
    mode.assert_healthy()


def test_T_EV_1_deeply_nested_and_metacharacter_events_stay_opaque(mode):
    """A 1 MiB body of '[' (a JSON-depth bomb), and headers/query full of shell metacharacters:
    the bystander answers 200, the server stays healthy."""
    hello = mode.deploy("hello", source="hello")
    r = mode.server.post(f"/fn/{hello}?q=%24(reboot)%3B%60id%60%7C%26", data=b"[" * (1 << 20),
                         headers={"Content-Type": "application/json", "X-Evil": "$(reboot); `id` | &&"},
                         timeout=60)
    assert r.status_code == 200, (r.status_code, r.text[:300])
    mode.assert_healthy()
