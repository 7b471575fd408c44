"""The ``abortkit`` command line: ``demo``, ``probe`` and ``chat`` (also ``python -m abortkit_cli``)."""

from __future__ import annotations

import argparse
import sys

__all__ = ["main"]

PROVIDERS = ("openai-compatible", "anthropic", "minimax")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="abortkit", description="Make a streaming LLM call stop now.")
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="abort every provider in every phase on the embedded mock server")
    demo.add_argument("--trials", type=int, default=5, help="trials per provider/mode/phase (default 5)")

    probe = commands.add_parser("probe", help="check that an abort really stops a call to a real endpoint")
    probe.add_argument("--provider", choices=PROVIDERS, required=True)
    probe.add_argument("--base-url", required=True)
    probe.add_argument("--model", required=True)
    probe.add_argument("--api-key-env", help="environment variable holding the key (default: the SDK's usual one)")

    chat = commands.add_parser("chat", help="chat in the terminal; ESC or Ctrl-C cancels the reply")
    chat.add_argument("--provider", choices=PROVIDERS, default="openai-compatible")
    chat.add_argument("--base-url", help="a real endpoint (default: the embedded mock server)")
    chat.add_argument("--model", default="mock-model")
    chat.add_argument("--api-key-env", help="environment variable holding the key (default: the SDK's usual one)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "demo":
        from ._demo import run_demo

        if args.trials < 1:
            print("abortkit demo: --trials must be at least 1", file=sys.stderr)
            return 2
        return run_demo(trials=args.trials)
    if args.command == "probe":
        from ._probe import run_probe

        return run_probe(args.provider, args.base_url, args.model, args.api_key_env)
    from ._chat import run_chat

    return run_chat(args.provider, args.base_url, args.model, args.api_key_env)


if __name__ == "__main__":
    sys.exit(main())
