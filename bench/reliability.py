"""Reliability of the top cause's score: the table and the expected calibration error (ECE).

Kept apart from ``rca_eval.py`` (which scores detection and culprits) so the calibration
report and the refit (``fit_calibration.py``) share it. A scored item is ``(score of the
top cause, whether it named the right culprit, the fault kind)``.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

Scored = tuple[float, bool, str]


def reliability(scored: list[Scored], bins: int = 5) -> dict[str, Any]:
    """Reliability table of the top cause (score bins: count, mean score, share right) and ECE.

    ECE (expected calibration error) = sum over bins of count/total x |share right - mean
    score|: 0 when a cause scored 0.9 is right 90 % of the time.
    """
    rows = []
    ece = 0.0
    total = len(scored)
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        inside = [(s, ok) for s, ok, _ in scored if lo <= s < hi or (b == bins - 1 and s == 1.0)]
        if not inside:
            rows.append({"bin": f"{lo:.1f}-{hi:.1f}", "n": 0})
            continue
        mean = sum(s for s, _ in inside) / len(inside)
        right = sum(ok for _, ok in inside) / len(inside)
        ece += len(inside) / max(total, 1) * abs(right - mean)
        rows.append({"bin": f"{lo:.1f}-{hi:.1f}", "n": len(inside), "score": mean, "right": right})
    by_kind: dict[str, list[tuple[float, bool]]] = defaultdict(list)
    for s, ok, kind in scored:
        by_kind[kind].append((s, ok))
    kinds = {
        k: {
            "n": len(v),
            "score": sum(s for s, _ in v) / len(v),
            "right": sum(ok for _, ok in v) / len(v),
        }
        for k, v in sorted(by_kind.items())
    }
    return {"bins": rows, "ece": ece if total else None, "by_kind": kinds}


def print_reliability(rel: dict[str, Any], indent: str = "  ") -> None:
    """The table as ``rca_eval`` prints it."""
    print(f"{indent}reliability of the top cause (score bin: n, mean score, share right):")
    for row in rel["bins"]:
        if row["n"]:
            print(f"{indent}  {row['bin']}: {row['n']:3d}  {row['score']:.2f}  {row['right']:.2f}")
    print(f"{indent}  by fault kind (n, mean score, share right):")
    for kind, row in rel.get("by_kind", {}).items():
        print(f"{indent}    {kind:<22} {row['n']:3d}  {row['score']:.2f}  {row['right']:.2f}")
    print(f"{indent}ECE {rel['ece']:.3f}" if rel["ece"] is not None else f"{indent}ECE n/a")
