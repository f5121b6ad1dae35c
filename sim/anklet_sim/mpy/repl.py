# The simulated board's REPL: the friendly and raw REPL of MicroPython's pyexec, written in
# MicroPython, on the launcher's pipes. The unix port's own REPL reads a terminal, not a pipe, and
# has no raw REPL; this one lets mpremote (connect, resume, exec, fs cp, soft-reset, reset) and a
# person on a terminal use the simulated board exactly as they use an ESP32.
#
#     fresh = set(sys.modules), list(sys.path)   # simboot.py, before boot.py
#     ...                                        # (imported only now: the app's heap is its own)
#     repl.run(*fresh, run_script)    # when main.py returns (REPL requested) or fails
#
# Protocol (as MicroPython's shared/runtime/pyexec.c): Ctrl-A raw REPL, Ctrl-B friendly REPL,
# Ctrl-C clear the line, Ctrl-D execute ("OK", output, 0x04, error, 0x04) or, on an empty line,
# soft reset; Ctrl-E 'A' Ctrl-A raw-paste with a flow-control window.
import sys

_CTRL_A = 1  # enter the raw REPL
_CTRL_B = 2  # leave the raw REPL (friendly REPL, banner)
_CTRL_C = 3  # clear the line (nothing runs asynchronously here to interrupt)
_CTRL_D = 4  # end of input: execute, or soft reset on an empty line
_CTRL_E = 5  # raw-paste request prefix (friendly REPL: paste mode, not supported)
_WINDOW = 128  # raw-paste window: half the ESP32's 256-byte stdin buffer, as pyexec uses
_EXIT_SOFT_RESET = 5  # the launcher's exit code for a soft reset (anklet_sim.board)
_RESET_CODES = (3, 4, 5)  # exit codes the launcher answers with a new boot


class Repl:
    def __init__(self, modules, path, run_script):
        self.inp = sys.stdin.buffer
        self.out = sys.stdout.buffer
        self._byte = bytearray(1)
        self._modules = modules  # what a fresh boot has loaded before boot.py
        self._path = path
        self._run_script = run_script  # the ROM's way of running boot.py (simboot.py)
        self.globals = {"__name__": "__main__"}

    # --- bytes in and out ------------------------------------------------------------------

    def read(self):
        if not self.inp.readinto(self._byte, 1):
            raise SystemExit(0)  # the launcher closed the pipe: the board is off
        return self._byte[0]

    def write(self, data):
        self.out.write(data)

    # --- the two modes ---------------------------------------------------------------------

    def run(self, raw=False):
        while True:
            raw = self.raw() if raw else self.friendly()

    def banner(self):
        v = sys.implementation.version
        self.write(b"MicroPython v%d.%d.%d; Anklet simulated board with unix\r\n" % v[:3])
        self.write(b'Type "help()" for more information.\r\n')

    def friendly(self):
        """A line-at-a-time REPL for a person; returns True to switch to the raw REPL."""
        self.banner()
        line = bytearray()
        block = []  # lines of a compound statement, finished by an empty line
        self.write(b">>> ")
        while True:
            c = self.read()
            if c == _CTRL_A:
                self.write(b"\r\n")
                return True
            if c == _CTRL_B:
                self.write(b"\r\n")
                return False
            if c == _CTRL_C:
                line = bytearray()
                block = []
                self.write(b"\r\n>>> ")
            elif c == _CTRL_D:
                if line or block:
                    continue
                self.write(b"\r\nMPY: soft reboot\r\n")
                raise SystemExit(_EXIT_SOFT_RESET)  # boot.py and main.py run again
            elif c in (8, 127):
                if line:
                    line = line[:-1]
                    self.write(b"\x08 \x08")
            elif c in (10, 13):
                self.write(b"\r\n")
                text = bytes(line).decode()
                line = bytearray()
                if block or text.rstrip().endswith(":"):
                    if text.strip():
                        block.append(text)
                        self.write(b"... ")
                        continue
                    text = "\n".join(block)
                    block = []
                if text.strip():
                    self.execute(text, "single", eof=False)
                self.write(b">>> ")
            elif c >= 32:
                line.append(c)
                self.write(bytes((c,)))

    def raw(self):
        """The raw REPL mpremote speaks; returns False to switch to the friendly REPL."""
        self.write(b"raw REPL; CTRL-B to exit\r\n>")
        line = bytearray()
        while True:
            c = self.read()
            if c == _CTRL_A:
                if len(line) == 2 and line[0] == _CTRL_E:
                    self.raw_paste(line[1])
                else:
                    self.write(b"raw REPL; CTRL-B to exit\r\n")
                line = bytearray()
                self.write(b">")
            elif c == _CTRL_B:
                self.write(b"\r\n")
                return False
            elif c == _CTRL_C:
                line = bytearray()
            elif c == _CTRL_D:
                self.write(b"OK")
                if not line:
                    self.write(b"\r\n")
                    self.soft_reset()
                    self.write(b"raw REPL; CTRL-B to exit\r\n")
                else:
                    self.execute(bytes(line).decode(), "exec", eof=True)
                line = bytearray()
                self.write(b">")
            else:
                line.append(c)

    def raw_paste(self, command):
        if command != ord("A"):
            self.write(b"R\x00")  # a raw-paste command this board does not know
            return
        self.write(b"R\x01")
        self.write(bytes((_WINDOW & 0xFF, _WINDOW >> 8, _CTRL_A)))
        source = bytearray()
        remain = _WINDOW
        while True:
            c = self.read()
            if c == _CTRL_C or c == _CTRL_D:
                self.write(b"\x04")  # end of data acknowledged
                if c == _CTRL_C:
                    self.write(b"\x04Traceback (most recent call last):\r\nKeyboardInterrupt: \r\n")
                    self.write(b"\x04")
                    return
                break
            source.append(c)
            remain -= 1
            if remain == 0:
                self.write(b"\x01")  # another window is free
                remain = _WINDOW
        self.execute(bytes(source).decode(), "exec", eof=True)

    # --- running code ----------------------------------------------------------------------

    def execute(self, source, mode, eof):
        """Run `source`; with eof, frame the output as pyexec does: out, 0x04, error, 0x04."""
        try:
            exec(compile(source, "<stdin>", mode), self.globals)
        except SystemExit as exc:
            code = exc.args[0] if exc.args else 0
            if code in _RESET_CODES:
                raise  # machine.reset(), the watchdog: the launcher boots the board again
            if eof:
                self.write(b"\x04\x04")
            self.soft_reset()  # sys.exit() on a board: a soft reset
            return
        except BaseException as exc:  # noqa: BLE001 (a REPL reports everything and goes on)
            if eof:
                self.write(b"\x04")
            sys.print_exception(exc, sys.stdout)
            if eof:
                self.write(b"\x04")
            return
        if eof:
            self.write(b"\x04\x04")

    def soft_reset(self):
        """What a soft reset in the raw REPL does on a board: fresh state, boot.py, no main.py."""
        self.write(b"MPY: soft reboot\r\n")
        for name in list(sys.modules):
            if name not in self._modules:
                del sys.modules[name]
        sys.path[:] = self._path
        self.globals = {"__name__": "__main__"}
        self._run_script("boot")


def run(modules, path, run_script, raw=False):
    """Serve the REPL until a reset; `modules` and `path` are those of a fresh boot,
    `run_script("boot")` runs boot.py as the ROM does."""
    Repl(modules, path, run_script).run(raw)
