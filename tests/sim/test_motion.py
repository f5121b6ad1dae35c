"""Motion sources (sim/anklet_sim/mpy/motion.py): the same code under CPython and
MicroPython gives the same signal; the synthetic exercise has the asked-for structure; CSV
replay interpolates, loops or holds."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from anklet_sim import motion as sim_motion

ROOT = Path(__file__).resolve().parents[2]
SIM_MPY = ROOT / "sim" / "anklet_sim" / "mpy"
# A real 25 Hz recording (44 s of it, starting at t_s = 96): see tests/fixtures/README.md.
UCI = ROOT / "tests" / "fixtures" / "uci_s1_e1_u2_fast_set.csv"
G = 9.80665
SPEC = "leg-raise:sets=2,reps=3,rom=60,up=1.0,hold=1.0,down=1.5,rest=5,sway=3,noise=0.02,seed=7"
JUMP_SPEC = "jumps:series=1,jumps=3,drop=0.43,contact=0.45,flight=0.33,lead=1,seed=3"


motion = sim_motion.module()
TIMES = [i * 0.137 for i in range(200)]


def test_same_seed_same_signal_other_seed_other_signal():
    a = [motion.from_spec(SPEC).sample(t) for t in TIMES]
    b = [motion.from_spec(SPEC).sample(t) for t in TIMES]
    c = [motion.from_spec(SPEC.replace("seed=7", "seed=8")).sample(t) for t in TIMES]
    assert a == b
    assert a != c


def test_noise_does_not_depend_on_call_order():
    m = motion.from_spec(SPEC)
    forward = [m.sample(t) for t in TIMES]
    backward = [m.sample(t) for t in reversed(TIMES)][::-1]
    assert forward == backward


def test_micropython_computes_the_same_signal_as_cpython(sim_run, tmp_path):
    csv_spec = f"csv:path={UCI},loop=1,mass=2.0"
    out = sim_run.json(
        f"""
import json, motion
times = [i * 0.137 for i in range(200)]
res = {{}}
for spec in ({SPEC!r}, {csv_spec!r}, {JUMP_SPEC!r}):
    m = motion.from_spec(spec)
    res[spec] = [list(m.sample(t)) for t in times]
