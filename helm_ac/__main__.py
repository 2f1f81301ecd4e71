"""Entry point of ``helm-ac`` and ``python -m helm_ac`` (and so of the ``helm ac`` plugin).

Before the CLI loads, a ``lint`` command starts helm (:mod:`helm_ac.rendering.early`): helm's
rendering is most of a lint's time, and it need not wait for click and the linter to load.
"""
import sys


def main() -> None:
    import gc

    gc.disable()  # a short-lived CLI: collecting cycles while parsing thousands of objects only costs time
    from helm_ac.rendering.helm import split_attached_short_flags

    argv = split_attached_short_flags(sys.argv[1:])
    from helm_ac.rendering.early import start_lint

    start_lint(argv)
    from helm_ac.cli import main as cli_main

    cli_main(argv)


if __name__ == "__main__":
    main()
