"""Learning rule ``stal-pretrain``: pre-train the encoder on its own, freeze
it, then train the classifier by BPTT.

STAL (arXiv 2407.08362) trains its encoder first with an unsupervised loss
of its own and only then the classifier on the frozen spike trains. Here:

1. ``pretrain_epochs`` epochs of Adam (``pretrain_lr``) on the STAL encoder
   loss (:func:`snnbench_plugins.learning_rules.losses.stal_encoder_loss`): mutual
   information between input and weighted spike sum, plus the gap between
   spike count and T times the input mass. Encoders that keep the image's
   ``[C, H, W]`` layout (ConvSTAL) get the per-channel variant, flat ones
   (STAL) the whole-sample one. The encoder must emit one value per input
   value and step (STAL with ``l2`` = the input size, ConvSTAL); other
   encoders fail the cell with a message saying so.
2. With ``freeze`` (the default) the encoder is wrapped so that it stays in
   eval mode (BatchNorm's running statistics, no dropout) whatever
   ``model.train()`` says, and runs under ``torch.no_grad`` with
   ``requires_grad`` off: the classifier stage builds no graph through it
   and cannot change it.
3. The classifier stage is the ``bptt`` rule itself, with every one of its
   params (this rule's params extend BPTT's).

Pre-training batches are drawn from the cell's seeded generator; they are
not part of the training throughput, which times the classifier stage.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from snnbench_plugins.learning_rules import losses
from snnbench_plugins.learning_rules.bptt import BPTT, BPTTParams
from torch import nn

from snnbench.api import (
    DataSplit,
    LearningRuleSpec,
    SnnbenchError,
    TrainingDiverged,
    TrainingSession,
    hookimpl,
    param,
)


@dataclass(frozen=True)
class EncoderPretrainingParams(BPTTParams):
    pretrain_epochs: int = param(5, "epochs of encoder pre-training on the STAL loss", ge=1)
    pretrain_lr: float = param(1e-3, "Adam learning rate of the pre-training", gt=0)
    freeze: bool = field(default=True, metadata={
        "help": "freeze the pre-trained encoder (eval mode, no gradients) while the classifier trains; "
                "false fine-tunes it with the classifier"})


class FrozenEncoder(nn.Module):
    """A trained encoder held fixed: always in eval mode, never in the graph."""

    def __init__(self, encoder: nn.Module):
        super().__init__()
        self.encoder = encoder.requires_grad_(False)
        self.train(False)

    def train(self, mode: bool = True) -> FrozenEncoder:
        return super().train(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.encoder(x)


def keeps_image_layout(inputs: torch.Tensor, encoded: torch.Tensor) -> bool:
    """True when the encoder emits ``[T, B, C, H, W]`` for images ``[B, C, H, W]``."""
    return inputs.dim() == 4 and encoded.shape[2:] == inputs.shape[1:]


def pretrain_encoder(encoder: nn.Module, train: DataSplit, session: TrainingSession, epochs: int,
                     lr: float) -> list[float]:
    """Train ``encoder`` alone on the STAL encoder loss; returns each epoch's mean loss."""
    probe = train.inputs[:2]
    with torch.no_grad():
        encoded = encoder.eval()(probe)
    per_channel = keeps_image_layout(probe, encoded)
    try:
        losses.stal_encoder_loss(probe, encoded, per_channel)
    except ValueError as error:
        raise SnnbenchError(f"stal-pretrain cannot pre-train {type(encoder).__name__}: {error}") from None
    optimizer = torch.optim.Adam([p for p in encoder.parameters() if p.requires_grad], lr=lr)
    progress = session.progress
    history = []
    encoder.train()
    for epoch in range(epochs):
        if progress is not None:
            progress.start_epoch(epoch, epochs)
            progress.bar.set_description(f"{progress.label} encoder pre-training {epoch + 1}/{epochs}")
        total = torch.zeros((), device=train.inputs.device)
        order = torch.randperm(len(train), generator=session.generator).to(train.inputs.device)
        for start in range(0, len(train), session.config.batch_size):
            inputs = train.inputs[order[start:start + session.config.batch_size]]
            loss = losses.stal_encoder_loss(inputs, encoder(inputs), per_channel)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.detach() * len(inputs)
            if progress is not None:
                progress.advance(len(inputs))
        history.append(float(total) / len(train))
        if not math.isfinite(history[-1]):
            raise TrainingDiverged(f"encoder pre-training loss became {history[-1]} in epoch {epoch + 1}")
    return history


class EncoderPretraining:
    def __init__(self, params: EncoderPretrainingParams):
        self.params = params
        self.classifier = BPTT(params)
        #: mean STAL encoder loss of each pre-training epoch
        self.pretrain_history: list[float] = []

    def fit(self, model: nn.Module, train: DataSplit, session: TrainingSession) -> None:
        if not any(p.requires_grad for p in model.encoder.parameters()):
            raise SnnbenchError("stal-pretrain needs a trainable encoder (stal, convstal); this one has "
                                "no parameters to pre-train")
        self.pretrain_history = pretrain_encoder(model.encoder, train, session, self.params.pretrain_epochs,
                                                 self.params.pretrain_lr)
        if self.params.freeze:
            model.encoder = FrozenEncoder(model.encoder)
        self.classifier.fit(model, train, session)


@hookimpl
def register_learning_rules(register):
    register(LearningRuleSpec("stal-pretrain", EncoderPretrainingParams, EncoderPretraining,
                              summary="pre-train the encoder on the STAL encoder loss, freeze it, "
                                      "then train the classifier by BPTT"))
