"""The interpreter's HCI on a unix socket (sim/cmodules/ankletwork/hci_socket.c): MICROPYBTUART
`unix:@name` or `unix:/path` connects a socket where the unix port would open a serial device,
and everything else the interpreter opens or sets termios on is left to the real calls."""

from __future__ import annotations

import asyncio
import os
import socket
import stat
import subprocess
from pathlib import Path

from anklet_sim.board import micropython_command, micropython_path
from anklet_sim.radio import BoardRadio, EspLink

HCI_RESET = bytes([0x01, 0x03, 0x0C, 0x00])  # H4 command packet: HCI_Reset, no parameters
BLE_ON = "import bluetooth\nble = bluetooth.BLE()\nble.active(True)\nprint('active')\n"
HANG_S = 60  # a bound against a hang only; every wait below ends on the event it waits for


def _start(script: Path, micropybtuart: str) -> subprocess.Popen[str]:
    env = {**os.environ, "MICROPYPATH": micropython_path(), "MICROPYBTUART": micropybtuart}
    return subprocess.Popen(
        [micropython_command(), str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        env=env,
    )


def _first_command(server: socket.socket, script: Path, micropybtuart: str) -> bytes:
    """Run `script` against `server` and return what NimBLE sends until its HCI Reset."""
    proc = _start(script, micropybtuart)
    try:
        server.settimeout(HANG_S)
        connection, _ = server.accept()
        with connection:
            connection.settimeout(HANG_S)
            received = b""
            while HCI_RESET not in received:
                chunk = connection.recv(64)
                assert chunk, f"the interpreter closed its HCI socket after {received.hex()}"
                received += chunk
            return received
    finally:
        proc.kill()
        proc.wait()


def test_ble_active_sends_hci_reset_on_an_abstract_unix_socket(tmp_path: Path) -> None:
    script = tmp_path / "ble_on.py"
    script.write_text(BLE_ON)
    name = f"anklet-test-hci-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind("\0" + name)
        server.listen(1)
        assert _first_command(server, script, f"unix:@{name}").startswith(HCI_RESET)


def test_ble_active_sends_hci_reset_on_a_unix_socket_file(tmp_path: Path) -> None:
    script = tmp_path / "ble_on.py"
    script.write_text(BLE_ON)
    path = tmp_path / "hci.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(str(path))
        server.listen(1)
        assert _first_command(server, script, f"unix:{path}").startswith(HCI_RESET)


def test_ble_active_raises_when_nobody_listens_on_the_socket(tmp_path: Path) -> None:
    script = tmp_path / "ble_on.py"
    script.write_text(
        "import bluetooth\ntry:\n    bluetooth.BLE().active(True)\n"
        "except OSError as exc:\n    print('refused', exc)\n"
    )
    proc = _start(script, f"unix:@anklet-test-nobody-{os.getpid()}")
    out, _ = proc.communicate(timeout=HANG_S)
    assert "refused" in out, out


def test_files_and_termios_elsewhere_go_to_the_real_calls(tmp_path: Path) -> None:
    # open() with O_CREAT passes its mode on (0o666, less the umask), and tcgetattr on stdin
    # that is not a terminal fails as the real call does.
    script = tmp_path / "files.py"
    script.write_text(
        "import termios\n"
        f"with open({str(tmp_path / 'made.txt')!r}, 'w') as f:\n    f.write('x')\n"
        "try:\n    termios.tcgetattr(0)\n    print('termios: ok')\n"
        "except OSError as exc:\n    print('termios:', exc.errno)\n"
    )
    umask = os.umask(0o022)
    try:
        proc = _start(script, "unix:@unused")
        out, _ = proc.communicate(timeout=HANG_S)
    finally:
        os.umask(umask)
    assert stat.S_IMODE((tmp_path / "made.txt").stat().st_mode) == 0o644
    assert "termios: 25" in out, out  # ENOTTY


def test_the_board_radio_serves_each_ble_active_of_a_boot(tmp_path: Path) -> None:
    # A boot's controller stays behind one socket: NimBLE turned off and on again (a new
    # connection) finds it, and the interpreter's BLE comes up both times.
    script = tmp_path / "twice.py"
    script.write_text(BLE_ON + "ble.active(False)\nble.active(True)\nprint('active again')\n")

    async def body() -> str:
        radio = BoardRadio(EspLink(), tmp_path / "hci", "24:A1:60:C0:FF:EE")
        spec = await radio.boot()
        assert spec.startswith("unix:@")
        proc = await asyncio.create_subprocess_exec(
            micropython_command(),
            str(script),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env={**os.environ, "MICROPYPATH": micropython_path(), "MICROPYBTUART": spec},
        )
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), HANG_S)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            await radio.stop()
        return out.decode()

    out = asyncio.run(body())
    assert "active\n" in out and "active again\n" in out, out
