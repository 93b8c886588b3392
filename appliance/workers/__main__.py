"""Entry point of one worker process."""

from __future__ import annotations

import argparse
import sys

from .. import config
from ..runtime import logs
from ..runtime.worker import EXIT_CONFIG, die_with_parent
from . import REGISTRY, worker_class


def main(argv: list[str] | None = None) -> int:
    die_with_parent()
    parser = argparse.ArgumentParser(prog="appliance.workers")
    parser.add_argument("name", choices=sorted(REGISTRY))
    parser.add_argument("--config")
    args = parser.parse_args(argv)
    try:
        settings = config.load(args.config)
    except config.ConfigError as exc:
        print(f"{args.name}: bad configuration: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    logs.setup(settings, args.name)
    return worker_class(args.name)(settings).run()


if __name__ == "__main__":
    sys.exit(main())
