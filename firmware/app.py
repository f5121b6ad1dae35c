"""The Anklet application: sampler, transport, command handler and status reporter as tasks.

    import board, app
    app.run(board)        # never returns; the watchdog resets a hung board

`board` is the pin map: the only module that builds hardware objects. The app gets everything
through it, which is what lets the simulated board run this file unchanged.
"""

import asyncio
import gc
from asyncio import gather  # loads asyncio's funcs now, with the code, not once the heap is full

import anklet_wire as W
import bootguard
import capacity
import messages
import micropython
import replflag
import ticks
import version
from commands import CommandHandler
from config import Config
from loadcell import LoadCell
from ring import SampleRing
from ring import reserve as reserve_ring
from sampler import Sampler
from spill import FlashSpill
from streamer import Streamer

CONFIG_PATH = "config.json"
_STATUS_MS = 1000
_WDT_MS = 8000
_CMD_SLOTS = 4
_CMD_MAX = 64
# Kept blocks stay in flash this long after a stream stops unless the host acknowledged them:
# its end-of-session fetch may still ask for them (the host gives up after 60 s).
_KEEP_AFTER_STOP_MS = 90_000


class Counters:
    """The fields of a STATUS message, refreshed before each one."""

    def __init__(self):
        self.uptime_ms = 0
        self.battery_mv = 0
        self.battery_pct = 0
        self.flags = 0
        self.samples_produced = 0
        self.samples_dropped = 0
        self.load_produced = 0
        self.frames_sent = 0
        self.tx_retries = 0
        self.ring_oldest = 0
        self.free_heap = 0
        self.load_dropped = 0


