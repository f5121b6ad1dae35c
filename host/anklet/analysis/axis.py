"""The movement's axis and the limb angle about it, found from the data (never a fixed axis).

    axis = principal_axis(gyro_dps, active_mask)
    angle_deg = fused_angle(acc_ms2, gyro_dps, axis, rate_hz)   # drift-free, signed about axis

The rotation axis is the principal direction of the angular-velocity vectors while the limb moves
(a hinge-like joint turns about one axis whatever way the sensor is strapped on). The angle about
it comes from two sources: integrating the gyro (fast, but drifts with bias) and the direction of
gravity as the accelerometer sees it, projected on the plane normal to the axis (slow, polluted by
the limb's own acceleration, but drift-free). A complementary pair of moving means joins them.
"""

from __future__ import annotations

import numpy as np

from anklet.analysis.filters import moving_mean
from anklet.analysis.loading import FloatArray

BoolArray = np.ndarray


def principal_axis(gyro_dps: FloatArray, weights: FloatArray | None = None) -> FloatArray:
    """Unit vector along which the (weighted) angular velocities mostly point."""
    w = np.ones(len(gyro_dps)) if weights is None else weights
    moment = (gyro_dps * w[:, None]).T @ gyro_dps
    values, vectors = np.linalg.eigh(moment)
    axis = vectors[:, int(np.argmax(values))]
    return axis / np.linalg.norm(axis)


def axis_share(gyro_dps: FloatArray, axis: FloatArray, weights: FloatArray | None = None) -> float:
    """Fraction of the rotation energy about `axis` (1 = a pure hinge)."""
    w = np.ones(len(gyro_dps)) if weights is None else weights
    total = float(np.sum(w * np.einsum("ij,ij->i", gyro_dps, gyro_dps)))
    along = float(np.sum(w * (gyro_dps @ axis) ** 2))
    return along / total if total > 0 else 0.0


def gravity_angle(acc_ms2: FloatArray, axis: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Signed rotation (deg) of the body about `axis`, from gravity; and how usable it is (0..1).

    Turning the body by +a about the axis turns gravity, seen from the body, by -a. The usable
    weight is the length of gravity's projection on the plane normal to the axis: near zero when
    the axis is vertical and gravity cannot see the rotation.
    """
    norm = np.linalg.norm(acc_ms2, axis=1, keepdims=True)
    g = acc_ms2 / np.maximum(norm, 1e-9)
    proj = g - np.outer(g @ axis, axis)
    weight = np.linalg.norm(proj, axis=1)
    # In-plane basis (u, v), u x v = axis, u along the mean projected gravity: angles stay within
    # +-180 deg of it without unwrapping, which would turn a noisy moment into a 360 deg jump.
    mean = np.sum(proj, axis=0)
    if np.linalg.norm(mean) < 1e-9:
        mean = np.cross(axis, np.eye(3)[int(np.argmin(np.abs(axis)))])
    u = mean / np.linalg.norm(mean)
    v = np.cross(axis, u)
    phase = np.arctan2(proj @ v, proj @ u)
    return -np.degrees(phase), weight


def integrated_angle(gyro_dps: FloatArray, axis: FloatArray, rate_hz: float) -> FloatArray:
    """Angle (deg) about `axis`: trapezoid integral of offset-free angular velocity, 0 at start."""
    rate = gyro_dps @ axis
    dt = 1.0 / rate_hz
    return np.concatenate([[0.0], np.cumsum(0.5 * (rate[1:] + rate[:-1]) * dt)])


def fused_angle(
    acc_ms2: FloatArray,
    gyro_dps: FloatArray,
    axis: FloatArray,
    rate_hz: float,
    *,
    fusion_window_s: float = 1.0,
    gravity_smooth_s: float = 0.2,
) -> FloatArray:
    """Limb angle (deg) about `axis`: gravity below ~1/fusion_window Hz, integrated gyro above.

    Starts at 0 on the first sample. Where gravity cannot see the rotation (axis near vertical),
    the slow part falls back to the gyro's own slow trend, i.e. a high-passed gyro integral.
    """
    dt = 1.0 / rate_hz
    rate = gyro_dps @ axis
    gyro_angle = np.concatenate([[0.0], np.cumsum(0.5 * (rate[1:] + rate[:-1]) * dt)])
    acc = moving_mean(acc_ms2, max(round(gravity_smooth_s * rate_hz), 1))
    grav, weight = gravity_angle(acc, axis)
    width = max(round(fusion_window_s * rate_hz), 1)
    slow_gyro = moving_mean(gyro_angle, width)
    usable = float(np.median(weight)) > 0.35  # gravity at least 20 deg off the axis
    slow = moving_mean(grav, width) if usable else slow_gyro
    fused = slow + (gyro_angle - slow_gyro)
    return fused - fused[0]
