"""Distribution of the reference network's test accuracy after the training check's L-BFGS-B.

The training check's threshold is chosen from this (docs/threshold.md). Run:
    python bench/training_threshold.py [--seeds 40]
"""
import argparse
import statistics
import time

import numpy as np

from grader.nncheck import training
from source_layers import layers as reference


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=40)
    parser.add_argument("--maxiter", type=int, default=training.MAXITER)
    args = parser.parse_args()
    data = training.digits()
    accs, times, iters = [], [], []
    for seed in range(args.seeds):
        start = time.perf_counter()
        acc, result = training.train(vars(reference), seed=seed, maxiter=args.maxiter, data=data)
        times.append(time.perf_counter() - start)
        accs.append(acc)
        iters.append(result.nit)
        print(f"seed {seed:2d}: accuracy {acc:.4f}  iterations {result.nit:4d}  "
              f"{times[-1]:.2f} s  {result.message}")
    accs = np.array(accs)
    print(f"\n{args.seeds} seeds, maxiter {args.maxiter}: accuracy min {accs.min():.4f} "
          f"p5 {np.percentile(accs, 5):.4f} median {np.median(accs):.4f} max {accs.max():.4f} "
          f"mean {accs.mean():.4f} sd {accs.std(ddof=1):.4f}")
    print(f"iterations median {statistics.median(iters)}; time per run median "
          f"{statistics.median(times):.2f} s")
    print(f"threshold in use: {training.THRESHOLD}")


if __name__ == "__main__":
    main()
