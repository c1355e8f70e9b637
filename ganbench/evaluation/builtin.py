"""Metric plug-ins on distances between samples: sliced Wasserstein, memorisation, birthday-paradox support size.

Thin wrappers registering the numpy cores (``sliced``, ``memorisation``, ``support``) in ``evaluation.METRICS``; each
returns its values and the provenance fields that say how they were measured. All are opt-in (a suite lists them in
``eval.metrics``); no dataset runs them by default. Pixel space means images flattened, pixels in [-1, 1] as the
generator outputs them (not clamped), Euclidean distances.
"""
from __future__ import annotations

import numpy as np

from ganbench.datasets import DatasetInfo
from ganbench.evaluation.metric import TRAIN_SUBSET, metric
from ganbench.evaluation.metrics import functional as mf
from ganbench.evaluation.metrics import memorisation as mem
from ganbench.evaluation.metrics import sliced, support
from ganbench.evaluation.metrics.cmmd import SCALE, SIGMA, cmmd_from_embeddings

@metric("modes", "toy", {"modes": "max", "hq": "max", "reverse_kl": "min", "mode_tv": "min"},
         "2D mixtures: modes captured, high-quality fraction, reverse KL over modes (PacGAN's, Lin et al. 2018), and "
         "mode_tv, the total variation to the ideal distribution over modes + off-mode (the toys' primary)")
def _modes(fake: np.ndarray, info: DatasetInfo, **_) -> dict:
    return mf.mode_metrics(fake, info.centers, info.std, threshold=3.0)


@metric("fid", "image", {"fid": "min"},
         "Frechet distance between extractor features of real and generated images (FID: Heusel et al. 2017)")
def _fid(real_features, fake_features, **_) -> dict:
    return {"fid": mf.fid_from_features(real_features, fake_features)}


@metric("kid", "image", {"kid": "min", "kid_std": None}, "kernel inception distance (Binkowski et al. 2018): cubic "
                                              "polynomial kernel, unbiased MMD^2, 100 subsets of at most 1000")
def _kid(real_features, fake_features, **_) -> dict:
    size = min(1000, len(real_features), len(fake_features))
    mean, std = mf.kid_from_features(real_features, fake_features, subsets=100, subset_size=size)
    return {"kid": mean, "kid_std": std}


@metric("pr", "image", {"precision": "max", "recall": "max"}, "improved precision and recall, k = 3 (Kynkaanniemi et al. 2019)")
def _pr(real_features, fake_features, **_) -> dict:
    p, r = mf.precision_recall(real_features, fake_features, k=3)
    return {"precision": p, "recall": r}


@metric("dc", "image", {"density": "max", "coverage": "max"}, "density and coverage, k = 5 (Naeem et al. 2020)")
def _dc(real_features, fake_features, **_) -> dict:
    d, c = mf.density_coverage(real_features, fake_features, k=5)
    return {"density": d, "coverage": c}


@metric("is", "image", {"is": "max", "is_std": None},
         "inception score (Salimans et al. 2016) from the extractor's logits, 10 splits")
def _is(fake_logits, **_) -> dict:
    mean, std = mf.inception_score_from_logits(fake_logits, splits=10)
    return {"is": mean, "is_std": std}



# The feature spaces that replaced Inception (ganbench.evaluation.backbones). Each value carries its feature space in
# its name, so that no table puts an FD in DINOv2 features next to Inception FIDs, nor ViT-B/14 next to ViT-L/14.
@metric("fd_dinov2", "image", {"fd_dinov2": "min"},
        "FD-DINOv2 (Stein et al. 2023): Frechet distance in DINOv2 ViT-L/14 features (CLS token, dgm-eval's "
        "preprocessing: 224 px bicubic, ImageNet normalisation); extractor dinov2_vitl14",
        extractors=("dinov2_vitl14",))
def _fd_dinov2(real_features, fake_features) -> tuple[dict, dict]:
    return {"fd_dinov2": mf.fid_from_features(real_features, fake_features)}, {"space": "DINOv2 ViT-L/14 features"}


@metric("fd_dinov2_vitb14", "image", {"fd_dinov2_vitb14": "min"},
        "Frechet distance in DINOv2 ViT-B/14 features (cheap tracking, as Stein et al. 2023 suggest; not comparable "
        "with FD-DINOv2, which is ViT-L/14); extractor dinov2_vitb14", extractors=("dinov2_vitb14",))
def _fd_dinov2_vitb14(real_features, fake_features) -> tuple[dict, dict]:
    value = mf.fid_from_features(real_features, fake_features)
    return {"fd_dinov2_vitb14": value}, {"space": "DINOv2 ViT-B/14 features"}


@metric("cmmd", "image", {"cmmd": "min"},
        f"CMMD (Jayasumana et al. 2024): biased MMD^2 x {SCALE:g}, Gaussian RBF kernel sigma {SIGMA:g}, over "
        f"L2-normalised CLIP ViT-L/14 @ 336 image embeddings; extractor clip_vitl14_336",
        extractors=("clip_vitl14_336",))
def _cmmd(real_features, fake_features) -> tuple[dict, dict]:
    return {"cmmd": cmmd_from_embeddings(real_features, fake_features)}, {
        "space": "CLIP ViT-L/14 @ 336 image embeddings, L2-normalised", "kernel": f"Gaussian RBF, sigma {SIGMA:g}",
        "estimator": "biased (all pairs, diagonal included), as google-research/cmmd", "scale": SCALE}


_SWD = {"n_projections": sliced.DEFAULT_PROJECTIONS, "projection_seed": sliced.DEFAULT_SEED, "p": 2,
        "reported": "SW_2 distance: square root of the mean over directions of the exact 1-D W_2^2 (not squared)"}


