"""The golden vectors: built by the host definitions, checked byte for byte on both sides."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from anklet_protocol import StreamDecoder, layout, parse_message, spec
from anklet_protocol.vectors import build_vectors

ROOT = Path(__file__).resolve().parents[2]
VECTORS = ROOT / "protocol" / "vectors" / "vectors.json"
HERE = Path(__file__).resolve().parent


def _load() -> list[dict]:
    return json.loads(VECTORS.read_text())


def test_vectors_file_matches_the_definitions():
    assert _load() == json.loads(json.dumps(build_vectors()))


@pytest.mark.parametrize("vector", _load(), ids=lambda v: v["name"])
def test_host_decodes_each_vector_to_its_fields(vector):
    decoder = StreamDecoder()
    frames = decoder.feed(bytes.fromhex(vector["wire"]))
    assert len(frames) == 1, decoder.stats
    frame = frames[0]
    assert (frame.msg_type, frame.flags, frame.seq) == (
        vector["msg_type"],
        vector["flags"],
        vector["seq"],
    )
    assert frame.payload.hex() == vector["payload"]
    message = parse_message(frame)
    fields = vector["fields"]
    if frame.msg_type == spec.MsgType.SAMPLES:
        assert message.first_index == fields["first_index"]
        assert message.t0_us == fields["t0_us"]
        imu = [list(map(int, row)) for row in message.imu]
        assert imu == [[s[k] for k in layout.IMU_FIELDS] for s in fields["imu"]]
        load = [tuple(map(int, row)) for row in message.load]
        assert load == [(s["index"], s["t_us"], s["counts"]) for s in fields["load"]]
    else:
        for key, expected in fields.items():
            got = message[key]
            if isinstance(expected, dict):
                expected = bytes.fromhex(expected["hex"])
            if isinstance(expected, float):
                assert got == pytest.approx(expected)
            else:
                assert got == expected, key


def test_firmware_encodes_and_decodes_every_vector_under_micropython(micropython):
    result = micropython(HERE / "mpy_golden.py", str(VECTORS))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == len(_load())
    failures = [line for line in lines if not line.startswith("ok ")]
    assert failures == []