class App:
    def __init__(self, board, ring_store=None):
        """`ring_store`: the sample ring's buffers; None: taken here (ring.reserve()), once the
        radio is up."""
        self.board = board
        # Uptime adds up wrap-safe steps: "now minus boot" went negative when ticks wrapped,
        # every 2**30 us (17.9 min). counters() runs every second (STATUS); diff() holds 9 min.
        self._up_at = ticks.now_us()
        self._up_us = 0  # short of a whole millisecond
        self.uptime_ms = 0
        self.cfg = Config(CONFIG_PATH)
        self.cfg.load()
        values = self.cfg.values
        self.reset_cause = board.reset_cause()
        self.device_id = board.unique_id()
        self.links = board.make_links(self)
        for link in self.links:
            link.power_on()  # the radio's memory first (BleLink.power_on), then the ring's
        if ring_store is None:
            ring_store = reserve_ring()
        self.imu = None
        self.imu_error = ""
        self.flash_error = ""
        self.load = LoadCell(board.make_load_cell(), values["load_offset"], values["load_scale"])
        self.load_rate_pin = board.make_load_rate_pin()
        self.battery = board.make_battery()
        self.led = board.make_led()
        self.button = board.make_button()
        # Blocks are cut for the smallest link (BLE: MTU 247 → 244 bytes), so one ring serves
        # every link; its slots are exactly that size.
        max_frame = min(link.max_frame for link in self.links)
        self.spill = self._make_spill(board, max_frame - W.FRAME_OVERHEAD)
        self.ring = SampleRing(ring_store, max_frame - W.FRAME_OVERHEAD, self.spill)
        self._stopped_us = ticks.now_us()
        self.sampler = Sampler(self.imu, self.ring, self.load, max_frame - W.FRAME_OVERHEAD)
        self.streamers = [Streamer(self.ring, link) for link in self.links]
        self.handler = CommandHandler(self)
        self.counters_ = Counters()
        self.streaming = False
        self.stream_link = None  # the link whose host started the stream; None: every link
        self._reboot_at = -1
        self._reboot_repl = False
        self._cmd_bufs = [bytearray(_CMD_MAX) for _ in range(_CMD_SLOTS)]
        self._cmd_len = [0] * _CMD_SLOTS
        self._cmd_link = [None] * _CMD_SLOTS
        self._cmd_head = 0
        self._cmd_tail = 0
        self.commands_dropped = 0
        try:
            self.apply_rates(values, restart=False)
        except OSError:
            pass  # reported at start-up and in STATUS; START retries
        self.wdt = board.make_watchdog(_WDT_MS)

    # --- hardware set-up -------------------------------------------------------------------

    def _make_spill(self, board, block_bytes):
        """The flash the ring keeps unacknowledged blocks in, if `anklet flash` made it."""
        try:
            partition = board.flash_ring()
            return FlashSpill(partition, block_bytes) if partition is not None else None
        except (OSError, ValueError) as exc:
            self.flash_error = str(exc)
            return None

    def _open_imu(self):
        try:
            self.imu = self.board.make_imu()
            self.imu_error = ""
        except OSError as exc:
            self.imu = None
            self.imu_error = str(exc)

    def apply_rates(self, values, restart=True):
        """Configure IMU, load cell and sampler; raises OSError if the IMU does not answer."""
        was = self.streaming
        if was:
            self.sampler.stop()
        if self.imu is None:
            self._open_imu()
        if self.imu is not None:
            self.imu.configure(values["imu_rate_hz"], values["accel_fs_g"], values["gyro_fs_dps"])
        self.sampler.imu = self.imu
        self.load_rate_pin.value(1 if values["load_rate_hz"] == 80 else 0)
        max_frame = min(link.max_frame for link in self.links)
        self.sampler.configure(values["imu_rate_hz"], values["load_rate_hz"], max_frame)
        if restart:
            self.config_changed()
            if was:
                self.sampler.start()
        elif self.imu is None:
            raise OSError("IMU: " + self.imu_error)

    def link_resized(self):
        """A link's frame limit changed (BLE MTU): re-derive block sizes."""
        values = self.cfg.values
        max_frame = min(link.max_frame for link in self.links)
        self.sampler.configure(values["imu_rate_hz"], values["load_rate_hz"], max_frame)

    # --- streaming -------------------------------------------------------------------------

    def link_too_slow(self, link, imu_hz, load_hz):
        """Why `link` cannot carry a stream at these rates ("" if it can): a serial line has a
        fixed byte rate; BLE paces itself (notify back-pressure) and has no such limit here."""
        limit = getattr(link, "bytes_per_s", 0)
        if not limit:
            return ""
        max_frame = min(lk.max_frame for lk in self.links)
        need = capacity.serial_bytes_per_s(max_frame, imu_hz, load_hz)
        if need <= limit:
            return ""
        best = capacity.fastest_imu_hz(max_frame, load_hz, limit)
        return "%d Hz needs %d B/s, %s at %d baud carries %d: %d Hz at most, or use BLE" % (
            imu_hz, need, link.name, link.baud, limit, best)

    def start_streaming(self, link=None):
        """Stream (to `link` only, or to every link); returns the index of the first sample
        the stream carries: the sampler's next index, which a START while streaming continues
        (the blocks already made belong to the stream before it)."""
        if self.imu is None:
            self._open_imu()
            if self.imu is None:
                from commands import CommandError

                raise CommandError(W.ST_SENSOR_ERROR, "IMU: " + self.imu_error)
            self.apply_rates(self.cfg.values, restart=False)
        self.sampler.imu = self.imu
        self.stream_link = link
        if not self.streaming:
            self.sampler.start()
            self.load.queueing = True
            for streamer in self.streamers:
                streamer.reset()
            self.streaming = True
        return self.sampler.next_index

    def streamer_for(self, link):
        for streamer in self.streamers:
            if streamer.link is link:
                return streamer
        return self.streamers[0]

    def stop_streaming(self):
        self.streaming = False
        self.sampler.stop()
        self.load.queueing = False
        self._stopped_us = ticks.now_us()

    def acknowledged(self, below_index):
        """ACK: the host holds every sample below `below_index` (at most what was made)."""
        self.ring.acknowledge(min(below_index, self.sampler.next_index))

    def _tidy_flash(self, may_erase):
        """Ready the flash ring's sectors (checked blank while sampling, erased only when not:
        an erase stalls the CPU); when not sampling, forget the blocks kept there once the host
        holds them, or has long stopped asking."""
        spill = self.spill
        if spill is None:
            return
        if may_erase and spill.written and (self.ring.acked >= spill.kept_end or ticks.diff(
                ticks.now_us(), self._stopped_us) > _KEEP_AFTER_STOP_MS * 1000):
            spill.forget()
        spill.tidy(may_erase)

    # --- outgoing messages (not the hot path) ----------------------------------------------

    def info_fields(self):
        values = self.cfg.values
        name = values["name"] or self.default_name()
        return {
            "device_id": self.device_id,
            "name": name,
            "fw_major": version.MAJOR,
            "fw_minor": version.MINOR,
            "fw_patch": version.PATCH,
            "fw_git": version.GIT,
            "proto_major": W.VERSION_MAJOR,
            "proto_minor": W.VERSION_MINOR,
            "imu_model": getattr(self.imu, "MODEL", W.IMU_MPU6050) if self.imu else W.IMU_UNKNOWN,
            "accel_fs_g": values["accel_fs_g"],
            "gyro_fs_dps": values["gyro_fs_dps"],
            "imu_rate_hz": values["imu_rate_hz"],
            "load_rate_hz": values["load_rate_hz"],
            "reset_cause": self.reset_cause,
            "load_offset": self.load.offset,
            "load_scale": self.load.scale,
            "max_frame": min(link.max_frame for link in self.links),
            # full blocks: how long a link may drop before RESEND can no longer refill it (the
            # flash's part needs a host that acknowledges, protocol 1.3)
            "resend_window_ms": self.resend_blocks() * self.sampler.max_imu * 1000
            // values["imu_rate_hz"],
        }

    def resend_blocks(self):
        """Blocks RESEND can reach back: the RAM ring's, and the flash's not yet used (a fresh
        board checks its sectors within a second of boot)."""
        spill = self.spill
        return self.ring.slots + (spill.slots - spill.written if spill is not None else 0)

    def default_name(self):
        return "Anklet-%02X%02X" % (self.device_id[-2], self.device_id[-1])

    def name(self):
        return self.cfg.values["name"] or self.default_name()

    def pack_info(self, buf):
        return messages.pack_info(buf, self.info_fields())

    def counters(self):
        c = self.counters_
        now = ticks.now_us()
        step = ticks.diff(now, self._up_at) + self._up_us
        self._up_at = now
        self._up_us = step % 1000
        self.uptime_ms += step // 1000
        c.uptime_ms = self.uptime_ms
        c.battery_mv = self.battery.read_mv()
        c.battery_pct = self.battery.percent(c.battery_mv)
        flags = 0
        if self.streaming:
            flags |= W.SF_STREAMING
        if self.cfg.fallback:
            flags |= W.SF_CONFIG_DEFAULTS
        if self.imu is None or self.imu_error:
            flags |= W.SF_IMU_FAULT
        if self.load.stale_ms() > self.load.fault_ms(self.cfg.values["load_rate_hz"]):
            flags |= W.SF_LOAD_FAULT
        if c.battery_pct < 10:
            flags |= W.SF_LOW_BATTERY
        if self.cfg.values["require_bond"]:
            flags |= W.SF_BONDING_REQUIRED
        c.flags = flags
        c.samples_produced = self.sampler.produced
        c.samples_dropped = self.sampler.dropped
        c.load_produced = self.load.index
        c.frames_sent = sum(s.frames_sent for s in self.streamers)
        c.tx_retries = sum(link.tx_retries for link in self.links)
        c.ring_oldest = self.ring.oldest_index()
        c.free_heap = gc.mem_free()
        c.load_dropped = self.load.overruns
        return c

    def send(self, link, msg_type, length, flags=0):
        writer = link.writer
        n = writer.seal(msg_type, flags, length)
        link.send_control(writer, n)

    def broadcast(self, msg_type, pack):
        for link in self.links:
            if link.connected:
                self.send(link, msg_type, pack(link.writer.payload))

    def send_reply(self, link, request_id, opcode, status, result, size):
        writer = link.writer
        head = messages.pack_reply_head(writer.payload, request_id, opcode, status)
        room = writer.max_payload - head
        if size > room:
            size = room
        writer.payload[head : head + size] = result[:size]
        self.send(link, W.MSG_REPLY, head + size)

    def log(self, level, text):
        self.broadcast(W.MSG_LOG, lambda buf: messages.pack_log(buf, level, text))

    def event(self, kind, value):
        t = ticks.now_us()
        self.broadcast(W.MSG_EVENT, lambda buf: messages.pack_event(buf, kind, t, value))

    def config_changed(self):
        self.event(W.EVENT_CONFIG_CHANGED, 0)
        self.broadcast(W.MSG_INFO, self.pack_info)

    def reboot_soon(self, repl):
        if self._reboot_at < 0:  # a second request does not postpone the first
            self._reboot_at = ticks.add(ticks.now_us(), 200_000)  # let the REPLY go out first
        self._reboot_repl = self._reboot_repl or repl

    # --- incoming commands -----------------------------------------------------------------

    def on_frame(self, link, msg_type, frame, n):
        """Called by a link for each good frame; queues COMMANDs for the command task."""
        if msg_type != W.MSG_COMMAND:
            return
        if n > _CMD_MAX or self._cmd_head - self._cmd_tail >= _CMD_SLOTS:
            # Not queued, but answered: silence would look like a dead board.
            self.commands_dropped += 1
            parsed = messages.parse_command(frame, n)
            if parsed is not None:
                status = W.ST_BAD_LENGTH if n > _CMD_MAX else W.ST_BUSY
                self.send_reply(link, parsed[0], parsed[1], status, b"", 0)
            return
        slot = self._cmd_head % _CMD_SLOTS
        self._cmd_bufs[slot][:n] = frame[:n]
        self._cmd_len[slot] = n
        self._cmd_link[slot] = link
        self._cmd_head += 1

    # --- tasks -----------------------------------------------------------------------------

    async def sample_task(self):
        sampler = self.sampler
        while True:
            if self.streaming:
                try:
                    sampler.drain()
                    if self.imu_error:
                        self.imu_error = ""
                except OSError as exc:
                    self._imu_failed(exc)
            # Blocks a busy link still owes (serial back-pressure, resends) go out after STOP too.
            owed = False
            only = self.stream_link
            for streamer in self.streamers:
                link = streamer.link
                if link.connected and (only is None or link is only) and \
                        (self.streaming or streamer.pending()):
                    streamer.pump()
                    owed = owed or streamer.pending() > 0
            self._tidy_flash(may_erase=not self.streaming and not owed)
            self.wdt.feed()
            await asyncio.sleep_ms(sampler.drain_ms if self.streaming or owed else 20)

    def _imu_failed(self, exc):
        # An I2C error mid-stream: try to bring the IMU back; the samples lost meanwhile are
        # counted by the sampler as an overflow gap.
        first = not self.imu_error
        self.imu_error = str(exc)
        if first:
            self.log(W.LOG_ERROR, "IMU read failed: %s" % exc)
        if self.imu is None:
            return
        try:
            self.imu.configure(self.cfg.values["imu_rate_hz"], self.cfg.values["accel_fs_g"],
                               self.cfg.values["gyro_fs_dps"])
            self.sampler.resync()
        except OSError:
            pass

    async def load_task(self):
        load = self.load
        while True:
            try:
                load.poll()
            except OSError:
                pass
            await asyncio.sleep_ms(4)

    async def link_task(self):
        while True:
            for link in self.links:
                link.poll(self.on_frame)
                if getattr(link, "wants_repl", False):
                    self.reboot_soon(repl=True)
                    link.wants_repl = False
            while self._cmd_tail < self._cmd_head:
                slot = self._cmd_tail % _CMD_SLOTS
                await self.handler.handle(self._cmd_bufs[slot], self._cmd_len[slot],
                                          self._cmd_link[slot])
                self._cmd_tail += 1
            if self._reboot_at >= 0 and ticks.diff(ticks.now_us(), self._reboot_at) >= 0:
                self._reboot()
            await asyncio.sleep_ms(10)

    async def status_task(self):
        warned_rate = False
        while True:
            await asyncio.sleep_ms(_STATUS_MS)
            period_us = self.load.period_us
            rate_hz = self.cfg.values["load_rate_hz"]
            # 10 Hz is 100 ms between conversions, 80 Hz 12.5 ms; a busy loop that misses some
            # at 80 Hz stretches the average, but not to 70 ms.
            strapped = (rate_hz == 80 and period_us > 70000) or \
                (rate_hz == 10 and 0 < period_us < 30000)
            if not warned_rate and strapped:
                warned_rate = True  # once per boot: the wiring does not change
                # The HX711 runs at 10 or 80 Hz: name the one it runs at, not the estimate, which
                # a stall in its first second (a flash erase, a collection) skews.
                actual_hz = 10 if period_us > 50000 else 80
                self.log(W.LOG_WARNING, "load cell converts at %d Hz, not %d: its RATE pin is "
                         "tied on the breakout (wire it to GPIO %d, or: anklet set --load-rate %d)"
                         % (actual_hz, rate_hz, self.board.HX711_RATE, actual_hz))
            self.broadcast(W.MSG_STATUS, lambda buf: messages.pack_status(buf, 0,
                                                                          self.counters()))
            if self.led is not None:
                self.led.value(1 if self.streaming else (ticks.now_us() // 1000000) & 1)

    async def button_task(self):
        if self.button is None:
            return
        pressed_at = -1
        while True:
            down = self.button.value() == 0
            now = ticks.now_us()
            if down and pressed_at < 0:
                pressed_at = now
            elif not down and pressed_at >= 0:
                held_ms = ticks.diff(now, pressed_at) // 1000
                pressed_at = -1
                kind = W.EVENT_MARKER if held_ms >= 1000 else W.EVENT_BUTTON
                self.event(kind, held_ms)
            await asyncio.sleep_ms(20)

    def _reboot(self):
        if self._reboot_repl:
            replflag.set()
        for link in self.links:
            link.release()
        self.board.reset()

    async def main(self):
        self.event(W.EVENT_BOOT, self.reset_cause)
        self.broadcast(W.MSG_INFO, self.pack_info)
        if self.cfg.fallback:
            self.log(W.LOG_WARNING, self.cfg.fallback)
        if self.imu is None:
            self.log(W.LOG_ERROR, "IMU not found: " + self.imu_error)
        self.log(W.LOG_INFO, "ring: %d blocks of %d samples (%d bytes)" % (
            self.ring.slots, self.sampler.max_imu, self.ring.nbytes))
        if self.spill is not None:
            self.log(W.LOG_INFO, "flash ring: %d blocks" % self.spill.slots)
        else:
            why = self.flash_error or "no ankring partition"
            self.log(W.LOG_WARNING, "no flash ring (%s): a dropped link is refilled from RAM "
                     "only; `anklet flash` makes one" % why)
        for link in self.links:
            link.start()
        if self.cfg.values["stream_on_boot"] and self.imu is not None:
            self.start_streaming()
        tasks = [self.sample_task(), self.load_task(), self.link_task(), self.status_task(),
                 self.button_task()]
        tasks.append(bootguard.confirm_after())  # running: end the new version's trial
        await gather(*tasks)


def run(board):
    """Run the app for ever."""
    if hasattr(micropython, "alloc_emergency_exception_buf"):  # not on the unix port
        micropython.alloc_emergency_exception_buf(100)
    app = App(board)
    asyncio.run(app.main())
