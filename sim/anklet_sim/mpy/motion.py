# Motion sources for the simulated board: what the ankle weight feels, as a function of time.
# Runs unchanged under MicroPython (inside the emulator) and CPython (tests build the same
# reference signal), so it uses only `math` and plain ints and floats.
#
#     m = motion.from_spec("leg-raise:sets=3,reps=10,rom=60,seed=1")
#     ax, ay, az, gx, gy, gz, force_n = m.sample(12.345)   # m/s² (gravity in), deg/s, N
#
# Spec grammar:  KIND[:KEY=VALUE[,KEY=VALUE]...]   (values are numbers unless said otherwise)
#
#   leg-raise   seated knee extension, repeated in sets. The shank swings about the knee from
#               `start` deg (0 = hanging straight down) up by `rom` deg and back.
#     sets=3 reps=10        sets, repetitions per set
#     up=1.0 hold=1.0 down=1.5 pause=0.5   tempo, s: concentric, hold at the top, eccentric,
#                           rest at the bottom between reps (minimum-jerk profiles)
#     rom=60 start=0        range of motion and starting angle, deg
#     var=0.05              rep-to-rep range-of-motion variation (relative std)
#     rest=20 lead=3        rest between sets, still time before the first set, s
#     loop=0                1: start the program again after the last set; 0: stay still
#     radius=0.40           knee to sensor, m
#     sway=3                lateral sway amplitude, deg (two slow sinusoids)
#     noise=0.02 gnoise=0.1 sensor noise std: accelerometer m/s², gyroscope deg/s
#     mass=2.0              the weight, kg: strap force = mass x |specific force|
#     mount=R/P/Y           sensor orientation on the shank (roll/pitch/yaw deg, ZYX);
#                           default: a random orientation drawn from the seed
#     seed=1                noise, variation and default mount
#   still       the leg at rest: the leg-raise keys, no sets (start, sway, noise, mass, mount)
#   jumps       repeated vertical jumps (pogo hops, plyometric series) with the weight on: the
#               shank upright, a countermovement, then take-off, flight, landing, contact, ...
#     series=2 jumps=10     series, jumps per series
#     flight=0.45 contact=0.25   flight time and ground-contact time between jumps, s
#     first=0.6             countermovement before the first take-off of a series, s
#     fade=0.0              fatigue: each jump flies (1 - fade) times the last one's flight and
#                           stays on the ground (1 + fade) times its contact
#     impact=5              landing peak over the support force, g
#     release=6 fold=0.5    push-off release spike after take-off; knee fold in flight, g
#     drop=0                drop jumps: each series starts with a step off a box this high, m
#                           (its landing: drops()), then `contact` on the ground and the jumps
#               Not free fall: in flight the shank swings (|a| ~0.5-1.2 g, brief dips), as real
#               shoe recordings show (forsyth_dropjump; constants beside `Jumps`).
#     rest=20 lead=3 noise gnoise mass mount seed   as for leg-raise
#   csv         replay of a recording with columns t_s,ax_ms2,ay_ms2,az_ms2,gx_dps,gy_dps,gz_dps
#     path=FILE (text)      e.g. /work/shared/data/uci_pt_legs/data/s1_e1_u2_....csv (25 Hz)
#     loop=1                1: start again at the end; 0: hold the last row
#     mass=2.0              strap force = mass x |accel|
#               Linearly interpolated to whatever times it is asked for; read as a stream (two
#               rows in memory), so times should mostly increase (going back re-reads the file).
#
# Noise is a pure function of (seed, time, channel), not of call order: the emulator may ask
# for samples in any order or skip some, and a CPython test gets the same values.
import math

G = 9.80665  # m/s² per g
_RAD = math.pi / 180.0
_DEG = 180.0 / math.pi
_M32 = 0xFFFFFFFF
_sin = math.sin
_cos = math.cos
_sqrt = math.sqrt


