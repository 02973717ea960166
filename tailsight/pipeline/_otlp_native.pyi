from collections.abc import Sequence
from os import PathLike

def traces_to_native(payloads: Sequence[bytes], /) -> tuple[bytes, int] | None: ...
def write_traces_native(
    payloads: Sequence[bytes], path: str | bytes | PathLike[str], /
) -> int | None: ...
