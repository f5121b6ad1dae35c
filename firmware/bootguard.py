"""Firmware slots and the boot counter: a new version that fails to start three times gives way
to the one before it.

    bootguard.activate()                   # boot.py: the active slot goes first on sys.path
    bootguard.run()                        # main.py: count this start, run the slot's main
    await bootguard.confirm_after()        # the app, once it has run 10 s: this version is good

`anklet deploy` copies a version into fw_new/ and calls commit(): fw/ becomes fw_prev/, fw_new/
becomes fw/, and the new version is on trial. Each start on trial is counted in the file
boot_trial; a start that raises resets the board (the next start counts), and so does the
watchdog if the app hangs. The fourth start without a confirmation moves fw/ to fw_bad/ and
fw_prev/ back to fw/. The settings and calibration (config.json) live at the root, outside the
slots: no deploy or revert touches them. Every step is a rename, so a power cut at any point
leaves a version that boots (activate() finishes an interrupted swap).
"""

import os
import sys

from micropython import const

ACTIVE = "fw"
STAGED = "fw_new"
PREVIOUS = "fw_prev"
REJECTED = "fw_bad"
TRIAL = "boot_trial"  # present while the active version is on trial; holds its start count
REVERTED = "boot_reverted"  # why the last revert happened, for a person at the REPL
MAX_STARTS = const(3)
CONFIRM_MS = const(10_000)
_S_IFDIR = const(0x4000)  # os.stat() mode bit: a directory


def _exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def _is_dir(path):
    try:
        return bool(os.stat(path)[0] & _S_IFDIR)
    except OSError:
        return False


def _rmtree(path):
    if _is_dir(path):
        for entry in os.ilistdir(path):
            _rmtree(path + "/" + entry[0])
        os.rmdir(path)
    elif _exists(path):
        os.remove(path)


def _read_int(path):
    try:
        with open(path) as f:
            return int(f.read())
    except (OSError, ValueError):
        return None


def _write(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    if _exists(path):
        os.remove(path)  # FAT cannot rename over a file (littlefs can)
    os.rename(tmp, path)


def _remove(path):
    try:
        os.remove(path)
    except OSError:
        pass


def activate():
    """Put the active slot first on sys.path, finishing a swap that a power cut interrupted."""
    if not _is_dir(ACTIVE):
        if _is_dir(STAGED) and _exists(TRIAL):
            os.rename(STAGED, ACTIVE)  # commit() stopped between its two renames
        elif _is_dir(PREVIOUS):
            os.rename(PREVIOUS, ACTIVE)  # a revert stopped half-way
            _remove(TRIAL)
    if ACTIVE not in sys.path:
        sys.path.insert(0, ACTIVE)


def commit():
    """Swap the staged version in; it starts on trial. `anklet deploy` calls this at the REPL."""
    if not _is_dir(STAGED):
        raise OSError("nothing staged in %s/" % STAGED)
    unproven = _exists(TRIAL)
    _write(TRIAL, "0")
    if unproven and _is_dir(PREVIOUS):
        # The running version never confirmed: keep the last good one as the fallback.
        _rmtree(REJECTED)
        if _is_dir(ACTIVE):
            os.rename(ACTIVE, REJECTED)
    else:
        _rmtree(PREVIOUS)
        if _is_dir(ACTIVE):
            os.rename(ACTIVE, PREVIOUS)
    os.rename(STAGED, ACTIVE)
    _remove(REVERTED)


def confirm():
    """The running version works: end its trial (fw_prev/ stays, for a manual rollback)."""
    _remove(TRIAL)


async def confirm_after(ms=CONFIRM_MS):
    """A task for the app: confirm once the app has been running `ms` milliseconds."""
    import asyncio

    await asyncio.sleep_ms(ms)
    confirm()


def status():
    """What a person at the REPL wants to know: the slots, the trial, the last revert."""
    try:
        with open(REVERTED) as f:
            reverted = f.read()
    except OSError:
        reverted = ""
    return {
        "active": _is_dir(ACTIVE),
        "previous": _is_dir(PREVIOUS),
        "trial_starts": _read_int(TRIAL),
        "reverted": reverted,
    }


def _count_start():
    """Count a start on trial (None if none is running); revert after MAX_STARTS failures."""
    starts = _read_int(TRIAL)
    if starts is None:
        return None
    starts += 1
    if starts <= MAX_STARTS:
        _write(TRIAL, str(starts))
        return starts
    if not _is_dir(PREVIOUS):
        why = "the new version failed %d starts; there is no previous version" % MAX_STARTS
        _remove(TRIAL)  # nothing to go back to: let a failure stop at the REPL
    else:
        why = "the new version failed %d starts; back to the previous one" % MAX_STARTS
        _rmtree(REJECTED)
        os.rename(ACTIVE, REJECTED)
        os.rename(PREVIOUS, ACTIVE)
        _remove(TRIAL)
    print("bootguard:", why)
    _write(REVERTED, why)
    return None


def _has_main(slot):
    return _exists(slot + "/main.mpy") or _exists(slot + "/main.py")


def run():
    """Count this start and run the active slot's main; a failure on trial resets the board."""
    activate()
    try:
        starts = _count_start()
    except OSError as exc:
        print("bootguard: boot counter unavailable:", exc)  # flash full: run all the same
        starts = None
    try:
        if not _has_main(ACTIVE):
            raise ImportError("no main in %s/: deploy with `anklet deploy`" % ACTIVE)
        # On the simulated board this loader was itself imported as `main`.
        sys.modules.pop("main", None)
        __import__("main")
    except Exception as exc:
        if starts is None:
            raise
        sys.print_exception(exc)
        print("bootguard: start %d of %d of the new version failed" % (starts, MAX_STARTS))
        import machine

        machine.reset()
    if starts is not None:
        # main returned: the app asked for the REPL. That is no failed start.
        _write(TRIAL, str(starts - 1))
