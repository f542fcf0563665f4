"""`python -m app.simulator --port 8765 --orgs 2`: serve simulated organizations over HTTP."""

from __future__ import annotations

import argparse
import time

from app.simulator import Simulator, serve_http


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve the simulated Anthropic Admin API.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--orgs", type=int, default=2, help="how many organizations")
    parser.add_argument("--history-days", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per request")
    args = parser.parse_args()
    sim = Simulator(history_days=args.history_days)
    names = ["Acme Corp", "Globex", "Initech", "Umbrella", "Hooli", "Stark Industries"]
    for i in range(args.orgs):
        sim.add_org(name=names[i % len(names)] + (f" {i // len(names) + 1}" if i >= 6 else ""),
                    seed=1000 + i)  # fmt: skip
    sim.latency = args.latency
    with serve_http(sim, args.host, args.port) as server:
        print(f"Simulated Admin API at {server.base_url}")
        for org in sim.orgs.values():
            # Fake keys of a fake API: printing them is the point of this tool.
            print(f"  {org.name}: id {org.id}  key {org.admin_key}")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
