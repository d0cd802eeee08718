"""`gust login URL TOKEN` checks the server and the token before it saves anything (issue #15):
a wrong token or an address where no gust answers is a non-zero exit with the reason, and the
config file is exactly as it was (absent stays absent)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from conftest import CLI_TIMEOUT_S, GustServer, free_port


def login(gust: GustServer, home: Path, url: str, token: str) -> subprocess.CompletedProcess:
    env = gust.cli_env(with_connection=False)
    env["HOME"] = str(home)
    env["XDG_CONFIG_HOME"] = str(home / ".config")
    return subprocess.run([gust.binary, "login", url, token], capture_output=True, text=True,
                          timeout=CLI_TIMEOUT_S, cwd=home, env=env, stdin=subprocess.DEVNULL)


def test_a_failed_login_saves_nothing(gust: GustServer, tmp_path: Path):
    config = tmp_path / ".config" / "gust" / "config.toml"

    wrong = login(gust, tmp_path, gust.url, "not-the-token")
    assert wrong.returncode != 0, wrong.stdout
    assert not config.exists(), config.read_text()
    assert "401" in wrong.stderr and "nothing saved" in wrong.stderr, wrong.stderr

    unreachable = f"http://127.0.0.1:{free_port()}"
    refused = login(gust, tmp_path, unreachable, gust.token)
    assert refused.returncode != 0, refused.stdout
    assert not config.exists(), config.read_text()
    assert unreachable in refused.stderr and "nothing saved" in refused.stderr, refused.stderr

    good = login(gust, tmp_path, gust.url, gust.token)
    assert good.returncode == 0, good.stderr
    saved = config.read_bytes()
    assert gust.token.encode() in saved and gust.url.encode() in saved

    # A later failed login leaves the good one in place, byte for byte.
    for url, token in ((gust.url, "still-not-the-token"), (unreachable, "another-token")):
        failed = login(gust, tmp_path, url, token)
        assert failed.returncode != 0, failed.stdout
        assert config.read_bytes() == saved, (url, token)
