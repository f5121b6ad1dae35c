"""COMMAND handling: validate, act, reply. Bad or unknown commands get an error status, never
a crash.

    handler = CommandHandler(app)
    await handler.handle(frame, n)    # sends the REPLY through app.send_reply()

Every status code is documented in docs/PROTOCOL.md (generated from protocol/).
"""

import asyncio
import struct

import anklet_wire as W
import config
import messages
import ticks

_GRAVITY = 9.80665
_OPEN_OPCODES = (W.OP_GET_INFO, W.OP_TIME_SYNC, W.OP_GET_STATUS)  # allowed on any link
# Handler method by opcode (W.OP_GET_INFO = 1 ... W.OP_ACK = 14): names, looked up when
# a command comes, rather than a dict of bound methods held for ever.
_OPS = (None, "get_info", "start", "stop", "set_rates", "tare", "calibrate", "set_name",
        "time_sync", "resend", "reboot", "get_status", "exit_to_repl", "reset_config", "ack")
_AVERAGE_GROUPS = 5  # tare/calibrate: the median of this many group means
# Kept by RESET_CONFIG: they describe this board's load cell, not a choice the user made.
_CALIBRATION = ("load_offset", "load_scale")


class CommandError(Exception):
    def __init__(self, status, why="", size=0):
        super().__init__(why)
        self.status = status
        self.why = why
        self.size = size  # bytes of self.result still worth sending with the error


