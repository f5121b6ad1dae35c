"""Battery voltage through a resistor divider on an ADC pin, and a LiPo charge estimate.

    battery = Battery(adc, divider=2)
    battery.read_mv(), battery.percent(mv)
"""

# Resting LiPo voltage (mV) → charge (%), a typical single-cell curve.
_CURVE = ((3300, 0), (3600, 5), (3700, 20), (3750, 35), (3800, 50), (3870, 65),
          (3950, 80), (4050, 92), (4150, 100))


class Battery:
    def __init__(self, adc, divider=2):
        self.adc = adc
        self.divider = divider

    def read_mv(self):
        return self.adc.read_uv() * self.divider // 1000

    @staticmethod
    def percent(mv):
        if mv <= _CURVE[0][0]:
            return 0
        for i in range(1, len(_CURVE)):
            v1, p1 = _CURVE[i]
            if mv <= v1:
                v0, p0 = _CURVE[i - 1]
                return p0 + (p1 - p0) * (mv - v0) // (v1 - v0)
        return 100
