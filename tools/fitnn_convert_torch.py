"""PyTorch forms of a FitNN model (part of tools/fitnn_convert.py).

TorchScript: forward(descriptors float64 [n, nd], elems int64 [n]) -> atom energies [n],
computing FitNN's model exactly ((x - mean)/std, option 3's one-hot, per-element nets), with
attributes n_descriptors, n_elements, n_params; loadable by torch.jit.load and LibTorch's
torch::jit::load without this converter.

mliappy (FitTorch_Pytorch.pt for LAMMPS `mliap model mliappy`): only torch.nn modules and
LAMMPS's lammps.mliap.pytorch wrappers (TorchWrapper, IgnoreElems, ElemwiseModels), so that
torch.load needs neither FitSNAP nor FitNN. Each element's net is FitSNAP's layout,
Sequential(Linear(nd, nd) = the standardization, Linear, act, ..., Linear(., 1)); option 3 is
folded to per-element nets (the one-hot column added to the first-layer bias).

The element-index trap: LAMMPS passes 0-based element indices, but TorchWrapper.forward
subtracts 1 before ElemwiseModels picks subnets[elem], so element 0 gets subnets[-1]. The
subnets are therefore stored rotated (subnets[(k + offset) mod n] = net of element k), with the
offset measured on the installed lammps package when the file is written.
"""
from typing import List

import numpy as np
import torch

from fitnn_convert_checkpoint import ConvertError, FitnnModel

SOFTPLUS_THRESHOLD = 40.0  # exp(-40) is below double rounding: exact softplus in float64
MLIAPPY_FORMAT = "fitnn-mliappy-1"


def activation_module(name: str):
    if name == "softplus":
        return torch.nn.Softplus(beta=1.0, threshold=SOFTPLUS_THRESHOLD)
    if name == "tanh":
        return torch.nn.Tanh()
    if name == "sigmoid":
        return torch.nn.Sigmoid()
    if name == "relu":
        return torch.nn.ReLU()
    if name == "linear":
        return None
    raise ConvertError(f"unknown activation '{name}'")


def _linear(W: np.ndarray, b: np.ndarray) -> torch.nn.Linear:
    lin = torch.nn.Linear(W.shape[1], W.shape[0], dtype=torch.float64)
    with torch.no_grad():
        lin.weight.copy_(torch.from_numpy(np.ascontiguousarray(W, dtype=np.float64)))
        lin.bias.copy_(torch.from_numpy(np.ascontiguousarray(b, dtype=np.float64)))
    return lin


def mlp(layers, activation: str, standardize=None) -> torch.nn.Sequential:
    """Sequential of the layers [(W, b)], `activation` after all but the last; `standardize`
    = (mean, std) prepends FitSNAP's Linear(nd, nd) standardization layer."""
    mods = []
    if standardize is not None:
        mean, std = standardize
        mods.append(_linear(np.diag(1.0 / std), -mean / std))
    for l, (W, b) in enumerate(layers):
        mods.append(_linear(W, b))
        act = activation_module(activation) if l + 1 < len(layers) else None
        if act is not None:
            mods.append(act)
    return torch.nn.Sequential(*mods)


def folded_layers(m: FitnnModel, t: int):
    """The layers of element t's net with option 3's one-hot folded into the first bias."""
    layers = [(W.copy(), b.copy()) for W, b in m.layers(m.net_of_type(t))]
    if m.option == 3:
        W1, b1 = layers[0]
        layers[0] = (W1[:, :m.ndesc].copy(), b1 + W1[:, m.ndesc + t])
    return layers


class FitnnTorchScript(torch.nn.Module):
    """FitNN's model for TorchScript (scripted, then saved; not needed to load it)."""
    n_descriptors: int
    n_elements: int
    n_params: int
    option: int
    per_element: bool
    activation: str
    elements: List[str]

    def __init__(self, m: FitnnModel):
        super().__init__()
        self.n_descriptors = m.ndesc
        self.n_elements = m.nelements
        self.n_params = int(m.params.size)
        self.option = m.option
        self.per_element = m.option == 2
        self.activation = m.activation
        self.elements = list(m.elements)
        self.register_buffer("mean", torch.from_numpy(m.mean.astype(np.float64)))
        self.register_buffer("std", torch.from_numpy(m.std.astype(np.float64)))
        self.nets = torch.nn.ModuleList([mlp(m.layers(k), m.activation) for k in range(m.nnets)])

    def forward(self, descriptors: torch.Tensor, elems: torch.Tensor) -> torch.Tensor:
        if descriptors.dim() != 2 or descriptors.size(1) != self.n_descriptors:
            raise RuntimeError("descriptors must be [n, n_descriptors]")
        n = descriptors.size(0)
        if elems.dim() != 1 or elems.size(0) != n:
            raise RuntimeError("elems must be [n] element indices (0-based)")
        if n > 0:
            if int(elems.min()) < 0 or int(elems.max()) >= self.n_elements:
                raise RuntimeError("elems must be in [0, n_elements)")
        h0 = (descriptors - self.mean) / self.std
        if self.option == 3:
            onehot = torch.nn.functional.one_hot(elems.long(), self.n_elements)
            h0 = torch.cat([h0, onehot.to(h0.dtype)], dim=1)
        out = torch.zeros(n, dtype=descriptors.dtype, device=descriptors.device)
        for t, net in enumerate(self.nets):
            if self.per_element:
                idx = torch.nonzero(elems == t).reshape(-1)
                out = out.index_copy(0, idx, net(h0.index_select(0, idx)).reshape(-1))
            else:
                out = net(h0).reshape(-1)
        return out


