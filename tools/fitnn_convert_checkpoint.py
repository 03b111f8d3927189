"""FitNN checkpoints in Python (part of tools/fitnn_convert.py).

Reads and writes the checkpoint format of src/io/checkpoint.cpp (docs/CHECKPOINT.md): a
24-byte header (magic "FITNNCKP", u32 version, u32 section count, u64 payload bytes), named
typed little-endian sections (u32 name length, name, u32 type, u64 count, data; types 1 text,
2 int64, 3 float64, 4 uint64) and a trailing u64 checksum (FNV-1a 64 over 64-bit
little-endian words of everything before it, the last partial word zero-padded).

FitnnModel is the network as FitNN defines it (docs/loss-and-gradients.md):
  h0 = (x - mean) / std  [option 3: one-hot of the element appended after it]
  z_l = W_l h_{l-1} + b_l,  h_l = act(z_l),  E = z_L (linear last layer).
The flat parameter vector holds, per net and per layer, W_l row-major (out, in) then b_l.
"""
import os
import struct
from dataclasses import dataclass, field
from typing import List, Tuple

import numpy as np

MAGIC = b"FITNNCKP"
VERSION = 1
TEXT, I64, F64, U64 = 1, 2, 3, 4
ACTIVATIONS = ("softplus", "tanh", "sigmoid", "relu", "linear")
_MASK = (1 << 64) - 1


class ConvertError(Exception):
    """A conversion that cannot be done; the message says what to do."""


def checksum64(data: bytes) -> int:
    """FNV-1a 64 over little-endian 64-bit words (the last partial word zero-padded)."""
    pad = (-len(data)) % 8
    words = np.frombuffer(data + b"\0" * pad, dtype="<u8").tolist()
    h = 0xCBF29CE484222325
    for w in words:
        h = ((h ^ w) * 0x100000001B3) & _MASK
    return h


@dataclass
class FitnnModel:
    ndesc: int
    nelements: int
    option: int
    widths: List[int]          # input width, hidden..., 1
    activation: str
    elements: List[str]
    mean: np.ndarray           # (ndesc)
    std: np.ndarray            # (ndesc)
    params: np.ndarray         # (nparams)

    @property
    def input_width(self) -> int:
        return self.ndesc + (self.nelements if self.option == 3 else 0)

    @property
    def nnets(self) -> int:
        return self.nelements if self.option == 2 else 1

    def nparams_per_net(self) -> int:
        return sum(self.widths[l] * self.widths[l - 1] + self.widths[l]
                   for l in range(1, len(self.widths)))

    def net_of_type(self, t: int) -> int:
        return t if self.option == 2 else 0

    def layers(self, net: int) -> List[Tuple[np.ndarray, np.ndarray]]:
        """[(W_l (out, in), b_l (out))] of one net, views into params."""
        out, off = [], net * self.nparams_per_net()
        for l in range(1, len(self.widths)):
            o, i = self.widths[l], self.widths[l - 1]
            W = self.params[off:off + o * i].reshape(o, i)
            off += o * i
            b = self.params[off:off + o]
            off += o
            out.append((W, b))
        return out

    def validate(self) -> None:
        if self.option not in (1, 2, 3):
            raise ConvertError(f"multi_element_option {self.option}: must be 1, 2 or 3")
        if self.activation not in ACTIVATIONS:
            raise ConvertError(f"unknown activation '{self.activation}'")
        if len(self.widths) < 2 or self.widths[-1] != 1 or self.widths[0] != self.input_width:
            raise ConvertError(f"invalid layer widths {self.widths}")
        if len(self.elements) != self.nelements:
            raise ConvertError(f"{len(self.elements)} element names for {self.nelements} elements")
        if self.mean.shape != (self.ndesc,) or self.std.shape != (self.ndesc,):
            raise ConvertError("standardization arrays do not match ndesc")
        if self.params.shape != (self.nnets * self.nparams_per_net(),):
            raise ConvertError("parameter count does not match the layout")
        if not (np.all(np.isfinite(self.params)) and np.all(np.isfinite(self.mean))
                and np.all(np.isfinite(self.std)) and np.all(self.std != 0)):
            raise ConvertError("the model has non-finite parameters or a zero std")


