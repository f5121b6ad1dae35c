# The simulated board's `bluetooth` module: the subset of MicroPython's bluetooth.BLE that the
# firmware uses, bridged over a TCP socket to anklet_sim.radio, which runs a bumble peripheral
# on a virtual link and behaves like the ESP32's NimBLE controller.
#
#     ble = bluetooth.BLE()
#     ble.active(True); ble.irq(handler)
#     ((data, control),) = ble.gatts_register_services(((uuid, ((uuid, FLAG_NOTIFY),)),))
#
# Where the radio is: "ble": {"host": ..., "port": ...} in the sim config JSON (env
# ANKLET_SIM_CONFIG). Without it the module is a radio nobody hears: every call works, no
# central ever connects (serial-only simulations run unchanged).
#
# IRQ delivery. On the ESP32 the NimBLE task queues events and MicroPython's scheduler runs the
# irq handler between two bytecodes of the main program. Here events arriving on the socket are
# dispatched (1) at the start of every BLE method call, and (2) by an asyncio task that waits on
# the socket, so a firmware that sits in `await asyncio.sleep_ms()` gets its IRQs as soon as
# they arrive. Both run in the firmware's own thread, never nested (an irq handler that calls a
# BLE method does not re-enter dispatch), as with micropython.schedule.
#
# Transmit buffers. NimBLE holds notifications in a small mbuf pool until the link layer has
# sent them; when it is empty gatts_notify raises OSError(ENOMEM). This module mirrors that pool
# as a credit count: one credit per notification, returned by the radio after each connection
# event in which the notification went on air.
#
# Wire format (both ways): u16 length | u8 op | body. Ops: 1 JSON control/event, 2 notify or
# credits, 3 indicate, 4 central write.
import json
import os
import socket
import struct

from micropython import const

FLAG_READ = const(0x0002)
FLAG_WRITE_NO_RESPONSE = const(0x0004)
FLAG_WRITE = const(0x0008)
FLAG_NOTIFY = const(0x0010)
FLAG_INDICATE = const(0x0020)

_IRQ_CENTRAL_CONNECT = const(1)
_IRQ_CENTRAL_DISCONNECT = const(2)
_IRQ_GATTS_WRITE = const(3)
_IRQ_GATTS_INDICATE_DONE = const(20)
_IRQ_MTU_EXCHANGED = const(21)
_IRQ_ENCRYPTION_UPDATE = const(28)
_IRQ_GET_SECRET = const(29)
_IRQ_SET_SECRET = const(30)

_OP_JSON = const(1)
_OP_NOTIFY = const(2)  # to the radio: a notification; from the radio: transmit credits
_OP_INDICATE = const(3)
_OP_WRITE = const(4)
_ENOMEM = const(12)
_ENOTCONN = const(107)
_EINVAL = const(22)
_DEFAULT_MTU = const(23)
_PREFERRED_MTU = const(256)  # NimBLE's default preferred ATT MTU in MicroPython's ESP32 port
_TX_BUFFERS = const(12)  # the notification mbufs a connection may hold before ENOMEM
_RX_BUF = const(8192)  # messages from the radio are < 600 bytes; a few connection events' worth

_BASE_TAIL = b"\x00\x00\x00\x10\x00\x80\x00\x00\x80\x5f\x9b\x34\xfb"


class UUID:
    """A 16-bit or 128-bit UUID; iterating it gives its little-endian bytes (as bytes(uuid))."""

    def __init__(self, value):
        if isinstance(value, int):
            self._le = bytes((value & 0xFF, (value >> 8) & 0xFF))
        elif isinstance(value, str):
            digits = value.replace("-", "")
            if len(digits) == 4:
                n = int(digits, 16)
                self._le = bytes((n & 0xFF, n >> 8))
            elif len(digits) == 32:
                raw = bytes(int(digits[i : i + 2], 16) for i in range(0, 32, 2))
                self._le = bytes(reversed(raw))
            else:
                raise ValueError("invalid UUID")
        else:
            raw = bytes(value)
            if len(raw) not in (2, 16):
                raise ValueError("invalid UUID")
            self._le = raw

    def __iter__(self):
        return iter(self._le)

    def __len__(self):
        return len(self._le)

    def __eq__(self, other):
        return isinstance(other, UUID) and self._le == other._le

    def __hash__(self):
        return hash(self._le)

    def __str__(self):
        be = bytes(reversed(self._le))
        h = "".join("%02x" % b for b in be)
        if len(be) == 2:
            return "0x" + h
        return "%s-%s-%s-%s-%s" % (h[0:8], h[8:12], h[12:16], h[16:20], h[20:32])

    def __repr__(self):
        return "UUID(%s)" % self


