"""``python -m app.simulator --port 8765 --orgs 2``: serve simulated organizations over HTTP.

Prints each organization's id, name and admin key (``--enterprise-orgs N`` adds Claude
Enterprise organizations and prints their ``sk-ant-api01-`` analytics keys). These are keys of
a fake API on loopback, so printing them is the point: paste one into the product to connect
it to the simulator.
"""

from __future__ import annotations

import argparse
import contextlib
import threading

from app.simulator import Simulator, serve_http

ORG_NAMES = ("Acme Corp", "Globex", "Initech", "Umbrella", "Hooli", "Stark Industries")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m app.simulator", description="Serve the simulated Anthropic Admin API."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--orgs", type=int, default=2, help="how many organizations")
    parser.add_argument(
        "--enterprise-orgs", type=int, default=0, help="how many Claude Enterprise organizations"
    )
    parser.add_argument("--history-days", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7, help="same seed, same data")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per request")
    args = parser.parse_args(argv)

    sim = Simulator(history_days=args.history_days, seed=args.seed)
    for i in range(args.orgs):
        name = ORG_NAMES[i % len(ORG_NAMES)]
        if i >= len(ORG_NAMES):
            name += f" {i // len(ORG_NAMES) + 1}"
        sim.add_org(name=name, seed=args.seed * 1000 + i)
    for i in range(args.enterprise_orgs):
        sim.add_enterprise_org(
            name=f"{ORG_NAMES[i % len(ORG_NAMES)]} Enterprise", seed=args.seed * 1000 + 500 + i
        )
    sim.latency = args.latency
    with serve_http(sim, args.host, args.port) as server:
        print(f"Simulated Admin API at {server.base_url} (Ctrl-C to stop)", flush=True)
        for org in sim.orgs.values():
            print(f"  {org.name}\n    id:  {org.id}\n    key: {org.admin_key}", flush=True)
        for ent in sim.enterprise_orgs.values():
            print(f"  {ent.name}\n    id:  {ent.id}\n    key: {ent.key}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is the way to stop it
            threading.Event().wait()


if __name__ == "__main__":
    main()
