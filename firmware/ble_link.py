"""The BLE link: frames as notifications of the Anklet data characteristic, COMMAND frames
written to its control characteristic; one frame per notification or write.

    link = BleLink(bluetooth.BLE(), app)
    link.start()                          # GATT table, bonding, advertising
    link.ready()                          # False while SAMPLES must wait (see send_frame)
    link.send_frame(link.writer, n)       # False while the controller's buffers are full
    link.poll(on_frame)                   # every tick: writes in, queued frames out

Frame size. A notification longer than MTU − 3 is cut short by the ESP32 without an error, so
no frame ever exceeds it. Until the central has exchanged the MTU (MTU 23: 20 bytes) nothing
but small control frames could go, so frames wait: SAMPLES through back-pressure (send_frame
returns False), control frames in a small queue. `max_frame` is the size sample blocks are cut
for (MTU 247 → 244); if the central settles on a smaller MTU it shrinks to MTU − 3 and the app
re-cuts its blocks (app.link_resized()).

Back-pressure. gatts_notify raising OSError(ENOMEM) means NimBLE's transmit buffers are all in
use: the frame is kept (the streamer's block stays in the ring, a control frame stays queued),
counted in `tx_retries`, and retried on the next pump or poll. Nothing is dropped while the ring
holds it. The notify path allocates nothing once each frame size has been seen once.

IRQs. On an ESP32 the NimBLE task calls the handler synchronously (holding the GIL), so an
event can land between any two bytecodes of the main program; the unix port runs NimBLE from a
scheduled callback every 1 ms, which interleaves the same way. The handler therefore only sets
scalars and flags; queues, counts and flash belong to the main loop (poll). Bond keys that
NimBLE hands over are kept in RAM at once (it may ask for them back immediately) and written
to flash by poll(), never inside the handler (aioble does the same).

Security. With `require_bond` (the default) SAMPLES go only to an encrypted (bonded) link, and a
central that has not encrypted within _PAIR_WINDOW_US is disconnected, so a stranger's phone
cannot hold the board's one connection and lock its owner out.
"""

import struct

import anklet_wire as W
import bluetooth
import bytecopy
import framing
import ticks
import version
from ble_secrets import BleSecrets
from micropython import const

_IRQ_CENTRAL_CONNECT = const(1)
_IRQ_CENTRAL_DISCONNECT = const(2)
_IRQ_GATTS_WRITE = const(3)
_IRQ_MTU_EXCHANGED = const(21)
_IRQ_ENCRYPTION_UPDATE = const(28)
_IRQ_GET_SECRET = const(29)
_IRQ_SET_SECRET = const(30)

_FLAG_READ = const(0x0002)
_FLAG_WRITE = const(0x0008)
_FLAG_NOTIFY = const(0x0010)

_IO_CAPABILITY_NO_INPUT_OUTPUT = const(3)  # Just Works: the board has no display, no keypad
_ENOMEM = const(12)
# After NimBLE's buffers were full, samples wait this long (about one connection event): a
# buffer it frees then stays free for the central's write, whose answer needs one. Notifying
# again at once took every freed buffer, and a slow link's commands got "insufficient
# resources" for seconds (tests/ble/test_ble_link.py, the back-pressure test).
_BUSY_BACKOFF_US = const(30_000)
_DEFAULT_MTU = const(23)  # ATT MTU before the exchange
_FRAME_MAX = const(244)  # W.BLE_MTU − W.ATT_OVERHEAD
_CONTROL_SLOTS = const(6)  # control frames held while the link is busy or not yet sized
_WRITE_BUF = const(256)  # control characteristic buffer: a few COMMAND frames between polls
_ADV_INTERVAL_US = const(100_000)
_PAIR_WINDOW_US = const(8_000_000)  # an unencrypted central's time to pair or re-encrypt
# The owner's link lost this long: stop streaming. Longer than the flash ring holds at 200 Hz
# (about 80 s with the RAM ring): until then every sample can still be refilled.
_OWNER_GRACE_US = const(90_000_000)
_BATTERY_EVERY_US = const(30_000_000)
_SECRETS_PATH = "ble_secrets.json"

_UUID_DIS = const(0x180A)  # Device Information service
_UUID_MANUFACTURER = const(0x2A29)
_UUID_MODEL = const(0x2A24)
_UUID_FIRMWARE = const(0x2A26)
_UUID_BATTERY = const(0x180F)  # Battery service
_UUID_BATTERY_LEVEL = const(0x2A19)
_MODEL = "Anklet ESP32 MPU-6050 HX711"