def _scale(info, x) -> str:
    if info.kind == "toy":
        return f"the dataset's 2D coordinates (d = {x.shape[1]})"
    return f"pixels in [-1, 1], flattened (d = {x.shape[1]})"


@metric("swd", "any", {"swd": "min"},
         f"sliced Wasserstein distance SW_2 (Rabin et al. 2011; Karras et al. 2018), the distance, not squared, "
         f"between generated and real rows of the "
         f"scored split: 2D points, or images as flattened pixels in [-1, 1]; {sliced.DEFAULT_PROJECTIONS} "
         f"fixed random directions (seed {sliced.DEFAULT_SEED})")
def _swd(fake, real, info, split) -> tuple[dict, dict]:
    value = sliced.sliced_wasserstein(fake, real, sliced.DEFAULT_PROJECTIONS, sliced.DEFAULT_SEED, p=2)
    space = "points" if info.kind == "toy" else "pixels"
    return {"swd": value}, {"split": split, "n_real": len(real), "space": space, "scale": _scale(info, fake), **_SWD}


@metric("swd_features", "image", {"swd_features": "min"},
         f"sliced Wasserstein distance SW_2 (Rabin et al. 2011), not squared, in the extractor's feature space "
         f"(raw features); "
         f"{sliced.DEFAULT_PROJECTIONS} fixed random directions (seed {sliced.DEFAULT_SEED})")
def _swd_features(fake_features, real_features) -> tuple[dict, dict]:
    value = sliced.sliced_wasserstein(fake_features, real_features, sliced.DEFAULT_PROJECTIONS, sliced.DEFAULT_SEED,
                                      p=2)
    return {"swd_features": value}, {"space": "features",
                                     "scale": f"raw extractor features (d = {fake_features.shape[1]})", **_SWD}


_Q = ", ".join(mem.quantile_label(q) for q in mem.REPORTED_QUANTILES)


@metric("memorisation", "image",
         {**{f"copies_{s}": "min" for s in ("pixels", "features")},
          **{f"nn_{s}_{w}_{mem.quantile_label(q)}": None for s in ("pixels", "features") for w in ("fake", "real")
             for q in mem.REPORTED_QUANTILES}},
         f"nearest training neighbour of each sample (pixels, features) against held-out real images: copies = "
         f"fraction of samples closer than the {mem.COPY_QUANTILE:g} quantile of the held-out distances; "
         f"distance quantiles {_Q} of both; training subset of at most {TRAIN_SUBSET}")
def _memorisation(fake, fake_features, train, train_features, real_nn_pixels, real_nn_features) -> tuple[dict, dict]:
    values, prov = {}, {}
    for space, f, ref, real_nn in (("pixels", fake, train, real_nn_pixels),
                                   ("features", fake_features, train_features, real_nn_features)):
        stats = mem.copy_statistics(mem.nearest_distances(f, ref), real_nn, mem.COPY_QUANTILE, mem.REPORTED_QUANTILES)
        values[f"copies_{space}"] = stats["copy_fraction"]
        for who in ("fake", "real"):
            for q in mem.REPORTED_QUANTILES:
                values[f"nn_{space}_{who}_{mem.quantile_label(q)}"] = stats[f"{who}_{mem.quantile_label(q)}"]
        prov[f"copy_threshold_{space}"] = stats["threshold"]
    prov.update({"space": "pixels (flattened, [-1, 1]) and extractor features", "n_train": len(train),
                 "train_subset": f"train split, fixed permutation (seed 12345), at most {TRAIN_SUBSET} images",
                 "threshold_quantile": mem.COPY_QUANTILE,
                 "copy_rule": "nearest-training distance < threshold_quantile quantile of the held-out real images' "
                              "nearest-training distances (held-out = the scored split's n_real images)"})
    return values, prov


@metric("birthday", "image",
         {"support": "max", **{f"support{x}": None for x in ("_lo", "_hi", "_dup_pairs", "_real", "_real_lo",
                                                             "_real_hi", "_real_dup_pairs")}},
         f"birthday-paradox support size (Arora & Zhang 2017) in pixel space, for samples and for real images of "
         f"the split: disjoint batches of {support.BATCH_SIZE} (all rows when fewer), near duplicates under the "
         f"{support.PAIR_FRACTION:g} quantile of training-pair distances, {support.LEVEL:.0%} Poisson interval")
def _birthday(fake, real, train, dup_threshold) -> tuple[dict, dict]:
    values, prov = {}, {}
    for who, x in (("", fake), ("_real", real)):
        est = support.birthday_support(x, dup_threshold, support.BATCH_SIZE, support.LEVEL)
        for key in ("support", "support_lo", "support_hi"):
            if key in est:  # support_hi is absent when no duplicate pair was seen (no finite upper limit)
                values[key.replace("support", f"support{who}")] = est[key]
        values[f"support{who}_dup_pairs"] = est["dup_pairs"]
        prov.update({f"{field}{who}": est[field] for field in ("batch_size", "batches", "pairs", "lower_bound")})
    prov.update({"space": "pixels (flattened, [-1, 1])", "threshold": dup_threshold,
                 "calibration": f"{support.PAIR_FRACTION:g} quantile of the distances of all pairs of the first "
                                f"{min(support.CALIBRATION_IMAGES, len(train))} images of the training subset",
                 "near_duplicate": "Euclidean distance <= threshold", "level": support.LEVEL,
                 "interval": "exact Poisson (Garwood) on the duplicate-pair count; lower_bound: no pair seen, support "
                             "is the lower limit",
                 "estimand": "collision support size 1 / sum_i p_i^2 = pairs / duplicate pairs"})
    return values, prov
