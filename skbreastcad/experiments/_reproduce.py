"""The study's whole protocol as one resumable run: :func:`reproduce_study`.

The run is cut into *units*: the features of one feature set or backbone
computed once over all images (frozen networks and the hand-crafted
transformers learn nothing from the data, so this leaks nothing), one
classifier fitted on one training fold, one network fine-tuned on one
training fold. Each unit writes its result into the output folder atomically
(a temporary file renamed into place) the moment it ends, so a killed run
loses at most the unit it was in, and a rerun on the same folder computes only
the units that are missing. A fine-tuning unit also checkpoints every epoch
(``TwoStageTransferClassifier(checkpoint_dir=..., resume=True)``) and caches
its stage 1 (``memory``), so even a long fine-tune continues where it was killed.

Every report is assembled from the unit files read back, never from what a
process happens to hold in memory: an interrupted and resumed run and an
uninterrupted one give the same report.
"""

import json
import os
import sys
import time
from pathlib import Path

from ..utils._docstrings import substitute_docs
from ._common import EXPERIMENT_PARAMETERS
from ._study_claims import (
    _claims,
    _format_eta,
    _phase_report,
    _render,
    _time_left,
    _timings,
)
from ._study_data import StudyData, StudyReproduction
from ._study_plan import _Plan
from ._study_settings import (
    FOLDER_KIND,
    FORMAT_VERSION,
    STUDY_MODES,
    study_settings,
)
from ._study_units import _Store, _write_text

__all__ = [
    "STUDY_MODES",
    "StudyData",
    "StudyReproduction",
    "check_reproduction",
    "reproduce_study",
    "study_settings",
]


# -- the run --------------------------------------------------------------------------------
def _manifest(target, source, settings):
    return {
        "format": FORMAT_VERSION,
        "settings": settings,
        "target": {"name": target.name, "fingerprint": target.fingerprint()},
        "source": None
        if source is None
        else {"name": source.name, "fingerprint": source.fingerprint()},
    }


