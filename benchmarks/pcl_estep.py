"""PCL's E-step: faiss k-means against scikit-learn's KMeans.

One E-step clustering is k-means on the momentum features, each point's
nearest centroid and squared distance, and the concentration `phi`. It is
timed here on synthetic 128-d unit-norm features (a mixture of 200
Gaussian blobs on the sphere, like normalised embeddings) at each `n`,
with the same `k` and the same number of Lloyd iterations for both
engines: faiss `Clustering` as PCL's official code sets it (niter 20,
nredo 5, seeded) with its default thread count and with one thread, and
`sklearn.cluster.KMeans(init="random", n_init=5, max_iter=20, tol=0,
algorithm="lloyd")`, which may stop a run early once no label changes
(its `n_iter_` is reported). All engines run one after the other in one
process. Reported per `n`: seconds per E-step, the ratio to faiss, and
the k-means objective (mean squared distance; lower is better).

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
    return float(np.mean(squared)), 20


def sklearn_estep(x, k):
    from sklearn.cluster import KMeans

    kmeans = KMeans(
        k, init="random", n_init=5, max_iter=20, tol=0.0, random_state=0
    ).fit(x)
    squared = np.min(kmeans.transform(x), axis=1) ** 2
    concentration(squared, kmeans.labels_, k)
    return float(np.mean(squared)), int(kmeans.n_iter_)


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
                    "iterations_last_run": results[name][1],
                }
            )
    header = ("n", "k", "engine", "seconds", "vs faiss", "objective", "iter")
    print("{:>7} {:>5} {:<15} {:>9} {:>9} {:>10} {:>5}".format(*header))
    for r in rows:
        print(
            f"{r['n']:>7} {r['k']:>5} {r['engine']:<15} {r['seconds']:>9.3f} "
            f"{r['vs_faiss']:>9.2f} {r['objective']:>10.5f} "
            f"{r['iterations_last_run']:>5}"
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
