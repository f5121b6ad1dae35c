"""Byte moves between preallocated buffers at offsets, without slicing (slices allocate).

    bytecopy.copy(dst, 10, src, 0, 48)
    bytecopy.swap16(dst, 22, fifo, 0, 36)   # big-endian int16 pairs → little-endian

Viper: the sampler calls these per FIFO burst; measured in bench_firmware.
"""

import micropython


@micropython.viper
def copy(dst, dst_off: int, src, src_off: int, n: int):
    d = ptr8(dst)
    s = ptr8(src)
    i = 0
    while i < n:
        d[dst_off + i] = s[src_off + i]
        i += 1


@micropython.viper
def swap16(dst, dst_off: int, src, src_off: int, n: int):
    # n bytes (even) of big-endian 16-bit words become little-endian at dst[dst_off:].
    d = ptr8(dst)
    s = ptr8(src)
    i = 0
    while i < n:
        d[dst_off + i] = s[src_off + i + 1]
        d[dst_off + i + 1] = s[src_off + i]
        i += 2
