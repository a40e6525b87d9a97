"""The T2M-GPT motion tokenizer: a 1-D conv encoder, an EMA codebook with dead-code reset, and a
mirrored decoder (REFERENCE.md section 3).

    features (B, T, D) -> Encoder -> (B, T/4, code_dim) -> VectorQuantize -> ids (B, T/4)
    ids -> codebook vectors -> Decoder -> features (B, T, D)

The quantiser is `vector_quantize_pytorch.VectorQuantize`: EMA updates (decay 0.99) of code sums
and counts, and codes whose EMA count drops below 1 replaced by random encoder outputs of the
batch, as T2M-GPT's QuantizeEMAReset. Two differences, both deliberate: the codebook starts from
k-means on the first batch (T2M-GPT tiles the first batch with noise), and EMA counts are
Laplace-smoothed. Gradients pass straight through, as in the reference.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn
from vector_quantize_pytorch import VectorQuantize

from motion_r1_core.config import VQVAEModelConfig


# ------------------------------------------------------------------------------------ blocks
class ResConv1DBlock(nn.Module):
    """ReLU -> Conv1d(k3, dilation d) -> ReLU -> Conv1d(k1), plus the input. Shape-preserving."""

    def __init__(self, width: int, dilation: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(width, width, 3, padding=dilation, dilation=dilation)
        self.conv2 = nn.Conv1d(width, width, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(F.relu(x))))


class Resnet1D(nn.Sequential):
    """`depth` residual blocks with dilations r^i; the encoder runs them from the widest down."""

    def __init__(self, width: int, depth: int, growth: int, reverse: bool) -> None:
        dilations = [growth**i for i in range(depth)]
        super().__init__(
            *[ResConv1DBlock(width, d) for d in (dilations[::-1] if reverse else dilations)]
        )


class Encoder(nn.Sequential):
    """(B, D, T) -> (B, code_dim, T / 2**down_t): conv, then down_t x [stride-2 conv, Resnet1D]."""

    def __init__(self, in_dim: int, cfg: VQVAEModelConfig) -> None:
        w = cfg.width
        layers: list[nn.Module] = [nn.Conv1d(in_dim, w, 3, padding=1), nn.ReLU()]
        for _ in range(cfg.down_t):
            layers += [
                nn.Conv1d(w, w, 4, stride=2, padding=1),  # k = 2 * stride: exactly T/2 for even T
                Resnet1D(w, cfg.depth, cfg.dilation_growth_rate, reverse=True),
            ]
        layers.append(nn.Conv1d(w, cfg.code_dim, 3, padding=1))
        super().__init__(*layers)


class Decoder(nn.Sequential):
    """(B, code_dim, T') -> (B, D, T' * 2**down_t), the encoder mirrored with nearest upsampling."""

    def __init__(self, out_dim: int, cfg: VQVAEModelConfig) -> None:
        w = cfg.width
        layers: list[nn.Module] = [nn.Conv1d(cfg.code_dim, w, 3, padding=1), nn.ReLU()]
        for _ in range(cfg.down_t):
            layers += [
                Resnet1D(w, cfg.depth, cfg.dilation_growth_rate, reverse=False),
                nn.Upsample(scale_factor=2, mode="nearest"),
                nn.Conv1d(w, w, 3, padding=1),
            ]
        layers += [nn.Conv1d(w, w, 3, padding=1), nn.ReLU(), nn.Conv1d(w, out_dim, 3, padding=1)]
        super().__init__(*layers)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Decode latents x (B, code_dim, T') to (B, D, T' * 2**down_t).

        Without `mask` this is the plain nn.Sequential. With `mask` (B, 1, T') float, 1 on the
        valid positions of a right-padded batch and 0 on its padding, the activations at padded
        positions are zeroed right before every Conv1d of kernel > 1 and every ResConv1DBlock,
        and the mask is upsampled with each nn.Upsample; a sequence alone sees zeros beyond its
        end at every conv, so its valid outputs are those of decoding it alone. Padded output
        frames are zero.
        """
        if mask is None:
            return super().forward(x)
        x, mask = _masked_walk(self, x, mask)
        return x * mask


