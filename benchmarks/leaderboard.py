"""One leaderboard per family: every registered method, same data, 3 seeds.

Trains every method of `--family` registered in `keras_ssl.catalog` on
the bundled data with its recipe's defaults (`keras_ssl.run.train`), one
run directory per (method, seed) under `--runs-dir`, then compares them
(`keras_ssl.evaluation.run_comparison.RunComparison`) and writes
`docs/leaderboard_<family>.md` (the table, the command that made it and
the machine) and `docs/figures/leaderboard_<family>.png` (the family's
figure).

It resumes: a run directory holding `run.json` is finished and reused,
never retrained; one holding only `args.json` was interrupted and is
continued with `resume=True`. Runs go one after the other, seed by seed,
so an interrupted generation has whole seeds first.

    python benchmarks/leaderboard.py --family uncertainty --seeds 0 1 2
        [--runs-dir runs/leaderboard] [--dataset digits]
        [--methods softmax duq] [--docs docs] [--no-train]
"""

import argparse
import os
import platform
import shlex
import sys
import time

from keras_ssl.catalog import CATALOG

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def family_methods(family, dataset):
    """The registered methods of `family` that train on `dataset`."""
    methods = sorted(
        name
        for name, (method_family, _, datasets) in CATALOG.items()
        if method_family == family and dataset in datasets
    )
    if not methods:
        families = sorted({entry[0] for entry in CATALOG.values()})
        raise ValueError(
            f"family (--family) {family!r} has no method training on "
            f"{dataset!r}; families: {', '.join(families)}"
        )
    return methods


def run_dir(runs_dir, method, seed):
    """Where the run of `method` with `seed` lives."""
    return os.path.join(runs_dir, method, f"seed{seed}")


def train_missing(runs_dir, methods, seeds, dataset, train=True):
    """Trains the runs not finished yet; returns every finished run dir."""
    from keras_ssl import run

    finished = []
    for seed in seeds:
        for method in methods:
            path = run_dir(runs_dir, method, seed)
            if os.path.exists(os.path.join(path, run.RUN_FILE)):
                finished.append(path)
                continue
            if not train:
                print(f"leaderboard: {path} is not finished; skipped")
                continue
            resume = os.path.exists(os.path.join(path, run.ARGS_FILE))
            print(
                f"leaderboard: {'resuming' if resume else 'training'} "
                f"{method} seed {seed} into {path}",
                flush=True,
            )
            start = time.time()
            run.train(
                method,
                path,
                dataset=dataset,
                seed=seed,
                resume=resume,
                verbose=0,
                quiet=True,
            )
            print(
                f"leaderboard: {method} seed {seed} done in "
                f"{time.time() - start:.0f} s",
                flush=True,
            )
            finished.append(path)
    return finished


def write_leaderboard(family, run_dirs, docs_dir, command):
    """Writes the markdown table and the figure; returns their paths."""
    from keras_ssl.evaluation.run_comparison import RunComparison

    comparison = RunComparison(run_dirs)
    figures = os.path.join(docs_dir, "figures")
    os.makedirs(figures, exist_ok=True)
    figure = os.path.join(figures, f"leaderboard_{family}.png")
    comparison.plot(figure)
    markdown = os.path.join(docs_dir, f"leaderboard_{family}.md")
    seeds = sorted({r["seed"] for r in comparison.records})
    lines = [
        f"# Leaderboard: {family}",
        "",
        f"The registered {family} methods "
        f"({', '.join(sorted({r['method'] for r in comparison.records}))}) "
        f"trained on `{comparison.split['dataset']}` with their recipes' "
        "defaults, seeds "
        f"{', '.join(map(str, seeds))}; each cell is the mean over seeds "
        "[min, max]. `wall_seconds` is the training time of one run "
        "(`fit`, plus the runs its recipe trains first, such as Gram's "
        "classifier; not the evaluation), measured on a shared, loaded "
        "machine: read orders of magnitude, not percentages.",
        "",
        comparison.to_markdown(),
        "",
        f"![{family} leaderboard](figures/leaderboard_{family}.png)",
        "",
        "Made with:",
        "",
        "```",
        command,
        "```",
        "",
        f"Machine: {platform.platform()}, {os.cpu_count()} CPU cores "
        f"(shared), Python {platform.python_version()}, "
        + ", ".join(
            f"{name} {version}"
            for name, version in comparison.versions().items()
            if name != "python"
        )
        + ".",
        "",
    ]
    with open(markdown, "w") as f:
        f.write("\n".join(lines))
    return markdown, figure


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--runs-dir", default=os.path.join("runs", "leaderboard")
    )
    parser.add_argument("--dataset", default="digits")
    parser.add_argument(
        "--methods", nargs="+", help="default: every method of the family"
    )
    parser.add_argument("--docs", default=os.path.join(ROOT, "docs"))
    parser.add_argument(
        "--no-train",
        action="store_true",
        help="only compare the finished runs already in --runs-dir",
    )
    args = parser.parse_args(argv)
    try:
        methods = family_methods(args.family, args.dataset)
        unknown = sorted(set(args.methods or ()) - set(methods))
        if unknown:
            raise ValueError(
                f"--methods {', '.join(unknown)}: not {args.family} methods "
                f"training on {args.dataset} ({', '.join(methods)})"
            )
        methods = args.methods or methods
        start = time.time()
        run_dirs = train_missing(
            args.runs_dir,
            methods,
            args.seeds,
            args.dataset,
            train=not args.no_train,
        )
        if not run_dirs:
            raise ValueError(f"no finished run in {args.runs_dir}")
        command = "python benchmarks/leaderboard.py " + " ".join(
            shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv)
        )
        paths = write_leaderboard(args.family, run_dirs, args.docs, command)
    except ValueError as error:
        parser.exit(2, f"leaderboard: error: {error}\n")
    print(
        f"leaderboard: {len(run_dirs)} runs in {time.time() - start:.0f} s; "
        f"wrote {' and '.join(paths)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
