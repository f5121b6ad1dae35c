"""The Anklet wire protocol: definitions (`spec`), framing, and the streaming decoder.

from anklet_protocol import StreamDecoder, parse_message
for frame in StreamDecoder().feed(serial_bytes):
    print(parse_message(frame))
"""

from .decoder import DecoderStats, Frame, SampleBlock, StreamDecoder, parse_message
from .spec import VERSION_MAJOR, VERSION_MINOR

__all__ = [
    "VERSION_MAJOR",
    "VERSION_MINOR",
    "DecoderStats",
    "Frame",
    "SampleBlock",
    "StreamDecoder",
    "parse_message",
]