def _sim_config():
    path = os.getenv("ANKLET_SIM_CONFIG")
    if not path:
        return {}
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def _hex(data):
    return "".join("%02x" % b for b in data)


def _unhex(text):
    return bytes(int(text[i : i + 2], 16) for i in range(0, len(text), 2))


class _Value:
    def __init__(self, size):
        self.data = bytearray(size)
        self.len = 0
        self.append = False


class BLE:
    _instance = None

    def __new__(cls):
        # As on the ESP32: one radio, so BLE() always returns the same object.
        if BLE._instance is None:
            BLE._instance = object.__new__(cls)
            BLE._instance._init()
        return BLE._instance

    def __init__(self):
        pass

    def _init(self):
        cfg = _sim_config()
        self._radio = cfg.get("ble")
        uid = cfg.get("unique_id", "24a160c0ffee")
        mac = bytearray(_unhex(uid))
        mac[5] = (mac[5] + 2) & 0xFF  # the ESP32's BLE MAC is its base MAC + 2
        self._mac = bytes(mac)
        self._active = False
        self._handler = None
        self._sock = None
        self._rx = bytearray(_RX_BUF)
        self._rx_len = 0
        self._dispatching = False
        self._task = None
        self._values = {}
        self._next_handle = 1
        self._conns = {}  # conn_handle → MTU
        self._credits = {}  # conn_handle → free transmit buffers
        self._cfg = {
            "mtu": _PREFERRED_MTU,
            "gap_name": "MPY NIMBLE",
            "bond": False,
            "le_secure": False,
            "mitm": False,
            "io": 3,
            "addr_mode": 0,
        }
        self._hdr = bytearray(7)

    # --- plumbing --------------------------------------------------------------------------

    def _connect(self):
        if self._sock is not None or not self._radio:
            return
        addr = socket.getaddrinfo(self._radio["host"], self._radio["port"])[0][-1]
        sock = socket.socket()
        sock.connect(addr)
        sock.setblocking(False)
        self._sock = sock
        self._send_json({"op": "hello", "mac": _hex(self._mac)})
        self._start_task()

    def _start_task(self):
        try:
            import asyncio
        except ImportError:
            return
        self._task = asyncio.create_task(self._reader(asyncio))

    async def _reader(self, asyncio):
        # Wake the firmware's asyncio loop when the radio has something for it.
        io_queue = asyncio.core._io_queue
        while self._sock is not None:
            yield io_queue.queue_read(self._sock)
            self._pump()

    def _send(self, op, body, body2=None):
        sock = self._sock
        if sock is None:
            return
        n = 1 + len(body) + (len(body2) if body2 is not None else 0)
        hdr = self._hdr
        hdr[0] = n & 0xFF
        hdr[1] = n >> 8
        hdr[2] = op
        self._write_all(memoryview(hdr)[:3])
        self._write_all(body)
        if body2 is not None:
            self._write_all(body2)

    def _write_all(self, data):
        view = memoryview(data)
        while len(view):
            try:
                n = self._sock.send(view)
            except OSError as exc:
                if exc.errno == 11:  # EAGAIN: the radio reads promptly; wait for it
                    self._wait_writable()
                    continue
                self._lost()
                return
            view = view[n:]

    def _wait_writable(self):
        import select

        p = select.poll()
        p.register(self._sock, select.POLLOUT)
        p.poll(100)

    def _send_json(self, obj):
        self._send(_OP_JSON, json.dumps(obj).encode())

    def _lost(self):
        # The radio went away (the test harness stopped): behave as a radio with no central.
        if self._sock is not None:
            try:
                self._sock.close()
            except OSError:
                pass
        self._sock = None
        for conn in list(self._conns):
            self._conns.pop(conn)
            self._irq(_IRQ_CENTRAL_DISCONNECT, (conn, 0, b""))

    def _pump(self):
        """Deliver every complete message from the radio (IRQs run here)."""
        if self._dispatching or self._sock is None:
            return
        self._dispatching = True
        try:
            # A fixed receive buffer: the app leaves a fragmented heap (its ring takes half),
            # where a fresh 4 KB block per call would soon fail.
            rx = self._rx
            while self._rx_len < len(rx):
                try:
                    got = self._sock.readinto(memoryview(rx)[self._rx_len :])
                except OSError:
                    got = None
                if got is None:
                    break
                if got == 0:
                    self._dispatching = False
                    self._lost()
                    return
                self._rx_len += got
            at = 0
            end = self._rx_len
            while end - at >= 2:
                n = rx[at] | (rx[at + 1] << 8)
                if end - at - 2 < n:
                    break
                op = rx[at + 2]
                body = bytes(rx[at + 3 : at + 2 + n])
                at += 2 + n
                self._dispatch(op, body)
            if at:
                rx[: end - at] = rx[at:end]
                self._rx_len = end - at
        finally:
            self._dispatching = False

    def _irq(self, event, data):
        if self._handler is not None:
            return self._handler(event, data)
        return None

    def _dispatch(self, op, body):
        if op == _OP_NOTIFY:  # transmit credits: conn u16, n u8
            conn, n = struct.unpack("<HB", body)
            if conn in self._credits:
                self._credits[conn] = min(_TX_BUFFERS, self._credits[conn] + n)
            return
        if op == _OP_WRITE:
            conn, handle = struct.unpack_from("<HH", body)
            self._store(handle, body[4:])
            self._irq(_IRQ_GATTS_WRITE, (conn, handle))
            return
        if op != _OP_JSON:
            return
        ev = json.loads(body)
        kind = ev["ev"]
        if kind == "connect":
            conn = ev["conn"]
            self._conns[conn] = _DEFAULT_MTU
            self._credits[conn] = _TX_BUFFERS
            self._irq(_IRQ_CENTRAL_CONNECT, (conn, ev["addr_type"], memoryview(_unhex(ev["addr"]))))
        elif kind == "disconnect":
            conn = ev["conn"]
            self._conns.pop(conn, None)
            self._credits.pop(conn, None)
            self._irq(
                _IRQ_CENTRAL_DISCONNECT, (conn, ev["addr_type"], memoryview(_unhex(ev["addr"])))
            )
        elif kind == "mtu":
            self._conns[ev["conn"]] = ev["mtu"]
            self._irq(_IRQ_MTU_EXCHANGED, (ev["conn"], ev["mtu"]))
        elif kind == "enc":
            self._irq(
                _IRQ_ENCRYPTION_UPDATE,
                (ev["conn"], ev["encrypted"], ev["authenticated"], ev["bonded"], ev["key_size"]),
            )
        elif kind == "set_secret":
            value = ev["value"]
            ok = self._irq(
                _IRQ_SET_SECRET,
                (
                    ev["type"],
                    memoryview(_unhex(ev["key"])),
                    None if value is None else memoryview(_unhex(value)),
                ),
            )
            self._send_json({"op": "secret_ack", "req": ev["req"], "ok": bool(ok)})
        elif kind == "get_secret":
            key = ev["key"]
            value = self._irq(
                _IRQ_GET_SECRET,
                (ev["type"], ev["index"], None if key is None else memoryview(_unhex(key))),
            )
            self._send_json(
                {"op": "secret", "req": ev["req"], "value": None if value is None else _hex(value)}
            )
        elif kind == "indicate_done":
            self._irq(_IRQ_GATTS_INDICATE_DONE, (ev["conn"], ev["handle"], ev["status"]))

    def _store(self, handle, data):
        v = self._values.get(handle)
        if v is None:
            return
        at = v.len if v.append else 0
        n = min(len(data), len(v.data) - at)
        v.data[at : at + n] = data[:n]
        v.len = at + n

    # --- the bluetooth.BLE API -------------------------------------------------------------

    def active(self, state=None):
        self._pump()
        if state is None:
            return self._active
        state = bool(state)
        if state and not self._active:
            self._connect()
        if state != self._active:
            self._active = state
            self._send_json({"op": "active", "on": state})
            if not state:
                for conn in list(self._conns):
                    self._conns.pop(conn)
        return self._active

    def config(self, *args, **kwargs):
        self._pump()
        if args:
            name = args[0]
            if name == "mac":
                return (0, self._mac)
            if name in self._cfg:
                return self._cfg[name]
            raise ValueError("unknown config param")
        for key in kwargs:
            if key not in self._cfg:
                raise ValueError("unknown config param")
            value = kwargs[key]
            if key == "mtu" and not 23 <= value <= 517:
                raise ValueError("mtu out of range")
            self._cfg[key] = value
        self._send_json({"op": "config", "values": self._json_cfg(kwargs)})
        return None

    @staticmethod
    def _json_cfg(values):
        out = {}
        for key in values:
            value = values[key]
            out[key] = value.decode() if isinstance(value, (bytes, bytearray)) else value
        return out

    def irq(self, handler):
        self._pump()
        self._handler = handler

    def gap_advertise(self, interval_us, adv_data=None, *, resp_data=None, connectable=True):
        self._require_active()
        self._pump()
        msg = {"op": "adv", "interval_us": interval_us, "connectable": connectable}
        if adv_data is not None:
            msg["adv"] = _hex(adv_data)
        if resp_data is not None:
            msg["resp"] = _hex(resp_data)
        self._send_json(msg)

    def gap_disconnect(self, conn_handle):
        self._require_active()
        self._pump()
        if conn_handle not in self._conns:
            return False
        self._send_json({"op": "disconnect", "conn": conn_handle})
        return True

    def gatts_register_services(self, services):
        self._require_active()
        self._pump()
        out = []
        table = []
        for service in services:
            suuid, chars = service[0], service[1]
            self._next_handle += 1  # service declaration
            handles = []
            tchars = []
            for char in chars:
                cuuid, flags = char[0], char[1]
                descs = char[2] if len(char) > 2 else ()
                self._next_handle += 1  # characteristic declaration
                value_handle = self._next_handle
                self._next_handle += 1
                self._values[value_handle] = _Value(20)
                handles.append(value_handle)
                if flags & (FLAG_NOTIFY | FLAG_INDICATE):
                    self._next_handle += 1  # CCCD, handled by the stack
                tdescs = []
                for desc in descs:
                    duuid, dflags = desc[0], desc[1]
                    self._values[self._next_handle] = _Value(20)
                    handles.append(self._next_handle)
                    tdescs.append(
                        {"uuid": str(duuid), "flags": dflags, "handle": self._next_handle}
                    )
                    self._next_handle += 1
                tchars.append(
                    {"uuid": str(cuuid), "flags": flags, "handle": value_handle, "descs": tdescs}
                )
            table.append({"uuid": str(suuid), "chars": tchars})
            out.append(tuple(handles))
        self._send_json({"op": "services", "services": table})
        return tuple(out)

    def gatts_read(self, value_handle):
        self._pump()
        v = self._values.get(value_handle)
        if v is None:
            raise OSError(_EINVAL)
        data = bytes(v.data[: v.len])
        if v.append:
            v.len = 0
        return data

    def gatts_write(self, value_handle, data, send_update=False):
        self._pump()
        v = self._values.get(value_handle)
        if v is None:
            raise OSError(_EINVAL)
        if len(data) > len(v.data):
            v.data = bytearray(len(data))
        v.data[: len(data)] = data
        v.len = len(data)
        self._send_json(
            {
                "op": "write",
                "handle": value_handle,
                "value": _hex(data),
                "send_update": bool(send_update),
            }
        )

    def gatts_set_buffer(self, value_handle, length, append=False):
        self._pump()
        v = self._values.get(value_handle)
        if v is None:
            raise OSError(_EINVAL)
        v.data = bytearray(length)
        v.len = 0
        v.append = append
        self._send_json({"op": "set_buffer", "handle": value_handle, "len": length})

    def gatts_notify(self, conn_handle, value_handle, data=None):
        self._send_value(_OP_NOTIFY, conn_handle, value_handle, data)

    def gatts_indicate(self, conn_handle, value_handle, data=None):
        self._send_value(_OP_INDICATE, conn_handle, value_handle, data)

    def _send_value(self, op, conn_handle, value_handle, data):
        self._pump()
        if conn_handle not in self._conns:
            raise OSError(_ENOTCONN)
        credits = self._credits[conn_handle]
        if credits <= 0:
            raise OSError(_ENOMEM)
        if data is None:
            v = self._values[value_handle]
            data = memoryview(v.data)[: v.len]
        self._credits[conn_handle] = credits - 1
        hdr = self._hdr
        struct.pack_into("<HH", hdr, 3, conn_handle, value_handle)
        n = 5 + len(data)
        hdr[0] = n & 0xFF
        hdr[1] = n >> 8
        hdr[2] = op
        if self._sock is not None:
            self._write_all(hdr)
            self._write_all(data)

    def _require_active(self):
        if not self._active:
            raise OSError(_EINVAL)
