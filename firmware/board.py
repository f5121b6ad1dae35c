"""The pin map: the only module that builds hardware objects.

One map per chip; the one for the chip this runs on is chosen at import, from os.uname().machine
("<board> with ESP32", "... with ESP32S3", "... with ESP32C3"). Another chip is refused with a
clear error (its GPIOs differ: the ESP32-C3 has no GPIO 22, 23 or 35; the ESP32-S3 no 22-25 or 35
as an ADC). Wiring (also in README.md):

| part pin | ESP32 (DevKitC) | ESP32-S3 (DevKitC-1) | ESP32-C3 (DevKitM-1) |
|---|---|---|---|
| MPU-6050 SCL (I2C0, 400 kHz) | GPIO 22 | GPIO 9 | GPIO 5 |
| MPU-6050 SDA | GPIO 21 | GPIO 8 | GPIO 4 |
| HX711 PD_SCK | GPIO 18 | GPIO 5 | GPIO 6 |
| HX711 DOUT | GPIO 19 | GPIO 6 | GPIO 7 |
| HX711 RATE (high = 80 Hz) | GPIO 23 | GPIO 7 | GPIO 10 |
| battery + (100k/100k divider, ADC1) | GPIO 35 | GPIO 1 | GPIO 3 |
| status LED anode (330 Ω) | GPIO 2 | GPIO 2 | GPIO 1 |
| button to GND (the BOOT button) | GPIO 0 | GPIO 0 | GPIO 9 |

Choices: ADC1 channels only (ADC2 is taken by the radio); no strapping pin drives anything at
reset (ESP32: 0, 2, 5, 12, 15 — GPIO 2 only lights the LED; S3: 0, 3, 45, 46; C3: 2, 8, 9);
nothing on flash/PSRAM pins (ESP32: 6-11; S3: 26-37; C3: 12-17), USB (S3: 19/20; C3: 18/19) or
UART0 (the console). The simulated board wires its emulated parts to the map of the chip it
says it is (sim config "chip").
"""

import os
import sys

# Every module the app will load, imported here, before main.py sizes the ring from what is free
# (code loaded as .mpy lives on the heap; a late import would eat the app's headroom).
import anklet_wire as W
import bluetooth
import machine
from battery import Battery
from ble_link import BleLink
from hx711 import HX711
from machine import ADC, I2C, Pin
from mpu6050 import MPU6050
from serial_link import SerialLink

try:
    import esp32
except ImportError:  # a port without it (unix, in unit tests): no flash ring
    esp32 = None

PIN_MAPS = {
    "ESP32": {"I2C_SCL": 22, "I2C_SDA": 21, "HX711_SCK": 18, "HX711_DOUT": 19, "HX711_RATE": 23,
              "BATTERY_ADC": 35, "LED": 2, "BUTTON": 0},
    "ESP32S3": {"I2C_SCL": 9, "I2C_SDA": 8, "HX711_SCK": 5, "HX711_DOUT": 6, "HX711_RATE": 7,
                "BATTERY_ADC": 1, "LED": 2, "BUTTON": 0},
    "ESP32C3": {"I2C_SCL": 5, "I2C_SDA": 4, "HX711_SCK": 6, "HX711_DOUT": 7, "HX711_RATE": 10,
                "BATTERY_ADC": 3, "LED": 1, "BUTTON": 9},
}  # fmt: skip


def chip_of(machine_name):
    """The PIN_MAPS key for os.uname().machine, e.g. "Generic ESP32S3 module with ESP32S3"."""
    mcu = machine_name.rsplit(" with ", 1)[-1].replace("-", "").upper()
    if mcu not in PIN_MAPS:
        raise OSError("no pin map for this chip (%s): Anklet runs on the ESP32, ESP32-S3 and "
                      "ESP32-C3 (firmware/board.py)" % machine_name)
    return mcu


CHIP = chip_of(os.uname().machine)
_PINS = PIN_MAPS[CHIP]
I2C_SCL = _PINS["I2C_SCL"]
I2C_SDA = _PINS["I2C_SDA"]
I2C_FREQ = 400_000
HX711_SCK = _PINS["HX711_SCK"]
HX711_DOUT = _PINS["HX711_DOUT"]
HX711_RATE = _PINS["HX711_RATE"]
BATTERY_ADC = _PINS["BATTERY_ADC"]
BATTERY_DIVIDER = 2
LED = _PINS["LED"]
BUTTON = _PINS["BUTTON"]
del _PINS

_RESET_CAUSES = {
    machine.PWRON_RESET: W.RESET_POWER_ON,
    machine.HARD_RESET: W.RESET_HARD_RESET,
    machine.WDT_RESET: W.RESET_WATCHDOG,
    machine.DEEPSLEEP_RESET: W.RESET_DEEPSLEEP,
    machine.SOFT_RESET: W.RESET_SOFT_RESET,
}


def make_imu():
    """The IMU on I2C0 (MPU-6050 or MPU-6500 family); raises OSError if none answers."""
    return MPU6050(I2C(0, scl=Pin(I2C_SCL), sda=Pin(I2C_SDA), freq=I2C_FREQ))


def make_load_cell():
    return HX711(Pin(HX711_SCK, Pin.OUT, value=0), Pin(HX711_DOUT, Pin.IN))


def make_load_rate_pin():
    return Pin(HX711_RATE, Pin.OUT, value=1)


def make_battery():
    adc = ADC(Pin(BATTERY_ADC))
    adc.atten(ADC.ATTN_11DB)
    return Battery(adc, BATTERY_DIVIDER)


def make_led():
    return Pin(LED, Pin.OUT, value=0)


def make_button():
    return Pin(BUTTON, Pin.IN, Pin.PULL_UP)


def make_watchdog(timeout_ms):
    return machine.WDT(timeout=timeout_ms)


def make_links(app):
    """The transports: the USB serial port first, then BLE (the ESP32's NimBLE radio)."""
    # Serial frames are no larger than BLE's: blocks are cut for the smallest link, control
    # frames are smaller still, and COMMANDs longer than the app's 64-byte slots are dropped
    # anyway; buffers of 244 rather than the protocol's 512 save 1 KB of heap.
    ble_frame = W.BLE_MTU - W.ATT_OVERHEAD
    return [SerialLink(sys.stdin.buffer, sys.stdout.buffer, ble_frame),
            BleLink(bluetooth.BLE(), app)]


def flash_ring():
    """The `ankring` data partition `anklet flash` writes, or None (a board flashed another
    way): the ring keeps the blocks a host has not acknowledged there (spill.py)."""
    if esp32 is None:
        return None
    found = esp32.Partition.find(esp32.Partition.TYPE_DATA, label="ankring")
    return found[0] if found else None


def unique_id():
    return machine.unique_id()


def reset_cause():
    return _RESET_CAUSES.get(machine.reset_cause(), W.RESET_UNKNOWN)


def reset():
    machine.reset()
