"""The recommender model: a small SASRec-style transformer over item sequences.

Why this model (amazon-office, chronological leave-one-out, test NDCG@10; see
``benchmarks/results/recsys_amazon_office.json``): the product asks "what comes next
after these items", and a causal self-attention model trained with a full softmax
over the catalog answers it best: 0.069 against implicit ALS 0.037, ItemKNN 0.033,
item-to-item transitions 0.047, text similarity alone 0.047, and a BPR-MF tried in
PyTorch 0.013. Without the text path the same network reaches 0.052.

Items are represented by a learned id embedding *plus* a projection of their text
embedding (ml.encoder). Items with no interactions (new products) have no id
embedding, so they are scored from their text alone; during training the id part is
randomly dropped ("id dropout") so the model learns to rank by the text path too.

This module holds the network, its rankings and its save/load contract (no
Django); ``recommender.training`` fits it, ``recommender.serving`` serves the active
one.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

__all__ = [
    "Reason",
    "RecommenderModel",
    "SequenceNet",
    "TrainConfig",
    "load",
]

FORMAT = "concierge-sasrec"
FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
NEIGHBOURS = 20
# Below this cosine a history item is not called "similar" in a reason.
SIMILAR_THRESHOLD = 0.5

# Any hashable id (SKUs and data-set ids are strings); Any keeps Mapping[str, …]
# arguments acceptable to mypy, which treats Mapping keys as invariant.
Item = Any
# ("similar_to", item) | ("bought_with", item) | ("popular", None) | ("content", None)
Reason = tuple[str, Any]


@dataclass
class TrainConfig:
    """Hyper-parameters; the defaults are the ones chosen on amazon-office."""

    dim: int = 64
    layers: int = 1
    heads: int = 2
    dropout: float = 0.3
    max_len: int = 50
    batch_size: int = 128
    lr: float = 3e-3
    weight_decay: float = 0.0
    epochs: int = 200
    patience: int = 8
    id_dropout: float = 0.2
    use_content: bool = True
    # Final score = network score + content_weight * cosine to the recent history's
    # text (decayed by content_decay per step back); the weight is chosen on the
    # validation cases after training.
    content_weight: float = 0.0
    content_decay: float = 0.3
    # Items with no interactions in training (new products) have only their text:
    # it gets this extra weight and bias for them, also chosen on validation, where
    # some targets were never seen in training, just like a new product.
    cold_content_weight: float = 0.0
    cold_bias: float = 0.0
    time_budget_s: float = 240.0
    # One thread: on a shared machine two OpenMP threads can run 10x slower.
    threads: int = 1


class SequenceNet(nn.Module):
    """Causal self-attention over the history; scores are dot products with items.

    Index 0 is padding; item ``i`` of the vocabulary is row ``i + 1``.
    """

    content: torch.Tensor
    warm: torch.Tensor

    def __init__(
        self, *, n_items: int, content: torch.Tensor | None, config: TrainConfig
    ) -> None:
        super().__init__()
        dim = config.dim
        self.dim = dim
        self.item_id = nn.Embedding(n_items + 1, dim, padding_idx=0)
        nn.init.normal_(self.item_id.weight, std=0.02)
        with torch.no_grad():
            self.item_id.weight[0].zero_()
        self.content_proj: nn.Linear | None = None
        if content is not None:
            self.content_proj = nn.Linear(content.shape[1], dim, bias=False)
            self.register_buffer("content", content)
        self.register_buffer("warm", torch.zeros(n_items + 1))
        self.position = nn.Embedding(config.max_len, dim)
        layer = nn.TransformerEncoderLayer(
            dim,
            config.heads,
            dim_feedforward=dim * 2,
            dropout=config.dropout,
            batch_first=True,
            norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(
            layer, config.layers, enable_nested_tensor=False
        )
        self.norm = nn.LayerNorm(dim)
        self.dropout = nn.Dropout(config.dropout)

    def items(self, keep_id: torch.Tensor | None = None) -> torch.Tensor:
        """Every item's vector, ``(n_items + 1, dim)``; row 0 (padding) is zero."""
        # Cold items have no trained id vector: only their text speaks for them.
        mask = self.warm if keep_id is None else self.warm * keep_id
        vectors = self.item_id.weight * mask[:, None]
        if self.content_proj is not None:
            vectors = vectors + self.content_proj(self.content)
        return vectors

    def forward(self, seqs: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Hidden state at every position of right-aligned ``seqs`` ``(B, L)``."""
        length = seqs.shape[1]
        x = items[seqs] * math.sqrt(self.dim)
        start = self.position.num_embeddings - length
        x = x + self.position.weight[start:][None]
        x = self.dropout(x)
        # Causal, and padding is never attended to, except that a padding position
        # sees itself: a query with every key masked gives NaN, which the next layer
        # would spread through 0 * NaN.
        causal = torch.triu(torch.ones(length, length, dtype=torch.bool), 1)
        padding = (seqs == 0)[:, None, :] & ~torch.eye(length, dtype=torch.bool)
        blocked = causal[None] | padding
        heads = self.encoder.layers[0].self_attn.num_heads
        h = self.encoder(x, mask=blocked.repeat_interleave(heads, dim=0))
        return self.norm(h)


def right_aligned(histories: Sequence[Sequence[int]], max_len: int) -> torch.Tensor:
    """Pad to the batch's longest history (at most ``max_len``), items on the right."""
    length = max(1, min(max_len, max((len(h) for h in histories), default=1)))
    out = torch.zeros(len(histories), length, dtype=torch.long)
    for row, history in enumerate(histories):
        tail = list(history)[-length:]
        if tail:
            out[row, length - len(tail) :] = torch.tensor(tail) + 1
    return out


class RecommenderModel:
    """A trained recommender: the network, item ids, popularity and co-occurrence.

    Fit it with ``recommender.training.fit_recommender``, or :func:`load` it.
    """

    def __init__(
        self,
        *,
        item_ids: list[Item],
        config: TrainConfig,
        net: SequenceNet,
        popularity: np.ndarray,
        neighbours: np.ndarray,
        neighbour_counts: np.ndarray,
        meta: dict[str, Any] | None = None,
    ) -> None:
        self.item_ids = item_ids
        self.index = {item: i for i, item in enumerate(item_ids)}
        self.config = config
        self.net = net.eval()
        self.popularity = popularity
        self.neighbours = neighbours
        self.neighbour_counts = neighbour_counts
        self.meta = meta or {}
        self._content: np.ndarray | None = None
        self._item_vectors: torch.Tensor | None = None

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def content(self) -> np.ndarray | None:
        """The normalized text embeddings ``(n_items, d)``, or ``None``."""
        if self._content is None and self.net.content_proj is not None:
            self._content = self.net.content[1:].numpy()
        return self._content

    def is_warm(self, item: Item) -> bool:
        """Whether ``item`` had interactions in training."""
        i = self.index.get(item)
        return i is not None and bool(self.net.warm[i + 1] > 0)

    @torch.no_grad()
    def scores(self, histories: Sequence[Sequence[int]]) -> np.ndarray:
        """Score every item for each history of item *indices*.

        Args:
            histories: item indices (positions in ``item_ids``), oldest first.

        Returns:
            ``(len(histories), n_items)`` float32 scores; an empty history gets
            log-popularity (no signal about the user).
        """
        if self._item_vectors is None:
            self._item_vectors = self.net.items()
        items = self._item_vectors
        out = np.empty((len(histories), self.n_items), dtype=np.float32)
        filled = [i for i, h in enumerate(histories) if len(h)]
        if filled:
            chosen = [histories[i] for i in filled]
            seqs = right_aligned(chosen, self.config.max_len)
            hidden = self.net(seqs, items)[:, -1]
            out[filled] = (hidden @ items[1:].T).numpy()
            out[filled] += self._blend(out[filled], chosen)
        empty = [i for i, h in enumerate(histories) if not len(h)]
        if empty:
            out[empty] = np.log1p(self.popularity)[None]
        return out

    def _blend(
        self, network: np.ndarray, histories: Sequence[Sequence[int]]
    ) -> np.ndarray:
        """What the text and the cold-item terms add to the network's scores."""
        config = self.config
        extra = np.zeros_like(network)
        if self.content is None or not (
            config.content_weight or config.cold_content_weight or config.cold_bias
        ):
            return extra
        content = self.content_scores(histories)
        cold = self.cold_mask()[None]
        extra += config.content_weight * content
        extra += cold * (config.cold_content_weight * content + config.cold_bias)
        return extra

    def cold_mask(self) -> np.ndarray:
        """1.0 for items without interactions in training, else 0.0."""
        return (self.net.warm[1:] == 0).numpy().astype(np.float32)

    def content_scores(self, histories: Sequence[Sequence[int]]) -> np.ndarray:
        """Cosine of every item's text to each history's recent items' text.

        Args:
            histories: item indices, oldest first.

        Returns:
            ``(len(histories), n_items)``; zeros without text embeddings.
        """
        content = self.content
        if content is None:
            return np.zeros((len(histories), self.n_items), dtype=np.float32)
        profiles = np.zeros((len(histories), content.shape[1]), dtype=np.float32)
        for row, history in enumerate(histories):
            recent = list(history)[-20:]
            if recent:
                weights = self.config.content_decay ** np.arange(len(recent))[::-1]
                profiles[row] = weights.astype(np.float32) @ content[recent]
        return profiles @ content.T

    def recommend(
        self,
        history: Sequence[Item],
        *,
        k: int = 10,
        exclude: Iterable[Item] = (),
    ) -> list[tuple[Item, float, Reason]]:
        """The top ``k`` items to show after ``history``.

        Args:
            history: item ids the customer interacted with, oldest first; ids the
                model never saw are ignored.
            k: how many to return.
            exclude: item ids never to return (the history is always excluded).

        Returns:
            ``(item, score, reason)`` best first; reason is ``("bought_with", item)``
            (co-occurred with a history item in training), ``("similar_to", item)``
            (close text embedding), ``("content", None)`` (a new item ranked by its
            text) or ``("popular", None)`` (no history to go on).
        """
        known = [self.index[h] for h in history if h in self.index]
        scores = self.scores([known])[0].astype(np.float64)
        banned = set(known) | {self.index[e] for e in exclude if e in self.index}
        if banned:
            scores[list(banned)] = -np.inf
        k = min(k, self.n_items - len(banned))
        if k <= 0:
            return []
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [
            (self.item_ids[i], float(scores[i]), self._reason(int(i), known))
            for i in top
        ]

    def _reason(self, item: int, history: list[int]) -> Reason:
        if not history:
            return ("popular", None)
        recent = history[-10:]
        row = self.neighbours[item]
        for h in reversed(recent):
            if h in row:
                return ("bought_with", self.item_ids[h])
        content = self.content
        if content is not None:
            sims = content[recent] @ content[item]
            best = int(np.argmax(sims))
            if sims[best] >= SIMILAR_THRESHOLD:
                return ("similar_to", self.item_ids[recent[best]])
            if not self.is_warm(self.item_ids[item]):
                return ("content", None)
        return ("similar_to", self.item_ids[history[-1]])

    def similar_items(
        self, item: Item, *, k: int = 10
    ) -> list[tuple[Item, float, Reason]]:
        """Items to show next to ``item`` (a product page): its one-item history."""
        return self.recommend([item], k=k)

    def save(self, directory: str | Path) -> Path:
        """Write ``config.json`` + ``model.safetensors`` (no pickle anywhere).

        Args:
            directory: created if missing.

        Returns:
            The directory.
        """
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        config = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "item_ids": self.item_ids,
            "config": asdict(self.config),
            "content_dim": (
                int(self.net.content.shape[1])
                if self.net.content_proj is not None
                else None
            ),
            "meta": self.meta,
        }
        (directory / CONFIG_FILE).write_text(json.dumps(config), encoding="utf-8")
        tensors = {f"net.{k}": v.contiguous() for k, v in self.net.state_dict().items()}
        tensors["popularity"] = torch.from_numpy(self.popularity.astype(np.float32))
        tensors["neighbours"] = torch.from_numpy(self.neighbours.astype(np.int32))
        tensors["neighbour_counts"] = torch.from_numpy(
            self.neighbour_counts.astype(np.float32)
        )
        save_file(tensors, str(directory / WEIGHTS_FILE))
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> RecommenderModel:
        """Read a model written by :meth:`save`.

        Args:
            directory: the artifact folder (hash-checked by the registry first).

        Returns:
            The model, in eval mode.
        """
        directory = Path(directory)
        raw = json.loads((directory / CONFIG_FILE).read_text(encoding="utf-8"))
        if raw.get("format") != FORMAT:
            raise ValueError(f"{directory}: not a {FORMAT} artifact")
        known = {f.name for f in fields(TrainConfig)}
        config = TrainConfig(**{k: v for k, v in raw["config"].items() if k in known})
        tensors = load_file(str(directory / WEIGHTS_FILE))
        state = {k[4:]: v for k, v in tensors.items() if k.startswith("net.")}
        content = state.get("content")
        item_ids = list(raw["item_ids"])
        net = SequenceNet(n_items=len(item_ids), content=content, config=config)
        net.load_state_dict(state)
        return cls(
            item_ids=item_ids,
            config=config,
            net=net,
            popularity=tensors["popularity"].numpy().astype(np.float64),
            neighbours=tensors["neighbours"].numpy(),
            neighbour_counts=tensors["neighbour_counts"].numpy(),
            meta=raw.get("meta") or {},
        )


load = RecommenderModel.load
