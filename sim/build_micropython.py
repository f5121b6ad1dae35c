"""Build MicroPython's unix port with the real `bluetooth` module (NimBLE host), once.

    python3 sim/build_micropython.py                      # from the vendored tarball
    python3 sim/build_micropython.py --source ~/src/micropython   # from a checkout

The simulated board and the firmware tests run in this interpreter: the same Python bindings
(extmod/modbluetooth.c, extmod/nimble/modbluetooth_nimble.c) and NimBLE host that the ESP32
port links, talking H4 HCI to the serial device named by MICROPYBTUART.

It is a 32-bit build (gcc -m32), as the ESP32's Xtensa and RISC-V cores are 32-bit: objects,
bytecode and GC blocks (16 bytes) take the heap an ESP32 gives them, small ints end at 2**30
(beyond, an int allocates: an allocation-free path must stay below), and ticks_us() wraps at
2**30 us, as on the board (py/mpconfig.h MICROPY_PY_TIME_TICKS_PERIOD). It needs a compiler
that builds 32-bit programs (Debian: `apt-get install gcc-multilib`).

It also links `ankletwork` (sim/cmodules/ankletwork/), a work counter for the simulated board's
CPU model: MicroPython's own VM hooks (MICROPY_VM_HOOK_INIT, _LOOP, _RETURN in py/vm.c, set by a
header forced into the build) and the linker's --wrap count what the interpreter does; nothing
in MicroPython's source is changed.

Output, under build/micropython/ (git ignores build/): bin/micropython, lib/asyncio/ (the
tarball has no tools/ to freeze it, so it goes on MICROPYPATH instead; on an ESP32 it is
frozen), and `key`: the source's identity and the build flags. A second run with the same key
does nothing; a changed tarball, checkout commit or flag rebuilds.

Outside this environment the source is
`git clone https://github.com/micropython/micropython && git -C micropython checkout 1c3c201 &&
git -C micropython submodule update --init lib/mynewt-nimble`; pass it with
`make setup MPY_SRC=path/to/micropython`. Needs only gcc, make and python3 (about 20 s on
2 cores).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARBALL = REPO.parent / "shared" / "vendor" / "micropython-1c3c201-unix-nimble-src.tar.gz"
OUT = REPO / "build" / "micropython"
CMODULES = REPO / "sim" / "cmodules"
HOOKS = CMODULES / "ankletwork" / "ankletwork_hooks.h"
FLAGS = (
    "MICROPY_PY_BLUETOOTH=1",
    "MICROPY_BLUETOOTH_NIMBLE=1",
    "MICROPY_PY_BTREE=0",
    "MICROPY_PY_SSL=0",
    "MICROPY_PY_FFI=0",
    "FROZEN_MANIFEST=",
)
#: A 32-bit interpreter, as the ESP32 is (module docstring).
WORD_FLAGS = "-m32"
#: py/gc.c's split-heap growth (on for the heap model, heap_model.c) adds to a void pointer, a
#: GNU C extension the ESP32's toolchain accepts and the unix port's -Werror=pointer-arith not.
HEAP_FLAGS = "-Wno-pointer-arith"


def source_key(tarball: Path | None, checkout: Path | None) -> str:
    """What identifies the source: the tarball's sha256, or a checkout's commit and changes."""
    if checkout is not None:
        git = ["git", "-C", str(checkout)]
        head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True)
        dirty = subprocess.run([*git, "status", "--porcelain"], capture_output=True, text=True)
        if head.returncode != 0:
            return f"dir {checkout.resolve()} (not a git checkout: rebuilt every time)"
        changes = hashlib.sha256(dirty.stdout.encode()).hexdigest()[:16]
        return f"git {head.stdout.strip()} changes {changes}"
    assert tarball is not None
    digest = hashlib.sha256(tarball.read_bytes()).hexdigest()
    return f"tarball sha256 {digest}"


def cmodules_key() -> str:
    """The work counter's sources: a change to them rebuilds."""
    digest = hashlib.sha256()
    for path in sorted(CMODULES.rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(CMODULES).as_posix().encode() + path.read_bytes())
    return f"cmodules sha256 {digest.hexdigest()}"


