"""Protocol Buffers wire-format pieces shared by the agent's encoder, the store and tests.

https://protobuf.dev/programming-guides/encoding/
"""

from __future__ import annotations


def varint(n: int) -> bytes:
    """``n`` (0 ≤ n < 2**64) as a base-128 varint."""
    if n < 0x80:
        return bytes((n,))
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)