def torchscript_module(m: FitnnModel) -> torch.jit.ScriptModule:
    return torch.jit.script(FitnnTorchScript(m).to(torch.float64))


class _Constant(torch.nn.Module):
    def __init__(self, value: float):
        super().__init__()
        self.value = value

    def forward(self, x):
        return x[:, :1] * 0.0 + self.value


def lammps_elem_offset() -> int:
    """Which subnet the installed TorchWrapper + ElemwiseModels give LAMMPS element 0:
    returns o such that element k runs subnets[(k + o) mod n] (-1 in LAMMPS 2022-2025)."""
    from lammps.mliap.pytorch import ElemwiseModels, TorchWrapper
    n = 3
    probe = TorchWrapper(ElemwiseModels(torch.nn.ModuleList([_Constant(float(k)) for k in range(n)]), n),
                         n_descriptors=1, n_elements=n, n_params=0)
    elems = np.arange(n, dtype=np.int32)
    energy = np.zeros(n)
    beta = np.zeros((n, 1))
    desc = np.zeros((n, 1))
    probe(elems, desc, beta, energy)
    hits = [int(round(e)) for e in energy]
    offsets = {(hits[k] - k) % n for k in range(n)}
    if len(offsets) != 1:
        raise ConvertError(f"cannot tell how lammps.mliap.pytorch maps elements ({hits})")
    o = offsets.pop()
    return o - n if o > n // 2 else o


def mliappy_module(m: FitnnModel, offset: int = None):
    """TorchWrapper(IgnoreElems | ElemwiseModels) for `mliap model mliappy`."""
    from lammps.mliap.pytorch import ElemwiseModels, IgnoreElems, TorchWrapper
    nets = [mlp(folded_layers(m, t), m.activation, (m.mean, m.std)) for t in range(m.nelements)]
    meta = {"format": MLIAPPY_FORMAT, "elements": list(m.elements), "activation": m.activation,
            "option": m.option, "standardization_layer": True,
            "mean": m.mean.tolist(), "std": m.std.tolist()}
    if m.option == 1 or m.nelements == 1:
        model = IgnoreElems(nets[0])
        meta["subnet_of_element"] = [0] * m.nelements
    else:
        if offset is None:
            offset = lammps_elem_offset()
        n = m.nelements
        order = [None] * n
        for k in range(n):
            order[(k + offset) % n] = nets[k]
        model = ElemwiseModels(torch.nn.ModuleList(order), n)
        meta["subnet_of_element"] = [(k + offset) % n for k in range(n)]
        meta["lammps_elem_offset"] = offset
    wrapper = TorchWrapper(model, n_descriptors=m.ndesc, n_elements=m.nelements)
    wrapper.fitnn_meta = meta
    return wrapper


def parse_sequential(seq) -> tuple:
    """(layers [(W, b)], activation, standardization layer or None) of a FitSNAP-layout
    Sequential: Linear(nd, nd) standardization, then Linear / activation alternating."""
    names = {torch.nn.Softplus: "softplus", torch.nn.Tanh: "tanh", torch.nn.Sigmoid: "sigmoid",
             torch.nn.ReLU: "relu"}
    linears, acts = [], set()
    for mod in seq:
        if isinstance(mod, torch.nn.Linear):
            linears.append((mod.weight.detach().double().numpy().copy(),
                            mod.bias.detach().double().numpy().copy()))
        elif type(mod) in names:
            acts.add(names[type(mod)])
            if isinstance(mod, torch.nn.Softplus) and (mod.beta != 1 or mod.threshold < 20):
                raise ConvertError(f"Softplus(beta={mod.beta}, threshold={mod.threshold}) has "
                                   "no FitNN equivalent")
        else:
            raise ConvertError(f"unsupported module {type(mod).__name__} in the network")
    if len(acts) > 1:
        raise ConvertError(f"mixed activations {sorted(acts)}: FitNN uses one")
    if len(linears) < 2 or linears[0][0].shape[0] != linears[0][0].shape[1]:
        raise ConvertError("the network does not start with FitSNAP's Linear(nd, nd) "
                           "standardization layer")
    return linears[1:], (acts.pop() if acts else "linear"), linears[0]
