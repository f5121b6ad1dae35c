"""How many IMU and load samples one SAMPLES frame holds (mirrors spec.samples_capacity).

    max_imu, max_load = capacity.samples(max_frame=244, imu_hz=200, load_hz=80)
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
