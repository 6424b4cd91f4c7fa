"""Run the Bindo simulator: ``python -m sandbox.bindo --port 5200 [--demo STORE_ID]``."""

from __future__ import annotations

import argparse

from sandbox.bindo import BindoSimConfig, create_app
from sandbox.bindo.demo_catalog import build_demo_catalog


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5200)
    parser.add_argument("--public-url", default=None, help="base URL put into image URLs")
    parser.add_argument("--demo", metavar="STORE_ID", help="create this store with a catalog")
    parser.add_argument("--token", default="demo-token")
    parser.add_argument("--webhook-secret", default="demo-webhook-secret")
    parser.add_argument("--rate-limit", type=int, default=None, help="requests/min per token")
    args = parser.parse_args(argv)
    public_url = args.public_url or f"http://{args.host}:{args.port}"
    config = BindoSimConfig(
        public_url=public_url, port=args.port, rate_limit_per_minute=args.rate_limit
    )
    app = create_app(config)
    if args.demo:
        state = app.extensions["bindosim"]
        state.create_store(args.demo, args.token, args.webhook_secret, [])
        build_demo_catalog(state, args.demo, public_url)
        print(f"demo store {args.demo!r}: token {args.token!r}")
    app.run(host=args.host, port=args.port, threaded=True)


if __name__ == "__main__":
    main()
