"""A reproduction's phase reports, its claims (estimate, CI, paired tests, verdict) and their Markdown."""

import json

import numpy as np

from ._common import ExperimentReport
from ._study_settings import QUICK_BANNER


# -- the phase reports ----------------------------------------------------------------------
class _LayerProbeReport(ExperimentReport):
    """A layer probe's report with its layer curve: ROC AUC with its CI against depth."""

    def _figures(self, folder):
        figures = super()._figures(folder)
        from ..plotting._base import _finish, _new_figure

        r = self.results[self.results["metric"] == "roc_auc"]
        order = {c: i for i, c in enumerate(self.candidates)}
        r = r.sort_values("candidate", key=lambda s: s.map(order))
        fig = _new_figure((7, 4), 110)
        ax = fig.add_subplot(1, 1, 1)
        x = np.arange(len(r))
        est = r["estimate"].to_numpy(float)
        low, high = r["ci_low"].to_numpy(float), r["ci_high"].to_numpy(float)
        ax.plot(x, est, marker="o")
        ax.fill_between(x, low, high, alpha=0.2)
        ax.set_xticks(x)
        ax.set_xticklabels(r["candidate"], rotation=45, ha="right", fontsize=8)
        ax.set_ylabel("ROC AUC (95% CI)")
        ax.set_xlabel("probed layer, shallow to deep")
        _finish(fig, folder / "layer_curve.png")
        figures["layer_curve.png"] = (
            "The layer curve: ROC AUC of a logistic regression on each layer's pooled "
            "features, shallow to deep, with its patient-bootstrap 95% interval."
        )
        return figures


def _phase_report(phase, store, plan):
    import pandas as pd

    from ..evaluation import evaluate_predictions

    data, s = phase.data, plan.settings
    frames, curves = [], []
    for label, fold_units in phase.candidates.items():
        for k, name in enumerate(fold_units):
            record = store.load(plan.units[name])
            test = np.asarray(record["test"], dtype=int)
            frames.append(
                pd.DataFrame(
                    {
                        "sample": test,
                        "group": data.groups[test] if data.groups is not None else test,
                        "fold": k,
                        "candidate": label,
                        "y_true": data.y[test].astype(int),
                        "score": np.asarray(record["score"], dtype=float),
                        "y_pred": np.asarray(record["y_pred"], dtype=int),
                    }
                )
            )
            for row in record.get("history", []):
                curves.append({"candidate": label, "fit": k, **row})
    predictions = pd.concat(frames, ignore_index=True)
    predictions["candidate"] = pd.Categorical(
        predictions["candidate"], categories=list(phase.candidates)
    )
    owners = plan.owner()
    seconds = sum(store.seconds(plan.units[n]) for n in phase.units if owners[n] == phase.name)
    report = evaluate_predictions(
        predictions,
        n_boot=s["n_boot"],
        random_state=s["seed"],
        config={
            "experiment": f"reproduce_study:{phase.name}",
            "settings": s,
            "data": data.describe(),
            "data_fingerprint": data.fingerprint(),
        },
        timings={"units_s": seconds},
        title=phase.title,
    )
    frame = None
    if phase.curves and curves:
        frame = pd.DataFrame(
            curves, columns=["candidate", "stage", "fit", "epoch", "train_loss", "valid_loss"]
        )
        frame["valid_loss"] = frame["valid_loss"].astype(float)
    cls = _LayerProbeReport if phase.layer_curve else ExperimentReport
    return cls.from_report(report, notes=[*plan.notes_for(phase)], curves=frame)


