"""The simulated board's `machine` module under MicroPython: resets, the watchdog, I2C as the
ESP32 port behaves, the battery ADC, the button, and faults injected at boot and at run time."""

from __future__ import annotations

import ast
import json
import signal
from pathlib import Path

import pytest
from anklet_sim.board import micropython_command, micropython_path

ROOT = Path(__file__).resolve().parents[2]
SIM_MPY = ROOT / "sim" / "anklet_sim" / "mpy"
BOARD = ROOT / "firmware" / "board.py"

I2C_SETUP = """
import json, time, errno
import machine
from machine import I2C, Pin
import world
w = world.get()
i2c = I2C(0, scl=Pin(22), sda=Pin(21), freq=400000)


def attempt(fn):
    try:
        fn()
        return 0
    except OSError as exc:
        return exc.args[0]
"""


def test_watchdog_not_fed_resets_the_board_with_exit_code_4(sim_run):
    # Fed every 20 ms against a 1 s timeout: a busy PC that holds the interpreter back a while
    # does not starve the dog (a 200 ms timeout fed every 50 ms did, under a saturated suite).
    result = sim_run(
        """
import machine, time
wdt = machine.WDT(timeout=1000)
for _ in range(5):
    time.sleep_ms(20)
    wdt.feed()
print("fed")
while True:
    machine.idle()          # alive, but nobody feeds the dog
"""
    )
    assert result.returncode == 4, result.stderr
    assert "fed" in result.stdout
    assert "machine.WDT: not fed for 1000 ms" in result.stderr


def test_watchdog_kills_a_firmware_hung_without_machine_calls(sim_run):
    result = sim_run("import machine\nmachine.WDT(timeout=100)\nwhile True:\n    pass\n")
    assert result.returncode == -signal.SIGUSR2


def test_reset_and_soft_reset_exit_codes(sim_run):
    assert sim_run("import machine\nmachine.reset()\n").returncode == 3
    assert sim_run("import machine\nmachine.soft_reset()\n").returncode == 5


def test_reset_cause_and_unique_id_come_from_the_launcher(sim_run):
    code = """
import json, machine
print(json.dumps([machine.reset_cause(), machine.unique_id().hex(),
                  machine.WDT_RESET, machine.PWRON_RESET, machine.freq()]))
"""
    out = sim_run.json(code, config={"unique_id": "24a160c0ffee", "reset_cause": 2})
    assert out == [2, "24a160c0ffee", 3, 1, 160000000]  # ESP32_GENERIC's default clock
    out = sim_run.json(code, config={"reset_cause": 2}, env={"ANKLET_RESET_CAUSE": "3"})
    assert out[0] == 3


def test_i2c_behaves_like_the_esp32_port(sim_run):
    out = sim_run.json(
        I2C_SETUP
        + """
other = I2C(0, scl=Pin(18), sda=Pin(19))     # the parts are not on these pins
res = {
    "scan": i2c.scan(),
    "who": i2c.readfrom_mem(0x68, 0x75, 1).hex(),
    "absent": attempt(lambda: i2c.readfrom_mem(0x50, 0, 1)),
    "wrong_pins": attempt(lambda: other.readfrom_mem(0x68, 0x75, 1)),
    "other_scan": other.scan(),
}
i2c.writeto(0x68, b"\\x75")
res["pointer_read"] = i2c.readfrom(0x68, 1).hex()
i2c.writeto_mem(0x68, 0x6B, b"\\x00")       # wake: data registers start to move
time.sleep_ms(20)
res["accel"] = list(i2c.readfrom_mem(0x68, 0x3B, 6))
try:
    Pin(6)
except ValueError as exc:
    res["flash_pin"] = str(exc)
print(json.dumps(res))
"""
    )
    assert out["scan"] == [0x68]
    assert out["who"] == "68"
    assert out["absent"] == 19  # ENODEV, as the ESP32 port raises for a NACK
    assert out["wrong_pins"] == 19
    assert out["other_scan"] == []
    assert out["pointer_read"] == "68"
    assert any(out["accel"])
    assert out["flash_pin"] == "invalid pin"