def _hash(seed, n):
    # 32-bit integer mix; every product stays below 2**62 so MicroPython keeps small ints.
    x = ((n & _M32) ^ ((seed * 0x2C1B3C6D) & _M32)) & _M32
    x ^= x >> 16
    x = (x * 0x21F0AAAD) & _M32
    x ^= x >> 15
    x = (x * 0x335A2D97) & _M32
    x ^= x >> 15
    x = (x + ((n >> 32) * 0x1B873593)) & _M32
    x ^= x >> 13
    x = (x * 0x2545F491) & _M32
    return x ^ (x >> 16)


def uniform(seed, n):
    """Deterministic uniform in [0, 1) for (seed, n)."""
    return _hash(seed, n) / 4294967296.0


def gauss(seed, n):
    """Deterministic approximately normal (mean 0, std 1) value for (seed, n): Irwin-Hall of 4."""
    x = _hash(seed, n)
    s = (x & 255) + ((x >> 8) & 255) + ((x >> 16) & 255) + (x >> 24)
    return (s - 510) * 0.006766  # 1 / sqrt(4 * (256**2 - 1) / 12)


def _number(text):
    try:
        return int(text)
    except ValueError:
        return float(text)


def parse_spec(spec):
    """'kind:a=1,b=x' -> ('kind', {'a': 1, 'b': 'x'}); numbers become int or float."""
    kind, _, rest = spec.partition(":")
    params = {}
    for item in rest.split(","):
        item = item.strip()
        if not item:
            continue
        key, eq, value = item.partition("=")
        if not eq:
            raise ValueError("motion spec: %r is not KEY=VALUE" % item)
        key = key.strip()
        value = value.strip()
        if key in ("path", "mount"):
            params[key] = value
        else:
            try:
                params[key] = _number(value)
            except ValueError:
                raise ValueError("motion spec: %s=%r is not a number" % (key, value))
    return kind.strip(), params


def from_spec(spec):
    kind, params = parse_spec(spec)
    if kind in ("leg-raise", "still"):
        if kind == "still":
            params["sets"] = 0
        return LegRaise(**params)
    if kind == "jumps":
        return Jumps(**params)
    if kind == "csv":
        if "path" not in params:
            raise ValueError("motion spec: csv needs path=FILE")
        return CsvReplay(**params)
    raise ValueError("motion spec: unknown kind %r (leg-raise, still, jumps, csv)" % kind)


def _mount_matrix(roll_deg, pitch_deg, yaw_deg):
    # Rows of R^T, R = Rz(yaw) Ry(pitch) Rx(roll): shank-frame vector -> sensor-frame vector.
    cr, sr = _cos(roll_deg * _RAD), _sin(roll_deg * _RAD)
    cp, sp = _cos(pitch_deg * _RAD), _sin(pitch_deg * _RAD)
    cy, sy = _cos(yaw_deg * _RAD), _sin(yaw_deg * _RAD)
    r = (
        (cy * cp, cy * sp * sr - sy * cr, cy * sp * cr + sy * sr),
        (sy * cp, sy * sp * sr + cy * cr, sy * sp * cr - cy * sr),
        (-sp, cp * sr, cp * cr),
    )
    return tuple(r[i][j] for j in range(3) for i in range(3))  # transposed, flat


def _mount(mount, seed):
    """(roll, pitch, yaw) deg of the sensor on the shank: given as R/P/Y, else drawn from seed."""
    if mount is None:
        u = uniform(seed, 1), uniform(seed, 2), uniform(seed, 3)
        return (u[0] * 360 - 180, math.asin(2 * u[1] - 1) * _DEG, u[2] * 360 - 180)
    angles = tuple(float(x) for x in str(mount).split("/"))
    if len(angles) != 3:
        raise ValueError("motion spec: mount=ROLL/PITCH/YAW (degrees)")
    return angles


