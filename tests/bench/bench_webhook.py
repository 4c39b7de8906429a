"""Webhook under load: a real ``falcoctl-py engine run --config`` process, posted to from this process on loopback.

Sends ``--rate`` events/s in batches of ``--batch`` (default 5,000/s in batches of 400, as a busy kube-apiserver's
batching webhook backend would) for ``--seconds``, paced on a fixed schedule by a few client threads with
persistent connections opened before the timed run (the API server keeps its connections open, so the TLS
handshake is not a per-request cost). Reports response time p50/p99/max (target p99 <= 50 ms), 503 answers, whether every
accepted event was evaluated (accepted == ``falcopy_events_total``), the engine's RSS and CPU, and the SIGTERM
shutdown time. Rules: upstream k8s_audit_rules.yaml from ../shared (or ``--rules``).
``--tls`` serves HTTPS with a throwaway self-signed certificate (as the chart's webhook pods do).
Usage: python tests/bench/bench_webhook.py [--rate N] [--batch N] [--seconds S] [--tls] [--rules FILE ...]
"""

from __future__ import annotations

import argparse
import http.client
import os
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import orjson
import yaml
from prometheus_client.parser import text_string_to_metric_families

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from engine.testing.audit_synth import synth_lines
from tests.http_support import connect, free_port, self_signed


def scrape(port: int) -> dict[str, float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", "/metrics")
    body = conn.getresponse().read().decode()
    conn.close()
    out: dict[str, float] = {}
    for fam in text_string_to_metric_families(body):
        for s in fam.samples:
            out[s.name] = out.get(s.name, 0.0) + s.value
    return out


def wait_up(port: int, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise SystemExit(f"engine exited early: {proc.stderr.read().decode() if proc.stderr else ''}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit("engine did not become healthy")


def client(
    port: int,
    bodies: list[tuple[float, bytes, int]],
    results: list[Any],
    ready: threading.Barrier,
    clock: list[float],
    tls: ssl.SSLContext | None = None,
) -> None:
    """Post each (offset, body, n events) at ``clock[0] + offset``; record (latency, status, accepted)."""
    conn = connect(port, tls)
    # Open the connection (TLS handshake included) before the timed run, as the API server keeps its own open.
    conn.request("POST", "/k8s-audit", body=b"[]", headers={"Content-Type": "application/json"})
    conn.getresponse().read()
    ready.wait()
    for offset, body, _n in bodies:
        delay = clock[0] + offset - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        start = time.perf_counter()
        try:
            conn.request("POST", "/k8s-audit", body=body, headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            data = resp.read()
        except (OSError, http.client.HTTPException):
            conn.close()
            conn = connect(port, tls)
            results.append((time.perf_counter() - start, 0, 0))
            continue
        accepted = orjson.loads(data).get("accepted", 0) if resp.status == 200 else 0
        results.append((time.perf_counter() - start, resp.status, accepted))
        if resp.getheader("Connection", "").lower() == "close":
            conn.close()
            conn = connect(port, tls)
    conn.close()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rate", type=int, default=5000)
    ap.add_argument("--batch", type=int, default=400)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--tls", action="store_true", help="serve HTTPS with a throwaway self-signed certificate")
    ap.add_argument("--rules", nargs="*", type=Path)
    args = ap.parse_args()
    shared = Path(os.environ.get("FALCOPY_SHARED") or REPO.parent / "shared")
    rules = args.rules or [shared / "upstream" / "rules" / "k8s_audit_rules.yaml"]
    missing = [str(r) for r in rules if not r.is_file()]
    if missing:
        print(f"rules not found: {', '.join(missing)} (set FALCOPY_SHARED or pass --rules)", file=sys.stderr)
        return 2

    requests = int(args.rate * args.seconds / args.batch)
    lines = synth_lines(requests * args.batch, seed=7)
    batches = [b"[" + b",".join(lines[i : i + args.batch]) + b"]" for i in range(0, len(lines), args.batch)]
    hook, mport = free_port(), free_port()
    with tempfile.TemporaryDirectory() as tmp:
        cfg = {
            "rules": [str(r) for r in rules],
            "log_level": "warning",
            "sources": {"k8s_audit": {"webhook": {"listen": f"127.0.0.1:{hook}"}}},
            "outputs": {"stdout": {"enabled": False}, "file": {"path": f"{tmp}/alerts.json"}},
            "metrics": {"listen": f"127.0.0.1:{mport}"},
        }
        tls = None
        if args.tls:
            cert, key = self_signed(Path(tmp))
            cfg["sources"]["k8s_audit"]["webhook"].update(tls_cert_file=str(cert), tls_key_file=str(key))
            tls = ssl.create_default_context(cafile=str(cert))
        Path(tmp, "engine.yaml").write_text(yaml.safe_dump(cfg))
        exe = Path(sys.executable).with_name("falcoctl-py")
        proc = subprocess.Popen(
            [str(exe), "engine", "run", "--config", f"{tmp}/engine.yaml"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            wait_up(mport, proc)
            idle_rss = scrape(mport)["falcopy_rss_bytes"]
            interval = args.batch / args.rate
            plan = [(i * interval, body, args.batch) for i, body in enumerate(batches)]
            results: list[Any] = []
            ready = threading.Barrier(args.clients + 1)
            clock = [0.0]
            threads = [
                threading.Thread(
                    target=client, args=(hook, plan[k :: args.clients], results, ready, clock, tls)
                )
                for k in range(args.clients)
            ]
            for t in threads:
                t.start()
            t0 = clock[0] = time.perf_counter() + 0.5  # set before the barrier releases the clients
            ready.wait()
            for t in threads:
                t.join()
            sent_for = time.perf_counter() - t0
            accepted = sum(r[2] for r in results)
            end = time.monotonic() + 60
            m = scrape(mport)
            while m.get("falcopy_events_total", 0) < accepted and time.monotonic() < end:
                time.sleep(0.1)
                m = scrape(mport)
            drained_after = time.perf_counter() - t0 - sent_for
            stop = time.perf_counter()
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
            shutdown = time.perf_counter() - stop
        finally:
            if proc.poll() is None:
                proc.kill()
        alerts = len(Path(tmp, "alerts.json").read_bytes().splitlines())

    lat = sorted(r[0] * 1000 for r in results)
    statuses: dict[int, int] = {}
    for r in results:
        statuses[r[1]] = statuses.get(r[1], 0) + 1
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
    processed = int(m.get("falcopy_events_total", 0))
    print(
        f"{'HTTPS' if args.tls else 'HTTP'}: sent {len(results)} requests x {args.batch} events at {args.rate}/s over {sent_for:.1f}s "
        f"({len(results) * args.batch / sent_for:.0f} events/s offered), statuses {statuses}"
    )
    print(
        f"response ms: p50 {statistics.median(lat):.1f}  p99 {p99:.1f}  max {lat[-1]:.1f}  (target p99 <= 50)"
    )
    print(
        f"accepted {accepted}  processed {processed}  lost {accepted - processed}  "
        f"drained {drained_after:.2f}s after the last send; alerts written {alerts}; "
        f"drops {int(m.get('falcopy_drops_total', 0))}"
    )
    print(
        f"engine RSS idle {idle_rss / 2**20:.1f} MiB, after load {m['falcopy_rss_bytes'] / 2**20:.1f} MiB; "
        f"CPU {m['falcopy_cpu_seconds_total']:.1f}s; SIGTERM exit {proc.returncode} in {shutdown:.2f}s"
    )
    ok = accepted == processed and proc.returncode == 0 and statuses.get(200, 0) == len(results)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
