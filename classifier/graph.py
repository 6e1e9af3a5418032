"""The intent model's encoder passes as one ONNX graph, run by onnxruntime.

``export`` writes every member (encoder, multi-layer pooling, head) into one graph
that takes the tokenizer's ``input_ids`` and ``attention_mask`` and returns the
members' logits stacked, ``(members, batch, labels)``; calibration, the ensemble
average and the out-of-scope threshold stay in :class:`classifier.model.IntentModel`.
ONNX is a graph format: loading it runs no code, and the registry hash-checks it
like the safetensors beside it.

Exported with ``torch.onnx.export``'s TorchScript exporter (``dynamo=False``) from a
wrapper that takes keyword inputs; sentence-transformers' own ONNX backend needs
optimum-onnx, which cannot live beside sentence-transformers 6.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from classifier.model import IntentNet

GRAPH_FILE = "intent.onnx"
INPUTS = ("input_ids", "attention_mask")
OPSET = 17


def export(nets: Sequence[IntentNet], path: Path) -> Path:
    """Write the members ``nets`` as one ONNX graph at ``path``.

    Args:
        nets: the model's members (they share one tokenizer).
        path: the ``.onnx`` file to write.

    Returns:
        ``path``.
    """
    import torch

    class Members(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoders = torch.nn.ModuleList([net.transformer for net in nets])
            self.heads = torch.nn.ModuleList([net.head for net in nets])

        def forward(
            self, input_ids: torch.Tensor, attention_mask: torch.Tensor
        ) -> torch.Tensor:
            logits = []
            for net, encoder, head in zip(nets, self.encoders, self.heads, strict=True):
                out = encoder(
                    input_ids=input_ids,
                    attention_mask=attention_mask,
                    output_hidden_states=True,
                )
                mask = attention_mask.unsqueeze(-1).to(out.hidden_states[0].dtype)
                denom = mask.sum(1).clamp(min=1.0)
                pooled = [
                    torch.nn.functional.normalize(
                        (out.hidden_states[i] * mask).sum(1) / denom
                    )
                    for i in net.layers
                ]
                logits.append(head(torch.cat(pooled, dim=1) * net.feature_scale))
            return torch.stack(logits)

    module = Members().eval()
    example = nets[0].tokenizer(
        ["where is my parcel", "hello"], padding=True, return_tensors="pt"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    dynamic = {0: "batch", 1: "tokens"}
    with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
        # The TorchScript exporter is deprecated in favour of torch.export's, which
        # needs onnxscript on top; the tracer also warns about shape arithmetic
        # that the dynamic axes cover.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        # Our indices (layer numbers, token positions) are never negative.
        warnings.filterwarnings("ignore", "Exporting aten::index", UserWarning)
        torch.onnx.export(
            module,
            (),
            str(path),
            kwargs={name: example[name] for name in INPUTS},
            input_names=list(INPUTS),
            output_names=["logits"],
            dynamic_axes={
                "input_ids": dynamic,
                "attention_mask": dynamic,
                "logits": {1: "batch"},
            },
            opset_version=OPSET,
            dynamo=False,
        )
    return path


class GraphRunner:
    """An onnxruntime session over an exported graph, on the CPU.

    Args:
        path: the ``.onnx`` file.
        tokenizer: the members' tokenizer.
        max_length: tokens read of a message at most.
        threads: intra-op threads (the process's torch cap).
    """

    def __init__(
        self, path: Path, *, tokenizer: Any, max_length: int, threads: int
    ) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        # Spinning threads would take the web server's share of a small machine.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = onnxruntime.InferenceSession(
            str(path), options, providers=["CPUExecutionProvider"]
        )
        self.tokenizer = tokenizer
        self.max_length = max_length

    def member_logits(self, texts: Sequence[str]) -> list[np.ndarray]:
        """Each member's logits for ``texts``: ``(len(texts), labels)`` float32."""
        batch = self.tokenizer(
            list(texts),
            padding=True,
            truncation=True,
            max_length=self.max_length,
            return_tensors="np",
        )
        feeds = {name: np.asarray(batch[name], dtype=np.int64) for name in INPUTS}
        stacked = self.session.run(None, feeds)[0]
        return [np.asarray(member, dtype=np.float32) for member in stacked]
