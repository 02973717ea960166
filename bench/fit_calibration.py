"""Refit the cause-score calibration (``tailsight/analysis/calibration.json``) on the dev corpus.

Each dev seed is simulated and analysed as ``rca_eval.py`` does (``--cache DIR`` reuses its
stores), with raw scores (``calibration.RAW``). Every cause of every incident is labelled
right when it has the kind and culprit of a fault the incident matches (``rca_eval``'s
rules: onset in the fault's window, the incident's service affected by it or calling it);
the causes of an incident matching no fault are all wrong. Then
``analysis.calibration_fit.fit`` fits the isotonic maps and picks the naming threshold,
and the artefact is written as JSON (breakpoints, seeds, sample counts, scikit-learn
version, date). Seeds 101-124 are held out for ``rca_eval.py`` and refused here.

    .venv/bin/python bench/fit_calibration.py --seeds 1-24 --cache /tmp/rca-cache
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.rca_eval import _matches, _right, parse_seeds, run_seed, score  # noqa: E402
from bench.reliability import print_reliability  # noqa: E402
from tailsight.analysis.calibration import ARTEFACT, Calibration, dumps, load  # noqa: E402
from tailsight.analysis.calibration_fit import Sample, fit  # noqa: E402

HELD_OUT = range(101, 125)


def label(results: list[dict[str, Any]]) -> list[Sample]:
    """Every named cause of every incident, right or wrong against the seed's truth."""
    samples: list[Sample] = []
    for res in results:
        real = [f for f in res["truth"]["faults"] if not f["distractor"]]
        for n, inc in enumerate(res["incidents"]):
            related = [
                f
                for f in real
                if _matches(f, inc)
                and inc["service"] in set(f["affected_services"]) | set(f["upstream_services"])
            ]
            for cause in inc["causes"]:
                if cause["kind"] == "unknown":
                    continue
                right = any(_right(f, cause)[1] for f in related)
                samples.append(
                    Sample(f"{res['seed']}/{n}", cause["kind"], float(cause["score"]), right)
                )
    return samples


def calibrated(results: list[dict[str, Any]], cal: Calibration) -> list[dict[str, Any]]:
    """``results`` with every cause's score calibrated and causes under the threshold dropped.

    What ``rank_causes`` does with ``cal``, applied to a raw run's JSON: a raw run can
    thus be scored before and after a calibration without analysing again.
    """
    out = []
    for res in results:
        incidents = []
        for inc in res["incidents"]:
            causes = [
                {**c, "score": round(cal(c["kind"], c["score"]), 4), "raw_score": c["score"]}
                for c in inc["causes"]
                if c["kind"] != "unknown"
            ]
            named = sorted(
                (c for c in causes if c["score"] >= cal.threshold),
                key=lambda c: (-c["score"], -c["raw_score"]),
            )
            unknown = {"kind": "unknown", "score": 0.0, "entity": None, "service": inc["service"]}
            incidents.append({**inc, "causes": named or [unknown]})
        out.append({**res, "incidents": incidents})
    return out


def raw_results(files: list[str]) -> list[dict[str, Any]]:
    """The seeds' results of ``rca_eval.py --raw --json`` files; refuses calibrated runs."""
    out: list[dict[str, Any]] = []
    for name in files:
        doc = json.loads(Path(name).read_text())
        if not doc.get("raw"):
            raise SystemExit(f"{name}: not an 'rca_eval.py --raw' run (its scores are calibrated)")
        out.extend(doc["results"])
    return out


def check(results: list[dict[str, Any]], cal: Calibration) -> None:
    """The reliability table of ``results`` (a raw run), raw and with ``cal`` applied."""
    seeds = ",".join(str(r["seed"]) for r in results)
    for name, res in (("raw", results), ("calibrated", calibrated(results, cal))):
        summary = score(res)
        print(
            f"seeds {seeds}, {name}: top-1 culprit {summary['top1_culprit']:.3f}, "
            f"top-1 kind {summary['top1_kind']:.3f}, false blames {summary['false_blames']}"
        )
        print_reliability(summary["reliability"], indent="    ")


def analyse(seeds: list[int], cache: str | None, workers: int) -> list[dict[str, Any]]:
    ctx = mp.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=ctx, max_tasks_per_child=1) as pool:
        n = len(seeds)
        return list(pool.map(run_seed, seeds, [cache] * n, ["agent"] * n, [True] * n))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", default="1-24", help="dev seeds (default 1-24)")
    parser.add_argument("--cache", help="keep each seed's store here and reuse it")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--results",
        nargs="*",
        default=[],
        help="reuse 'rca_eval.py --raw --json' files instead of analysing (their seeds)",
    )
    parser.add_argument(
        "--out", default=str(REPO / "tailsight" / "analysis" / ARTEFACT), help="artefact path"
    )
    parser.add_argument(
        "--check",
        help="fit nothing: print the reliability of this 'rca_eval.py --raw --json' file's "
        "top causes, raw and calibrated by the artefact at --out (held-out seeds allowed)",
    )
    args = parser.parse_args()
    started = time.monotonic()
    if args.check:
        check(raw_results([args.check]), load(Path(args.out)))
        return 0
    if args.results:
        results = raw_results(args.results)
        seeds = sorted({int(r["seed"]) for r in results})
    else:
        seeds = parse_seeds(args.seeds)
        results = []
    held = sorted(set(seeds) & set(HELD_OUT))
    if held:
        print(f"seeds {held} are held out for rca_eval.py: not fitted on", file=sys.stderr)
        return 2
    if not results:
        results = analyse(seeds, args.cache, args.workers)
    samples = label(results)
    seed_text = args.seeds if not args.results else ",".join(str(s) for s in seeds)
    cal = fit(samples, seeds=seed_text)
    Path(args.out).write_text(dumps(cal))
    print(f"{len(samples)} causes of {cal.meta['incidents']} incidents on seeds {seed_text}")
    counts = cal.meta["samples"].items()
    per_kind = ", ".join(f"{k} {cal.meta['right'].get(k, 0)}/{n}" for k, n in counts)
    print(f"  per kind (right/all): {per_kind}")
    for kind, m in sorted(cal.maps.items()):
        pts = ", ".join(f"{x:.2f}->{p:.2f}" for x, p in zip(m.raw, m.prob, strict=True))
        print(f"  map {kind}: {pts}")
    print(f"  threshold {cal.threshold:.3f}")
    print("  on the dev seeds (in-sample):")
    check(results, cal)
    print(f"wrote {args.out} in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
