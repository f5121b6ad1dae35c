"""The simulated radio's timing model against what an ESP32 measurably does."""

from __future__ import annotations

from anklet_sim.radio import ESP_IDF_NOTIFY_KBPS, LE_ACL_LENGTH, RadioTiming

NOTIFY_PAYLOAD = LE_ACL_LENGTH - 4 - 3  # L2CAP and ATT headers out of a full data packet


def notify_kbps(timing: RadioTiming) -> float:
    packets_per_s = timing.packets_per_event * 1000 / timing.interval_ms
    return packets_per_s * NOTIFY_PAYLOAD * 8 / 1000


def test_model_is_within_a_quarter_of_esp_idf_measured_notify_throughput() -> None:
    # ESP-IDF throughput_app: ~340 kbit/s NOTIFY at 7.5 ms, DLE 251, 1M PHY on an ESP32.
    modelled = notify_kbps(RadioTiming(interval_ms=7.5, data_length=251, phy="1M"))
    assert 0.75 * ESP_IDF_NOTIFY_KBPS <= modelled <= ESP_IDF_NOTIFY_KBPS


def test_one_full_packet_takes_the_air_time_the_core_spec_gives() -> None:
    # 265 bytes at 1 µs/bit, T_IFS, the central's empty PDU, T_IFS (Core Vol 6 Part B).
    assert RadioTiming(phy="1M").packet_us == 265 * 8 + 150 + 80 + 150
    assert RadioTiming(phy="2M").packet_us < RadioTiming(phy="1M").packet_us


def test_default_link_carries_a_1000_hz_stream_with_room_to_spare() -> None:
    need_kbps = 1000 * 12 * 8 / 1000 * 1.2  # 12-byte samples, plus headers and load cell
    assert notify_kbps(RadioTiming()) > 3 * need_kbps
