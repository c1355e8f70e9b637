"""Building the parts of a pack of trials (K = 1 for a single trial): data on the device, networks, optimisers,
the loss (with its state), penalties (each with its weight, some with state), constraint, random streams and the
evaluator. ``state_dict(pack)`` / ``load_state_dict(pack, state)``: the state of the loss and the penalties, [K]
tensors keyed by name (a penalty's keys prefixed by its name), as checkpoints keep it."""
from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace
from typing import Callable, Optional

import torch
from torch import Tensor, nn

from ganbench.suite.schema import HParams
from ganbench.datasets import DatasetInfo, dataset_info, load_split
from ganbench.evaluation.evaluator import Evaluator
from ganbench.zoo.losses import Loss, get_loss, loss_class
from ganbench.zoo.models import build_models
from ganbench.zoo.models.spectral import SpectralNorm
from ganbench.zoo.penalties import get_constraint, get_penalty
from ganbench.zoo.augment import Augment, build_augment
from ganbench.suite.plan import Trial, arch_options
from ganbench.training.ema import GeneratorEMA, build_ema
from ganbench.training.members import Members
from ganbench.training.optimizers import member_optimizer
from ganbench.training.streams import Streams

_BATCH_COUPLED = (nn.BatchNorm1d, nn.BatchNorm2d, SpectralNorm)


@dataclass
class Regulariser:
    """One penalty added to D's loss: ``weight * penalty(d_fn, real, fake, rng, outputs=...)``."""

    name: str
    penalty: Callable
    weight: float


@dataclass
class Pack:
    trials: list[Trial]
    hp: HParams  # hyperparameters shared by the members (per-member optimiser settings live in the optimisers)
    info: DatasetInfo
    device: torch.device
    G: Members
    D: Members
    opt_g: object
    opt_d: object
    loss: Loss
    penalties: list[Regulariser]
    constraint: Optional[Callable]
    streams: Streams
    x: Tensor  # the training split on the device
    y: Optional[Tensor]
    evaluator: Evaluator
    joint_d: bool  # D scores real and fake in one call (no layer of D couples the samples of a batch)
    active: Tensor = field(default=None)  # [K] 1.0 while a member trains, 0.0 once frozen
    augment: Optional[Augment] = None  # D's input augmentation (DiffAugment or ADA), with ADA's p [K]
    ema: Optional[GeneratorEMA] = None  # the generator EMA

    @property
    def k(self) -> int:
        return len(self.trials)

    @property
    def conditional(self) -> bool:
        return self.hp.conditioning != "none"

    @property
    def pac(self) -> int:
        return int(getattr(self.hp, "pac", 1))

    def sample_z(self, n: int) -> tuple[Tensor, Optional[Tensor]]:
        """Latent vectors [K, n, z_dim] (and labels [K, n] for class-conditional G) from each trial's noise stream."""
        hp = self.hp
        if hp.z_dist == "uniform":
            z = self.streams.uniform("noise", (n, hp.z_dim)).mul_(2).sub_(1)
        else:
            z = self.streams.randn("noise", (n, hp.z_dim))
        y = self.streams.randint("noise", self.info.num_classes, (n,)) if self.conditional else None
        return z, y


def loss_for(trial: Trial) -> Loss:
    """The trial's loss with the options its hyperparameters set (the loss's ``HPARAM_OPTIONS``: label smoothing
    and flips, BEGAN's knobs), where a hyperparameter is not at its default."""
    hp = trial.hp
    opts = dict(trial.loss_options)
    for option, name in loss_class(trial.loss).HPARAM_OPTIONS.items():
        if getattr(hp, name) != HParams.model_fields[name].default:
            opts[option] = getattr(hp, name)
    return get_loss(trial.loss, **opts)


def penalties_for(trial: Trial, k: int, device) -> list[Regulariser]:
    """The trial's penalties with a weight > 0, each with its options bound and its state made for ``k`` trials."""
    out = []
    for name, options, weight in trial.regularisers():
        penalty = get_penalty(name, **options)
        if penalty.stateful:
            penalty.init_state(k, device)
        out.append(Regulariser(name, penalty, weight))
    return out


def state_dict(pack: Pack) -> dict[str, Tensor]:
    """The pack's training state beyond networks, optimisers and streams: the loss's and the penalties'."""
    state = dict(pack.loss.state_dict())
    for reg in pack.penalties:
        if reg.penalty.stateful:
            state.update({f"{reg.name}.{n}": v for n, v in reg.penalty.state_dict().items()})
    for part in (pack.augment, pack.ema):  # ADA's p and statistic ("ada.*"), the EMA's weights ("ema.*")
        if part is not None:
            state.update(part.state_dict())
    return state


