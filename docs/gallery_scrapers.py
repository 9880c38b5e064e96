"""A sphinx-gallery scraper for the figures skbreastcad's plotting functions return.

Those functions build figures without pyplot (so a library call never leaves a window or
a global figure behind), which pyplot's scraper cannot see. This one saves every figure
the example holds in a variable and that no pyplot manager owns, once.
"""

from sphinx_gallery.scrapers import figure_rst


def figure_scraper(block, block_vars, gallery_conf, **kwargs):
    """Save the example's pyplot-free figures not saved yet; return their reST."""
    from matplotlib.figure import Figure

    seen = block_vars.setdefault("skbreastcad_seen_figures", set())
    paths = []
    for value in list(block_vars["example_globals"].values()):
        if not isinstance(value, Figure) or id(value) in seen:
            continue
        if getattr(value.canvas, "manager", None) is not None:
            continue  # a pyplot figure: pyplot's scraper takes it
        seen.add(id(value))
        path = next(block_vars["image_path_iterator"])
        value.savefig(path, dpi=value.dpi)
        paths.append(path)
    return figure_rst(paths, gallery_conf["src_dir"])