def _read_sections(path: str) -> dict:
    try:
        with open(path, "rb") as f:
            b = f.read()
    except OSError as e:
        raise ConvertError(f"cannot read checkpoint '{path}': {e.strerror}") from e
    if len(b) < 8 or b[:8] != MAGIC:
        raise ConvertError(f"'{path}' is not a FitNN checkpoint (no FITNNCKP magic); FitSNAP "
                           "files are read by the to-checkpoint command")
    if len(b) < 32:
        raise ConvertError(f"checkpoint '{path}' is truncated ({len(b)} bytes)")
    version, nsec, payload = struct.unpack_from("<IIQ", b, 8)
    if version != VERSION:
        raise ConvertError(f"checkpoint '{path}' has format version {version}; this converter "
                           f"reads version {VERSION}")
    if len(b) != 24 + payload + 8:
        raise ConvertError(f"checkpoint '{path}' is truncated or has trailing bytes "
                           f"({len(b)} bytes, header says {24 + payload + 8})")
    stored, = struct.unpack_from("<Q", b, 24 + payload)
    if checksum64(b[:24 + payload]) != stored:
        raise ConvertError(f"checkpoint '{path}': checksum mismatch, the file is corrupt; use "
                           "the other checkpoint (best or .latest)")
    sections, p, end = {}, 24, 24 + payload
    for _ in range(nsec):
        if end - p < 4:
            raise ConvertError(f"checkpoint '{path}': section table is inconsistent")
        n, = struct.unpack_from("<I", b, p)
        name = b[p + 4:p + 4 + n].decode()
        dtype, count = struct.unpack_from("<IQ", b, p + 4 + n)
        p += 4 + n + 12
        width = 1 if dtype == TEXT else 8
        if dtype not in (TEXT, I64, F64, U64) or p + count * width > end:
            raise ConvertError(f"checkpoint '{path}': section '{name}' is damaged")
        raw = b[p:p + count * width]
        p += count * width
        if dtype == TEXT:
            sections[name] = raw.decode()
        else:
            sections[name] = np.frombuffer(raw, {I64: "<i8", F64: "<f8", U64: "<u8"}[dtype]).copy()
    return sections


def _fold_plain(m: "FitnnModel", input_layer: bool, scale: float) -> "FitnnModel":
    """FitNN's plain form (model_plain.cpp) of a model read with its trained layout: the
    trainable input layer folded into the next layer (W2 W1, W2 b1 + b2) and the output scale
    into the last (s W_L, s b_L)."""
    flat = []
    for net in range(m.nnets):
        layers = m.layers(net)
        if input_layer:
            (W1, b1), (W2, b2) = layers[0], layers[1]
            layers = [(W2 @ W1, W2 @ b1 + b2)] + layers[2:]
        WL, bL = layers[-1]
        layers[-1] = (scale * WL, scale * bL)
        for W, b in layers:
            flat += [W.reshape(-1), b]
    m.widths = [m.widths[0]] + m.widths[2:] if input_layer else m.widths
    m.params = np.concatenate(flat)
    return m


def read_checkpoint(path: str, use_best: bool = True) -> FitnnModel:
    """The model of a checkpoint in plain form: its best parameters (default) or its current
    ones; a trainable input layer and an output scale are folded in."""
    s = _read_sections(path)
    try:
        input_layer = int(s["layout.input_layer"][0]) == 1 if "layout.input_layer" in s else False
        scale = float(s["model.output_scale"][0]) if "model.output_scale" in s else 1.0
        m = FitnnModel(
            ndesc=int(s["layout.ndesc"][0]), nelements=int(s["layout.nelements"][0]),
            option=int(s["layout.option"][0]), widths=[int(w) for w in s["layout.widths"]],
            activation=s["layout.activation"],
            elements=[e for e in s["elements"].split("\n") if e],
            mean=s["model.mean"], std=s["model.std"],
            params=s["best.params"] if use_best else s["model.params"])
        if input_layer or scale != 1.0:
            if (not (np.isfinite(scale) and scale > 0) or (input_layer and len(m.widths) < 3)
                    or m.params.size != m.nnets * m.nparams_per_net()):
                raise ConvertError(f"checkpoint '{path}': invalid input layer or output scale")
            m = _fold_plain(m, input_layer, scale)
    except KeyError as e:
        raise ConvertError(f"checkpoint '{path}' misses section {e}") from e
    m.validate()
    return m


