"""Run the simulator: python -m sandbox.bigcommerce --port 5100 --client-id X ..."""

from __future__ import annotations

import argparse

from werkzeug.serving import run_simple

from .app import create_app
from .config import BCSimConfig


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m sandbox.bigcommerce")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5100)
    parser.add_argument("--client-id", default=BCSimConfig.client_id)
    parser.add_argument("--client-secret", default=BCSimConfig.client_secret)
    parser.add_argument("--app-url", default=BCSimConfig.app_url, help="our portal base URL")
    parser.add_argument("--scopes", default=BCSimConfig.scopes)
    parser.add_argument("--rate-limit-quota", type=int, default=150)
    parser.add_argument("--rate-limit-window-ms", type=int, default=30_000)
    parser.add_argument("--time-scale", type=float, default=1.0, help="webhook retry delays x")
    parser.add_argument(
        "--demo", action="store_true", help="demo mode: accept http webhook destinations"
    )
    parser.add_argument("--store", action="append", default=[], help="pre-create store hash")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    config = BCSimConfig(
        client_id=args.client_id,
        client_secret=args.client_secret,
        app_url=args.app_url.rstrip("/"),
        scopes=args.scopes,
        rate_limit_quota=args.rate_limit_quota,
        rate_limit_window_ms=args.rate_limit_window_ms,
        time_scale=args.time_scale,
        demo_mode=args.demo,
    )
    app = create_app(config)
    for store_hash in args.store:
        store = app.extensions["bcsim"].create_store(store_hash)
        print(f"store {store_hash}: X-Auth-Token {store.access_token}")
    run_simple(args.host, args.port, app, threaded=True)


if __name__ == "__main__":
    main()
