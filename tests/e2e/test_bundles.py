"""Hostile bundles uploaded straight to the control API are refused with 400 naming the offending
entry, and nothing of them lands on disk, inside the data directory or outside it."""

import io
import os
import tarfile
import uuid
import zipfile
from pathlib import Path

import pytest

from conftest import error_of

MAIN_PY = b"def handler(event, context):\n    return {'ok': True}\n"
FUNCTION = "evil"


def add_file(tar: tarfile.TarFile, name: str, data: bytes = b"pwned\n") -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def add_special(tar: tarfile.TarFile, name: str, kind: bytes, **fields) -> None:
    info = tarfile.TarInfo(name)
    info.type = kind
    for key, value in fields.items():
        setattr(info, key, value)
    tar.addfile(info)


def tar_bundle(build) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz", format=tarfile.GNU_FORMAT) as tar:
        add_file(tar, "main.py", MAIN_PY)  # an otherwise deployable function
        build(tar)
    return out.getvalue()


# Each case: (bundle builder taking the marker file name, the path the error must name).
def zip_slip(marker):
    return tar_bundle(lambda t: add_file(t, f"../../{marker}")), f"../../{marker}"


def deep_zip_slip(marker):
    path = "lib/" + "../" * 12 + f"tmp/{marker}"
    return tar_bundle(lambda t: add_file(t, path)), path


def absolute_path(marker):
    return tar_bundle(lambda t: add_file(t, f"/tmp/{marker}")), f"/tmp/{marker}"


def symlink_to_etc_passwd(marker):
    return (tar_bundle(lambda t: add_special(t, marker, tarfile.SYMTYPE, linkname="/etc/passwd")),
            marker)


def symlink_up_the_tree(marker):
    return (tar_bundle(lambda t: add_special(t, marker, tarfile.SYMTYPE, linkname="../../..")),
            marker)


def write_through_symlinked_dir(marker):
    # `inner` points inside the bundle (allowed), but a later entry writes through it.
    def build(t):
        add_special(t, "real", tarfile.DIRTYPE, mode=0o755)
        add_special(t, "inner", tarfile.SYMTYPE, linkname="real")
        add_file(t, f"inner/{marker}")
    return tar_bundle(build), f"inner/{marker}"


def symlinked_dir_then_escape(marker):
    # The classic two-step: a symlink that looks harmless on its own, then a write through it.
    def build(t):
        add_special(t, "sub", tarfile.DIRTYPE, mode=0o755)
        add_special(t, "sub/up", tarfile.SYMTYPE, linkname="..")
        add_file(t, f"sub/up/{marker}")
    return tar_bundle(build), f"sub/up/{marker}"


def character_device(marker):
    return (tar_bundle(lambda t: add_special(t, marker, tarfile.CHRTYPE, devmajor=1, devminor=3)),
            marker)


def fifo(marker):
    return tar_bundle(lambda t: add_special(t, marker, tarfile.FIFOTYPE)), marker


def hard_link_to_etc_passwd(marker):
    return tar_bundle(lambda t: add_special(t, marker, tarfile.LNKTYPE, linkname="/etc/passwd")), marker


def ten_thousand_files(marker):
    def build(t):
        for i in range(10_000):
            add_file(t, f"{marker}/f{i:05d}.txt", b"x")
    return tar_bundle(build), f"{marker}/f"


def zip_slip_in_zip(marker):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("main.py", MAIN_PY)
        z.writestr(f"../../{marker}", b"pwned\n")
    return out.getvalue(), f"../../{marker}"


CASES = [zip_slip, deep_zip_slip, absolute_path, symlink_to_etc_passwd, symlink_up_the_tree,
         write_through_symlinked_dir, symlinked_dir_then_escape, character_device, fifo,
         hard_link_to_etc_passwd, ten_thousand_files, zip_slip_in_zip]


def places_a_write_could_land(gust) -> list[Path]:
    """Every ancestor of the data dir, and /tmp: where '..' chains or absolute paths point."""
    places = [Path("/tmp"), Path("/")]
    here = gust.data.resolve()
    while True:
        places.append(here)
        if here.parent == here:
            break
        here = here.parent
    return places


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.__name__)
def test_hostile_bundle_is_refused_naming_the_entry_and_writes_nothing(gust, case):
    marker = f"evil-{uuid.uuid4().hex[:10]}"
    bundle, offending = case(marker)
    r = gust.api("POST", f"/api/v1/functions/{FUNCTION}/versions", data=bundle,
                 headers={"Content-Type": "application/gzip"})
    assert r.status_code == 400, r.text
    error = error_of(r)
    assert error["code"] == "invalid_argument"
    assert offending in error["message"], error["message"]

    for place in places_a_write_could_land(gust):
        assert not (place / marker).exists(), f"{place / marker} was written"
    leaked = [p for p in gust.data.rglob(f"*{marker}*")]
    assert leaked == [], leaked
    assert not (gust.data / "functions" / "default" / FUNCTION).exists()
    assert gust.api("GET", f"/api/v1/functions/{FUNCTION}").status_code == 404
    assert gust.get(f"/fn/{FUNCTION}").status_code == 404


def test_refused_bundles_leave_no_staging_files_behind(gust):
    for case in CASES:
        if case is ten_thousand_files:
            continue  # slow, and refused by the same path as the others
        bundle, _ = case(f"evil-{uuid.uuid4().hex[:10]}")
        gust.api("POST", f"/api/v1/functions/{FUNCTION}/versions", data=bundle,
                 headers={"Content-Type": "application/gzip"})
    builds = gust.data / "builds"
    left = sorted(os.listdir(builds)) if builds.exists() else []
    assert left == [], f"{builds} still holds {left}"


def test_garbage_bundle_is_refused_with_400(gust):
    r = gust.api("POST", f"/api/v1/functions/{FUNCTION}/versions", data=b"not an archive at all",
                 headers={"Content-Type": "application/gzip"})
    assert r.status_code == 400
    assert error_of(r)["code"] == "invalid_argument"
    assert not (gust.data / "functions" / "default" / FUNCTION).exists()
