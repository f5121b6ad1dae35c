"""make setup's MicroPython build is cached by its source and flags
(sim/build_micropython.py)."""

from __future__ import annotations

import importlib.util
import subprocess
import tarfile
from pathlib import Path

import pytest

from tests.conftest import ROOT

_spec = importlib.util.spec_from_file_location(
    "build_micropython", ROOT / "sim" / "build_micropython.py"
)
assert _spec is not None and _spec.loader is not None
build_micropython = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build_micropython)


def _tarball(path: Path, text: str) -> Path:
    source = path.parent / f"{path.stem}-src"
    (source / "micropython").mkdir(parents=True)
    (source / "micropython" / "README").write_text(text)
    with tarfile.open(path, "w:gz") as tar:
        tar.add(source / "micropython", arcname="micropython")
    return path


def test_same_source_and_flags_reuse_the_build(tmp_path, monkeypatch):
    tarball = _tarball(tmp_path / "a.tar.gz", "one")
    out = tmp_path / "out"
    (out / "bin").mkdir(parents=True)
    (out / "bin" / "micropython").write_text("built before")
    (out / "key").write_text(build_micropython.build_key(tarball, None))

    def no_make(*args, **kwargs):
        raise AssertionError(f"rebuilt: {args}")

    monkeypatch.setattr(subprocess, "run", no_make)
    assert build_micropython.build(tarball, None, 1, out=out) == out / "bin" / "micropython"


def test_a_changed_source_or_flag_changes_the_key(tmp_path):
    one = _tarball(tmp_path / "a.tar.gz", "one")
    two = _tarball(tmp_path / "b.tar.gz", "two")
    key = build_micropython.build_key(one, None)
    assert build_micropython.build_key(two, None) != key
    flags = (*build_micropython.FLAGS[:-1], "MICROPY_PY_SSL=1")
    assert build_micropython.build_key(one, None, flags) != key


def test_a_changed_source_rebuilds(tmp_path, monkeypatch):
    tarball = _tarball(tmp_path / "a.tar.gz", "one")
    out = tmp_path / "out"
    (out / "bin").mkdir(parents=True)
    (out / "bin" / "micropython").write_text("built before")
    (out / "key").write_text("tarball sha256 of another source\n")
    calls = []

    def fake_make(cmd, **kwargs):
        calls.append(cmd)
        raise subprocess.CalledProcessError(2, cmd)

    monkeypatch.setattr(subprocess, "run", fake_make)
    with pytest.raises(subprocess.CalledProcessError):
        build_micropython.build(tarball, None, 1, out=out)
    assert calls and calls[0][0] == "make"
    assert (out / "src" / "micropython" / "README").read_text() == "one"  # unpacked afresh
