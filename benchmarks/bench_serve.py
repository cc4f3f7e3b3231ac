"""Load test of the HTTP service: requests/s and p50/p95 latency of ``POST /explain`` on 127.0.0.1.

Starts ``python -m tensorlayer_xplain serve`` (the real command: uvicorn, one
worker) for the trained MNIST CNN (``benchmarks/_models.trained_cnn``) on a
free loopback port, uploads test digits as PNG files (multipart, as ``curl -F``
does) from 1, 4 and 8 concurrent clients with ``gradient`` and ``gradcam``, and
stops the server when done. Every request uses a different digit, so the
explanation cache misses; one extra row per method repeats a single digit to
show a cache hit. Each row is bounded by ``--requests`` and ``--max-seconds``.

Side by side, the same digits are explained in this process by a
``ModelExplainer`` without cache (the floor: no HTTP, no PNG decoding, no
JSON), interleaved with the sequential HTTP requests; ``overhead`` is the
median of the per-pair differences (HTTP minus direct).

Micro-batching and abuse (``--batching``): 16 clients ask ``gradient`` for one
digit each, against a server with micro-batching and one started with
``--no-micro-batching`` (requests/s side by side); then, on the micro-batching
server, the same 16 clients with and without one abusive client that sends a
request over the cost budget (``integrated_gradients`` with 100,000 steps)
every 100 ms: the normal clients' p95 latency in both runs and every 5xx.

Only 127.0.0.1 is contacted. Run::

    TENSORLAYER_XPLAIN_DATA=/work/shared/data python -m benchmarks.bench_serve [--requests 200] [--max-seconds 20]
    TENSORLAYER_XPLAIN_DATA=/work/shared/data python -m benchmarks.bench_serve --batching-only
"""
import argparse
import asyncio
import http.client
import io
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np
import orjson

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

import tensorlayer_xplain as tlxp  # noqa: E402

from ._models import trained_cnn  # noqa: E402

