"""Built-in learning rule: surrogate-gradient backpropagation through time.

The network's spiking layers carry surrogate gradients, so BPTT is plain
autograd over the whole ``[T, B, ...]`` forward pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Literal

import torch
from torch import nn

from snnbench import hookimpl
from snnbench.components import DataSplit, LearningRuleSpec
from snnbench.training import TrainingSession
from snnbench_plugins import losses


@dataclass(frozen=True)
class BPTTParams:
    optimizer: Literal["adam", "adamw", "sgd"] = field(default="adam", metadata={"help": "optimiser"})
    lr: float = field(default=1e-3, metadata={"help": "learning rate"})
    weight_decay: float = field(default=0.0, metadata={"help": "weight decay"})
    loss: Literal["ce_count", "mse_count", "ce_rate"] = field(default="ce_count", metadata={
        "help": "cross-entropy on spike counts, MSE of counts against target rates, or "
                "cross-entropy at every step averaged over time (snnTorch's ce_rate_loss)"})
    correct_rate: float = field(default=0.8, metadata={"help": "mse_count: target firing rate of the true class"})
    incorrect_rate: float = field(default=0.2, metadata={"help": "mse_count: target firing rate of the others"})

    def __post_init__(self):
        if self.lr <= 0:
            raise ValueError("lr must be positive")
        if self.weight_decay < 0:
            raise ValueError("weight_decay must not be negative")


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
        optimizer = _OPTIMIZERS[self.params.optimizer](
            model.parameters(), lr=self.params.lr, weight_decay=self.params.weight_decay)
        session.schedule(optimizer)
        model.train()
        for _ in session.epochs():
            for inputs, targets in session.batches(train):
                spikes = model(inputs)
                loss = self.loss(spikes, targets)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                session.record(loss, spikes.sum(0), targets)


@hookimpl
def register_learning_rules(register):
    register(LearningRuleSpec("bptt", BPTTParams, BPTT,
                              summary="surrogate-gradient BPTT (Adam by default; ce_count or mse_count loss)"))