def _check_folder(out, manifest, protect):
    """Whether ``out`` is this run's folder to resume; raise if it may not be written."""
    from ..utils._output_folder import check_output_folder, folder_kind

    if folder_kind(out) != FOLDER_KIND:
        check_output_folder(out, kind=FOLDER_KIND, protect=protect)
        return False
    check_output_folder(out, kind=FOLDER_KIND, overwrite=True, protect=protect)
    try:
        found = json.loads((out / "study.json").read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(
            f"{out} is a reproduction folder without a readable study.json ({exc}): choose a "
            "new folder."
        ) from exc
    if found != manifest:
        differ = sorted(k for k in manifest if found.get(k) != manifest[k])
        if "settings" in differ:
            theirs = found.get("settings") or {}
            keys = sorted(
                k
                for k in set(manifest["settings"]) | set(theirs)
                if manifest["settings"].get(k) != theirs.get(k)
            )
            differ = [d for d in differ if d != "settings"] + [f"settings {keys}"]
        raise ValueError(
            f"{out} holds a reproduction of other {', '.join(differ)}: resume it with the same "
            "data and settings, or choose a new folder."
        )
    return True


def check_reproduction(output, target, source=None, settings=None, *, protect=()):
    """Raise unless :func:`reproduce_study` may write ``output``; say whether it resumes.

    The checks of :func:`reproduce_study` before any work, for a caller (the
    command line) that reports them before loading anything else.

    Parameters
    ----------
    output : str or path-like
        The reproduction folder.
    target : StudyData
        As for :func:`reproduce_study`.
    source : StudyData or None, default=None
        As for :func:`reproduce_study`.
    settings : dict or None, default=None
        The whole settings (:func:`study_settings`'s result); None: the
        quick mode's.
    protect : sequence of path-like, default=()
        As for :func:`reproduce_study`.

    Returns
    -------
    resumed : bool
        True when ``output`` holds a reproduction of this data and these
        settings (it will be continued), False when it will be created.

    Raises
    ------
    ValueError
        When ``output`` is a folder of the user's, a file, the working
        directory or one of its parents, is or lies inside the data, or holds
        a reproduction of other data or settings.

    Examples
    --------
    >>> import tempfile
    >>> from skbreastcad.datasets import make_phantoms
    >>> X, y = make_phantoms(20, image_size=16, random_state=0)[:2]
    >>> with tempfile.TemporaryDirectory() as parent:
    ...     check_reproduction(Path(parent) / "new", StudyData(X, y))
    False
    """
    from ..nn import get_backbone_spec, list_layers
    from ._common import check_experiment_data

    settings = settings if settings is not None else study_settings("quick")
    if source is not None and source.name == target.name:
        raise ValueError(
            f"The target and the source need different names; both are {target.name!r}."
        )
    for data in (target, source):
        if data is not None:
            try:
                check_experiment_data(data.X, data.y, data.groups, settings["cv"])
            except ValueError as exc:
                raise ValueError(f"{data.name}: {exc}") from exc
    backbone = settings["backbone"]
    for name in (backbone, *settings["offline_backbones"]):
        try:
            get_backbone_spec(name)
        except ValueError as exc:
            raise ValueError(str(exc).split(" Valid backbones")[0]) from exc
    if settings["layers"] is not None:
        known = set(list_layers(backbone))
        unknown = [layer for layer in settings["layers"] if layer not in known]
        if unknown:
            raise ValueError(
                f"{backbone} has no layers {unknown}: see `skbreastcad layers {backbone}`."
            )
    return _check_folder(Path(output), _manifest(target, source, settings), protect)


def _open_folder(output, manifest, protect):
    """Create the reproduction folder, or check that an existing one is this run's to resume."""
    from ..utils._output_folder import write_folder

    out = Path(output)
    if _check_folder(out, manifest, protect):
        return out, True
    with write_folder(out, kind=FOLDER_KIND, protect=protect) as tmp:
        (tmp / "study.json").write_text(json.dumps(manifest, indent=2))
    return out, False


@substitute_docs(**EXPERIMENT_PARAMETERS)
def reproduce_study(
    target,
    output,
    *,
    source=None,
    mode="quick",
    settings=None,
    only=None,
    device="auto",
    protect=(),
    progress=True,
    log=None,
):
    """Run the study's whole protocol, resumably, and report every claim with its test.

    Phases, in order: Table 1 (Gabor, GLCM and Haar features, CNN features,
    their fusions, and the fine-tuned CNN), Table 2 (the layer probe and its
    curve), Fig. 6 on ``target`` (no transfer, ImageNet, two-stage through
    ``source``, with learning curves), Table 3 (the study's backbones, or
    the offline stand-ins when their weights are missing), Fig. 6 the other
    way round (``source`` as the target, ``target`` as stage 1) and the
    up-sampling/augmentation ablation. Each phase is a table of the
    :class:`~skbreastcad.evaluation.Report` kind (``<output>/<phase>/``),
    saved as soon as its units are computed.

    Every unit of work (a feature extraction, a classifier on one fold, a
    network fine-tuned on one fold) writes its result into
    ``<output>/units/`` atomically when it ends. Calling again with the same
    ``output``, data and settings resumes: finished units are read back,
    never recomputed. The report is always assembled from those files, so a
    resumed run and an uninterrupted one write the same claims.

    Parameters
    ----------
    target : StudyData
        The data set of the tables (the study's MRI; here mini-MIAS ROIs).
    output : str or path-like
        The reproduction folder: new (created), empty, or one this function
        wrote before with the same data and settings (resumed).
    source : StudyData or None, default=None
        The second data set: stage 1 of the two-stage transfer to
        ``target``, and the target of the transfer the other way round.
        None runs no two-stage rows.
    mode : {{"quick", "full"}}, default="quick"
        See :func:`study_settings`. The report of a quick run says in its
        first line that its verdicts are not the study's test.
    settings : dict or None, default=None
        Changes to the mode's settings (see :func:`study_settings`).
    only : str or None, default=None
        A :func:`fnmatch.fnmatch` pattern: compute only the units whose names
        match (and the extractions they read), e.g. ``"*/fold0"`` to time one
        fold of every phase. Other units stay pending for a later call.
    {device}
    protect : sequence of path-like, default=()
        The input data: ``output`` may not be, hold or lie inside them.
    progress : bool or "lines", default=True
        Show a progress bar with the estimated time left (tqdm), from the mean
        time of the finished units of each kind, those of earlier runs
        included; ``"lines"``: one line per finished unit instead, for a log
        file; False: nothing.
    log : callable or None, default=None
        Called with a line of text for every phase report written (and every
        unit with ``progress="lines"``); None writes through the progress bar,
        or on standard error.

    Returns
    -------
    result : StudyReproduction
        The claims (one row per claim: both ROC AUCs with their intervals, the
        difference with its patient-bootstrap interval and p-value, DeLong's
        p-value and the verdict), the phase reports, the wall time per phase
        and the units still pending. ``<output>/REPRODUCTION.md`` and
        ``claims.json`` hold the same claims, ``timings.json`` the wall times.

    Raises
    ------
    ValueError
        For unknown settings, data no experiment can run on, an ``output``
        that is not a reproduction folder of this data and these settings (a
        user's folder, a file, the working directory, the data), or a folder
        another process is running.

    Examples
    --------
    Fine-tuning networks takes minutes, so the call is not run here:

    >>> from skbreastcad.datasets import make_phantoms
    >>> X, y = make_phantoms(60, image_size=40, random_state=0)[:2]
    >>> result = reproduce_study(StudyData(X, y, name="phantoms"), "reproduction",
    ...                          settings={{"backbone": "tiny_cnn"}})  # doctest: +SKIP
    >>> result.claims[["claim", "verdict"]]  # doctest: +SKIP
    """
    import fnmatch

    import pandas as pd

    from ..utils._tempdirs import try_lock

    s = study_settings(mode, **(settings or {}))
    check_reproduction(output, target, source, s, protect=protect)
    manifest = _manifest(target, source, s)
    out, resumed = _open_folder(output, manifest, protect)
    lock = try_lock(os.fspath(out / ".lock"), create=True)
    if lock is None:
        raise ValueError(
            f"Another process is running the reproduction in {out}: wait for it to end."
        )
    try:
        plan = _Plan(target, source, s, out, device)
        store = _Store(out)
        units = plan.ordered_units()
        wanted = set()
        for unit in units:
            if only is None or fnmatch.fnmatch(unit.name, only):
                wanted.update(plan._requires(unit.name))
        todo = [u for u in units if u.name in wanted and not store.done(u)]
        reports = {}

        from tqdm.auto import tqdm

        lines = progress == "lines"
        bar = tqdm(
            total=len(units),
            initial=sum(store.done(u) for u in units),
            desc="reproduce",
            unit="unit",
            disable=lines or not progress,
            dynamic_ncols=True,
        )
        if log is not None:
            say = log
        elif lines:

            def say(text):
                print(text, file=sys.stderr, flush=True)

        else:
            say = tqdm.write

        def refresh_postfix():
            left, unknown = _time_left([u for u in units if u.name in wanted], store)
            bar.set_postfix_str(_format_eta(left, unknown))
            return _format_eta(left, unknown)

        def finish_phases():
            for phase in plan.phases:
                if phase.name in reports:
                    continue
                if all(store.done(plan.units[n]) for n in phase.units):
                    report = _phase_report(phase, store, plan)
                    report.save(out / phase.name)
                    reports[phase.name] = report
                    say(f"{phase.title}: {out / phase.name / 'report.md'}")
                    write_report()

        def write_report():
            claims = _claims(plan, reports)
            pending = [u.name for u in units if not store.done(u)]
            timings = _timings(plan, store)
            _write_text(
                out / "claims.json", json.dumps({"mode": s["mode"], "claims": claims}, indent=2)
            )
            _write_text(out / "timings.json", json.dumps(timings, indent=2))
            _write_text(out / "REPRODUCTION.md", _render(plan, reports, claims, timings, pending))
            return claims, pending, timings

        from ..utils._faults import fault_point

        with bar:
            refresh_postfix()
            finish_phases()
            for unit in todo:
                bar.set_description(unit.name)
                start, cpu = time.perf_counter(), time.process_time()
                result = unit.run()
                seconds = round(time.perf_counter() - start, 3)
                # CPU seconds of all this process's threads: what the unit costs on an idle
                # machine, whatever the load it ran under
                store.save(unit, result, seconds, round(time.process_time() - cpu, 3))
                # tests kill the run here, after a unit is safely written
                fault_point(f"reproduce:{unit.name}")
                bar.update(1)
                eta = refresh_postfix()
                if lines:
                    done = sum(store.done(u) for u in units)
                    say(f"[{done}/{len(units)}] {unit.name}: {seconds:.1f} s; {eta}")
                finish_phases()
        claims, pending, timings = write_report()
        return StudyReproduction(out, pd.DataFrame(claims), reports, timings, pending)
    finally:
        os.close(lock)