def test_faults_file_is_polled_at_run_time(sim_run, tmp_path):
    import subprocess

    faults_file = tmp_path / "faults.json"
    faults_file.write_text(json.dumps({"i2c_burst": 2}))  # at boot: one-shots do not fire
    code = (
        I2C_SETUP
        + """
read = lambda: i2c.readfrom_mem(0x68, 0x75, 1)
res = {"boot": [attempt(read) for _ in range(3)]}
print("ready")
deadline = time.ticks_add(time.ticks_ms(), 5000)
while not w.faults.get("go") and time.ticks_diff(deadline, time.ticks_ms()) > 0:
    time.sleep_ms(10)
    w.poll()                                 # what every machine call does
t0 = time.ticks_ms()
res["burst"] = [attempt(read)]
res["stall_ms"] = time.ticks_diff(time.ticks_ms(), t0)
res["burst"] += [attempt(read) for _ in range(4)]
print(json.dumps(res))
"""
    )
    script = tmp_path / "runtime_faults.py"
    script.write_text(code)
    cfg = tmp_path / "sim.json"
    cfg.write_text(json.dumps({"faults_file": str(faults_file), "i2c_timing": False}))
    env = {
        "MICROPYPATH": micropython_path(SIM_MPY, ROOT / "firmware"),
        "ANKLET_SIM_CONFIG": str(cfg),
        "PATH": "/usr/bin:/bin",
    }
    proc = subprocess.Popen(
        [micropython_command(), str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    tmp = tmp_path / "faults.tmp"
    tmp.write_text(json.dumps({"go": 1, "i2c_burst": 3, "stall_ms": 150}))
    tmp.replace(faults_file)
    stdout, stderr = proc.communicate(timeout=10)
    assert proc.returncode == 0, stderr
    res = json.loads(stdout.strip().splitlines()[-1])
    assert res["boot"] == [0, 0, 0]
    assert res["burst"] == [116, 116, 116, 0, 0]
    assert 140 <= res["stall_ms"] < 1000  # the next transaction hung: the firmware froze


def test_level_faults_from_the_sim_config(sim_run):
    out = sim_run.json(
        I2C_SETUP
        + """
res = {"absent": attempt(lambda: i2c.readfrom_mem(0x68, 0x75, 1)), "scan": i2c.scan()}
w.set_faults({"i2c_error_rate": 0.5})
errs = [attempt(lambda: i2c.readfrom_mem(0x68, 0x75, 1)) for _ in range(400)]
res["rate"] = sum(1 for e in errs if e) / 400
res["errno"] = max(errs)
w.set_faults({"stall_ms": 120})
t0 = time.ticks_ms()
i2c.readfrom_mem(0x68, 0x75, 1)
res["stall"] = time.ticks_diff(time.ticks_ms(), t0)
print(json.dumps(res))
""",
        config={"faults": {"imu_absent": True}},
    )
    assert out["absent"] == 19
    assert out["scan"] == []
    assert 0.4 < out["rate"] < 0.6
    assert out["errno"] == 116
    assert 110 <= out["stall"] < 400


def test_battery_adc_reads_half_the_cell_through_the_divider(sim_run):
    code = """
import json
from machine import ADC, Pin
import world
adc = ADC(Pin(35))
adc.atten(ADC.ATTN_11DB)
res = [adc.read_uv(), adc.read_u16()]
world.get().set_faults({"battery_low": True})
res.append(adc.read_uv())
print(json.dumps(res))
"""
    uv, u16, low_uv = sim_run.json(code, config={"battery": {"start_pct": 100, "noise_mv": 0}})
    assert uv == pytest.approx(4.18 / 2 * 1e6, abs=2000)
    assert u16 == pytest.approx(4.18 / 2 / 3.55 * 65535, abs=40)
    assert low_uv == pytest.approx(3.35 / 2 * 1e6, abs=2000)


def test_button_press_runs_the_irq_handler_as_a_soft_irq(sim_run):
    out = sim_run.json(
        """
import json, time
from machine import Pin
import world
w = world.get()
events = []
button = Pin(0, Pin.IN, Pin.PULL_UP)
button.irq(lambda p: events.append(p.value()), Pin.IRQ_FALLING | Pin.IRQ_RISING)
levels = [button.value()]
w.set_faults({"button_press_ms": 50})
time.sleep_ms(1)
levels.append(button.value())
time.sleep_ms(80)
levels.append(button.value())
time.sleep_ms(1)
print(json.dumps({"levels": levels, "events": len(events)}))
"""
    )
    assert out["levels"] == [1, 0, 1]
    assert out["events"] == 2


def _literal(path: Path, name: str):
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == name:
            return ast.literal_eval(node.value)
    raise AssertionError(f"{path.name} has no {name}")


def test_simulated_wiring_matches_the_firmware_pin_map_for_every_chip():
    board = _literal(BOARD, "PIN_MAPS")
    world = _literal(SIM_MPY / "world.py", "PIN_MAPS")
    assert set(board) == set(world) == {"ESP32", "ESP32S3", "ESP32C3"}
    for chip, pins in board.items():
        assert pins == world[chip], chip


@pytest.mark.parametrize(
    ("chip", "machine_name", "scl", "led"),
    [
        ("ESP32", "Generic ESP32 module with ESP32", 22, 2),
        ("ESP32S3", "Generic ESP32S3 module with ESP32S3", 9, 2),
        ("ESP32C3", "ESP32C3 module with ESP32C3", 5, 1),
    ],
)
def test_board_picks_the_pin_map_of_the_chip_it_runs_on(sim_run, chip, machine_name, scl, led):
    result = sim_run(
        "import os, board\nprint(repr([os.uname().machine, board.CHIP, board.I2C_SCL, board.LED]))",
        config={"chip": chip},
        env={"MICROPYPATH": f"{SIM_MPY}:{ROOT / 'firmware'}:.frozen"},
    )
    assert result.returncode == 0, result.stderr
    assert ast.literal_eval(result.stdout.strip()) == [machine_name, chip, scl, led]


def test_board_refuses_a_chip_it_has_no_pin_map_for(sim_run):
    result = sim_run(
        """
import board
try:
    board.chip_of("Generic ESP32S2 module with ESP32S2")
except OSError as exc:
    print(exc)
print(board.chip_of("Custom board with ESP32-S3"))
""",
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0] == (
        "no pin map for this chip (Generic ESP32S2 module with ESP32S2): Anklet runs on the "
        "ESP32, ESP32-S3 and ESP32-C3 (firmware/board.py)"
    )
    assert lines[1] == "ESP32S3"


def test_a_c3_has_no_gpio_22_and_an_esp32_no_output_on_gpio_35(sim_run):
    out = sim_run.json(
        """
import json, machine
def tries(fn):
    try:
        fn()
        return "ok"
    except ValueError as exc:
        return str(exc)
print(json.dumps([tries(lambda: machine.Pin(22)), tries(lambda: machine.ADC(machine.Pin(3)))]))
""",
        config={"chip": "ESP32C3"},
    )
    assert out == ["invalid pin", "ok"]
    out = sim_run.json(
        """
import json, machine
try:
    machine.Pin(35, machine.Pin.OUT)
    print(json.dumps("ok"))
except ValueError as exc:
    print(json.dumps(str(exc)))
"""
    )
    assert out == "pin can only be input"


def test_motion_from_start_waits_for_the_first_start_and_survives_a_reboot(sim_run, tmp_path):
    # The athlete waits for the recording: still until the firmware first enables the FIFO
    # (START), then the exercise's t = 0; a reboot carries on from there, as with an epoch.
    epoch_file = tmp_path / "motion-epoch"
    config = {
        "motion": "leg-raise:lead=0,sway=0,noise=0,gnoise=0",
        "motion_from": "start",
        "motion_epoch_file": str(epoch_file),
    }
    before, after = sim_run.json(
        I2C_SETUP
        + """
before = w.imu._t_offset
time.sleep_ms(300)  # the host takes its time to connect
i2c.writeto_mem(0x68, 0x6A, b"\\x40")  # USER_CTRL.FIFO_EN: the sampler's start
print(json.dumps([before, w.imu._t_offset + w.clock.now_us() / 1e6]))
""",
        config=config,
    )
    assert before < -1e5  # long before the exercise: the lead's stillness
    assert abs(after) < 0.05  # the exercise's t = 0 is the START
    assert epoch_file.exists()
    later = sim_run.json(
        I2C_SETUP
        + """
time.sleep_ms(200)
print(json.dumps([w.imu._t_offset + w.clock.now_us() / 1e6, w.imu.on_fifo_enabled is None]))
""",
        config=config,
    )
    assert later[0] > 0.2  # the reboot carries on the exercise begun at the first START
    assert later[1] is True  # and does not start it again at the next START
