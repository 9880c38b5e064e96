"""The ``skbreastcad`` command: one module per sub-command, above every library package.

A sub-command is a module of this package named in :data:`COMMANDS` with two
functions: ``add_parser(subparsers)``, which adds its parser (importing only
the standard library, so that ``--help`` stays fast), and ``execute(args)``,
which runs it through the library's public API and returns the exit code.
Every command shares :func:`~skbreastcad._cli._shared.run_command`: a user
mistake is one line and exit 2 (a bad argument too, refused by the parser
before any work), Ctrl-C one line and exit 130, SIGTERM one line and exit
143, the library's warnings ``note:`` lines.
"""

import importlib

__all__ = ["COMMANDS", "build_parser", "main"]

# The order of ``skbreastcad --help``; a new command is a module plus its name here.
COMMANDS = ("demo", "run", "train", "predict", "layers", "backbones", "detect", "froc")

_DESCRIPTION = (
    "Breast-tumour CAD experiments from the command line: texture and CNN features, "
    "transfer learning and whole-film detection, each reported with confidence intervals. "
    "Run 'skbreastcad COMMAND --help' for one command's options."
)


def _command_module(name):
    return importlib.import_module(f"{__name__}.{name}")


def build_parser():
    """The ``skbreastcad`` argument parser, with one sub-parser per command.

    Returns
    -------
    parser : argparse.ArgumentParser
    """
    from ._shared import Parser

    # the sub-parsers are of the same class: every bad argument is one line
    parser = Parser(prog="skbreastcad", description=_DESCRIPTION)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        _command_module(name).add_parser(sub)
    return parser


def main(argv=None):
    """Run the ``skbreastcad`` command.

    Parameters
    ----------
    argv : list of str or None, default=None
        The arguments after the program name; None reads ``sys.argv``.

    Returns
    -------
    code : int
        The exit code: 0 on success, 2 for a bad argument or unusable data
        (one line on standard error, before any long work), 130 when
        interrupted (Ctrl-C) and 143 when terminated (SIGTERM), leaving no
        partial output.

    Examples
    --------
    >>> from skbreastcad._cli import main
    >>> main(["layers", "tiny_cnn"])  # doctest: +ELLIPSIS
    conv1
    ...
    0
    """
    from ._shared import run_command

    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, or a bad argument already told in one line
        return 0 if exc.code is None else exc.code
    return run_command(args.command, _command_module(args.command).execute, args)
