"""The registered methods by name, readable without TensorFlow.

`keras-ssl list` prints this table, and `keras-ssl train` checks the
method and dataset names against it before TensorFlow is imported, so a
typo costs a fraction of a second. `tests/recipes/test_recipes.py`
checks that it matches the recipes (`keras_ssl.recipes.RECIPES`) entry
for entry, so the two cannot drift apart: a new recipe adds its line here.
"""

# name: (family, paper, datasets)
CATALOG = {
    "aet": (
        "representation",
        "Zhang et al., CVPR 2019 (AET)",
        ("digits",),
    ),
    "belief_matching": (
        "uncertainty",
        "Joo et al., ICML 2020 (Belief Matching)",
        ("digits", "two_moons"),
    ),
    "ds3l": (
        "semi_supervised",
        "Guo et al., ICML 2020 (DS3L)",
        ("digits",),
    ),
    "duq": (
        "uncertainty",
        "van Amersfoort et al., ICML 2020 (DUQ)",
        ("digits", "two_moons"),
    ),
    "flowgmm": (
        "semi_supervised",
        "Izmailov et al., ICML 2020 (FlowGMM)",
        ("two_moons", "wine", "breast_cancer", "digits"),
    ),
    "gram": (
        "uncertainty",
        "Sastry & Oore, ICML 2020 (Gram matrices)",
        ("digits",),
    ),
    "lens": (
        "representation",
        "Minderer et al., ICML 2020 (automatic shortcut removal)",
        ("shortcut_digits", "digits"),
    ),
    "moco": (
        "representation",
        "He et al., CVPR 2020 (MoCo v1, the base of PCL)",
        ("digits",),
    ),
    "nat": (
        "representation",
        "Bojanowski & Joulin, ICML 2017 (Noise As Targets)",
        ("digits",),
    ),
    "ns3l": (
        "semi_supervised",
        "Chen, Shah & Kyrillidis, ICML 2020 (NS3L)",
        ("digits",),
    ),
    "pcl": (
        "representation",
        "Li et al., ICLR 2021 (Prototypical Contrastive Learning)",
        ("digits",),
    ),
    "pga": (
        "generative",
        "Zhang et al., ICML 2020 (PGA)",
        ("digits",),
    ),
    "rotnet": (
        "representation",
        "Gidaris et al., ICLR 2018 (RotNet)",
        ("shortcut_digits", "digits"),
    ),
    "sdenet": (
        "uncertainty",
        "Kong et al., ICML 2020 (SDE-Net)",
        ("digits", "two_moons"),
    ),
    "sla": (
        "supervised",
        "Lee et al., ICML 2020 (self-supervised label augmentation)",
        ("digits",),
    ),
    "softmax": (
        "uncertainty",
        "Hendrycks & Gimpel, ICLR 2017 (softmax baseline)",
        ("digits", "two_moons"),
    ),
    "tsme": (
        "semi_supervised",
        "Sajjadi et al., NIPS 2016 (TS+ME)",
        ("digits",),
    ),
}


def check_names(method, dataset=None):
    """A clear error for an unknown method, or a dataset it cannot use."""
    if method not in CATALOG:
        raise ValueError(
            f"unknown method {method!r}; known methods: "
            f"{', '.join(sorted(CATALOG))} (see `keras-ssl list`)"
        )
    datasets = CATALOG[method][2]
    if dataset is not None and dataset not in datasets:
        raise ValueError(
            f"{method} does not train on dataset {dataset!r}; choose one "
            f"of: {', '.join(datasets)}"
        )