def _masked_walk(
    layers: nn.Sequential, x: torch.Tensor, mask: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Run `layers` on x (B, C, T) with the padding mask (B, 1, T) applied before every layer
    that mixes time steps; returns the output and the mask at its resolution."""
    for layer in layers:
        if isinstance(layer, Resnet1D):
            x, mask = _masked_walk(layer, x, mask)
        elif isinstance(layer, ResConv1DBlock):
            x = layer(x * mask)  # relu(0) = 0: its dilated conv1 sees zeros on the padding
        elif isinstance(layer, nn.Conv1d):
            if layer.stride != (1,) or layer.padding_mode != "zeros":
                raise TypeError(f"masked decoding supports stride-1 zero-padded convs: {layer}")
            x = layer(x * mask if layer.kernel_size[0] > 1 else x)
        elif isinstance(layer, nn.Upsample):
            x, mask = layer(x), layer(mask)
        elif isinstance(layer, nn.ReLU):
            x = layer(x)
        else:
            raise TypeError(f"masked decoding does not know layer {type(layer).__name__}")
    return x, mask


# ------------------------------------------------------------------------------------- model
@dataclass
class VQVAEOutput:
    """What a forward pass returns.

    Attributes:
        recon: (B, T, D) reconstructed normalised features.
        ids: (B, T / 2**down_t) code indices.
        commitment: scalar commitment loss MSE(z, sg(q)) (unweighted).
        perplexity: scalar exp(entropy) of the batch's code histogram.
    """

    recon: torch.Tensor
    ids: torch.Tensor
    commitment: torch.Tensor
    perplexity: torch.Tensor


class MotionVQVAE(nn.Module):
    """VQ-VAE over normalised motion features (B, T, D), T a multiple of 2**down_t."""

    def __init__(self, in_dim: int, cfg: VQVAEModelConfig) -> None:
        super().__init__()
        self.in_dim, self.cfg = in_dim, cfg
        self.encoder = Encoder(in_dim, cfg)
        self.decoder = Decoder(in_dim, cfg)
        self.quantizer = VectorQuantize(
            dim=cfg.code_dim,
            codebook_size=cfg.codebook_size,
            decay=cfg.ema_decay,
            commitment_weight=1.0,  # weighted by the training loss instead
            kmeans_init=cfg.kmeans_init,
            threshold_ema_dead_code=cfg.dead_code_threshold,
            rotation_trick=False,  # straight-through, as the reference
        )

    @property
    def frames_per_token(self) -> int:
        """Frames per token: 2**down_t."""
        return self.cfg.frames_per_token

    def _check(self, x: torch.Tensor) -> None:
        if x.ndim != 3 or x.shape[-1] != self.in_dim:
            raise ValueError(f"expected features (B, T, {self.in_dim}), got {tuple(x.shape)}")
        if x.shape[1] == 0 or x.shape[1] % self.frames_per_token:
            raise ValueError(
                f"T = {x.shape[1]} frames must be a positive multiple of {self.frames_per_token}"
            )

    def encode_latent(self, x: torch.Tensor) -> torch.Tensor:
        """Continuous encoder output (B, T / 2**down_t, code_dim) of features (B, T, D)."""
        self._check(x)
        return rearrange(self.encoder(rearrange(x, "b t d -> b d t")), "b c t -> b t c")

    def forward(self, x: torch.Tensor) -> VQVAEOutput:
        """Encode, quantise (updating the codebook by EMA in training mode) and decode."""
        z = self.encode_latent(x)
        q, ids, commitment = self.quantizer(z)
        recon = rearrange(self.decoder(rearrange(q, "b t c -> b c t")), "b d t -> b t d")
        return VQVAEOutput(recon, ids, commitment.sum(), perplexity(ids, self.cfg.codebook_size))

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Code ids (B, T / 2**down_t) of features (B, T, D); never updates the codebook."""
        was = self.training
        self.eval()
        try:
            _, ids, _ = self.quantizer(self.encode_latent(x))
        finally:
            self.train(was)
        return ids

    @torch.no_grad()
    def decode(self, ids: torch.Tensor) -> torch.Tensor:
        """Normalised features (B, L * 2**down_t, D) of code ids (B, L)."""
        if ids.ndim != 2 or ids.shape[1] == 0:
            raise ValueError(f"expected code ids (B, L >= 1), got shape {tuple(ids.shape)}")
        q = self.quantizer.get_codes_from_indices(ids)
        return rearrange(self.decoder(rearrange(q, "b t c -> b c t")), "b d t -> b t d")

    @torch.no_grad()
    def decode_padded(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Normalised features (B, L_max * 2**down_t, D) of right-padded code ids (B, L_max).

        Row b holds `lengths[b]` (1..L_max) codes, then padding (any valid id, e.g. 0). Frames
        below lengths[b] * 2**down_t equal `decode` of row b's codes alone (up to float rounding
        of the batched convolutions); the frames after them are zero. One decoder pass.
        """
        if ids.ndim != 2 or ids.shape[1] == 0:
            raise ValueError(f"expected code ids (B, L >= 1), got shape {tuple(ids.shape)}")
        lengths = torch.as_tensor(lengths, device=ids.device).long()
        if lengths.shape != ids.shape[:1]:
            raise ValueError(f"lengths {tuple(lengths.shape)} must be ({ids.shape[0]},)")
        if ((lengths < 1) | (lengths > ids.shape[1])).any():
            raise ValueError(f"lengths must lie in [1, {ids.shape[1]}], got {lengths.tolist()}")
        q = self.quantizer.get_codes_from_indices(ids)
        mask = torch.arange(ids.shape[1], device=ids.device)[None, :] < lengths[:, None]
        out = self.decoder(rearrange(q, "b t c -> b c t"), mask=mask[:, None].to(q.dtype))
        return rearrange(out, "b d t -> b t d")


def perplexity(ids: torch.Tensor, codebook_size: int) -> torch.Tensor:
    """exp(entropy) of the code histogram of `ids` (any shape): K if all codes are equally used."""
    p = torch.bincount(ids.flatten(), minlength=codebook_size).float()
    p = p / p.sum().clamp(min=1)
    return torch.exp(-(p * torch.log(p.clamp(min=1e-10))).sum())
