"""Built-in learning rule: surrogate-gradient backpropagation through time.

The network's spiking layers carry surrogate gradients, so BPTT is plain
autograd over the whole ``[T, B, ...]`` forward pass.

``sparsity_omega > 0`` adds the spike-sparsity term on the encoder's output
(CE+SS of the ConvSTAL thesis, :func:`snnbench_plugins.learning_rules.losses.spike_sparsity`)
to the loss, ramped in over the epochs; the encoder and the network then run
as two calls so the term sees what the encoder emitted. With it off, the
rule runs exactly as before.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Literal

import torch
from snnbench_plugins.learning_rules import losses
from torch import nn

from snnbench.api import DataSplit, LearningRuleSpec, TrainingSession, hookimpl, param


@dataclass(frozen=True)
class BPTTParams:
    optimizer: Literal["adam", "adamw", "sgd"] = field(default="adam", metadata={"help": "optimiser"})
    lr: float = param(1e-3, "learning rate", gt=0)
    weight_decay: float = param(0.0, "weight decay", ge=0)
    loss: Literal["ce_count", "mse_count", "ce_rate"] = field(default="ce_count", metadata={
        "help": "cross-entropy on spike counts, MSE of counts against target rates, or "
                "cross-entropy at every step averaged over time (snnTorch's ce_rate_loss)"})
    correct_rate: float = field(default=0.8, metadata={"help": "mse_count: target firing rate of the true class"})
    incorrect_rate: float = field(default=0.2, metadata={"help": "mse_count: target firing rate of the others"})
    sparsity_omega: float = param(0.0, "weight omega of the spike-sparsity term on the encoder's output, added "
                                       "to the loss (CE+SS with loss = ce_count); 0 = off", ge=0)
    sparsity_c: float = param(0.0, "spike sparsity: weight c of the concentration reward sum(s^2)/sum(s); 0 = a "
                                   "plain penalty on the spikes a sample sends", ge=0)
    sparsity_warmup_epochs: int | None = param(
        None, "spike sparsity ramps linearly from 0 (first epoch) to full weight over this many epochs; default: "
              "all of them (the thesis's epoch / epochs); 0 = full weight at once", ge=0)


_OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}


class BPTT:
    def __init__(self, params: BPTTParams):
        self.params = params
        if params.loss == "mse_count":
            self.loss = partial(losses.mse_count, correct_rate=params.correct_rate,
                                incorrect_rate=params.incorrect_rate)
        else:
            self.loss = {"ce_count": losses.ce_count, "ce_rate": losses.ce_rate}[params.loss]

    def fit(self, model: nn.Module, train: DataSplit, session: TrainingSession) -> None:
        session.prepare(model)
        optimizer = _OPTIMIZERS[self.params.optimizer](
            model.parameters(), lr=self.params.lr, weight_decay=self.params.weight_decay)
        session.schedule(optimizer)
        model.train()
        params = self.params
        warmup = session.config.epochs if params.sparsity_warmup_epochs is None else params.sparsity_warmup_epochs
        for epoch in session.epochs():
            weight = losses.warmup_weight(epoch, warmup)
            for inputs, targets in session.batches(train):
                with session.autocast():
                    if params.sparsity_omega > 0:
                        encoded = model.encoder(inputs)
                        spikes = model.network(encoded)
                        loss = self.loss(spikes, targets) + losses.spike_sparsity(
                            encoded, params.sparsity_omega, params.sparsity_c, weight)
                    else:
                        spikes = model(inputs)
                        loss = self.loss(spikes, targets)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                session.record(loss, spikes.sum(0), targets)


@hookimpl
def register_learning_rules(register):
    register(LearningRuleSpec("bptt", BPTTParams, BPTT,
                              summary="surrogate-gradient BPTT (Adam by default; ce_count, mse_count or ce_rate loss; "
                                      "optional spike-sparsity term on the encoder output)",
                              resumable=True))
