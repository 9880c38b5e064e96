"""
The whole-film detector on a CBIS-DDSM film
===========================================

:class:`~skbreastcad.detection.FilmLesionDetector` is trained on whole films and their lesion
annotations: windows at several scales around each lesion, negatives from the breast, and
rounds of hard negatives mined from the training films only. Here it learns from a single
CBIS-DDSM film and ranks candidate lesions on the other. One training film is far too little
to learn from, and two films give a picture, not a score: the example prints whether the
annotated mass is among the best candidates, whatever the answer (the FROC tables of the
mini-MIAS subset are in the benchmarks section).

The films are CBIS-DDSM (Lee et al., "A curated mammography data set for use in
computer-aided detection and diagnosis research", Scientific Data 4:170177, 2017; The Cancer
Imaging Archive, CC BY 3.0), read from ``../shared/data/cbis_ddsm_sample`` beside the
repository. Where that folder is absent the example says so and stops.
"""

# %%
import os
from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.patches import Circle

from skbreastcad.detection import FilmLesionDetector, cbis_sample_detection_data, evaluate_froc

shared = Path(os.environ.get("SKBREASTCAD_SHARED_DATA", Path.cwd().parents[1] / "shared" / "data"))
folder = shared / "cbis_ddsm_sample" / "png_copies"
if not folder.is_dir():
    print(f"{folder} is not here: this example needs the CBIS-DDSM sample of ../shared/data.")
else:
    films, lesions = cbis_sample_detection_data(folder)
    train, test = films.iloc[[1]], films.iloc[[0]]
    detector = FilmLesionDetector(scales=(4, 8), view="CC", negatives_per_film=100)
    result = evaluate_froc(
        test, lesions, detector, train_films=train, train_lesions=lesions, n_bootstraps=0
    )
    candidates = result.candidates.sort_values("score", ascending=False)
    print(candidates.head(5).to_string(index=False))
    mass = lesions[lesions["film"] == test["film"].iloc[0]].iloc[0]
    distance = (
        (candidates["row"] - mass["row"]) ** 2 + (candidates["col"] - mass["col"]) ** 2
    ) ** 0.5
    hits = (distance.to_numpy() <= max(mass["radius"], 10)).nonzero()[0]
    rank = f"rank {hits[0] + 1} of {len(candidates)}" if len(hits) else "no candidate"
    print(f"the annotated mass: {rank} (centre-in-circle rule)")

    image = test["image"].iloc[0]
    fig, ax = plt.subplots(figsize=(5, 7))
    ax.imshow(image, cmap="gray")
    for _, lesion in lesions[lesions["film"] == test["film"].iloc[0]].iterrows():
        ax.add_patch(
            Circle((lesion["col"], lesion["row"]), lesion["radius"], fill=False, ec="lime")
        )
    for rank, (_, c) in enumerate(candidates.head(3).iterrows(), start=1):
        ax.add_patch(Circle((c["col"], c["row"]), c["radius"], fill=False, ec="red", ls="--"))
        ax.text(c["col"] + c["radius"], c["row"], f"{rank}: {c['score']:.2f}", color="red")
    ax.set_title("Green: annotated mass; red: the three best candidates")
    ax.axis("off")
    fig.text(0.01, 0.01, "CBIS-DDSM (Lee et al. 2017, TCIA, CC BY 3.0)", fontsize=7)
    fig.tight_layout()
