"""How many IMU and load samples one SAMPLES frame holds (mirrors spec.samples_capacity).

    max_imu, max_load = capacity.samples(max_frame=244, imu_hz=200, load_hz=80)
    capacity.serial_bytes_per_s(max_frame=244, imu_hz=400, load_hz=80)   # 6000: what it costs
"""

import anklet_wire as W


def samples(max_frame, imu_hz, load_hz):
    room = max_frame - W.FRAME_OVERHEAD - W.SAMPLES_HEADER_SIZE
    imu = min(255, room // W.IMU_SAMPLE_SIZE)
    while imu > 0:
        # Room for every load sample that can fall in the block's window, plus 2.
        load = imu * load_hz // imu_hz + 2
        if imu * W.IMU_SAMPLE_SIZE + load * W.LOAD_SAMPLE_SIZE <= room:
            return imu, load
        imu -= 1
    raise ValueError("frame too small for one IMU sample")


def serial_bytes_per_s(max_frame, imu_hz, load_hz):
    """Bytes per second a stream at these rates puts on a COBS link (full blocks, delimiters)."""
    imu, load = samples(max_frame, imu_hz, load_hz)
    frame = W.FRAME_OVERHEAD + W.SAMPLES_HEADER_SIZE + imu * W.IMU_SAMPLE_SIZE + \
        load * W.LOAD_SAMPLE_SIZE
    wire = frame + frame // 254 + 2  # COBS code bytes and the delimiter
    return (imu_hz * wire + imu - 1) // imu


def fastest_imu_hz(max_frame, load_hz, bytes_per_s):
    """The highest IMU rate whose stream fits in `bytes_per_s`, or 0."""
    best = 0
    for hz in W.IMU_RATES_HZ:
        if hz > best and serial_bytes_per_s(max_frame, hz, load_hz) <= bytes_per_s:
            best = hz
    return best