def build_key(tarball: Path | None, checkout: Path | None, flags: tuple[str, ...] = FLAGS) -> str:
    """What the build depends on; a build whose key file holds the same is reused."""
    return (
        source_key(tarball, checkout)
        + "\nflags "
        + " ".join((*flags, WORD_FLAGS, HEAP_FLAGS))
        + "\n"
        + cmodules_key()
        + "\n"
    )


def check_32bit_compiler() -> str | None:
    """None if gcc builds and links a 32-bit program here, else what to install."""
    probe = subprocess.run(
        ["gcc", WORD_FLAGS, "-x", "c", "-", "-o", os.devnull],
        input="int main(void) { return 0; }\n",
        capture_output=True,
        text=True,
    )
    if probe.returncode == 0:
        return None
    return (
        "gcc cannot build 32-bit programs (the simulated board is a 32-bit MicroPython, as the "
        "ESP32 is): install gcc-multilib (Debian/Ubuntu: sudo apt-get install gcc-multilib)"
    )


def build(tarball: Path | None, checkout: Path | None, jobs: int, out: Path = OUT) -> Path:
    key = build_key(tarball, checkout)
    binary = out / "bin" / "micropython"
    key_file = out / "key"
    cacheable = not key.startswith("dir ")
    if cacheable and binary.exists() and key_file.exists() and key_file.read_text() == key:
        print(f"MicroPython with bluetooth: up to date ({binary})")
        return binary
    if checkout is not None:
        source = checkout.resolve()
    else:
        assert tarball is not None
        source = out / "src" / "micropython"
        shutil.rmtree(out / "src", ignore_errors=True)
        (out / "src").mkdir(parents=True)
        with tarfile.open(tarball) as tar:
            tar.extractall(out / "src", filter="data")
    objects = out / "obj"
    shutil.rmtree(objects, ignore_errors=True)
    print(f"building MicroPython (unix port, NimBLE) from {source} ...", flush=True)
    subprocess.run(
        [
            "make",
            "-C",
            str(source / "ports" / "unix"),
            f"-j{jobs}",
            f"BUILD={objects}",
            *FLAGS,
            f"USER_C_MODULES={CMODULES}",
            f"CFLAGS_EXTRA={WORD_FLAGS} {HEAP_FLAGS} -include {HOOKS}",
            f"LDFLAGS_EXTRA={WORD_FLAGS}",
        ],
        check=True,
        stdout=subprocess.DEVNULL if not os.environ.get("VERBOSE") else None,
    )
    binary.parent.mkdir(parents=True, exist_ok=True)
    # Copied beside it, then renamed over it: interpreters still running (a test suite's boards)
    # keep the old file, where copying onto it would fail ("Text file busy").
    staged = binary.with_name(binary.name + ".new")
    shutil.copy2(objects / "micropython", staged)
    os.replace(staged, binary)
    lib = out / "lib" / "asyncio"
    shutil.rmtree(lib, ignore_errors=True)
    lib.mkdir(parents=True)
    for module in (source / "extmod" / "asyncio").glob("*.py"):
        if module.name != "manifest.py":
            shutil.copy2(module, lib / module.name)
    key_file.write_text(key)
    print(f"built {binary}")
    return binary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--source", type=Path, help="a MicroPython checkout (with lib/mynewt-nimble)"
    )
    parser.add_argument("--tarball", type=Path, default=TARBALL)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    if args.source is None and not args.tarball.exists():
        print(
            f"error: no MicroPython source: {args.tarball} is missing; "
            "pass MPY_SRC=path/to/micropython (see sim/build_micropython.py)",
            file=sys.stderr,
        )
        return 2
    missing = check_32bit_compiler()
    if missing is not None:
        print(f"error: {missing}", file=sys.stderr)
        return 2
    try:
        build(None if args.source else args.tarball, args.source, args.jobs)
    except subprocess.CalledProcessError as exc:
        print(f"error: building MicroPython failed ({exc}); rerun with VERBOSE=1", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
