"""How much of a NAT step is the Hungarian assignment?

For each batch size the same NAT model (digits at 16x16, small CNN) is
timed with reassignment on (`reassign_every=1`, so every step solves a
`b x b` assignment with scipy) and off (`reassign_every=0`), interleaved
in one process so both see the same machine. The solver is also timed
alone on random scores of the same size. Reported per batch size:

- `step_on_ms`, `step_off_ms`: median step time (ms) with and without;
- `assignment_share`: `(on - off) / on`, the share of a reassigning step
  spent on the assignment (solver plus the score matrix and table update);
- `solver_ms`: median `linear_sum_assignment` time alone on the batch's
  real score matrix; `solver_random_scores_ms` on random scores.

With `--table-samples N` it also times the table update at ImageNet
scale (synthetic: N targets, random 16x16 images, batch 256), side by
side for NAT as it is (only the rows a step changes are scattered) and
for the earlier update that all-gathered and rewrote the whole table on
every step, in a reassigning and in a non-reassigning epoch
(`table_rows`).

    python benchmarks/nat_assignment.py [--batch-sizes 128 256 1024]
        [--steps 20] [--preset narrow] [--table-samples 1200000]
        [--output results.json]
"""

import argparse
import time

import keras
import numpy as np
import tensorflow as tf
from report import write_report

import keras_ssl
from keras_ssl.representation.nat import assign_targets


def build(x, reassign_every, preset):
    keras.utils.set_random_seed(0)
    encoder = keras_ssl.backbones.small_cnn(x.shape[1:], preset=preset)
    model = keras_ssl.representation.NAT(
        encoder,
        num_samples=len(x),
        target_dim=32,
        reassign_every=reassign_every,
    )
    model.compile(optimizer=keras.optimizers.SGD(0.01))
    return model


class FullTableNAT(keras_ssl.representation.NAT):
    """The earlier table update: rewrite all num_samples rows every step."""

    def update_assignment(self, index, owned, new_owned):
        from keras import ops

        from keras_ssl.core import all_gather

        self.assignment.assign(
            ops.scatter_update(
                self.assignment,
                ops.expand_dims(all_gather(index), -1),
                all_gather(new_owned),
            )
        )


def table_rows(num_samples, steps, batch_size=256):
    """Median step ms at `num_samples` targets: row update vs full table."""
    rng = np.random.default_rng(0)
    x = rng.random((batch_size, 16, 16, 1)).astype("float32")
    index = rng.choice(num_samples, size=batch_size, replace=False)
    rows = []
    for epoch, label in ((0, "reassigning"), (1, "not reassigning")):
        models = {}
        for name, cls in (
            ("rows", keras_ssl.representation.NAT),
            ("full", FullTableNAT),
        ):
            keras.utils.set_random_seed(0)
            model = cls(
                keras_ssl.backbones.small_cnn((16, 16, 1), preset="narrow"),
                num_samples=num_samples,
                target_dim=32,
                reassign_every=3,
            )
            model.compile(optimizer=keras.optimizers.SGD(0.01))
            model(x[:1])
            model.epoch.assign(epoch)
            models[name] = model
        times = {"rows": [], "full": []}
        for step in range(steps + 3):
            for name, model in models.items():
                start = time.perf_counter()
                model.train_on_batch(x, index)
                if step >= 3:  # after tracing and warm-up
                    times[name].append(time.perf_counter() - start)
        rows_ms = 1000 * float(np.median(times["rows"]))
        full_ms = 1000 * float(np.median(times["full"]))
        # The table update alone, on the step's indices (a permutation of
        # the batch's targets when reassigning, unchanged otherwise).
        owned = tf.gather(models["rows"].assignment, index)
        new = tf.reverse(owned, [0]) if epoch == 0 else owned
        update = {
            name: tf.function(
                lambda m=model, o=owned, n=new: m.update_assignment(index, o, n)
            )
            for name, model in models.items()
        }
        update_ms = {
            name: median_ms(function, steps)
            for name, function in update.items()
        }
        rows.append(
            {
                "num_samples": num_samples,
                "epoch": label,
                "batch_size": batch_size,
                "rows_update_step_ms": round(rows_ms, 2),
                "full_table_step_ms": round(full_ms, 2),
                "step_speedup": round(full_ms / rows_ms, 2),
                "rows_update_ms": round(update_ms["rows"], 3),
                "full_table_update_ms": round(update_ms["full"], 3),
                "update_speedup": round(
                    update_ms["full"] / update_ms["rows"], 1
                ),
            }
        )
    return rows


