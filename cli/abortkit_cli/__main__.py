"""The ``abortkit`` command line: ``demo``, ``probe`` and ``chat`` (also ``python -m abortkit_cli``)."""

from __future__ import annotations

import argparse
import sys

__all__ = ["main"]


def _providers_epilog() -> str:
    """Per provider: the --base-url form it wants and the variable its key is read from."""
    from abortkit_providers import registry  # imports no SDK: --help stays fast

    width = max(len(spec.name) for spec in registry.SPECS)
    lines = ["providers (--base-url form; API key variable):"]
    for spec in registry.SPECS:
        key = spec.key_variable + ("" if spec.key_required else ", optional")
        lines.append(f"  {spec.name:<{width}}  {spec.base_url_form}; {key}")
    return "\n".join(lines).replace("%", "%%")


def _parser() -> argparse.ArgumentParser:
    from abortkit_providers import registry

    providers = tuple(registry.PROVIDERS)
    parser = argparse.ArgumentParser(prog="abortkit", description="Make a streaming LLM call stop now.")
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="abort every provider in every phase on the embedded mock server")
    demo.add_argument("--trials", type=int, default=5, help="trials per provider/mode/phase (default 5)")

    epilog, raw = _providers_epilog(), argparse.RawDescriptionHelpFormatter
    probe = commands.add_parser(
        "probe", help="check that an abort really stops a call to a real endpoint", epilog=epilog, formatter_class=raw
    )
    probe.add_argument("--provider", choices=providers, required=True)
    probe.add_argument("--base-url", required=True, help="the endpoint, in the provider's form (below)")
    probe.add_argument("--model", required=True)
    probe.add_argument("--api-key-env", help="environment variable holding the key (default: the SDK's usual one)")

    chat = commands.add_parser(
        "chat", help="chat in the terminal; ESC or Ctrl-C cancels the reply", epilog=epilog, formatter_class=raw
    )
    chat.add_argument("--provider", choices=providers, default="openai-compatible")
    chat.add_argument(
        "--base-url", help="a real endpoint, in the provider's form (below; default: the embedded mock server)"
    )
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
        return run_demo(trials_per_cell=args.trials)
    if args.command == "probe":
        from ._probe import run_probe

        return run_probe(args.provider, args.base_url, args.model, args.api_key_env)
    from ._chat import run_chat

    return run_chat(args.provider, args.base_url, args.model, args.api_key_env)


if __name__ == "__main__":
    sys.exit(main())
