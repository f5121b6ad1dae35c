"""The pin map: the only module that builds hardware objects.

ESP32-WROOM DevKitC wiring (also in README.md):

| ESP32 pin | part | part pin |
|---|---|---|
| GPIO 22 | MPU-6050 | SCL (I2C0, 400 kHz) |
| GPIO 21 | MPU-6050 | SDA |
| GPIO 18 | HX711 | PD_SCK |
| GPIO 19 | HX711 | DOUT |
| GPIO 23 | HX711 | RATE (high = 80 Hz) |
| GPIO 35 | battery | + through a 100k/100k divider |
| GPIO 2  | status LED | anode (through 330 Ω) |
| GPIO 0  | button | to GND (BOOT button) |

The simulated board wires its emulated parts to these same numbers.
"""

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

I2C_SCL = 22
I2C_SDA = 21
I2C_FREQ = 400_000
HX711_SCK = 18
HX711_DOUT = 19
HX711_RATE = 23
BATTERY_ADC = 35
BATTERY_DIVIDER = 2
LED = 2
BUTTON = 0

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


def unique_id():
    return machine.unique_id()


def reset_cause():
    return _RESET_CAUSES.get(machine.reset_cause(), W.RESET_UNKNOWN)


def reset():
    machine.reset()
