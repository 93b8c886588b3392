"""Entry point of one worker process (or of a warm spare: ``--spare``)."""

from __future__ import annotations

import argparse
import sys

from .. import config
from ..runtime import logs
from ..runtime.protocol import ExitCode
from ..runtime.worker import die_with_parent
from . import REGISTRY, worker_class


def main(argv: list[str] | None = None) -> int:
    die_with_parent()
    parser = argparse.ArgumentParser(prog="appliance.workers")
    parser.add_argument("name", choices=sorted(REGISTRY))
    parser.add_argument("--config")
    parser.add_argument(
        "--spare", action="store_true", help="load, then wait for SIGUSR1 before serving (supervisor.spares)"
    )
    args = parser.parse_args(argv)
    try:
        settings = config.load(args.config)
    except config.ConfigError as exc:
        print(f"{args.name}: bad configuration: {exc}", file=sys.stderr)
        return ExitCode.WORKER_CONFIG
    logs.setup(settings, args.name)
    return worker_class(args.name)(settings).run(spare=args.spare)


if __name__ == "__main__":
    sys.exit(main())