HOST = "127.0.0.1"  # loopback only
METHODS = ("gradient", "gradcam")
BOUNDARY = "xplainbenchboundary"


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def png_bytes(image):
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.clip(np.round(image[..., 0] * 255), 0, 255).astype(np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def multipart(png, method, params=None):
    parts = [("method", method.encode())] + ([("params", json.dumps(params).encode())] if params else [])
    field = b"--%s\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n%s\r\n"
    body = b"".join(field % (BOUNDARY.encode(), k.encode(), v)
                    for k, v in parts)
    body += (b"--%s\r\nContent-Disposition: form-data; name=\"file\"; filename=\"digit.png\"\r\n"
             b"Content-Type: image/png\r\n\r\n" % BOUNDARY.encode()) + png + b"\r\n--%s--\r\n" % BOUNDARY.encode()
    return body, {"Content-Type": "multipart/form-data; boundary=%s" % BOUNDARY}


class Client:
    """One keep-alive HTTP/1.1 connection to the server."""

    def __init__(self, port):
        self.connection = http.client.HTTPConnection(HOST, port, timeout=60)

    def post(self, path, body, headers):
        self.connection.request("POST", path, body=body, headers=headers)
        response = self.connection.getresponse()
        data = response.read()
        return response.status, data

    def close(self):
        self.connection.close()


def start_server(weights, port, methods, extra=()):
    command = [sys.executable, "-m", "tensorlayer_xplain", "serve", "--model", "tensorlayer_xplain.models:cnn",
               "--weights", weights, "--host", HOST, "--port", str(port), "--methods", ",".join(methods),
               "--log-level", "warning"] + list(extra)
    server = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 180
    while time.time() < deadline:
        if server.poll() is not None:
            raise RuntimeError("server exited with %s: %s" % (server.returncode, server.stderr.read()[-2000:]))
        try:
            connection = http.client.HTTPConnection(HOST, port, timeout=2)
            connection.request("GET", "/health")
            if connection.getresponse().status == 200:
                connection.close()
                return server
        except OSError:
            time.sleep(0.5)
    stop_server(server)
    raise RuntimeError("server did not answer /health within 180 s")


def stop_server(server):
    server.terminate()
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait(timeout=20)


def _raw_request(path, body, headers):
    """The bytes of one HTTP/1.1 keep-alive POST (built once per payload, outside the timed loop)."""
    head = "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n" % (path, HOST, len(body))
    head += "".join("%s: %s\r\n" % kv for kv in headers.items()) + "\r\n"
    return head.encode("latin-1") + body


async def _read_response(reader):
    """``(status, body)`` of one response with a Content-Length (what uvicorn sends for every JSON answer)."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    start = head.lower().find(b"content-length:")
    if start < 0:
        raise RuntimeError("response without Content-Length: %r" % head[:200])
    length = int(head[start + 15:head.index(b"\r\n", start)])
    return status, await reader.readexactly(length)


def run_load(port, payloads, method, concurrency, n_requests, max_seconds, expected):
    """Send up to n_requests (for at most max_seconds) from `concurrency` keep-alive connections.

    The clients are coroutines of one asyncio loop with pre-built request bytes and orjson parsing
    (about 0.25 ms of CPU per request, half of what ``http.client`` threads took): on a small machine the load
    generator shares the cores with the server, and a heavy one would measure itself. Every answer
    is checked (status 200 and the expected predicted class). Latencies are in seconds.
    """
    raw = [_raw_request("/explain", body, headers) for body, headers in payloads]
    latencies, failures = [], []
    counter = iter(range(n_requests))

    async def client(stop_at):
        reader, writer = await asyncio.open_connection(HOST, port)
        try:
            while time.perf_counter() < stop_at:
                i = next(counter, None)
                if i is None:
                    return
                start = time.perf_counter()
                writer.write(raw[i % len(raw)])
                status, data = await _read_response(reader)
                elapsed = time.perf_counter() - start
                if status == 200 and orjson.loads(data)["predicted"][0] == expected[i % len(payloads)]:
                    latencies.append(elapsed)
                else:
                    failures.append((status, data[:200]))
        finally:
            writer.close()

    async def load():
        stop_at = time.perf_counter() + max_seconds
        await asyncio.gather(*(client(stop_at) for _ in range(concurrency)))

    start = time.perf_counter()
    asyncio.run(load())
    wall = time.perf_counter() - start
    return latencies, failures, wall


def abusive_client(port, body, headers, stop, statuses, period=0.1):
    """Send one over-budget request every ``period`` seconds until ``stop`` is set; record the statuses."""
    client = Client(port)
    try:
        while not stop.is_set():
            start = time.perf_counter()
            status, _ = client.post("/explain", body, headers)
            statuses.append(status)
            stop.wait(max(0.0, period - (time.perf_counter() - start)))
    finally:
        client.close()


def batching_rows(weights, payloads, expected, n_requests, max_seconds, clients=16, rounds=4):
    """16 clients x one digit of ``gradient``: with and without micro-batching, and beside an abusive client.

    Both servers run at once and the three conditions are interleaved in ``rounds`` short rounds (each of
    ``n_requests / rounds`` requests), so a change in the machine's load hits them alike.
    """
    methods = ("gradient", "integrated_gradients")
    abuse = multipart(png_bytes(np.zeros((28, 28, 1))), "integrated_gradients", {"steps": 100000})
    conditions = [("off", "none"), ("on", "none"), ("on", "1 every 100 ms")]
    ports, servers = {}, []
    try:
        for label, extra in (("off", ["--no-micro-batching"]), ("on", [])):
            ports[label] = free_port()
            servers.append(start_server(weights, ports[label], methods, extra))
            warm = Client(ports[label])
            for body, headers in payloads[-3:]:
                warm.post("/explain", body, headers)
            warm.close()
        pooled = {c: dict(lat=[], failures=[], wall=0.0, statuses=[]) for c in conditions}
        per_round = max(clients, n_requests // rounds)
        offset = 0
        for _ in range(rounds):
            for condition in conditions:
                label, abusive = condition
                port = ports[label]
                shifted = payloads[offset:] + payloads[:offset]  # fresh digits: cache misses
                want = np.concatenate([expected[offset:], expected[:offset]])
                offset = (offset + per_round) % len(payloads)
                stop, statuses, thread = threading.Event(), pooled[condition]["statuses"], None
                if abusive != "none":
                    thread = threading.Thread(target=abusive_client, args=(port, *abuse, stop, statuses))
                    thread.start()
                lat, failures, wall = run_load(port, shifted, "gradient", clients, per_round, max_seconds / rounds,
                                               want)
                stop.set()
                if thread is not None:
                    thread.join()
                pooled[condition]["lat"] += lat
                pooled[condition]["failures"] += failures
                pooled[condition]["wall"] += wall
    finally:
        for server in servers:
            stop_server(server)
    rows = []
    for (label, abusive), p in pooled.items():
        lat, failures, statuses = p["lat"], p["failures"], p["statuses"]
        if failures:
            print("failures (first 3):", failures[:3])
        rows.append(dict(batching=label, abusive=abusive, clients=clients, requests=len(lat), failed=len(failures),
                         rps=len(lat) / p["wall"], p50=percentile(lat, 50) * 1e3, p95=percentile(lat, 95) * 1e3,
                         abusive_requests=len(statuses), abusive_422=sum(1 for s in statuses if s == 422),
                         server_errors=sum(1 for f in failures if f[0] >= 500) + sum(1 for s in statuses if s >= 500)))
    return rows


def batching_table(rows):
    lines = ["POST /explain gradient, one 28x28 PNG per request, %d clients, uvicorn (1 worker) on %s, %d cores"
             % (rows[0]["clients"], HOST, os.cpu_count()), "",
             "| micro-batching | abusive client | requests | failed | req/s | p50 ms | p95 ms | abusive requests "
             "(422) | 5xx |", "|" + "---|" * 9]
    for r in rows:
        lines.append("| %s | %s | %d | %d | %.1f | %.1f | %.1f | %d (%d) | %d |" % (
            r["batching"], r["abusive"], r["requests"], r["failed"], r["rps"], r["p50"], r["p95"],
            r["abusive_requests"], r["abusive_422"], r["server_errors"]))
    off, on, abused = rows
    lines += ["", "throughput with / without micro-batching: %.2fx; normal p95 with / without the abusive client: "
                  "%.2fx; 5xx: %d" % (on["rps"] / off["rps"], abused["p95"] / on["p95"],
                                      sum(r["server_errors"] for r in rows))]
    return "\n".join(lines)


def paired_overhead(port, payloads, images, method, n):
    """Sequential HTTP requests interleaved with direct in-process explanations of the same digits."""
    direct = tlxp.ModelExplainer(MODEL, methods=list(METHODS), cache=False)
    direct.explain(images[:1], method)  # warm-up (trace)
    client = Client(port)
    http_times, direct_times = [], []
    try:
        for i in range(n):
            body, headers = payloads[len(payloads) - 1 - i]  # digits not used by the load rows
            order = (0, 1) if i % 2 == 0 else (1, 0)
            for which in order:
                start = time.perf_counter()
                if which == 0:
                    status, _ = client.post("/explain", body, headers)
                    assert status == 200
                    http_times.append(time.perf_counter() - start)
                else:
                    direct.explain(images[len(payloads) - 1 - i][None], method)
                    direct_times.append(time.perf_counter() - start)
    finally:
        client.close()
    return http_times, direct_times


def percentile(values, q):
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


def write_results(folder, stem, text, rows):
    """Print ``text`` and write it to ``<folder>/<stem>.md``, the rows to ``<stem>.json``."""
    print(text)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, stem + ".md"), "w", encoding="utf-8") as f:
        f.write(text + "\n")
    with open(os.path.join(folder, stem + ".json"), "w", encoding="utf-8") as f:
        json.dump(rows, f, indent=1)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200, help="requests per row (default 200)")
    parser.add_argument("--max-seconds", type=float, default=20.0, help="time limit per row (default 20)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--pairs", type=int, default=40, help="HTTP/direct pairs for the overhead column (default 40)")
    parser.add_argument("--batching-only", action="store_true",
                        help="only the micro-batching / abusive-client rows")
    parser.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results"),
                        help="folder for bench_serve.md / .json (default: benchmarks/results/)")
    args = parser.parse_args(argv)

    global MODEL
    MODEL, _, _, X_test, _ = trained_cnn()
    images = np.round(X_test[:1000] * 255) / 255  # what the server decodes from the PNGs
    expected = np.argmax(tlxp.as_adapter(MODEL).predict(images), axis=1)
    with tempfile.TemporaryDirectory() as tmp:
        weights = os.path.join(tmp, "cnn.npz")
        MODEL.save_weights(weights, format="npz")
        payloads = [multipart(png_bytes(img), "gradient") for img in images]
        batching = batching_rows(weights, payloads, expected, args.requests * 2, args.max_seconds)
        write_results(args.out, "bench_serve_batching", batching_table(batching), batching)
        if args.batching_only:
            return batching
        port = free_port()
        server = start_server(weights, port, METHODS)
        rows = []
        try:
            for method in METHODS:
                payloads = [multipart(png_bytes(img), method) for img in images]
                warm = Client(port)
                for body, headers in payloads[-3:]:  # trace the compiled steps before timing
                    warm.post("/explain", body, headers)
                warm.close()
                http_times, direct_times = paired_overhead(port, payloads, images, method, args.pairs)
                overhead = statistics.median(h - d for h, d in zip(http_times, direct_times))
                for concurrency in args.concurrency:
                    offset = len(rows) * args.requests  # fresh digits per row: cache misses
                    shifted = payloads[offset:] + payloads[:offset]
                    want = np.concatenate([expected[offset:], expected[:offset]])
                    lat, failures, wall = run_load(port, shifted, method, concurrency, args.requests,
                                                   args.max_seconds, want)
                    rows.append(dict(method=method, concurrency=concurrency, cache="miss", requests=len(lat),
                                     failed=len(failures), rps=len(lat) / wall, p50=percentile(lat, 50) * 1e3,
                                     p95=percentile(lat, 95) * 1e3, direct_p50=statistics.median(direct_times) * 1e3,
                                     overhead=overhead * 1e3))
                    if failures:
                        print("failures (first 3):", failures[:3])
                lat, failures, wall = run_load(port, payloads[:1], method, 4, args.requests, args.max_seconds,
                                               expected[:1])
                rows.append(dict(method=method, concurrency=4, cache="hit", requests=len(lat), failed=len(failures),
                                 rps=len(lat) / wall, p50=percentile(lat, 50) * 1e3, p95=percentile(lat, 95) * 1e3,
                                 direct_p50=float("nan"), overhead=float("nan")))
        finally:
            stop_server(server)

    header = ("| method | clients | cache | requests | failed | req/s | p50 ms | p95 ms | direct p50 ms | "
              "HTTP overhead p50 ms |")
    lines = ["POST /explain, MNIST CNN, one 28x28 PNG per request, uvicorn (1 worker) on %s, %d cores" % (
        HOST, os.cpu_count()), "", header, "|" + "---|" * 10]
    for r in rows:
        lines.append("| %s | %d | %s | %d | %d | %.1f | %.1f | %.1f | %s | %s |" % (
            r["method"], r["concurrency"], r["cache"], r["requests"], r["failed"], r["rps"], r["p50"], r["p95"],
            "%.1f" % r["direct_p50"] if r["direct_p50"] == r["direct_p50"] else "",
            "%.1f" % r["overhead"] if r["overhead"] == r["overhead"] else ""))
    lines += ["", "`direct p50`: the same explanation in-process (ModelExplainer, no cache, no HTTP), interleaved "
                  "with sequential requests; `HTTP overhead`: median per-pair difference."]
    write_results(args.out, "bench_serve", "\n".join(lines), rows)
    return rows


MODEL = None

if __name__ == "__main__":
    main()
