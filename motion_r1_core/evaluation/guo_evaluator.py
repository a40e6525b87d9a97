"""The published text-motion evaluator of Guo et al. (2022), loaded from the files users download.

Every HumanML3D / KIT-ML table (T2M-GPT, MoMask, MotionGPT, Motion-R1) embeds texts and motions
with this network, so numbers on real data are comparable only through it. Nothing here is
downloaded: the user points at

    checkpoints/<t2m|kit>/text_mot_match/model/finest.tar   movement_encoder, text_encoder,
                                                            motion_encoder state dicts
    checkpoints/<t2m|kit>/Comp_v6_KLD005/meta/{mean,std}.npy  the evaluator's feature statistics
    glove/our_vab_{data.npy,words.pkl,idx.pkl}              GloVe vectors of its vocabulary

Networks (layer names match the state dicts):
    text:   GloVe 300 + Linear(POS one-hot 15 -> 300), Linear 300 -> 512, BiGRU 512 packed by
            length, [h_fwd, h_bwd] -> Linear 1024 -> 512, LayerNorm, LeakyReLU 0.2, Linear -> 512.
    motion: features without the 4 foot contacts -> Conv1d(k4 s2 p1) x 2 (LeakyReLU 0.2) ->
            Linear 512 ("movement", one vector per 4 frames), Linear -> 1024, BiGRU 1024 over
            m_len // 4 steps, [h_fwd, h_bwd] -> Linear 2048 -> 512, LayerNorm, LeakyReLU, Linear.
Texts are 22 tokens: sos + up to 20 `word/POS` tokens of the caption file + eos, padded with
unk/OTHER; a word of one of five "VIP" lists takes that list's POS class.
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from motion_r1_core.data.humanml3d import Caption

POS_CLASSES = (
    "VERB",
    "NOUN",
    "DET",
    "ADP",
    "NUM",
    "AUX",
    "PRON",
    "ADJ",
    "ADV",
    "Loc_VIP",
    "Body_VIP",
    "Obj_VIP",
    "Act_VIP",
    "Desc_VIP",
    "OTHER",
)
# Words whose POS class is replaced by their list's (the reference's VIP lists, verbatim).
VIP_WORDS = {
    "Loc_VIP": [
        "left",
        "right",
        "clockwise",
        "counterclockwise",
        "anticlockwise",
        "forward",
        "back",
        "backward",
        "up",
        "down",
        "straight",
        "curve",
    ],
    "Body_VIP": [
        "arm",
        "chin",
        "foot",
        "feet",
        "face",
        "hand",
        "mouth",
        "leg",
        "waist",
        "eye",
        "knee",
        "shoulder",
        "thigh",
    ],
    "Obj_VIP": [
        "stair",
        "dumbbell",
        "chair",
        "window",
        "floor",
        "car",
        "ball",
        "handrail",
        "baseball",
        "basketball",
    ],
    "Act_VIP": [
        "walk",
        "run",
        "swing",
        "pick",
        "bring",
        "kick",
        "put",
        "squat",
        "throw",
        "hop",
        "dance",
        "jump",
        "turn",
        "stumble",
        "dance",
        "stop",
        "sit",
        "lift",
        "lower",
        "raise",
        "wash",
        "stand",
        "kneel",
        "stroll",
        "rub",
        "bend",
        "balance",
        "flap",
        "jog",
        "shuffle",
        "lean",
        "rotate",
        "spin",
        "spread",
        "climb",
    ],
    "Desc_VIP": [
        "slowly",
        "carefully",
        "fast",
        "careful",
        "slow",
        "quickly",
        "happy",
        "angry",
        "sad",
        "happily",
        "angrily",
        "sadly",
    ],
}
MAX_TEXT_LEN = 20  # caption tokens kept; with sos and eos a text is 22 tokens
UNIT_LENGTH = 4  # frames per movement vector
MAX_MOTION_LEN = 196  # frames every motion is zero-padded to (after normalisation)
CONTACTS = 4  # trailing foot-contact features the motion encoder does not see


class TextEncoderBiGRUCo(nn.Module):
    """Word vectors (B, L, 300) + POS one-hots (B, L, 15), lengths (B,) -> (B, 512)."""

    def __init__(self, word_size: int = 300, pos_size: int = 15, hidden: int = 512, out: int = 512):
        super().__init__()
        self.pos_emb = nn.Linear(pos_size, word_size)
        self.input_emb = nn.Linear(word_size, hidden)
        self.gru = nn.GRU(hidden, hidden, batch_first=True, bidirectional=True)
        self.output_net = nn.Sequential(
            nn.Linear(2 * hidden, hidden),
            nn.LayerNorm(hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden, out),
        )
        self.hidden = nn.Parameter(torch.randn(2, 1, hidden))

    def forward(
        self, words: torch.Tensor, pos: torch.Tensor, lengths: torch.Tensor
    ) -> torch.Tensor:
        x = self.input_emb(words + self.pos_emb(pos))
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, last = self.gru(packed, self.hidden.repeat(1, len(words), 1).contiguous())
        return self.output_net(torch.cat([last[0], last[1]], dim=-1))


class MovementConvEncoder(nn.Module):
    """Features without contacts (B, T, D) -> movement vectors (B, T // 4, 512)."""

    def __init__(self, in_dim: int, hidden: int = 512, out: int = 512):
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv1d(in_dim, hidden, 4, 2, 1),
            nn.Dropout(0.2),
            nn.LeakyReLU(0.2),
            nn.Conv1d(hidden, out, 4, 2, 1),
            nn.Dropout(0.2),
            nn.LeakyReLU(0.2),
        )
        self.out_net = nn.Linear(out, out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out_net(self.main(x.transpose(1, 2)).transpose(1, 2))


class MotionEncoderBiGRUCo(nn.Module):
    """Movement vectors (B, T', 512), valid lengths (B,) in movement steps -> (B, 512)."""

    def __init__(self, in_dim: int = 512, hidden: int = 1024, out: int = 512):
        super().__init__()
        self.input_emb = nn.Linear(in_dim, hidden)
        self.gru = nn.GRU(hidden, hidden, batch_first=True, bidirectional=True)
        self.output_net = nn.Sequential(
            nn.Linear(2 * hidden, out), nn.LayerNorm(out), nn.LeakyReLU(0.2), nn.Linear(out, out)
        )
        self.hidden = nn.Parameter(torch.randn(2, 1, hidden))

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        packed = pack_padded_sequence(
            self.input_emb(x), lengths.cpu(), batch_first=True, enforce_sorted=False
        )
        _, last = self.gru(packed, self.hidden.repeat(1, len(x), 1).contiguous())
        return self.output_net(torch.cat([last[0], last[1]], dim=-1))


class _PlainUnpickler(pickle.Unpickler):
    """Unpickles only plain containers and strings/numbers: GloVe word lists, never code."""

    def find_class(self, module: str, name: str):
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a word list")


def _load_plain_pickle(path: Path):
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing (GloVe files of the evaluator)")
    with path.open("rb") as f:
        return _PlainUnpickler(f).load()


class WordVectorizer:
    """`word/POS` tokens -> (GloVe vector (300,), POS one-hot (15,)) as the evaluator saw them."""

    def __init__(self, glove_dir: Path, prefix: str = "our_vab") -> None:
        glove_dir = Path(glove_dir)
        data = glove_dir / f"{prefix}_data.npy"
        if not data.is_file():
            raise FileNotFoundError(f"{data}: missing (GloVe files of the evaluator)")
        vectors = np.load(data, allow_pickle=False).astype(np.float32)
        words = _load_plain_pickle(glove_dir / f"{prefix}_words.pkl")
        index = _load_plain_pickle(glove_dir / f"{prefix}_idx.pkl")
        self.word2vec = {w: vectors[index[w]] for w in words}
        if "unk" not in self.word2vec:
            raise ValueError(f"{glove_dir}: the vocabulary has no 'unk' entry")
        self.vip = {w: key for key, ws in VIP_WORDS.items() for w in ws}

    @staticmethod
    def one_hot(pos: str) -> np.ndarray:
        """(15,) one-hot of a POS class; unknown tags map to OTHER."""
        v = np.zeros(len(POS_CLASSES), np.float32)
        v[POS_CLASSES.index(pos) if pos in POS_CLASSES else POS_CLASSES.index("OTHER")] = 1
        return v

    def __call__(self, token: str) -> tuple[np.ndarray, np.ndarray]:
        """Vector and POS one-hot of one `word/POS` token; out-of-vocabulary -> unk/OTHER."""
        word, _, pos = token.rpartition("/")
        if word in self.word2vec:
            return self.word2vec[word], self.one_hot(self.vip.get(word, pos))
        return self.word2vec["unk"], self.one_hot("OTHER")

    def encode_tokens(self, tokens: list[str]) -> tuple[np.ndarray, np.ndarray, int]:
        """Words (22, 300), POS one-hots (22, 15) and length of one caption's `word/POS` tokens:
        sos + the first 20 tokens + eos, padded with unk/OTHER."""
        toks = ["sos/OTHER", *tokens[:MAX_TEXT_LEN], "eos/OTHER"]
        n = len(toks)
        toks += ["unk/OTHER"] * (MAX_TEXT_LEN + 2 - n)
        vecs, pos = zip(*(self(t) for t in toks), strict=True)
        return np.stack(vecs), np.stack(pos), n


@dataclass
class GuoEvaluator:
    """The three published networks, the evaluator's mean/std and its word vectors.

    `embed_texts` and `embed_motions` give the 512-d embeddings every metric is computed on.
    """

    text_encoder: TextEncoderBiGRUCo
    movement_encoder: MovementConvEncoder
    motion_encoder: MotionEncoderBiGRUCo
    mean: np.ndarray
    std: np.ndarray
    words: WordVectorizer
    device: torch.device

    @classmethod
    def load(
        cls,
        checkpoint: Path,
        meta_dir: Path,
        glove_dir: Path,
        device: str | torch.device = "cpu",
    ) -> GuoEvaluator:
        """Load finest.tar (tensors only, `weights_only=True`), meta mean/std and GloVe.

        The feature width (263 for HumanML3D, 251 for KIT-ML) is read from the checkpoint.
        """
        checkpoint, meta_dir = Path(checkpoint), Path(meta_dir)
        if not checkpoint.is_file():
            raise FileNotFoundError(f"{checkpoint}: missing (text_mot_match/model/finest.tar)")
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        missing = {"text_encoder", "movement_encoder", "motion_encoder"} - set(state)
        if missing:
            raise ValueError(f"{checkpoint}: no {', '.join(sorted(missing))} state dict")
        in_dim = state["movement_encoder"]["main.0.weight"].shape[1]
        nets = {
            "text_encoder": TextEncoderBiGRUCo(),
            "movement_encoder": MovementConvEncoder(in_dim),
            "motion_encoder": MotionEncoderBiGRUCo(),
        }
        for name, net in nets.items():
            try:
                net.load_state_dict(state[name])
            except RuntimeError as e:
                raise ValueError(
                    f"{checkpoint}: {name} does not fit the published layout: {e}"
                ) from e
            net.to(device).eval()
        stats = []
        for fname in ("mean.npy", "std.npy"):
            if not (meta_dir / fname).is_file():
                raise FileNotFoundError(f"{meta_dir / fname}: missing (the evaluator's meta)")
            stats.append(np.load(meta_dir / fname, allow_pickle=False).astype(np.float32))
        if stats[0].shape != (in_dim + CONTACTS,) or stats[1].shape != stats[0].shape:
            raise ValueError(
                f"{meta_dir}: mean/std of shape {stats[0].shape}, expected ({in_dim + CONTACTS},)"
            )
        return cls(
            **nets,
            mean=stats[0],
            std=stats[1],
            words=WordVectorizer(glove_dir),
            device=torch.device(device),
        )

    @torch.no_grad()
    def embed_texts(self, captions_tokens: list[list[str]]) -> np.ndarray:
        """(N, 512) embeddings of N captions given as `word/POS` token lists."""
        enc = [self.words.encode_tokens(t) for t in captions_tokens]
        words = torch.from_numpy(np.stack([e[0] for e in enc])).to(self.device)
        pos = torch.from_numpy(np.stack([e[1] for e in enc])).to(self.device)
        lengths = torch.tensor([e[2] for e in enc])
        return self.text_encoder(words, pos, lengths).cpu().numpy()

    def embed_captions(self, captions: Sequence[Caption]) -> np.ndarray:
        """(N, 512) embeddings of captions from their `word/POS` tokens (texts/ID.txt field 2)."""
        for c in captions:
            if not c.tokens:
                raise ValueError(
                    f"caption {c.text!r} has no word/POS tokens: the published evaluator reads them"
                )
        return self.embed_texts([list(c.tokens) for c in captions])

    @torch.no_grad()
    def embed_motions(self, motions: Sequence[np.ndarray]) -> np.ndarray:
        """(N, 512) embeddings of raw feature arrays (T_i, D), T_i >= 4.

        Each motion is normalised with the evaluator's mean/std, cropped to a multiple of 4
        frames and zero-padded to 196 frames (or the longest); the GRU reads T_i // 4 steps.
        An embedding does not depend on the rest of the batch.
        """
        lengths = [len(m) // UNIT_LENGTH * UNIT_LENGTH for m in motions]
        if min(lengths) == 0:
            raise ValueError(f"a motion shorter than {UNIT_LENGTH} frames cannot be embedded")
        # zero-padded to 196 frames as the reference loader does: the second convolution sees
        # the padding, so a shorter pad would change the last movement vector
        x = np.zeros((len(motions), max(MAX_MOTION_LEN, *lengths), len(self.mean)), np.float32)
        for i, (m, n) in enumerate(zip(motions, lengths, strict=True)):
            if m.shape[-1] != len(self.mean):
                raise ValueError(
                    f"motion {i}: {m.shape[-1]} features, the evaluator reads {len(self.mean)}"
                )
            x[i, :n] = (m[:n] - self.mean) / self.std
        feats = torch.from_numpy(x[..., :-CONTACTS]).to(self.device)
        movements = self.movement_encoder(feats)
        steps = torch.tensor(lengths) // UNIT_LENGTH
        return self.motion_encoder(movements, steps).cpu().numpy()