def load_state_dict(pack: Pack, state: dict[str, Tensor]) -> None:
    """The inverse of ``state_dict`` (every key of the pack's own state must be there)."""
    loss_state = {n: v for n, v in state.items() if n in pack.loss.state_dict()}
    if loss_state:
        pack.loss.load_state_dict(loss_state)
    for reg in pack.penalties:
        if reg.penalty.stateful:
            reg.penalty.load_state_dict({n: state[f"{reg.name}.{n}"] for n in reg.penalty.state_dict()})
    for part in (pack.augment, pack.ema):
        if part is not None:
            part.load_state_dict(state)


def build_networks(trial: Trial, info: DatasetInfo) -> tuple[nn.Module, nn.Module]:
    """G and D of one trial, initialised from torch.manual_seed(trial.seed) without touching the global RNG."""
    hp = trial.hp
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(trial.seed)
        return build_models(trial.architecture, info.shape, hp.z_dim, arch_options(trial),
                            num_classes=info.num_classes if hp.conditioning != "none" else None)


def _opt_settings(hp: HParams, net: str) -> tuple[float, tuple[float, float]]:
    lr = getattr(hp, f"lr_{net}") or hp.lr
    b1, b2 = getattr(hp, f"beta1_{net}"), getattr(hp, f"beta2_{net}")
    return lr, (hp.beta1 if b1 is None else b1, hp.beta2 if b2 is None else b2)


def build_pack(trials: list[Trial], device: torch.device, data_dir=None, mode: Optional[str] = None,
               scored: bool = True) -> Pack:
    """``mode``: how K > 1 members run (``vmap`` or ``loop``; default by device and architecture, see
    ganbench.training.members). ``scored=False``: no evaluator (nor its reference statistics), for measuring steps."""
    keys = {t.pack_key() for t in trials}
    if len(keys) != 1:
        raise ValueError("a pack's trials must differ only in seed, search sample and optimiser settings")
    t0 = trials[0]
    hp = t0.hp
    info = dataset_info(t0.dataset, t0.dataset_options)
    train = load_split(t0.dataset, "train", data_dir, t0.dataset_options)
    e = t0.eval
    evaluator = Evaluator(t0.dataset, t0.dataset_options, info, list(e.metrics), e.extractor, e.n_samples, e.n_real,
                          data_dir=data_dir, device=str(device)) if scored else None
    nets = [build_networks(t, info) for t in trials]
    G = Members([g.to(device) for g, _ in nets], mode)
    D = Members([d.to(device) for _, d in nets], mode)
    opt = {}
    for net, members in (("g", G), ("d", D)):
        settings = [_opt_settings(t.hp, net) for t in trials]
        opt[net] = member_optimizer(members, hp.optimizer, [s[0] for s in settings], [s[1] for s in settings])
    loss = loss_for(t0)
    loss.init_state(len(trials), device)
    penalties = penalties_for(t0, len(trials), device)
    constraint = get_constraint("clip", clip=hp.clip) if hp.clip else None
    joint = not any(isinstance(m, _BATCH_COUPLED) for _, m in D.named_modules())
    y = train.y.to(device) if hp.conditioning != "none" else None
    return Pack(trials=list(trials), hp=hp, info=info, device=device, G=G, D=D, opt_g=opt["g"], opt_d=opt["d"],
                loss=loss, penalties=penalties, constraint=constraint,
                streams=Streams([t.seed for t in trials], device), x=train.x.to(device), y=y, evaluator=evaluator,
                joint_d=joint, active=torch.ones(len(trials), device=device),
                augment=build_augment(hp, len(trials), device), ema=build_ema(hp, G, [g for g, _ in nets]))


def solo_replica(pack: Pack) -> Pack:
    """A throwaway single-trial copy of the pack's first member (own optimisers, loss state and random streams;
    shared data and evaluator): for measuring what one trial's step costs, without touching the pack."""
    t0 = pack.trials[0]
    G = Members([copy.deepcopy(pack.G.member_module(0))])
    D = Members([copy.deepcopy(pack.D.member_module(0))])
    opts = {}
    for net, members in (("g", G), ("d", D)):
        lr, betas = _opt_settings(t0.hp, net)
        opts[net] = member_optimizer(members, pack.hp.optimizer, [lr], [betas])
    loss = loss_for(t0)
    loss.init_state(1, pack.device)
    return replace(pack, trials=[t0], G=G, D=D, opt_g=opts["g"], opt_d=opts["d"], loss=loss,
                   penalties=penalties_for(t0, 1, pack.device),
                   streams=Streams([t0.seed], pack.device), active=torch.ones(1, device=pack.device),
                   augment=build_augment(t0.hp, 1, pack.device), ema=None)