# -- the claims -----------------------------------------------------------------------------
def _claim(text, reports, phase, better, worse, settings, note=""):
    from ..evaluation import delong_test, paired_bootstrap_test

    row = {
        "claim": text,
        "phase": phase,
        "better": better,
        "worse": worse,
        "auc_better": None,
        "auc_worse": None,
        "difference": None,
        "ci_low": None,
        "ci_high": None,
        "p_bootstrap": None,
        "p_delong": None,
        "verdict": "pending",
        "note": note,
    }
    report = reports.get(phase)
    if report is None:
        return row
    p = report.predictions
    candidates = set(p["candidate"].astype(str))
    if better not in candidates or worse not in candidates:
        row["verdict"] = "not run"
        return row

    def aligned(candidate):
        rows = p[p["candidate"].astype(str) == candidate].sort_values("sample")
        return rows

    a, b = aligned(better), aligned(worse)
    y = a["y_true"].to_numpy(int)
    groups = a["group"].to_numpy()
    scores = np.vstack([a["score"].to_numpy(float), b["score"].to_numpy(float)])
    boot = paired_bootstrap_test(
        y, scores=scores, groups=groups, n_boot=settings["n_boot"], random_state=settings["seed"]
    )
    delong = delong_test(y, scores[0], scores[1])
    r = report.results[report.results["metric"] == "roc_auc"].set_index("candidate")

    def auc(candidate):
        e, lo, hi = r.loc[candidate, ["estimate", "ci_low", "ci_high"]]
        return [round(float(e), 4), round(float(lo), 4), round(float(hi), 4)]

    diff, low, high = boot["difference"], boot["ci_low"], boot["ci_high"]
    if diff == 0:
        verdict = "no difference"
    elif diff > 0 and low > 0:
        verdict = "holds"
    elif diff > 0:
        verdict = "same direction, not significant"
    elif high < 0:
        verdict = "reversed (significant)"
    else:
        verdict = "reversed, not significant"
    degenerate = [c for c, rows in ((better, a), (worse, b)) if rows["y_pred"].nunique() == 1]
    if degenerate:
        flag = "degenerate: " + ", ".join(degenerate) + " predict(s) one class for every sample"
        row["note"] = f"{note}; {flag}" if note else flag
    row.update(
        auc_better=auc(better),
        auc_worse=auc(worse),
        difference=round(float(diff), 4),
        ci_low=round(float(low), 4),
        ci_high=round(float(high), 4),
        p_bootstrap=float(f"{boot['pvalue']:.3g}"),
        p_delong=float(f"{delong.pvalue:.3g}"),
        verdict=verdict,
    )
    return row


