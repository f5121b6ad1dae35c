"""Turn fixed-size `construct` structs into `struct` format strings.

The firmware and the host's fast paths pack with `struct`; deriving the format strings from the
`construct` definitions keeps one source of truth.

    from anklet_protocol import spec, structfmt
    structfmt.format_of(spec.Header)  # '<2sBBBBHH'
"""

from __future__ import annotations

import construct as c

from .spec import Trailing

_CODES = {
    (1, False): "B",
    (1, True): "b",
    (2, False): "H",
    (2, True): "h",
    (4, False): "I",
    (4, True): "i",
    (8, False): "Q",
    (8, True): "q",
}


def _unwrap(sub: c.Construct) -> c.Construct:
    """The field's type under its name and its `Trailing` marker (which changes no bytes)."""
    while isinstance(sub, c.Renamed | Trailing):
        sub = sub.subcon
    return sub


def field_code(sub: c.Construct) -> str:
    """The `struct` code of one fixed-size little-endian field."""
    sub = _unwrap(sub)
    if isinstance(sub, c.FormatField):
        fmt = sub.fmtstr
        if fmt[0] != "<":
            raise TypeError(f"field {sub} is not little-endian")
        return fmt[1:]
    if isinstance(sub, c.BytesInteger):
        raise TypeError("BytesInteger has no struct code")
    if isinstance(sub, c.Const):
        return f"{len(sub.value)}s"
    try:
        size = sub.sizeof()
    except c.SizeofError:
        raise TypeError(f"{sub!r} has no fixed size") from None
    if isinstance(sub, c.StringEncoded | c.Bytes):
        return f"{size}s"
    raise TypeError(f"no struct code for {sub!r}")


def fields(struct: c.Struct) -> list[tuple[str, str]]:
    """(name, struct code) for each field of a fixed-size struct, in wire order."""
    out = []
    for sub in struct.subcons:
        out.append((sub.name, field_code(sub)))
    return out


def format_of(struct: c.Struct) -> str:
    """The `struct` format string of a fixed-size struct, e.g. '<2sBBBBHH'."""
    return "<" + "".join(code for _, code in fields(struct))


def offsets_of(struct: c.Struct) -> dict[str, int]:
    """Byte offset of each field of a fixed-size struct."""
    import struct as pystruct

    offsets: dict[str, int] = {}
    at = 0
    for name, code in fields(struct):
        offsets[name] = at
        at += pystruct.calcsize("<" + code)
    return offsets
