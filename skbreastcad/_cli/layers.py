"""``skbreastcad layers BACKBONE``: the layers a probe or ``CNNLayerFeatures`` can read."""

from ._shared import checking


def execute(args):
    """Run ``skbreastcad layers``; return the exit code."""
    from ..nn import VGG16_STUDY_LAYERS, list_layers
    from .run import DEFAULT_LAYERS

    with checking():
        layers = list_layers(args.backbone)
    study = {v: k for k, v in VGG16_STUDY_LAYERS.items()} if args.backbone == "vgg16" else {}
    default = DEFAULT_LAYERS.get(args.backbone, [])
    for name in layers:
        tags = []
        if name in study:
            tags.append(f"study layer {study[name]}")
        if name in default:
            tags.append("probed by default")
        print(name + (f"  ({', '.join(tags)})" if tags else ""))
    return 0


def add_parser(subparsers):
    """Add ``layers`` to the sub-parsers; return its parser."""
    p = subparsers.add_parser("layers", help="list the probe-able layers of a backbone")
    p.add_argument("backbone", help="a backbone name (see 'skbreastcad backbones')")
    return p
