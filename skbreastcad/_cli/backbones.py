"""``skbreastcad backbones``: the backbone registry and whether each one's weights are offline."""


def execute(args):
    """Run ``skbreastcad backbones``; return the exit code."""
    from ..nn import get_backbone_spec, list_backbones, weights_status

    for name in list_backbones():
        spec = get_backbone_spec(name)
        available, detail = weights_status(name)
        state = {True: "weights offline", False: "no weights offline", None: "weights unknown"}[
            available
        ]
        size = (
            "any size"
            if spec.input_size is None
            else f"{spec.input_size[0]} px (min {spec.min_input_size})"
        )
        print(f"{name:<20} {state:<18} {size:<18} {detail}")
    return 0


def add_parser(subparsers):
    """Add ``backbones`` to the sub-parsers; return its parser."""
    return subparsers.add_parser(
        "backbones", help="list backbones and whether their weights are offline"
    )
