"""PCL's E-step: faiss k-means against scikit-learn's KMeans.

One E-step clustering is k-means on the momentum features, each point's
nearest centroid and squared distance, and the concentration `phi`. It is
timed here on synthetic 128-d unit-norm features (a mixture of 200
Gaussian blobs on the sphere, like normalised embeddings) at each `n`,
with the same `k` and at most the same Lloyd iterations for both
engines, each with its default thread count and with one thread: faiss
`Clustering` as PCL's official code sets it (niter 20, nredo 5, seeded),
and five `sklearn.cluster.KMeans(init="random", n_init=1, max_iter=20,
tol=0)` runs keeping the best (Lloyd), which stop early once no label
changes, so their iterations are counted. All engines run one after the
other in one process. Reported per `n`: seconds per E-step and the ratio
to faiss, the Lloyd iterations run, the time per iteration and its ratio
to faiss (the comparison at equal iterations), and the k-means objective
(mean squared distance; lower is better).

    python benchmarks/pcl_estep.py [--sizes 10000 100000] [--k 100]
        [--repeats 1] [--output results.json]
"""

import argparse
import time

import numpy as np
from report import write_report

from keras_ssl.representation.pcl import concentration
from keras_ssl.representation.pcl import faiss_kmeans


def features(n, d, seed):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(200, d))
    x = centres[rng.integers(0, 200, n)] + 0.8 * rng.normal(size=(n, d))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype("float32")


def faiss_estep(x, k, threads):
    _, assignments, squared = faiss_kmeans(x, k, seed=0, num_threads=threads)
    concentration(squared, assignments, k)
    return float(np.mean(squared)), 5 * 20


def sklearn_estep(x, k, threads=None):
    from threadpoolctl import threadpool_limits

    with threadpool_limits(threads):
        return _sklearn_estep(x, k)


def _sklearn_estep(x, k):
    # nredo 5 = 5 single-init runs, keep the best (as faiss does); count
    # the Lloyd iterations each really ran.
    from sklearn.cluster import KMeans

    best, iterations = None, 0
    for seed in range(5):
        kmeans = KMeans(
            k, init="random", n_init=1, max_iter=20, tol=0.0, random_state=seed
        ).fit(x)
        iterations += int(kmeans.n_iter_)
        if best is None or kmeans.inertia_ < best.inertia_:
            best = kmeans
    squared = np.min(best.transform(x), axis=1) ** 2
    concentration(squared, best.labels_, k)
    return float(np.mean(squared)), iterations


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10000, 100000])
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--output", default=None)
    args = parser.parse_args()

    engines = {
        "faiss": lambda x: faiss_estep(x, args.k, None),
        "faiss_1_thread": lambda x: faiss_estep(x, args.k, 1),
        "sklearn": lambda x: sklearn_estep(x, args.k),
        "sklearn_1_thread": lambda x: sklearn_estep(x, args.k, 1),
    }
    rows = []
    for n in args.sizes:
        x = features(n, args.dim, seed=n)
        times = {name: [] for name in engines}
        results = {}
        for _ in range(args.repeats):
            for name, run in engines.items():
                start = time.perf_counter()
                results[name] = run(x)
                times[name].append(time.perf_counter() - start)
        medians = {name: float(np.median(t)) for name, t in times.items()}
        for name, seconds in medians.items():
            rows.append(
                {
                    "n": n,
                    "k": args.k,
                    "engine": name,
                    "seconds": round(seconds, 3),
                    "vs_faiss": round(seconds / medians["faiss"], 2),
                    "objective": round(results[name][0], 5),
                    "iterations": results[name][1],
                    "ms_per_iteration": round(
                        1000 * seconds / results[name][1], 2
                    ),
                    "per_iteration_vs_faiss": round(
                        (seconds / results[name][1])
                        / (medians["faiss"] / results["faiss"][1]),
                        2,
                    ),
                }
            )
    header = ("n", "engine", "seconds", "vs faiss", "iter", "ms/iter", "vs")
    print("{:>7} {:<15} {:>9} {:>9} {:>5} {:>9} {:>6}".format(*header))
    for r in rows:
        print(
            f"{r['n']:>7} {r['engine']:<15} {r['seconds']:>9.3f} "
            f"{r['vs_faiss']:>9.2f} {r['iterations']:>5} "
            f"{r['ms_per_iteration']:>9.2f} {r['per_iteration_vs_faiss']:>6.2f}"
        )
    if args.output:
        write_report(
            args.output,
            "pcl_estep",
            rows,
            dim=args.dim,
            repeats=args.repeats,
            niter=20,
            nredo=5,
        )


if __name__ == "__main__":
    main()