def _claims(plan, reports):
    from scipy.stats import spearmanr

    s, t = plan.settings, plan.target
    rows = []
    features = reports.get("features")
    hand = list(s["hand_crafted"])
    # named once Table 1 is computed
    best_hand = "best of " + ", ".join(hand)
    if features is not None:
        r = features.results[features.results["metric"] == "roc_auc"].set_index("candidate")
        best_hand = max(hand, key=lambda h: r.loc[h, "estimate"])
    chosen = "the best hand-crafted set by ROC AUC"
    rows.append(
        _claim(
            "CNN features beat hand-crafted ones",
            reports,
            "features",
            "cnn",
            best_hand,
            s,
            f"{plan.backbone} features; {chosen}",
        )
    )
    rows.append(
        _claim(
            "a fine-tuned CNN beats hand-crafted features",
            reports,
            "features",
            f"{plan.backbone} fine-tuned",
            best_hand,
            s,
            chosen,
        )
    )
    for h in hand:
        rows.append(
            _claim(
                f"fusion helps the hand-crafted features ({h})",
                reports,
                "features",
                f"cnn+{h}",
                h,
                s,
            )
        )
    from ._layers import _layer_label

    first, last = (
        _layer_label(plan.backbone, layer) for layer in (plan.layers[0], plan.layers[-1])
    )
    note = ""
    layers = reports.get("layers")
    if layers is not None:
        r = layers.results[layers.results["metric"] == "roc_auc"]
        aucs = [float(r[r["candidate"] == c]["estimate"].iloc[0]) for c in layers.candidates]
        rho = spearmanr(np.arange(len(aucs)), aucs)
        note = (
            f"Spearman rho(depth, AUC) over {len(aucs)} layers = {rho.statistic:.2f} "
            f"(p = {rho.pvalue:.2g})"
        )
    text = "deeper layers are better" + ("" if plan.backbone == "vgg16" else f" ({plan.backbone})")
    rows.append(_claim(text, reports, "layers", last, first, s, note))
    study = list(s["study_backbones"])
    if plan.missing:
        rows.append(
            {
                **_claim(" > ".join(study), {}, "backbones", study[0], study[-1], s),
                "verdict": "not tested offline",
                "note": plan.table3_note,
            }
        )
    else:
        mode = "fine-tuned" if "fine_tuned" in s["table3_modes"] else "features"
        for better, worse in zip(study, study[1:]):
            rows.append(
                _claim(
                    f"{better} > {worse}",
                    reports,
                    "backbones",
                    f"{better} {mode}",
                    f"{worse} {mode}",
                    s,
                )
            )
    directions = [(t, plan.source)] + ([(plan.source, t)] if plan.source is not None else [])
    b = plan.backbone
    for data, source in directions:
        phase = f"transfer_{data.name}"
        if plan.weights is None:
            rows.append(
                {
                    **_claim(f"transfer beats none ({data.name})", {}, phase, "", "", s),
                    "verdict": "not tested",
                    "note": f"{b} has no ImageNet weights",
                }
            )
        else:
            rows.append(
                _claim(
                    f"transfer beats none ({data.name})",
                    reports,
                    phase,
                    f"{b} / imagenet",
                    f"{b} / none",
                    s,
                )
            )
        if source is not None:
            rows.append(
                _claim(
                    f"two-stage beats one-stage ({source.name} -> {data.name})",
                    reports,
                    phase,
                    f"{b} / two_stage",
                    f"{b} / {plan.one_stage}",
                    s,
                    ""
                    if plan.one_stage == "imagenet"
                    else f"one-stage is 'none': {b} has no ImageNet weights",
                )
            )
    return rows


# -- rendering ------------------------------------------------------------------------------
def _fmt_auc(v):
    return "" if v is None else f"{v[0]:.3f} [{v[1]:.2f}, {v[2]:.2f}]"


def _claims_markdown(rows):
    from ..evaluation._render import md_escape

    head = (
        "| claim | better | worse | ROC AUC better [95% CI] | ROC AUC worse [95% CI] | "
        "difference [patient-bootstrap 95% CI] | p (paired bootstrap) | p (DeLong) | verdict |"
    )
    lines = [head, "|" + "---|" * 9]
    for r in rows:
        diff = (
            ""
            if r["difference"] is None
            else f"{r['difference']:+.3f} [{r['ci_low']:+.3f}, {r['ci_high']:+.3f}]"
        )
        cells = [
            r["claim"],
            r["better"],
            r["worse"],
            _fmt_auc(r["auc_better"]),
            _fmt_auc(r["auc_worse"]),
            diff,
            "" if r["p_bootstrap"] is None else f"{r['p_bootstrap']:.3g}",
            "" if r["p_delong"] is None else f"{r['p_delong']:.3g}",
            f"**{r['verdict']}**",
        ]
        lines.append(
            "| " + " | ".join(md_escape(c) if i < 8 else c for i, c in enumerate(cells)) + " |"
        )
    notes = [(r["claim"], r["note"]) for r in rows if r["note"]]
    if notes:
        lines += ["", "Notes:", ""]
        lines += [f"- {md_escape(c)}: {md_escape(n)}" for c, n in notes]
    return "\n".join(lines)


_FIGURES = {
    "features": "Table 1 (feature sets, fusions, fine-tuned CNN)",
    "layers": "Table 2 with the layer curve (`layer_curve.png`)",
    "backbones": "Table 3 (backbones)",
    "ablation": "ablations (up-sampling, augmentation)",
}