def median_ms(function, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--batch-sizes", type=int, nargs="+", default=[128, 256, 1024]
    )
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument(
        "--preset", default="narrow", choices=("narrow", "wide")
    )
    parser.add_argument("--table-samples", type=int, default=0)
    parser.add_argument("--output", default=None)
    args = parser.parse_args()

    (x, _), _ = keras_ssl.data.digits(image_size=16, test_size=0.01)
    rng = np.random.default_rng(0)
    rows = []
    for b in args.batch_sizes:
        if b > len(x):
            raise SystemExit(f"batch size {b} exceeds the {len(x)} images")
        models = {
            "on": build(x, 1, args.preset),
            "off": build(x, 0, args.preset),
        }
        index = rng.choice(len(x), size=b, replace=False)
        batch = (tf.constant(x[index]), tf.constant(index))
        for model in models.values():  # trace and warm up
            for _ in range(3):
                model.train_on_batch(*batch)
        times = {"on": [], "off": []}
        for _ in range(args.steps):  # interleaved
            for key, model in models.items():
                start = time.perf_counter()
                model.train_on_batch(*batch)
                times[key].append(time.perf_counter() - start)
        on = 1000 * float(np.median(times["on"]))
        off = 1000 * float(np.median(times["off"]))
        # The solver alone, on the real score matrix of this batch (the
        # features of a young network are alike, which makes the problem
        # much harder than random scores), and on random scores.
        z = np.asarray(models["on"].project(batch[0], training=True))
        owned = np.asarray(models["on"].assignment)[index]
        scores = z @ np.asarray(models["on"].targets)[owned].T
        solver = median_ms(lambda s=scores: assign_targets(s), args.steps)
        noise = rng.normal(size=(b, b)).astype("float32")
        solver_random = median_ms(lambda s=noise: assign_targets(s), args.steps)
        rows.append(
            {
                "batch_size": b,
                "step_on_ms": round(on, 2),
                "step_off_ms": round(off, 2),
                "assignment_share": round((on - off) / on, 3),
                "solver_ms": round(solver, 2),
                "solver_random_scores_ms": round(solver_random, 2),
            }
        )
    header = ("batch", "on ms", "off ms", "share", "solver ms", "random ms")
    print("{:>6} {:>9} {:>9} {:>7} {:>10} {:>10}".format(*header))
    for r in rows:
        print(
            f"{r['batch_size']:>6} {r['step_on_ms']:>9.2f} "
            f"{r['step_off_ms']:>9.2f} {r['assignment_share']:>7.1%} "
            f"{r['solver_ms']:>10.2f} {r['solver_random_scores_ms']:>10.2f}"
        )
    table = (
        table_rows(args.table_samples, args.steps) if args.table_samples else []
    )
    for r in table:
        print(
            f"table of {r['num_samples']:,} ({r['epoch']}): "
            f"{r['rows_update_step_ms']:.1f} ms a step (rows) vs "
            f"{r['full_table_step_ms']:.1f} ms (full table), "
            f"{r['step_speedup']:.2f}x; the update alone "
            f"{r['rows_update_ms']:.3f} vs {r['full_table_update_ms']:.3f} ms, "
            f"{r['update_speedup']:.0f}x"
        )
    if args.output:
        write_report(
            args.output,
            "nat_assignment",
            rows,
            preset=args.preset,
            steps=args.steps,
            table_rows=table,
        )


if __name__ == "__main__":
    main()
