"""Synthetic ankle-IMU sessions with known reps, for tests and benchmarks.

    session = SyntheticSession(rate_hz=200, mount=random_rotation(rng))
    session.rest(5).set(reps=10, rom_deg=40, up_s=1, hold_s=5, down_s=1.5).rest(30).walk(20)
    rec, truth = session.build(rng)      # ImuRecording, list of TrueRep

A rigid shank turns about a horizontal hinge 0.4 m above the sensor; the sensor is strapped on
in any orientation (`mount`), so axes are never where the detector might assume. Gyro and
accelerometer are what that motion would give, with noise and a gyro offset.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from anklet.analysis.loading import FloatArray, ImuRecording

_G = 9.80665
_LEVER_M = 0.4  # hinge (knee or hip) to sensor


@dataclass(frozen=True)
class TrueRep:
    start_s: float
    top_s: float  # end of the lift
    end_s: float
    rom_deg: float
    up_s: float
    hold_s: float
    down_s: float


def random_rotation(rng: np.random.Generator) -> FloatArray:
    """A uniformly random 3-D rotation matrix."""
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q @ np.diag(np.sign(np.diag(r)))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


def _ramp(u: FloatArray) -> FloatArray:
    """Smooth 0 -> 1 over u in [0, 1] (half cosine: zero velocity at both ends)."""
    return 0.5 - 0.5 * np.cos(np.pi * np.clip(u, 0.0, 1.0))


@dataclass
class SyntheticSession:
    rate_hz: float = 100.0
    mount: FloatArray = field(default_factory=lambda: np.eye(3))
    rest_pose_deg: float = -60.0  # shank angle from horizontal at rest (seated: hanging down)
    gyro_noise_dps: float = 0.3
    gyro_offset_dps: tuple[float, float, float] = (0.8, -0.5, 0.3)
    acc_noise_ms2: float = 0.05
    _events: list[tuple[str, dict[str, float]]] = field(default_factory=list)

    def rest(self, seconds: float) -> SyntheticSession:
        self._events.append(("rest", {"s": seconds}))
        return self

    def set(
        self,
        reps: int,
        rom_deg: float = 40.0,
        up_s: float = 1.0,
        hold_s: float = 0.5,
        down_s: float = 1.2,
        pause_s: float = 1.0,
        slow_down: float = 1.0,  # last rep's lift takes this many times the first's
    ) -> SyntheticSession:
        for i in range(reps):
            f = 1.0 + (slow_down - 1.0) * (i / max(reps - 1, 1))
            self._events.append(
                ("rep", {"rom": rom_deg, "up": up_s * f, "hold": hold_s, "down": down_s})
            )
            self._events.append(("rest", {"s": pause_s}))
        return self

    def fidget(self, seconds: float, amplitude_deg: float = 1.5) -> SyntheticSession:
        self._events.append(("fidget", {"s": seconds, "amp": amplitude_deg}))
        return self

    def walk(self, seconds: float, stride_s: float = 1.1) -> SyntheticSession:
        self._events.append(("walk", {"s": seconds, "stride": stride_s}))
        return self

    def build(self, rng: np.random.Generator) -> tuple[ImuRecording, list[TrueRep]]:
        total = sum(_duration(kind, p) for kind, p in self._events)
        n = int(total * self.rate_hz) + 1
        t = np.arange(n) / self.rate_hz
        theta = np.zeros(n)  # deg, about the hinge, from the rest pose
        side = np.zeros(n)  # deg, about a second axis (fidgeting)
        impacts = np.zeros(n)  # m/s^2 spikes along the shank (heel strikes)
        bounce = np.zeros(n)  # m/s^2 vertical body acceleration while walking
        truth: list[TrueRep] = []
        now = 0.0
        for kind, p in self._events:
            dur = _duration(kind, p)
            m = (t >= now) & (t < now + dur)
            u = t[m] - now
            if kind == "rep":
                up, hold, down, rom = p["up"], p["hold"], p["down"], p["rom"]
                prof = np.where(
                    u < up,
                    _ramp(u / up),
                    np.where(u < up + hold, 1.0, 1 - _ramp((u - up - hold) / down)),
                )
                theta[m] = rom * prof
                truth.append(TrueRep(now, now + up, now + dur, rom, up, hold, down))
            elif kind == "fidget":
                phase = rng.uniform(0, 2 * np.pi, 4)
                freqs = rng.uniform(0.3, 2.0, 4)
                a = p["amp"]
                theta[m] = (
                    a
                    * np.sin(2 * np.pi * freqs[0] * u + phase[0])
                    * np.sin(2 * np.pi * freqs[1] * u + phase[1])
                )
                side[m] = a * np.sin(2 * np.pi * freqs[2] * u + phase[2])
            elif kind == "walk":
                stride = p["stride"]
                theta[m] = 30.0 * np.sin(2 * np.pi * u / stride)
                bounce[m] = 2.5 * np.sin(4 * np.pi * u / stride)
                strikes = now + np.arange(0.0, dur, stride) + 0.25 * stride
                for s_t in strikes:
                    k = round(s_t * self.rate_hz)
                    width = max(int(0.02 * self.rate_hz), 1)
                    impacts[k : k + width] += 35.0
            now += dur
        rec = self._imu(t, theta, side, impacts, bounce, rng)
        return rec, truth

    def _imu(
        self,
        t: FloatArray,
        theta_deg: FloatArray,
        side_deg: FloatArray,
        impacts: FloatArray,
        bounce: FloatArray,
        rng: np.random.Generator,
    ) -> ImuRecording:
        dt = 1.0 / self.rate_hz
        th = np.radians(theta_deg + self.rest_pose_deg)
        ph = np.radians(side_deg)
        w_th = np.gradient(th, dt)
        w_ph = np.gradient(ph, dt)
        n = len(t)
        # Limb frame: hinge along world x; the shank points along limb -z from the hinge.
        # World from limb: R = Ry(ph) @ Rx(th). Body angular velocity in the limb frame:
        # omega = Rx(th)^T e_y * w_ph + e_x * w_th.
        c, s = np.cos(th), np.sin(th)
        omega_limb = np.stack([w_th, c * w_ph, -s * w_ph], axis=1)
        # Sensor position: lever arm down the shank; acceleration by differentiating it.
        cp, sp = np.cos(ph), np.sin(ph)
        lever = np.array([0.0, 0.0, -_LEVER_M])
        pos = np.empty((n, 3))
        rot = np.empty((n, 3, 3))
        rx = np.zeros((n, 3, 3))
        rx[:, 0, 0] = 1
        rx[:, 1, 1], rx[:, 1, 2], rx[:, 2, 1], rx[:, 2, 2] = c, -s, s, c
        ry = np.zeros((n, 3, 3))
        ry[:, 1, 1] = 1
        ry[:, 0, 0], ry[:, 0, 2], ry[:, 2, 0], ry[:, 2, 2] = cp, sp, -sp, cp
        rot = ry @ rx
        pos = rot @ lever
        acc_world = np.gradient(np.gradient(pos, dt, axis=0), dt, axis=0)
        acc_world[:, 2] += bounce
        specific = acc_world + np.array([0.0, 0.0, _G])
        f_limb = np.einsum("nji,nj->ni", rot, specific)  # R^T f
        f_limb[:, 2] += impacts  # heel strikes travel up the shank
        gyro = np.degrees(omega_limb) @ self.mount  # sensor = mount^T limb
        acc = f_limb @ self.mount
        gyro += np.asarray(self.gyro_offset_dps) + rng.normal(0, self.gyro_noise_dps, (n, 3))
        acc += rng.normal(0, self.acc_noise_ms2, (n, 3))
        return ImuRecording(t_s=t, acc_ms2=acc, gyro_dps=gyro)


def _duration(kind: str, p: dict[str, float]) -> float:
    if kind == "rep":
        return p["up"] + p["hold"] + p["down"]
    return p["s"]
