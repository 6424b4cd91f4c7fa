"""An open-loop HTTP/1.1 load generator for signed BigCommerce webhook deliveries.

Run by bench_intake.py as its own process (stdlib only, one asyncio loop, one core at most):

    python bench/loadgen.py --port P --rate R --seconds S --hook-secret H --client-secret C

Every request is built and signed before the clock starts (a unique ``webhook-id`` each), so
sending costs one socket write and one small read. Request i is due at ``start + i / rate``;
a fixed set of keep-alive connections takes the next due request as soon as it is free, and
latency is counted from the due time, not from the send: a server that falls behind cannot
hide its queue (no coordinated omission). Prints one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import math
import time
import uuid

STORE = "intake"
PATH = "/webhooks/bigcommerce"
LATE_SECONDS = 1.0


def delivery(client_secret: str, hook_secret: str, order_id: int, host: str) -> bytes:
    """One complete HTTP request: a store/order/created delivery, Standard Webhooks signed."""
    data = {"type": "order", "id": order_id}
    payload = {
        "scope": "store/order/created",
        "store_id": "1000001",
        "data": data,
        "hash": hashlib.sha1(json.dumps(data).encode()).hexdigest(),
        "created_at": int(time.time()),
        "producer": f"stores/{STORE}",
    }
    body = json.dumps(payload, separators=(",", ":")).encode()
    msg_id = f"msg_{uuid.uuid4().hex}"
    ts = str(int(time.time()))
    digest = hmac.new(client_secret.encode(), f"{msg_id}.{ts}.".encode() + body, "sha256")
    signature = "v1," + base64.b64encode(digest.digest()).decode()
    head = (
        f"POST {PATH} HTTP/1.1\r\n"
        f"Host: {host}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"webhook-id: {msg_id}\r\n"
        f"webhook-timestamp: {ts}\r\n"
        f"webhook-signature: {signature}\r\n"
        f"X-Bindo-Hook-Secret: {hook_secret}\r\n"
        "\r\n"
    )
    return head.encode() + body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """The status code of one response (body read and dropped), and whether to keep the
    connection (the server may close it after each request, as a sync worker does)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length, keep = 0, True
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"connection" and value.strip().lower() == b"close":
            keep = False
    if length:
        await reader.readexactly(length)
    return status, keep


async def run(port: int, requests: list[bytes], rate: float, connections: int) -> dict:
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.2
    latencies: list[float] = []
    counts = {"errors": 0, "late": 0}
    next_index = 0

    async def connection() -> None:
        nonlocal next_index
        reader = writer = None
        while next_index < len(requests):
            i = next_index
            next_index += 1
            due = start + i / rate
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            elif delay < -LATE_SECONDS:
                counts["late"] += 1  # more than 1 s behind schedule: counted, still sent
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(requests[i])
                status, keep = await asyncio.wait_for(_read_response(reader), timeout=10)
            except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
                counts["errors"] += 1
                if writer is not None:
                    writer.close()
                reader = writer = None
                continue
            if status == 200:
                latencies.append(loop.time() - due)
            else:
                counts["errors"] += 1
            if not keep:
                writer.close()
                reader = writer = None
        if writer is not None:
            writer.close()

    await asyncio.gather(*(connection() for _ in range(connections)))
    elapsed = loop.time() - start
    return {
        "sent": len(requests),
        "ok": len(latencies),
        "errors": counts["errors"],
        "late": counts["late"],
        "achieved": len(latencies) / elapsed if elapsed > 0 else 0.0,
        "latencies": latencies,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--rate", type=float, required=True)
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--hook-secret", required=True)
    parser.add_argument("--client-secret", required=True)
    parser.add_argument("--first-id", type=int, default=10_000)
    parser.add_argument("--connections", type=int, default=0, help="0: about 100 ms of traffic")
    args = parser.parse_args()
    total = int(args.rate * args.seconds)
    host = f"127.0.0.1:{args.port}"
    requests = [
        delivery(args.client_secret, args.hook_secret, args.first_id + i, host)
        for i in range(total)
    ]
    # Twice the requests in flight at the offered rate with 50 ms each (Little's law at the
    # p99 target), at least 4 and at most 64: gunicorn's threads bound the rest anyway.
    connections = args.connections or min(64, max(4, math.ceil(args.rate * 0.1)))
    result = asyncio.run(run(args.port, requests, args.rate, connections))
    result["connections"] = connections
    print(json.dumps(result))


if __name__ == "__main__":
    main()