def _render(plan, reports, claims, timings, pending):
    s = plan.settings
    lines = []
    if s["mode"] == "quick":
        lines += [QUICK_BANNER, ""]
    lines += ["# Reproduction of the study's claims", ""]
    data = plan.target.describe() + (
        f"; {plan.source.describe()}" if plan.source is not None else "; no source data set"
    )
    lines += [
        f"Data: {data}. Mode `{s['mode']}`: {s['cv']}-fold cross-validation (patient-grouped "
        f"where the data has patients), {s['n_boot']} bootstrap resamples (of patients), "
        f"seed {s['seed']}. Each claim compares two rows of one table, scored on the same "
        "images: ROC AUC of each with its 95% interval; their difference with the paired "
        "patient-bootstrap 95% interval and p-value; DeLong's paired test. The verdict "
        "reads the bootstrap interval of the difference.",
        "",
    ]
    if pending:
        lines += [
            f"**Incomplete: {len(pending)} units of work are not computed yet** (rerun the same "
            "command to continue); rows marked `pending` wait for them.",
            "",
        ]
    lines += ["## Claims", "", _claims_markdown(claims), ""]
    lines += ["## What ran instead", ""]
    lines += [f"- {n}" for n in plan.notes] or ["- nothing: every backbone ran with its weights"]
    lines += ["", "## Tables and figures", ""]
    for phase in plan.phases:
        what = _FIGURES.get(phase.name) or (
            phase.title.split(" (the study")[0]
            + ": the study's Fig. 6, with the learning curves (`learning_curves.png`)"
        )
        if phase.name in reports:
            lines.append(f"- {what}: [{phase.name}/report.md]({phase.name}/report.md)")
        else:
            lines.append(f"- {what}: pending")
    lines += ["", "## Settings", "", "```json", json.dumps(s, indent=2), "```", ""]
    lines += _timings_markdown(timings)
    return "\n".join(lines) + "\n"


#: everything below this heading varies from run to run (it is measured)
TIMINGS_HEADING = "## Wall time per phase"


def _timings_markdown(timings):
    lines = [
        TIMINGS_HEADING,
        "",
        "Seconds of computation summed over the phase's units, in whichever runs computed "
        "them (a unit shared by several tables counts in the first).",
        "",
        "| phase | units | computed | wall seconds | wall hours | CPU seconds |",
        "|---|---|---|---|---|---|",
    ]
    for phase, t in timings.items():
        lines.append(
            f"| {phase} | {t['units']} | {t['done']} | {t['seconds']:.0f} | "
            f"{t['seconds'] / 3600:.2f} | {t['cpu_seconds']:.0f} |"
        )
    return lines + [""]


def _timings(plan, store):
    owners = plan.owner()
    out = {}
    for phase in plan.phases:
        own = [plan.units[n] for n in phase.units if owners[n] == phase.name]
        done = [u for u in own if store.done(u)]
        cpu = [store.seconds(u, "cpu_seconds") for u in done]
        out[phase.name] = {
            "units": len(own),
            "done": len(done),
            "seconds": round(sum(store.seconds(u) for u in done), 1),
            # NaN-free sum over the units that recorded it (older units did not)
            "cpu_seconds": round(float(np.nansum(cpu)), 1),
        }
    return out


def _time_left(units, store):
    """Seconds left, from the mean time of the finished units of each kind; None if unknown."""
    done, left = {}, {}
    for unit in units:
        if store.done(unit):
            done.setdefault(unit.kind, []).append(store.seconds(unit))
        else:
            left[unit.kind] = left.get(unit.kind, 0) + 1
    total, unknown = 0.0, 0
    for kind, n in left.items():
        if kind in done:
            total += n * float(np.mean(done[kind]))
        else:
            unknown += n
    return total, unknown


def _format_eta(seconds, unknown):
    text = f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min"
    return f"left ~{text}" + (f" + {unknown} units not yet timed" if unknown else "")
