"""The hardware-in-the-loop suite: the same tests against the simulated board or a real one.

    pytest hil                                   # --target sim: the simulated board (a pty)
    pytest hil --target sim:ble                  # the simulated board over its simulated radio
    pytest hil --target serial:/dev/ttyUSB0      # a real board on USB
    pytest hil --target ble:Anklet-1A2B --known-mass-kg 5

Tests marked `sim_only` need the simulator's motion, link or fault injection and are skipped on
real boards with the reason. Long recordings (the streams at every rate, the workouts) are made
once, together, on first use (`sessions.Plan`). Every test can note a key figure; a table of
them closes the run, and they go into the JUnit XML as properties.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from anklet.analysis.evaluate import DEFAULT_DATA

HIL_DIR = Path(__file__).resolve().parent
if str(HIL_DIR) not in sys.path:
    sys.path.insert(0, str(HIL_DIR))

from sessions import Job, Plan, Recording  # noqa: E402
from targets import Board, Target, open_board  # noqa: E402

T = TypeVar("T")

RATES_HZ = (100, 200, 400, 1000)
SIM_NICE = -10  # see _prefer_the_simulator
GRAVITY = 9.80665
#: 3 sets of 10 knee extensions, 1.6 s a rep, 13 s rests (the analysis splits sets at 12 s);
#: the motion starts at power-on, the recording once the board answers (6 s of lead for it).
WORKOUT_MOTION = (
    "leg-raise:sets=3,reps=10,rom=50,up=0.6,hold=0.1,down=0.7,pause=0.2,rest=13,lead=6,"
    "sway=2,seed=7"
)
WORKOUT_SECONDS = 82.0
#: Two series of 8 rebound jumps (0.45 s flights, 0.25 s contacts), 6 s after power-on.
JUMPS_MOTION = "jumps:series=2,jumps=8,flight=0.45,contact=0.25,rest=6,lead=6,seed=4"
JUMPS_SECONDS = 30.0
JUMPS_RATE_HZ = 400  # contact times want a few ms of resolution
#: A real recording (Yurtman & Barshan, right shank): its "too fast" set of 10, t = 96..162 s.
REPLAY_SOURCE = DEFAULT_DATA / "data" / "s1_e1_u2_seated_leg_raise_right_shank_distal.csv"
REPLAY_WINDOW_S = (96.0, 162.0)

# --- options, markers, selection -------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("anklet hil")
    group.addoption(
        "--target",
        default="sim",
        help="board under test: sim (default), sim:ble, serial:PATH, ble:NAME_OR_ADDRESS",
    )
    group.addoption(
        "--stream-seconds",
        type=float,
        default=60.0,
        help="length of the stream at each IMU rate (default 60)",
    )
    group.addoption(
        "--known-mass-kg",
        type=float,
        default=None,
        help="real boards: the calibration mass you will hang on the strap when asked",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "sim_only(why): needs the simulator (motion, link or fault injection); skipped on real "
        "boards",
    )
    config.stash[_FIGURES] = {}
    try:
        target = Target.parse(config.getoption("--target"))
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[_TARGET] = target
    if target.is_sim:
        _prefer_the_simulator()


def _prefer_the_simulator() -> None:
    """Run ahead of other work on this computer; the simulated boards inherit it.

    A simulated board is a real-time device: its IMU fills a FIFO of 85 ms at 1000 Hz whether
    or not the interpreter gets the CPU, and a busy computer (other test runs, benchmarks)
    that starves it for longer makes it drop samples a real board would not. Needs the right
    to raise priority (root or CAP_SYS_NICE); without it, nothing changes."""
    with contextlib.suppress(OSError):
        os.nice(SIM_NICE)


_TARGET = pytest.StashKey[Target]()
_FIGURES = pytest.StashKey[dict[str, dict[str, str]]]()
_PLANNED = pytest.StashKey[set[str]]()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    target = config.stash[_TARGET]
    seconds = config.getoption("--stream-seconds")
    planned: set[str] = set()
    for item in items:
        marker = item.get_closest_marker("sim_only")
        if marker is not None and not target.is_sim:
            why = marker.args[0] if marker.args else "needs the simulator"
            item.add_marker(pytest.mark.skip(reason=f"{why}: skipped on {target} (sim only)"))
            continue
        key = _recording_key(item)
        if key is None:
            continue
        planned.add(key)
        # Setup includes every planned recording: concurrent on the simulator, in turn on a
        # real board.
        long_s = max(seconds, WORKOUT_SECONDS)
        budget = (long_s if target.is_sim else 4 * seconds + 2 * long_s) + 240
        item.add_marker(pytest.mark.timeout(budget))
    config.stash[_PLANNED] = planned


def _recording_key(item: pytest.Item) -> str | None:
    names = getattr(item, "fixturenames", ())
    params = getattr(getattr(item, "callspec", None), "params", {})
    if "rate_session" in names or ("recordings" in names and "rate_hz" in params):
        return f"rate-{params['rate_hz']}"
    if "workout_session" in names:
        return "workout"
    if "replay_session" in names:
        return "replay"
    if "jump_session" in names:
        return "jumps"
    return None


# --- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def target(pytestconfig: pytest.Config) -> Target:
    return pytestconfig.stash[_TARGET]


class Bench:
    """Runs a test body against a board opened for the target, in its own event loop."""

    def __init__(self, target: Target, folder: Path) -> None:
        self.target = target
        self.folder = folder
        self._runs = 0

    def run(self, body: Callable[[Board], Awaitable[T]], **board_options: Any) -> T:
        """`await body(board)` on a freshly opened board (a new simulated one each call)."""
        self._runs += 1
        folder = self.folder / f"board{self._runs}"

        async def main() -> T:
            async with open_board(self.target, folder, **board_options) as board:
                return await body(board)

        return asyncio.run(main())


@pytest.fixture
def hil(target: Target, tmp_path: Path) -> Bench:
    return Bench(target, tmp_path)


@pytest.fixture
def figure(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """figure("12000 samples, 100.000 %"): the key figure for the summary table and JUnit."""

    def note(text: str) -> None:
        request.node.user_properties.append(("figure", text))

    return note


@pytest.fixture(scope="session")
def recordings(
    pytestconfig: pytest.Config, target: Target, tmp_path_factory: pytest.TempPathFactory
) -> Plan:
    planned = pytestconfig.stash[_PLANNED]
    seconds = pytestconfig.getoption("--stream-seconds")
    folder = tmp_path_factory.mktemp("recordings")
    jobs: dict[str, Job] = {}
    for rate in RATES_HZ:
        if f"rate-{rate}" in planned:
            jobs[f"rate-{rate}"] = Job(rate_hz=rate, seconds=seconds)
    if "workout" in planned:
        jobs["workout"] = Job(rate_hz=200, seconds=WORKOUT_SECONDS, motion=WORKOUT_MOTION)
    if "jumps" in planned:
        jobs["jumps"] = Job(rate_hz=JUMPS_RATE_HZ, seconds=JUMPS_SECONDS, motion=JUMPS_MOTION)
    if "replay" in planned:
        segment = replay_segment(folder / "replay_source.csv")
        jobs["replay"] = Job(
            rate_hz=200,
            seconds=REPLAY_WINDOW_S[1] - REPLAY_WINDOW_S[0] + 1.0,
            motion=f"csv:path={segment},loop=0",
            source=segment,
        )
    return Plan(target, folder, jobs)


def replay_segment(out: Path) -> Path:
    """The replayed window of REPLAY_SOURCE as its own CSV, its clock starting at 0."""
    start, end = REPLAY_WINDOW_S
    lines = REPLAY_SOURCE.read_text().splitlines()
    rows = [lines[0]]
    for line in lines[1:]:
        cells = line.split(",")
        t_s = float(cells[0])
        if start <= t_s < end:
            rows.append(",".join([f"{t_s - start:.3f}", *cells[1:]]))
    out.write_text("\n".join(rows) + "\n")
    return out


@pytest.fixture
def rate_session(recordings: Plan, rate_hz: int) -> Recording:
    return recordings.get(f"rate-{rate_hz}")


@pytest.fixture
def workout_session(recordings: Plan) -> Recording:
    return recordings.get("workout")


@pytest.fixture
def replay_session(recordings: Plan) -> Recording:
    return recordings.get("replay")


@pytest.fixture
def jump_session(recordings: Plan) -> Recording:
    return recordings.get("jumps")


@pytest.fixture
def operator(pytestconfig: pytest.Config) -> Callable[[str], None]:
    """operator("Hang 5 kg on the strap"): wait for the person at the bench to press Enter."""

    def ask(text: str) -> None:
        capture = pytestconfig.pluginmanager.getplugin("capturemanager")
        if not sys.__stdin__ or not sys.__stdin__.isatty():
            pytest.skip(f"needs an operator at a terminal to: {text}")
        with capture.global_and_fixture_disabled():
            input(f"\n>>> {text}, then press Enter ")

    return ask


# --- the summary table -----------------------------------------------------------------------


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[Any]:
    report = yield
    rows = item.config.stash[_FIGURES]
    row = rows.setdefault(item.nodeid, {"outcome": "", "figure": ""})
    if report.failed:
        row["outcome"] = "FAILED" if report.when == "call" else f"ERROR ({report.when})"
    elif report.skipped and not row["outcome"]:
        row["outcome"] = "skipped"
        longrepr = report.longrepr
        if isinstance(longrepr, tuple):
            row["figure"] = str(longrepr[2]).removeprefix("Skipped: ")
    elif report.when == "call" and report.passed:
        row["outcome"] = "passed"
    figures = [str(v) for k, v in item.user_properties if k == "figure"]
    if figures:
        row["figure"] = "; ".join(figures)
    return report


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    rows = config.stash.get(_FIGURES, {})
    if not rows:
        return
    target = str(config.stash[_TARGET])
    names = {nodeid: nodeid.split("::", 1)[-1] for nodeid in rows}
    width = min(max(len(n) for n in names.values()), 72)
    terminalreporter.section(f"HIL summary: target {target}")
    terminalreporter.write_line(f"{'test':<{width}}  {'target':<8}  {'outcome':<9}  key figure")
    for nodeid, row in rows.items():
        name = names[nodeid]
        if len(name) > width:
            name = name[: width - 1] + "…"
        terminalreporter.write_line(
            f"{name:<{width}}  {target:<8}  {row['outcome']:<9}  {row['figure']}"
        )