def _to_sensor(m, f1, f2, f3, o1, o2, o3, t, seed, an, gn, force_n):
    """Shank-frame specific force (m/s²) and rate (deg/s) -> the sensor's 7-tuple, with noise."""
    n = int(t * 1e6) * 8
    return (
        m[0] * f1 + m[1] * f2 + m[2] * f3 + an * gauss(seed, n),
        m[3] * f1 + m[4] * f2 + m[5] * f3 + an * gauss(seed, n + 1),
        m[6] * f1 + m[7] * f2 + m[8] * f3 + an * gauss(seed, n + 2),
        m[0] * o1 + m[1] * o2 + m[2] * o3 + gn * gauss(seed, n + 3),
        m[3] * o1 + m[4] * o2 + m[5] * o3 + gn * gauss(seed, n + 4),
        m[6] * o1 + m[7] * o2 + m[8] * o3 + gn * gauss(seed, n + 5),
        force_n,
    )


class LegRaise:
    def __init__(self, sets=3, reps=10, rom=60.0, up=1.0, hold=1.0, down=1.5, pause=0.5,
                 rest=20.0, lead=3.0, loop=0, start=0.0, var=0.05, radius=0.40, sway=3.0,
                 noise=0.02, gnoise=0.1, mass=2.0, mount=None, seed=1):  # fmt: skip
        self.sets = int(sets)
        self.reps = int(reps)
        self.rom = float(rom) * _RAD
        self.up = float(up)
        self.hold = float(hold)
        self.down = float(down)
        self.rep_s = self.up + self.hold + self.down + float(pause)
        self.set_s = self.reps * self.rep_s + float(rest)
        self.lead = float(lead)
        self.loop = bool(loop)
        self.start = float(start) * _RAD
        self.var = float(var)
        self.radius = float(radius)
        self.noise = float(noise)
        self.gnoise = float(gnoise)
        self.mass = float(mass)
        self.seed = int(seed)
        # Sway: two incommensurate slow sinusoids summing to about `sway` deg at most.
        a = float(sway) * _RAD * 0.5
        self._sw = (a, 2 * math.pi * 0.23, uniform(self.seed, 11) * 6.2832,
                    a, 2 * math.pi * 0.61, uniform(self.seed, 12) * 6.2832)  # fmt: skip
        self.mount_deg = _mount(mount, self.seed)
        self._m = _mount_matrix(*self.mount_deg)

    @property
    def duration_s(self):
        """Time from t = 0 to the end of the last set (its trailing rest excluded)."""
        return self.lead + self.sets * self.set_s - (self.set_s - self.reps * self.rep_s)

    def angle(self, t):
        """(theta, theta_dot, theta_ddot) of the shank: rad, rad/s, rad/s², from `start`."""
        u = t - self.lead
        if u < 0.0 or self.sets <= 0:
            return 0.0, 0.0, 0.0
        k = int(u // self.set_s)
        if k >= self.sets:
            if not self.loop:
                return 0.0, 0.0, 0.0
            k = k % self.sets
            u = u % (self.sets * self.set_s)
        u -= k * self.set_s
        j = int(u // self.rep_s)
        if j >= self.reps:
            return 0.0, 0.0, 0.0
        p = u - j * self.rep_s
        rom = self.rom * (1.0 + self.var * gauss(self.seed, 1000 + k * 1000 + j))
        if p < self.up:
            T = self.up
            s = p / T
            sign = 1.0
            base = 0.0
        else:
            p -= self.up
            if p < self.hold:
                return rom, 0.0, 0.0
            p -= self.hold
            if p >= self.down:
                return 0.0, 0.0, 0.0
            T = self.down
            s = p / T
            sign = -1.0
            base = rom
        # Minimum-jerk: x = 10s³ − 15s⁴ + 6s⁵; velocity and acceleration zero at both ends.
        s2 = s * s
        x = s2 * s * (10.0 - 15.0 * s + 6.0 * s2)
        v = 30.0 * s2 * (1.0 - s) * (1.0 - s) / T
        a = 60.0 * s * (1.0 - s) * (1.0 - 2.0 * s) / (T * T)
        return base + sign * rom * x, sign * rom * v, sign * rom * a

    def sample(self, t):
        th, thd, thdd = self.angle(t)
        th += self.start
        r = self.radius
        # Specific force in the shank frame (e1 forward along the swing, e2 the knee axis,
        # e3 up the shank): tangential + gravity, centripetal + gravity.
        f1 = r * thdd + G * _sin(th)
        f3 = r * thd * thd + G * _cos(th)
        a1, w1, p1, a2, w2, p2 = self._sw
        psi = a1 * _sin(w1 * t + p1) + a2 * _sin(w2 * t + p2)
        psid = a1 * w1 * _cos(w1 * t + p1) + a2 * w2 * _cos(w2 * t + p2)
        cp = _cos(psi)
        sp = _sin(psi)
        v2 = f3 * sp
        v3 = f3 * cp
        o1 = psid * _DEG
        thd_deg = thd * _DEG
        o2 = -thd_deg * cp
        o3 = thd_deg * sp
        force_n = self.mass * _sqrt(f1 * f1 + f3 * f3)
        return _to_sensor(self._m, f1, v2, v3, o1, o2, o3, t, self.seed, self.noise, self.gnoise,
                          force_n)  # fmt: skip

    def force(self, t):
        return self.sample(t)[6]


# Jump shape (checked against forsyth_dropjump, a shoe-mounted accelerometer on real drop jumps).
_SWING_G = 1.0  # peak tangential acceleration of the shank's swing in flight, g
_RELEASE_S = 0.012  # the release spike peaks this long after take-off (real: 9-19 ms)
_IMPACT_RISE_S = 0.006  # the landing impact's rise (real: within one 2.5 ms sample; slower here
#                         so that a 100 Hz sampler still sees the impact over 4 g)
_TOE_S = 0.03  # the forefoot's push-off peak before take-off: its length ...
_TOE_G = 2.5  # ... and height over the push (real: ~4.5 g in all at the shoe, 6-16 ms before)
_RING_S = 0.012  # period of the landing's ringing
_LEAN = 12.0 * _RAD  # the shank's lean over the foot during ground contact


class Jumps:
    """Series of vertical jumps; `events()` gives every (take-off, landing) time, s."""

    def __init__(self, series=2, jumps=10, flight=0.45, contact=0.25, first=0.6, fade=0.0,
                 impact=5.0, release=6.0, fold=0.5, drop=0.0, rest=20.0, lead=3.0, radius=0.40,
                 noise=0.05, gnoise=0.3, mass=2.0, mount=None, seed=1):  # fmt: skip
        self.series = int(series)
        self.release = float(release) * G
        self.fold = float(fold) * G
        self.jumps = int(jumps)
        self.first = float(first)
        self.impact = float(impact) * G
        self.lead = float(lead)
        self.radius = float(radius)
        self.noise = float(noise)
        self.gnoise = float(gnoise)
        self.mass = float(mass)
        self.seed = int(seed)
        self.mount_deg = _mount(mount, self.seed)
        self._m = _mount_matrix(*self.mount_deg)
        # One series as phases (start, length, kind, flight of the jump they lead to or end,
        # speed at the landing that starts them): kind 0 countermovement, 1 flight, 2 contact
        # after a landing, 3 settling after the last, 4 the fall of a step off a box.
        phases = []
        t = 0.0
        fl = float(flight)
        ct = float(contact)
        fade = float(fade)
        self.drop = float(drop)
        v_in = 0.0
        if self.drop > 0.0:
            fall = _sqrt(2.0 * self.drop / G)
            phases.append((t, fall, 4, fl, 0.0))
            t += fall
            v_in = G * fall
        for j in range(self.jumps):
            if j == 0 and self.drop <= 0.0:
                phases.append((t, self.first, 0, fl, 0.0))
                t += self.first
            else:
                phases.append((t, ct, 2, fl, v_in))
                t += ct
            phases.append((t, fl, 1, fl, 0.0))
            t += fl
            v_in = G * fl / 2.0
            if j:
                ct *= 1.0 + fade
            fl *= 1.0 - fade
        phases.append((t, 1.0, 3, 0.0, v_in))
        self._phases = phases
        self.series_s = t + 1.0 + float(rest)
        self._last = 0  # the phase the previous sample fell in: times mostly increase

    @property
    def length_s(self):
        """Time from t = 0 to the end of the last series, its rest included."""
        return self.lead + self.series * self.series_s

    def events(self):
        out = []
        for k in range(self.series):
            base = self.lead + k * self.series_s
            for start, length, kind, _, _ in self._phases:
                if kind == 1:
                    out.append((base + start, base + start + length))
        return out

    def drops(self):
        """Landing times of the steps off a box (`drop`), one per series."""
        out = []
        for k in range(self.series):
            base = self.lead + k * self.series_s
            for start, length, kind, _, _ in self._phases:
                if kind == 4:
                    out.append(base + start + length)
        return out

    def _phase(self, t):
        u = t - self.lead
        if u < 0.0 or self.series <= 0:
            return None, 0.0
        k = int(u // self.series_s)
        if k >= self.series:
            return None, 0.0
        u -= k * self.series_s
        phases = self._phases
        n = len(phases)
        for step in range(n):
            i = (self._last + step) % n
            phase = phases[i]
            if phase[0] <= u < phase[0] + phase[1]:
                self._last = i
                return phase, u - phase[0]
        return None, 0.0

    def sample(self, t):
        # What a shank sensor reads, after the real shoe recordings in forsyth_dropjump (README
        # there): no free fall in flight (the segment swings: mean |a| ~0.7-1 g, a brief dip near
        # 0.1-0.3 g), a push-off ending in a release spike that peaks ~12 ms after take-off
        # (7-10 g real; `release` here), a landing impact rising within a few ms and ringing.
        phase, p = self._phase(t)
        f1 = 0.0
        f3 = G
        th = thd = 0.0
        if phase is not None:
            _, length, kind, fl, v_in = phase
            s = p / length
            if kind == 4:
                # Stepping off a box: the body falls, but the foot slides off the edge and the legs
                # reach for the floor, so a shoe reads 0.3-0.6 g, not 0 (forsyth_dropjump).
                f3 = 0.4 * G
                f1 = 0.15 * G * _sin(math.pi * s)
            elif kind == 1:
                # Flight: the body falls freely, so only the shank's motion relative to it is felt.
                # It swings back and returns, th = amp sin^2(pi p / T): its tangential acceleration
                # r th'' (about 1 g whatever the flight time: amp scales with T^2) passes through 0
                # a quarter and three quarters into the flight, where |a| dips; along the shank the
                # knee folds and unfolds (+-`fold` g) and the centripetal r th'^2 pulls to the knee.
                w = math.pi / length
                amp = _SWING_G * G / (2.0 * self.radius * w * w)
                th = amp * _sin(w * p) ** 2
                thd = amp * w * _sin(2.0 * w * p)
                f1 = self.radius * 2.0 * amp * w * w * _cos(2.0 * w * p)
                f3 = self.fold * _cos(2.0 * w * p) + self.radius * thd * thd
                # The release: the shoe and strap ring as the push-off's load leaves them.
                f3 += self.release * (p / _RELEASE_S) * math.exp(1.0 - p / _RELEASE_S)
            else:
                # On the ground: support (1 g) plus a half-sine push whose impulse turns the landing
                # speed round and launches the next flight (take-off speed g flight / 2); the shank
                # leans forward and back over the foot as the ankle bends and extends.
                if kind == 0:
                    # From standing: unweighting (down to 0.6 g) then the push, whose impulse also
                    # makes up what the unweighting took.
                    if s < 0.5:
                        f = G - 0.4 * G * _sin(2.0 * math.pi * s)
                    else:
                        push = G * fl * math.pi / length + 0.4 * G
                        f = G + push * _sin(2.0 * math.pi * (s - 0.5))
                elif kind == 2:
                    # The push turns the landing speed round and adds the take-off speed.
                    f = G + (v_in + G * fl / 2.0) * math.pi / (2.0 * length) * _sin(math.pi * s)
                else:
                    f = G
                if kind <= 2 and length - p < _TOE_S:
                    # The forefoot loads as the heel lifts: the push-off peak just before take-off.
                    f += _TOE_G * G * _sin(math.pi * (length - p) / _TOE_S)
                th = _LEAN * _sin(math.pi * s)
                thd = _LEAN * math.pi / length * _cos(math.pi * s)
                f1 = f * _sin(th)
                f3 = f * _cos(th)
                if kind >= 2 and p < 0.1:
                    # The landing's impact: a ~6 ms rise, then decaying rings on both axes.
                    u = p / _IMPACT_RISE_S
                    ring = self.impact * u * math.exp(1.0 - u)
                    f3 += ring
                    f1 += 0.5 * ring * _sin(2.0 * math.pi * p / _RING_S)
        o2 = -thd * _DEG
        force_n = self.mass * _sqrt(f1 * f1 + f3 * f3)
        return _to_sensor(self._m, f1, 0.0, f3, 0.0, o2, 0.0, t, self.seed, self.noise,
                          self.gnoise, force_n)  # fmt: skip

    def force(self, t):
        return self.sample(t)[6]


_COLUMNS = ("t_s", "ax_ms2", "ay_ms2", "az_ms2", "gx_dps", "gy_dps", "gz_dps")


class CsvReplay:
    def __init__(self, path, loop=1, mass=2.0):
        self.path = path
        self.loop = bool(loop)
        self.mass = float(mass)
        self._f = None
        self._cols = None
        # One pass to learn the columns, the first step and the length (for looping).
        self._open()
        first = self._next_row()
        if first is None:
            raise ValueError("%s: no data rows" % path)
        second = self._next_row()
        last = second if second is not None else first
        while True:
            row = self._next_row()
            if row is None:
                break
            last = row
        self.t0 = first[0]
        step = (second[0] - first[0]) if second is not None else 0.0
        self.t_end = last[0]
        self.period_s = self.t_end - self.t0 + step  # loop length: the last row lasts one step
        self._last = last
        self._rewind()

    def _open(self):
        if self._f is not None:
            self._f.close()
        self._f = open(self.path)
        header = self._f.readline().strip().split(",")
        try:
            self._cols = tuple(header.index(name) for name in _COLUMNS)
        except ValueError:
            raise ValueError("%s: needs columns %s" % (self.path, ",".join(_COLUMNS)))

    def _next_row(self):
        while True:
            line = self._f.readline()
            if not line:
                return None
            line = line.strip()
            if line:
                break
        cells = line.split(",")
        return tuple(float(cells[i]) for i in self._cols)

    def _rewind(self):
        self._open()
        self._a = self._next_row()
        self._b = self._next_row() or self._a

    def sample(self, t):
        t += self.t0
        if t >= self.t_end:
            if not self.loop:
                a = self._last
                return a[1], a[2], a[3], a[4], a[5], a[6], self._force(a[1], a[2], a[3])
            t = self.t0 + (t - self.t0) % self.period_s
        if t < self._a[0]:
            self._rewind()
        while t > self._b[0]:
            row = self._next_row()
            if row is None:
                # Between the last row and the loop point: hold the last row.
                self._a = self._b
                break
            self._a = self._b
            self._b = row
        a = self._a
        b = self._b
        span = b[0] - a[0]
        w = (t - a[0]) / span if span > 0.0 else 0.0
        if w > 1.0:
            w = 1.0
        ax = a[1] + (b[1] - a[1]) * w
        ay = a[2] + (b[2] - a[2]) * w
        az = a[3] + (b[3] - a[3]) * w
        return (
            ax, ay, az,
            a[4] + (b[4] - a[4]) * w,
            a[5] + (b[5] - a[5]) * w,
            a[6] + (b[6] - a[6]) * w,
            self._force(ax, ay, az),
        )  # fmt: skip

    def _force(self, ax, ay, az):
        return self.mass * _sqrt(ax * ax + ay * ay + az * az)

    def force(self, t):
        return self.sample(t)[6]