def shuffle_rng_text(seed: int) -> str:
    """std::mt19937_64 seeded like FitNN's shuffle_rng(seed), in libstdc++'s text form."""
    z = (seed + 0x9E3779B97F4A7C15) & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    x = [(z ^ (z >> 31)) & _MASK]
    for i in range(1, 312):
        x.append((6364136223846793005 * (x[-1] ^ (x[-1] >> 62)) + i) & _MASK)
    return " ".join(str(v) for v in x) + " 312"


def atomic_write(path: str, data: bytes) -> None:
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_checkpoint(path: str, m: FitnnModel, source: str, learning_rate: float = 1e-2,
                     seed: int = 0) -> None:
    """A fresh FitNN checkpoint holding `m` (epoch 0, Adam moments zero), ready for
    evaluation (save_state_input with num_epochs = 1) or further training."""
    m.validate()
    np_ = m.params.size
    zeros = np.zeros(np_)
    secs = []

    def add(name, dtype, values):
        secs.append((name, dtype, values))

    add("layout.ndesc", I64, [m.ndesc])
    add("layout.nelements", I64, [m.nelements])
    add("layout.option", I64, [m.option])
    add("layout.widths", I64, m.widths)
    add("layout.activation", TEXT, m.activation)
    add("elements", TEXT, "\n".join(m.elements))
    add("model.mean", F64, m.mean)
    add("model.std", F64, m.std)
    add("model.params", F64, m.params)
    for prefix in ("adam", "best.adam"):
        add(prefix + ".m", F64, zeros)
        add(prefix + ".v", F64, zeros)
        add(prefix + ".step", I64, [0])
        add(prefix + ".hyper", F64, [0.9, 0.999, 1e-8])
    add("plateau.lr", F64, [learning_rate])
    add("plateau.best", F64, [np.inf])
    add("plateau.bad_epochs", I64, [0])
    add("train.initial_lr", F64, [learning_rate])
    add("train.seed", U64, [seed])
    add("train.rng_state", TEXT, shuffle_rng_text(seed))
    add("train.epoch", I64, [0])
    add("train.order", I64, [])
    add("train.batch_position", I64, [0])
    add("train.partial_loss_sum", F64, [0.0])
    add("train.retries_used", I64, [0])
    add("best.loss", F64, [np.inf])
    add("best.epoch", I64, [0])
    add("best.params", F64, m.params)
    add("history.epoch", I64, [])
    add("history.train", F64, [])
    add("history.val", F64, [])
    hidden = " ".join(str(w) for w in m.widths[1:])
    add("settings", TEXT, f"fitnn_version=converted\nlayer_sizes={m.ndesc} {hidden}\n"
                          f"activation={m.activation}\nmulti_element_option={m.option}\n"
                          f"converted_from={source}\n")

    payload = bytearray()
    for name, dtype, values in secs:
        nb = name.encode()
        if dtype == TEXT:
            raw = values.encode()
            count = len(raw)
        else:
            arr = np.asarray(values, dtype={I64: "<i8", F64: "<f8", U64: "<u8"}[dtype])
            raw, count = arr.tobytes(), arr.size
        payload += struct.pack("<I", len(nb)) + nb + struct.pack("<IQ", dtype, count) + raw
    head = MAGIC + struct.pack("<IIQ", VERSION, len(secs), len(payload)) + bytes(payload)
    atomic_write(path, head + struct.pack("<Q", checksum64(head)))