def uuid_le(text):
    """The 16 little-endian bytes of a 128-bit UUID string, as advertising data carries them."""
    digits = text.replace("-", "")
    out = bytearray(16)
    for i in range(16):
        out[15 - i] = int(digits[2 * i : 2 * i + 2], 16)
    return bytes(out)


def advertising_payload(service_le, battery_pct):
    """Flags, the Anklet service UUID and the battery level as 0x180F service data (26 bytes)."""
    return (b"\x02\x01\x06" + bytes((17, 0x07)) + service_le +
            bytes((4, 0x16, _UUID_BATTERY & 0xFF, _UUID_BATTERY >> 8, battery_pct)))


def scan_response_payload(name):
    raw = name.encode()[: W.NAME_MAX]
    return bytes((len(raw) + 1, 0x09)) + raw


class BleLink:
    name = "ble"

    def __init__(self, ble, app):
        self.ble = ble
        self.app = app
        self.max_frame = _FRAME_MAX
        self.writer = framing.FrameWriter(_FRAME_MAX, cobs=False)  # notifications need no COBS
        self.connected = False
        self.encrypted = False
        self.tx_retries = 0
        self._busy_since = 0  # ticks.now_us() of the last ENOMEM, while backing off
        self._backing_off = False
        self.tx_dropped = 0  # control frames lost: the queue was full or the MTU stayed small
        self.conn_handle = -1
        self.connected_at = 0  # ticks.now_us() of the connection
        self.mtu = _DEFAULT_MTU
        self.secrets = BleSecrets(_SECRETS_PATH)
        self._frame_limit = _DEFAULT_MTU - W.ATT_OVERHEAD  # the longest notification now
        self._mtu_final = False
        # memoryview(writer.frame)[:n] by n, made once per SAMPLES frame size (a slice allocates;
        # the notify path does not). Blocks come in a dozen or two sizes (multiples of the
        # sample size), so a dict holds them in a few hundred bytes where a slot for each of
        # the 245 possible sizes took ~8 KB of heap once control frames had visited them all.
        self._views = {}
        self._ctrl = [bytearray(_FRAME_MAX) for _ in range(_CONTROL_SLOTS)]
        self._ctrl_len = [0] * _CONTROL_SLOTS
        self._ctrl_head = 0
        self._ctrl_count = 0
        self._reader = framing.FrameReader(_WRITE_BUF, self._deliver)
        self._on_frame = None
        self._rx_pending = False
        self._resize_pending = False
        self._advertise_pending = False
        self._link_changed = False  # a connect/disconnect the main loop has not seen yet
        self._mtu_request = False  # ask the new central for MTU 247
        self._heard = False  # a COMMAND came on this connection: the central has subscribed
        self._owner_gone = False  # the encrypted central left while we streamed to it
        self._owner_left_at = 0
        self._started = False
        self._power_error = None  # None: not powered on yet; "": on; else why it failed
        self._battery_pct = 0
        self._battery_at = -1  # when the level was last read (µs); -1: never
        self._service_le = uuid_le(W.BLE_SERVICE_UUID)
        self.rx_errors = 0
        self.h_data = self.h_control = self.h_battery = -1

    # --- set-up ----------------------------------------------------------------------------

    def power_on(self):
        """Bring the controller and NimBLE up, before the app takes its large buffers: on an
        ESP32 running MicroPython >= 1.21 they come from the same system heap the Python heap
        grows into, and NimBLE started after that heap had grown could not get its memory (an
        ESP32-C3 with 40 KB taken first panics in ble.active(True): micropython#14293)."""
        if self._power_error is not None:
            return
        self.secrets.load()
        # The handler first: activation already asks for our IRK and the bonded peers' keys
        # (_IRQ_GET_SECRET); without a handler they come back empty and bonded phones on
        # private addresses cannot re-encrypt after a reboot.
        self.ble.irq(self._irq)
        try:
            self.ble.active(True)
            self._power_error = ""
        except OSError as exc:
            self._power_error = "%r" % (exc,)

    def start(self):
        ble = self.ble
        self.power_on()
        if self._power_error:
            # The controller did not come up: the board carries on over serial, and says why.
            self.app.log(W.LOG_ERROR, "BLE unavailable: " + self._power_error)
            return
        ble.config(gap_name=self.app.name(), mtu=W.BLE_MTU, bond=True, le_secure=True,
                   mitm=False, io=_IO_CAPABILITY_NO_INPUT_OUTPUT)
        anklet = (bluetooth.UUID(W.BLE_SERVICE_UUID), (
            (bluetooth.UUID(W.BLE_DATA_UUID), _FLAG_NOTIFY),
            (bluetooth.UUID(W.BLE_CONTROL_UUID), _FLAG_WRITE),
        ))
        info = (bluetooth.UUID(_UUID_DIS), (
            (bluetooth.UUID(_UUID_MANUFACTURER), _FLAG_READ),
            (bluetooth.UUID(_UUID_MODEL), _FLAG_READ),
            (bluetooth.UUID(_UUID_FIRMWARE), _FLAG_READ),
        ))
        battery = (bluetooth.UUID(_UUID_BATTERY), (
            (bluetooth.UUID(_UUID_BATTERY_LEVEL), _FLAG_READ | _FLAG_NOTIFY),
        ))
        ((self.h_data, self.h_control), (h_maker, h_model, h_fw), (self.h_battery,)) = \
            ble.gatts_register_services((anklet, info, battery))
        # Writes append: two COMMANDs written before a poll are both kept (split by length).
        ble.gatts_set_buffer(self.h_control, _WRITE_BUF, True)
        ble.gatts_write(h_maker, b"Anklet")
        ble.gatts_write(h_model, _MODEL.encode())
        ble.gatts_write(h_fw, ("%d.%d.%d+%s" % (version.MAJOR, version.MINOR, version.PATCH,
                                                version.GIT)).encode())
        # The level read now, so that the first advertisement carries it: advertising with 0 %
        # and again at the first poll restarted it 15 ms after boot, when a host waiting for
        # the board connects (a scanner also showed 0 % for that moment).
        self._battery_pct = -1  # not read yet: the first read writes the characteristic
        self._poll_battery()
        self._started = True
        self._advertise()

    def _advertise(self):
        self._advertise_pending = False
        name = self.app.name()
        self.ble.config(gap_name=name)
        self.ble.gap_advertise(_ADV_INTERVAL_US,
                               adv_data=advertising_payload(self._service_le, self._battery_pct),
                               resp_data=scan_response_payload(name))

    def release(self):
        """Stop advertising and let go of the central (before a reset)."""
        if not self._started:
            return
        try:
            self.ble.gap_advertise(None)
            if self.connected:
                self.ble.gap_disconnect(self.conn_handle)
        except OSError:
            pass

    # --- IRQs (synchronous on the ESP32: scalars and flags only, see the module doc) -------

    def _irq(self, event, data):
        if event == _IRQ_CENTRAL_CONNECT:
            self.conn_handle = data[0]
            self.connected = True
            self.connected_at = ticks.now_us()
            self.encrypted = False
            self.mtu = _DEFAULT_MTU
            self._frame_limit = _DEFAULT_MTU - W.ATT_OVERHEAD
            self._mtu_final = False
            self._link_changed = True
            self._mtu_request = True
            self._heard = False
        elif event == _IRQ_CENTRAL_DISCONNECT:
            if data[0] == self.conn_handle:
                if self.encrypted:
                    self._owner_gone = True
                    self._owner_left_at = ticks.now_us()
                self.connected = False
                self.encrypted = False
                self.conn_handle = -1
                self._link_changed = True
                self._resize_pending = True  # back to the full frame for the next central
                self._advertise_pending = True
        elif event == _IRQ_GATTS_WRITE:
            if data[1] == self.h_control:
                self._rx_pending = True
        elif event == _IRQ_MTU_EXCHANGED:
            if data[0] == self.conn_handle:
                self.mtu = data[1]
                self._frame_limit = min(_FRAME_MAX, data[1] - W.ATT_OVERHEAD)
                self._mtu_final = True
                self._resize_pending = True
        elif event == _IRQ_ENCRYPTION_UPDATE:
            if data[0] == self.conn_handle:
                self.encrypted = bool(data[1])
                if self.encrypted:
                    self._owner_gone = False
        elif event == _IRQ_GET_SECRET:
            return self.secrets.get(data[0], data[1], data[2])
        elif event == _IRQ_SET_SECRET:
            return self.secrets.set(data[0], data[1], data[2])  # RAM now, flash from poll()
        return None

    def _follow_link(self):
        # Main loop only: a new or lost central empties the control queue (its frames were for
        # the previous central), whatever the IRQ interleaved with.
        self._link_changed = False
        self._ctrl_count = 0
        self._ctrl_head = 0

    # --- frames out ------------------------------------------------------------------------

    def _view(self, writer, n):
        # For send_frame (SAMPLES, the hot path): cached per size.
        if writer is not self.writer:
            return memoryview(writer.frame)[:n]
        view = self._views.get(n)
        if view is None:
            view = memoryview(writer.frame)[:n]
            self._views[n] = view
        return view

    def _notify(self, data):
        """One notification; False if NimBLE's buffers are full (counted) or the link is gone."""
        try:
            self.ble.gatts_notify(self.conn_handle, self.h_data, data)
            return True
        except OSError as exc:
            if exc.errno == _ENOMEM:
                self.tx_retries += 1
                self._busy_since = ticks.now_us()
                self._backing_off = True
            return False

    def ready(self):
        """Could a SAMPLES frame go now. The streamer asks before it reads a block from flash
        and seals it, so a link that is backing off costs it nothing."""
        if self._link_changed:
            self._follow_link()
        if not self.connected or not self._heard or not self.trusted():
            # Samples wait in the ring for the owner's encrypted link, and for its first
            # command: a central subscribes before it writes, and drops what comes sooner.
            return False
        if self._ctrl_count and not self._flush_control():
            return False  # queued control frames go first, in order
        if self._backing_off:
            if ticks.diff(ticks.now_us(), self._busy_since) < _BUSY_BACKOFF_US:
                return False
            self._backing_off = False
        return True

    def send_frame(self, writer, n):
        """Notify one sealed frame; False = busy (back-pressure), try again later."""
        if not self.ready():
            return False
        if n > self._frame_limit:
            return False  # MTU not exchanged yet; blocks are never cut larger than max_frame
        return self._notify(self._view(writer, n))

    def send_control(self, writer, n):
        """Notify a control frame (REPLY, INFO, STATUS, EVENT, LOG), queueing it if busy."""
        if self._link_changed:
            self._follow_link()
        if not self.connected:
            return
        # Control frames come in every length (LOG text): a fresh view each, not cached.
        # Until the central's first command they queue: it may not have subscribed yet.
        if self._ctrl_count == 0 and self._heard and n <= self._frame_limit and \
                self._notify(memoryview(writer.frame)[:n]):
            return
        if self._ctrl_count >= _CONTROL_SLOTS or n > _FRAME_MAX:
            self.tx_dropped += 1
            return
        slot = (self._ctrl_head + self._ctrl_count) % _CONTROL_SLOTS
        bytecopy.copy(self._ctrl[slot], 0, writer.frame, 0, n)
        self._ctrl_len[slot] = n
        self._ctrl_count += 1

    def _flush_control(self):
        """Send queued control frames in order; True when the queue is empty."""
        while self._ctrl_count:
            if self._link_changed or not self.connected or not self._heard:
                return False  # the central left mid-flush, or has not subscribed yet
            slot = self._ctrl_head
            n = self._ctrl_len[slot]
            if n > self._frame_limit:
                if not self._mtu_final:
                    return False
                self.tx_dropped += 1  # the central settled on an MTU too small for it
            elif not self._notify(memoryview(self._ctrl[slot])[:n]):
                return False
            self._ctrl_head = (slot + 1) % _CONTROL_SLOTS
            self._ctrl_count -= 1
        return True

    # --- frames in, housekeeping -----------------------------------------------------------

    def trusted(self):
        """May this link carry samples and change things: encrypted, or bonds not required."""
        return self.encrypted or not self.app.cfg.values["require_bond"]

    def _exchange_mtu(self):
        # The peripheral asks itself: not every central starts the exchange, and until it
        # happens every notification is cut to 20 bytes.
        try:
            self.ble.gattc_exchange_mtu(self.conn_handle)
        except OSError:
            pass  # the central is already exchanging it, or just left

    def _owner_lost(self):
        # Samples wait in the ring for a while (the owner walked out of range and comes back
        # for a RESEND); after that the board stops sampling, unless the host that commands
        # it now is on another link (the serial cable cannot tell whether anyone listens).
        self._owner_gone = False
        app = self.app
        if not app.streaming or getattr(app.handler, "link", None) is not self:
            return
        app.stop_streaming()
        app.log(W.LOG_WARNING, "BLE: owner gone for %d s: streaming stopped" %
                (_OWNER_GRACE_US // 1000000))

    def _drop_stranger(self):
        self.app.log(W.LOG_WARNING, "BLE: central did not pair within %d s: disconnected" %
                     (_PAIR_WINDOW_US // 1000000))
        self.connected_at = ticks.now_us()  # once per window, if the disconnect is slow
        try:
            self.ble.gap_disconnect(self.conn_handle)
        except OSError:
            pass

    def _deliver(self, msg_type, frame, n):
        if self._on_frame is not None:
            self._on_frame(self, msg_type, frame, n)

    def poll(self, on_frame):
        """Every tick: deliver written COMMANDs, send queued frames, follow the MTU."""
        self._on_frame = on_frame
        if self._link_changed:
            self._follow_link()
        if self.secrets.dirty:
            self.secrets.save()  # bond keys NimBLE handed over since the last tick
        if self._mtu_request and self.connected:
            self._mtu_request = False
            self._exchange_mtu()
        if self._owner_gone and \
                ticks.diff(ticks.now_us(), self._owner_left_at) > _OWNER_GRACE_US:
            self._owner_lost()
        if self.connected and not self.encrypted and not self.trusted() and \
                ticks.diff(ticks.now_us(), self.connected_at) > _PAIR_WINDOW_US:
            self._drop_stranger()
        if self._rx_pending:
            self._rx_pending = False
            self._read_commands()
        if self._resize_pending:
            self._resize_pending = False
            self._resize()
        if self._ctrl_count and self.connected:
            self._flush_control()
        if self._advertise_pending and not self.connected:
            self._advertise()
        if self._started:
            self._poll_battery()
        return 0

    def _read_commands(self):
        # The control characteristic's buffer holds every write since the last read, back to
        # back; each frame's header gives its length.
        data = self.ble.gatts_read(self.h_control)
        if data:
            self._heard = True
        reader = self._reader
        total = len(data)
        at = 0
        while total - at >= W.FRAME_OVERHEAD:
            n = (data[at + 8] | (data[at + 9] << 8)) + W.FRAME_OVERHEAD
            if data[at] != 0x41 or data[at + 1] != 0x4B or n > len(reader.frame) or \
                    at + n > total:
                self.rx_errors += 1
                return
            bytecopy.copy(reader.frame, 0, data, at, n)
            errors = reader.errors
            reader.check(n)
            self.rx_errors += reader.errors - errors
            at += n
        if at != total:
            self.rx_errors += 1

    def _resize(self):
        """Follow the MTU: sample blocks are cut for what the current central can take."""
        if self.connected and self._mtu_final:
            limit = self._frame_limit
            if limit < _FRAME_MAX and not self._fits_samples(limit):
                self.app.log(W.LOG_WARNING, "BLE MTU %d too small for samples" % self.mtu)
                limit = _FRAME_MAX  # keep the blocks; this central gets no SAMPLES
        else:
            limit = _FRAME_MAX
        if limit != self.max_frame:
            self.max_frame = limit
            self.writer.max_frame = limit
            self.writer.max_payload = limit - W.FRAME_OVERHEAD
            self.app.link_resized()

    def _fits_samples(self, limit):
        values = self.app.cfg.values
        room = limit - W.FRAME_OVERHEAD - W.SAMPLES_HEADER_SIZE
        load = values["load_rate_hz"] // values["imu_rate_hz"] + 2
        return room >= W.IMU_SAMPLE_SIZE + load * W.LOAD_SAMPLE_SIZE

    def _poll_battery(self):
        now = ticks.now_us()
        if self._battery_at >= 0 and ticks.diff(now, self._battery_at) < _BATTERY_EVERY_US:
            return
        self._battery_at = now
        battery = self.app.battery
        pct = battery.percent(battery.read_mv())
        if pct != self._battery_pct:
            self._update_battery(pct)
            if self._started and not self.connected:
                self._advertise()

    def _update_battery(self, pct):
        self._battery_pct = pct
        self.ble.gatts_write(self.h_battery, struct.pack("<B", pct))
        if self.connected:
            try:
                self.ble.gatts_notify(self.conn_handle, self.h_battery)
            except OSError:
                pass  # busy: the central reads the level when it wants it
