"""Manifest checking speed: our cached per-(version, kind) validators vs ``kubernetes_validate.validate``.

Renders the ``large`` profile once with helm, then checks every manifest N times both ways for Kubernetes 1.30
and reports ms per document (and how many errors each way finds on a deliberately broken copy: the stock call
stops at the first). Also times one ``helm template`` + parse. No targets asserted; numbers are printed.
Usage: python tests/bench/bench_manifest_check.py [--rounds N]
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import kubernetes_validate

from falcoctl_py.render import render
from falcoctl_py.validate import check_manifests
from falcoctl_py.values import build_values


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    start = time.perf_counter()
    values = build_values(profile="large")
    docs = render(values, kube_version="1.30")
    print(
        f"build_values + helm template + parse (large): {(time.perf_counter() - start) * 1000:.0f} ms, "
        f"{len(docs)} manifests"
    )

    start = time.perf_counter()
    check_manifests(docs, kube_version="1.30")
    first = (time.perf_counter() - start) * 1000
    start = time.perf_counter()
    for _ in range(args.rounds):
        check_manifests(docs, kube_version="1.30")
    ours = (time.perf_counter() - start) * 1000 / (args.rounds * len(docs))
    print(f"ours: first call {first:.0f} ms (schemas parsed once), then {ours:.2f} ms/document")

    start = time.perf_counter()
    for _ in range(args.rounds):
        for doc in docs:
            kubernetes_validate.validate(doc, "1.30", strict=True)
    stock = (time.perf_counter() - start) * 1000 / (args.rounds * len(docs))
    print(f"kubernetes_validate.validate: {stock:.2f} ms/document; speed-up x{stock / ours:.0f}")

    broken = copy.deepcopy(next(d for d in docs if d["kind"] == "DaemonSet"))
    pod = broken["spec"]["template"]["spec"]
    pod["hostNetwork"] = "yes"
    pod["containers"][0]["imagePullPolicy"] = 3
    pod["containers"][0]["bogus"] = True
    found = len(check_manifests([broken], kube_version="1.30").errors)
    try:
        kubernetes_validate.validate(broken, "1.30", strict=True)
        stock_found = 0
    except kubernetes_validate.ValidationError:
        stock_found = 1
    print(f"errors reported on a DaemonSet with 3 faults: ours {found}, stock {stock_found}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