print(json.dumps(res))
""",
        heapsize="4m",  # the 600 rows this collects, beyond the 32-bit port's default 1 MB heap
    )
    for spec, rows in out.items():
        m = motion.from_spec(spec)
        for t, row in zip(TIMES, rows, strict=True):
            assert row == pytest.approx(list(m.sample(t)), rel=1e-9, abs=1e-9), (spec, t)


def test_leg_raise_has_the_sets_reps_and_range_asked_for():
    m = motion.from_spec("leg-raise:sets=3,reps=4,rom=50,var=0,rest=6,lead=2,noise=0,gnoise=0")
    dt = 0.005
    n = int((m.duration_s + 5) / dt)
    above = [m.angle(i * dt)[0] > math.radians(25) for i in range(n)]
    reps = sum(1 for i in range(1, n) if above[i] and not above[i - 1])
    assert reps == 12
    peak = max(m.angle(i * dt)[0] for i in range(n))
    assert math.degrees(peak) == pytest.approx(50, abs=0.01)
    # Sets are separated by the rest: the first rep of set 2 starts lead + 4 reps + rest later.
    rep_s = 1.0 + 1.0 + 1.5 + 0.5
    assert m.angle(2 + 4 * rep_s + 6 - 0.01) == (0.0, 0.0, 0.0)
    assert m.angle(2 + 4 * rep_s + 6 + 0.5)[1] > 0


def test_gyro_integrates_to_the_range_of_motion_and_still_reads_one_g():
    m = motion.from_spec("leg-raise:sets=1,reps=1,rom=60,var=0,lead=1,up=1,sway=0,noise=0,gnoise=0")
    dt = 0.001
    # During the concentric phase the gyro vector is the knee-axis rate, in any mounting.
    turned = sum(math.sqrt(sum(v * v for v in m.sample(1 + i * dt)[3:6])) * dt for i in range(1000))
    assert turned == pytest.approx(60, abs=0.1)
    ax, ay, az, *_gyro, force_n = m.sample(0.5)
    assert math.sqrt(ax * ax + ay * ay + az * az) == pytest.approx(G, abs=1e-9)
    assert force_n == pytest.approx(2.0 * G)
    # At the top of the rep (60°, held): still one g, now partly along another axis.
    top = m.sample(2.5)
    assert math.sqrt(sum(v * v for v in top[:3])) == pytest.approx(G, abs=1e-9)
    assert top[:3] != pytest.approx(m.sample(0.5)[:3], abs=1.0)


def test_mount_orientation_is_fixed_by_the_spec():
    a = motion.from_spec("still:mount=0/0/0,noise=0,sway=0").sample(1.0)
    assert a[:3] == pytest.approx((0, 0, G))  # z up the shank
    b = motion.from_spec("still:mount=90/0/0,noise=0,sway=0").sample(1.0)
    assert b[:3] == pytest.approx((0, G, 0), abs=1e-9)


def test_csv_replay_hits_rows_interpolates_loops_and_holds(tmp_path):
    rows = [list(map(float, line.split(","))) for line in UCI.read_text().splitlines()[1:]]
    t0 = rows[0][0]  # the replay's t = 0 is the file's first row
    m = motion.from_spec(f"csv:path={UCI},loop=1")
    for i in (0, 1, 100, 1000):
        assert m.sample(rows[i][0] - t0)[:6] == pytest.approx(rows[i][1:7], abs=1e-9)
    mid = m.sample((rows[10][0] + rows[11][0]) / 2 - t0)
    assert mid[:6] == pytest.approx(
        [(a + b) / 2 for a, b in zip(rows[10][1:], rows[11][1:], strict=True)]
    )
    # 1 kHz from 25 Hz: 40 steps between rows, linear.
    steps = [m.sample(rows[20][0] - t0 + k * 0.001)[0] for k in range(41)]
    assert steps[-1] == pytest.approx(rows[21][1])
    assert all(min(rows[20][1], rows[21][1]) - 1e-9 <= v <= max(rows[20][1], rows[21][1]) + 1e-9
               for v in steps)  # fmt: skip
    period = rows[-1][0] - t0 + 0.04
    assert m.sample(period + rows[5][0] - t0)[:6] == pytest.approx(rows[5][1:7], abs=1e-6)
    # Going back in time re-reads the file.
    assert m.sample(rows[3][0] - t0)[:6] == pytest.approx(rows[3][1:7], abs=1e-9)
    held = motion.from_spec(f"csv:path={UCI},loop=0").sample(period * 3)
    assert held[:6] == pytest.approx(rows[-1][1:7])
    assert held[6] == pytest.approx(2.0 * math.sqrt(sum(v * v for v in rows[-1][1:4])))


@pytest.mark.parametrize(
    "spec", ["jump:x=1", "leg-raise:reps", "leg-raise:reps=many", "csv:loop=1", "still:mount=1/2"]
)
def test_bad_specs_raise_value_error(spec):
    with pytest.raises(ValueError):
        motion.from_spec(spec)


def test_motion_models_run_under_micropython(sim_run):
    # The models run inside the board's interpreter, 3000 samples each: every value a finite
    # number. Their cost per sample is the machine's (it failed a 150 µs bound once in an idle
    # CI run): `python -m bench sim_motion` measures it, beside a reference loop.
    out = sim_run.json(
        f"""
import json, motion
res = {{}}
for spec in ({SPEC!r}, {JUMP_SPEC!r}, "csv:path={UCI},loop=1"):
    m = motion.from_spec(spec)
    finite = 0
    for i in range(3000):
        s = m.sample(i * 0.001)
        finite += all(v == v and abs(v) < 1e9 for v in s)
    res[spec.split(":")[0]] = finite
print(json.dumps(res))
""",
        heapsize="4m",  # the 600 rows this collects, beyond the 32-bit port's default 1 MB heap
    )
    assert out == {"leg-raise": 3000, "jumps": 3000, "csv": 3000}


def test_jumps_look_like_a_real_shoe_recording_not_free_fall():
    # What forsyth_dropjump's README reports of real drop jumps at the shoe: in flight |a| stays
    # well above 0 (mean 0.7-1.1 g) with brief dips; a release spike after take-off, impacts
    # at landing; a step off a box falls only in part (0.3-0.6 g).
    source = motion.from_spec("jumps:series=1,jumps=4,drop=0.43,noise=0,lead=1,seed=4")
    t, x = sim_motion.sampled(source, 1000, source.length_s)
    a = [math.sqrt(r[0] ** 2 + r[1] ** 2 + r[2] ** 2) / G for r in x]

    def span(lo, hi):
        return [v for tt, v in zip(t, a, strict=True) if lo <= tt < hi]

    for takeoff, landing in source.events():
        flight = span(takeoff + 0.03, landing - 0.01)
        assert 0.4 < sum(flight) / len(flight) < 1.2  # not free fall
        assert min(flight) < 0.5  # but a brief dip
        assert max(span(takeoff, takeoff + 0.025)) > 4  # the release spike
        assert max(span(landing, landing + 0.02)) > 4  # the impact
    (drop,) = source.drops()
    fall = span(drop - 0.25, drop - 0.01)  # the fall from 43 cm lasts 0.3 s
    assert all(0.3 < v < 0.6 for v in fall)
