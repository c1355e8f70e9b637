"""Scoring speed: FID of N generated images through ganbench's evaluator against pytorch-fid's own pipeline
(`python -m pytorch_fid` = calculate_fid_given_paths on PNG folders), with the same Inception network.

Where pytorch-fid's weights file (pt_inception-2015-12-05-6726825d.pth) is absent, as on a machine without network,
both sides use the same randomly initialised network: fine for timing (the FIDs then mean nothing, but the two must
still agree). Reference statistics are computed once and cached; the script also times a second evaluator for the
same protocol, which must only read the cache (trials never recompute them).

    python bench/scoring.py --n 1000     # about 10 minutes on 2 CPU cores
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1000, help="generated (and real) images")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="bench/results-scoring.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    root = Path(tempfile.mkdtemp(prefix="ganbench-scoring-"))
    os.environ["GANBENCH_CACHE"] = str(root / "cache")

    import pytorch_fid.inception as pfi
    from pytorch_fid.fid_score import calculate_fid_given_paths
    from torchvision.utils import save_image

    from ganbench.evaluation.extractors import INCEPTION_ENV, inception_weights_path

    real_weights = inception_weights_path().is_file()
    if not real_weights:  # the same random network for both sides
        torch.manual_seed(0)
        state = _random_fid_state(pfi)
        weights = root / "pt_inception-random.pth"
        torch.save(state, weights)
        os.environ[INCEPTION_ENV] = str(weights)
        pfi.load_state_dict_from_url = lambda *a, **k: torch.load(weights, weights_only=True)

    from ganbench.datasets import dataset_info, load_split
    from ganbench.evaluation.evaluator import Evaluator

    info = dataset_info("digits")
    test = load_split("digits", "test").x
    g = torch.Generator().manual_seed(0)
    real = test[torch.randint(len(test), (args.n,), generator=g)]
    fake = (real + 0.3 * torch.randn(real.shape, generator=g)).clamp(-1, 1)

    t0 = time.perf_counter()
    ev = Evaluator("digits", {}, info, ["fid"], "inception", args.n, args.n)
    t_ref = time.perf_counter() - t0
    t0 = time.perf_counter()
    Evaluator("digits", {}, info, ["fid"], "inception", args.n, args.n)
    t_ref_again = time.perf_counter() - t0
    t0 = time.perf_counter()
    ours, _ = ev.evaluate(fake, "test")
    t_ours = time.perf_counter() - t0

    # pytorch-fid on PNG folders: the same images, written as 8-bit PNGs (what a user hands it)
    from ganbench.evaluation.evaluator import real_subset

    ref = real_subset(load_split("digits", "test").x, min(args.n, len(test)))
    for name, imgs in (("real", ref), ("fake", fake)):
        d = root / name
        d.mkdir()
        for i, img in enumerate(imgs):
            save_image((img + 1) / 2, d / f"{i:05d}.png")
    t0 = time.perf_counter()
    theirs = calculate_fid_given_paths([str(root / "real"), str(root / "fake")], batch_size=50, device="cpu",
                                       dims=2048, num_workers=0)
    t_theirs = time.perf_counter() - t0
    out = {"date": time.strftime("%Y-%m-%d"), "n": args.n, "threads": args.threads, "real_weights": real_weights,
           "ganbench_fid_seconds": t_ours, "pytorch_fid_seconds_both_folders": t_theirs,
           "ganbench_reference_seconds": t_ref, "ganbench_reference_again_seconds": t_ref_again,
           "ganbench_fid": ours["fid"], "pytorch_fid_fid": theirs}
    print(json.dumps(out, indent=1))
    Path(args.out).write_text(json.dumps(out, indent=1))


def _random_fid_state(pfi) -> dict:
    """pytorch-fid's FID Inception architecture with random weights (as fid_inception_v3 builds it, no download)."""
    import torchvision

    inception = torchvision.models.inception_v3(num_classes=1008, aux_logits=False, weights=None, init_weights=True)
    inception.Mixed_5b = pfi.FIDInceptionA(192, pool_features=32)
    inception.Mixed_5c = pfi.FIDInceptionA(256, pool_features=64)
    inception.Mixed_5d = pfi.FIDInceptionA(288, pool_features=64)
    inception.Mixed_6b = pfi.FIDInceptionC(768, channels_7x7=128)
    inception.Mixed_6c = pfi.FIDInceptionC(768, channels_7x7=160)
    inception.Mixed_6d = pfi.FIDInceptionC(768, channels_7x7=160)
    inception.Mixed_6e = pfi.FIDInceptionC(768, channels_7x7=192)
    inception.Mixed_7b = pfi.FIDInceptionE_1(1280)
    inception.Mixed_7c = pfi.FIDInceptionE_2(2048)
    return inception.state_dict()


if __name__ == "__main__":
    main()