class CommandHandler:
    def __init__(self, app):
        self.app = app
        self.result = bytearray(W.INFO_SIZE + W.STATUS_SIZE)
        self.link = None  # the link the command being handled came from

    async def handle(self, frame, n, link):
        parsed = messages.parse_command(frame, n)
        if parsed is None:
            self.app.log(W.LOG_WARNING, "command frame too short")
            return
        request_id, opcode, at, length = parsed
        status = W.ST_OK
        size = 0
        try:
            op = getattr(self, _OPS[opcode]) if 0 < opcode < len(_OPS) else None
            if op is None:
                raise CommandError(W.ST_UNKNOWN_OPCODE, "unknown opcode %d" % opcode)
            want = W.ARGS_SIZE[opcode]
            if want >= 0 and length != want:
                raise CommandError(W.ST_BAD_LENGTH, "args %d bytes, want %d" % (length, want))
            if opcode not in _OPEN_OPCODES and not link.encrypted and \
                    self.app.cfg.values["require_bond"]:
                raise CommandError(W.ST_NOT_AUTHORIZED, "pair (bond) first")
            self.link = link
            size = await op(frame, at, length)
        except CommandError as exc:
            status = exc.status
            size = exc.size
            if exc.why:
                self.app.log(W.LOG_WARNING, "command %d: %s" % (opcode, exc.why))
        except Exception as exc:  # a bug must not take the board down
            status = W.ST_INTERNAL_ERROR
            self.app.log(W.LOG_ERROR, "command %d failed: %r" % (opcode, exc))
        self.app.send_reply(link, request_id, opcode, status, self.result, size)

    # --- opcodes: each returns the size of its result in self.result ---------------------

    async def get_info(self, frame, at, n):
        return self.app.pack_info(self.result)

    async def get_status(self, frame, at, n):
        return messages.pack_status(self.result, 0, self.app.counters())

    async def start(self, frame, at, n):
        values = self.app.cfg.values
        self.refuse_if_too_slow(self.link, values["imu_rate_hz"], values["load_rate_hz"])
        first_index = self.app.start_streaming(self.link)
        # Where the stream begins: the host expects every sample from here on, so a first
        # block lost on the link is asked for again rather than never missed.
        return messages.pack_start_reply(self.result, first_index)

    async def stop(self, frame, at, n):
        self.app.stop_streaming()
        return 0

    async def set_rates(self, frame, at, n):
        imu_hz, load_hz, accel_g, gyro_dps = struct.unpack_from(W.SET_RATES_ARGS_FMT, frame, at)
        values = self.app.cfg.values
        wanted = {}
        for key, value, choices in (
            ("imu_rate_hz", imu_hz, W.IMU_RATES_HZ),
            ("load_rate_hz", load_hz, W.LOAD_RATES_HZ),
            ("accel_fs_g", accel_g, W.ACCEL_RANGES_G),
            ("gyro_fs_dps", gyro_dps, W.GYRO_RANGES_DPS),
        ):
            if value == 0:
                wanted[key] = values[key]
            elif value in choices:
                wanted[key] = value
            else:
                raise CommandError(W.ST_OUT_OF_RANGE, "%s %d not in %r" % (key, value, choices))
        if self.app.streaming and self.app.stream_link is not None:
            self.refuse_if_too_slow(self.app.stream_link, wanted["imu_rate_hz"],
                                    wanted["load_rate_hz"])
        self._apply_settings(wanted)
        return 0

    async def tare(self, frame, at, n):
        (samples,) = struct.unpack_from(W.TARE_ARGS_FMT, frame, at)
        if not 1 <= samples <= 80:
            raise CommandError(W.ST_OUT_OF_RANGE, "tare samples %d not in 1..80" % samples)
        offset = await self.average(samples)
        self.app.load.offset = offset
        self.app.cfg.values["load_offset"] = offset
        self.save()
        self.app.config_changed()
        struct.pack_into(W.TARE_REPLY_FMT, self.result, 0, offset)
        return W.TARE_REPLY_SIZE

    async def calibrate(self, frame, at, n):
        (mass_g,) = struct.unpack_from(W.CALIBRATE_ARGS_FMT, frame, at)
        if not 1 <= mass_g <= 200000:
            raise CommandError(W.ST_OUT_OF_RANGE, "mass %d g not in 1..200000" % mass_g)
        raw = await self.average(40)
        counts = raw - self.app.load.offset
        if abs(counts) < 200:
            raise CommandError(W.ST_INVALID_STATE,
                               "no load seen (%d counts): tare empty, then hang the mass" % counts)
        scale = counts / (mass_g / 1000 * _GRAVITY)
        if not config.valid_scale(scale):
            raise CommandError(W.ST_OUT_OF_RANGE, "scale %r counts/N is no load cell's" % scale)
        self.app.load.scale = scale
        self.app.cfg.values["load_scale"] = scale
        self.save()
        self.app.config_changed()
        struct.pack_into(W.CALIBRATE_REPLY_FMT, self.result, 0, scale)
        return W.CALIBRATE_REPLY_SIZE

    async def set_name(self, frame, at, n):
        if n < 1 or frame[at] != n - 1:
            raise CommandError(W.ST_BAD_LENGTH, "name length byte does not match")
        raw = bytes(frame[at + 1 : at + n])
        try:
            name = raw.decode()
        except UnicodeError:
            raise CommandError(W.ST_OUT_OF_RANGE, "name is not UTF-8")
        if len(raw) > W.NAME_MAX:
            raise CommandError(W.ST_OUT_OF_RANGE, "name longer than %d bytes" % W.NAME_MAX)
        if not config.valid_name(name):
            raise CommandError(W.ST_OUT_OF_RANGE, "name holds a control character")
        self.app.cfg.values["name"] = name
        self.save()
        self.app.config_changed()
        return 0

    async def time_sync(self, frame, at, n):
        (token,) = struct.unpack_from(W.TIME_SYNC_ARGS_FMT, frame, at)
        struct.pack_into(W.TIME_SYNC_REPLY_FMT, self.result, 0, token, ticks.now_us())
        return W.TIME_SYNC_REPLY_SIZE

    async def resend(self, frame, at, n):
        (from_index,) = struct.unpack_from(W.RESEND_ARGS_FMT, frame, at)
        ring = self.app.ring
        block = ring.find(from_index)
        oldest = ring.oldest_index() if block >= 0 else ring.held_after(from_index)
        struct.pack_into(W.RESEND_REPLY_FMT, self.result, 0, from_index, oldest,
                         self.app.sampler.next_index)
        if block < 0:
            raise CommandError(W.ST_NOT_AVAILABLE, "", W.RESEND_REPLY_SIZE)
        self.app.streamer_for(self.link).rewind(block)  # re-send on the link that asked
        return W.RESEND_REPLY_SIZE

    async def ack(self, frame, at, n):
        (below,) = struct.unpack_from(W.ACK_ARGS_FMT, frame, at)
        self.app.acknowledged(below)
        return 0

    async def reboot(self, frame, at, n):
        self.app.reboot_soon(repl=False)
        return 0

    async def exit_to_repl(self, frame, at, n):
        self.app.reboot_soon(repl=True)
        return 0

    async def reset_config(self, frame, at, n):
        values = self.app.cfg.values
        defaults = dict(config.DEFAULTS)
        for key in _CALIBRATION:
            defaults[key] = values[key]
        self._apply_settings(defaults)
        self.app.config_changed()
        return 0

    # --- helpers ---------------------------------------------------------------------------

    def _apply_settings(self, settings):
        """Rates and ranges to the sensors, then to flash: what the sensors refuse is not saved."""
        try:
            self.app.apply_rates(settings)
        except OSError as exc:
            raise CommandError(W.ST_SENSOR_ERROR, "IMU: %s" % exc)
        self.app.cfg.values.update(settings)
        self.save()

    def refuse_if_too_slow(self, link, imu_hz, load_hz):
        """OUT_OF_RANGE, with the limit as the reply's text, if `link` cannot carry the rate."""
        why = self.app.link_too_slow(link, imu_hz, load_hz)
        if why:
            raw = why.encode()[: len(self.result)]
            self.result[: len(raw)] = raw
            raise CommandError(W.ST_OUT_OF_RANGE, why, len(raw))

    async def average(self, samples):
        """Raw counts averaged over `samples` conversions, robust to one misread conversion:
        the median of up to five group means. A clock pulse held high past 60 us (an interrupt,
        a garbage collection) makes the HX711 return garbage or power down; a plain mean of 40
        readings is moved by such a reading, the median of the groups is not."""
        load = self.app.load
        if load.stale_ms() > 1000:
            raise CommandError(W.ST_SENSOR_ERROR, "load cell not ready for %d ms" % load.stale_ms())
        groups = min(_AVERAGE_GROUPS, samples)
        means = []
        for g in range(groups):
            n = samples // groups + (1 if g < samples % groups else 0)
            means.append(await self._average_once(n))
        means.sort()
        return means[groups // 2]

    async def _average_once(self, samples):
        load = self.app.load
        load.start_average(samples)
        rate = self.app.cfg.values["load_rate_hz"]
        deadline_ms = samples * 1000 // rate * 2 + 500
        waited = 0
        while not load.average_done():
            if waited > deadline_ms:
                raise CommandError(W.ST_SENSOR_ERROR, "load cell stopped answering")
            await asyncio.sleep_ms(10)
            waited += 10
        return load.average_raw()

    def save(self):
        try:
            self.app.cfg.save()
        except OSError as exc:
            raise CommandError(W.ST_STORAGE_ERROR, "config not saved: %s" % exc)
