"""Agreement of ganbench.evaluation.metrics.functional with independent implementations at realistic sizes.

Same random features for both sides (2048-d, non-negative and correlated like pooled Inception activations;
the fake set is a distorted copy of the real distribution). Oracles: pytorch-fid (FD), torch-fidelity (KID,
precision/recall, IS) and prdc (precision/recall/density/coverage). Prints one row per comparison:
metric, ours, oracle, absolute and relative difference, and the seconds each side took.

    python bench/metrics_agreement.py                  # FID on 10k/10k, k-NN metrics on 5k/5k
    python bench/metrics_agreement.py --n-knn 10000    # k-NN metrics at the fid10k protocol size
    python bench/metrics_agreement.py --quick          # small sizes, a few seconds
"""
from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

from ganbench.evaluation.metrics import functional as F


def make_features(n_real: int, n_fake: int, d: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    latent = 128
    mix = rng.standard_normal((latent, d)) / np.sqrt(latent)

    def draw(n, scale, shift):
        z = scale * rng.standard_normal((n, latent))
        return np.maximum(z @ mix + 0.3 * rng.standard_normal((n, d)) + shift, 0.0)

    return draw(n_real, 1.0, 0.2), draw(n_fake, 1.15, 0.25)


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--d", type=int, default=2048, help="feature dimension")
    parser.add_argument("--n-fid", type=int, default=10_000, help="samples per set for FID and KID")
    parser.add_argument("--n-knn", type=int, default=5_000, help="samples per set for the k-NN metrics")
    parser.add_argument("--kid-subsets", type=int, default=100)
    parser.add_argument("--kid-subset-size", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="d=256, 1000 samples, 10 KID subsets of 500")
    args = parser.parse_args()
    if args.quick:
        args.d, args.n_fid, args.n_knn, args.kid_subsets, args.kid_subset_size = 256, 1000, 1000, 10, 500

    import torch
    from prdc import compute_prdc
    from pytorch_fid.fid_score import calculate_frechet_distance
    from torch_fidelity.metric_isc import isc_features_to_metric
    from torch_fidelity.metric_kid import kid_features_to_metric
    from torch_fidelity.metric_prc import prc_features_to_metric

    rows = []

    def add(name, ours, t_ours, oracle_name, oracle, t_oracle):
        diff = abs(ours - oracle)
        rows.append((name, oracle_name, ours, oracle, diff, diff / abs(oracle) if oracle else float("nan"),
                     t_ours, t_oracle))

    real, fake = make_features(args.n_fid, args.n_fid, args.d)
    (mu1, s1), t_stats1 = timed(F.features_to_stats, real)
    (mu2, s2), t_stats2 = timed(F.features_to_stats, fake)
    fd, t = timed(F.frechet_distance, mu1, s1, mu2, s2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # pytorch-fid's sqrtm(disp=False)
        fd_oracle, t_o = timed(calculate_frechet_distance, mu1, s1, mu2, s2)
    add(f"FD from stats (d={args.d}, n={args.n_fid})", fd, t, "pytorch-fid", float(fd_oracle), t_o)

    kid_args = dict(subsets=args.kid_subsets, subset_size=args.kid_subset_size, seed=2020)
    (kid_mean, kid_std), t = timed(F.kid_from_features, real, fake, **kid_args)
    out, t_o = timed(kid_features_to_metric, torch.from_numpy(fake), torch.from_numpy(real), verbose=False,
                     kid_subsets=args.kid_subsets, kid_subset_size=args.kid_subset_size, rng_seed=2020)
    label = f"({args.kid_subsets}x{args.kid_subset_size})"
    add(f"KID mean {label}", kid_mean, t, "torch-fidelity", out["kernel_inception_distance_mean"], t_o)
    add(f"KID std {label}", kid_std, t, "torch-fidelity", out["kernel_inception_distance_std"], t_o)

    rng = np.random.default_rng(1)
    logits = 3.0 * rng.standard_normal((args.n_fid, 1008)) + 2.0 * rng.standard_normal((1, 1008))
    (is_mean, _), t = timed(F.inception_score_from_logits, logits, 10)
    out, t_o = timed(isc_features_to_metric, torch.from_numpy(logits), splits=10, shuffle=False)
    add(f"IS (n={args.n_fid}, 1008 classes)", is_mean, t, "torch-fidelity", out["inception_score_mean"], t_o)

    real, fake = real[: args.n_knn], fake[: args.n_knn]
    n = f"(n={args.n_knn}, k=3)"
    (prec, rec), t = timed(F.precision_recall, real, fake, k=3)
    out, t_o = timed(prc_features_to_metric, torch.from_numpy(fake), torch.from_numpy(real), verbose=False,
                     prc_neighborhood=3, prc_batch_size=10_000, save_cpu_ram=False)
    add(f"precision {n}", prec, t, "torch-fidelity", out["precision"], t_o)
    add(f"recall {n}", rec, t, "torch-fidelity", out["recall"], t_o)

    (prec5, rec5), t_pr = timed(F.precision_recall, real, fake, k=5)
    (dens, cov), t_dc = timed(F.density_coverage, real, fake, k=5)
    out, t_o = timed(compute_prdc, real, fake, 5)
    n = f"(n={args.n_knn}, k=5)"
    add(f"precision {n}", prec5, t_pr, "prdc", float(out["precision"]), t_o)
    add(f"recall {n}", rec5, t_pr, "prdc", float(out["recall"]), t_o)
    add(f"density {n}", dens, t_dc, "prdc", float(out["density"]), t_o)
    add(f"coverage {n}", cov, t_dc, "prdc", float(out["coverage"]), t_o)

    print(f"features_to_stats: {t_stats1 + t_stats2:.2f} s for two sets of {args.n_fid} x {args.d}")
    print("seconds: both lines of a pair that one call computes show that call's time (prdc: one call for all 4)")
    header = f"{'metric':38s} {'oracle':15s} {'ours':>14s} {'oracle value':>14s} {'abs diff':>10s} " \
             f"{'rel diff':>10s} {'ours s':>8s} {'oracle s':>9s}"
    print(header)
    print("-" * len(header))
    for name, oname, ours, oracle, diff, rel, t, t_o in rows:
        print(f"{name:38s} {oname:15s} {ours:14.8g} {oracle:14.8g} {diff:10.2e} {rel:10.2e} {t:8.2f} {t_o:9.2f}")


if __name__ == "__main__":
    main()
