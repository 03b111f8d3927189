"""The LAMMPS include of an mliappy model (part of tools/fitnn_convert.py).

<potential>.mliappy.mod is FitNN's <potential>.mod (src/export/lammps_include.cpp) with
`mliap model mliappy <file>.pt` instead of `mliap model nn`: the [REFERENCE] potential without
its `zero` style overlaid with mliap, and the SNAP settings file <potential>.mliap.descriptor
that FitNN writes after every fit (for every activation). The rewrite of the reference mirrors
the C++ one; tests compare the two files.
"""
import configparser
import os

from fitnn_convert_checkpoint import ConvertError


def read_input_script(path: str) -> dict:
    """The few settings of a FitSNAP input script the include needs."""
    cp = configparser.ConfigParser(inline_comment_prefixes=("#", ";"), interpolation=None,
                                   strict=False)
    cp.optionxform = str  # FitSNAP's keys are case-sensitive
    try:
        with open(path) as f:
            cp.read_file(f)
    except (OSError, configparser.Error) as e:
        raise ConvertError(f"cannot read the input script '{path}': {e}") from e
    ref = cp["REFERENCE"] if cp.has_section("REFERENCE") else {}
    get = lambda sec, key, default: cp.get(sec, key, fallback=default).strip()
    return {
        "units": get("REFERENCE", "units", "metal"),
        "atom_style": get("REFERENCE", "atom_style", "atomic"),
        "pair_style": get("REFERENCE", "pair_style", ""),
        "pair_coeffs": [v.strip() for k, v in ref.items() if k.startswith("pair_coeff")],
        "potential": get("OUTFILE", "potential", "fitsnap_potential"),
        "output_file": get("PYTORCH", "output_file", "FitTorch_Pytorch.pt"),
        "types": get("BISPECTRUM", "type", "H").split(),
    }


def _is_number(w: str) -> bool:
    try:
        float(w)
        return True
    except ValueError:
        return False


def _strip(words, keyword):
    return words[1:] if words and words[0] == keyword else words


def reference_overlay(pair_style: str, pair_coeffs):
    """(pair_style arguments without zero or "", pair_coeff lines naming their sub-style,
    notes); the same rules as reference_overlay() in src/export/lammps_include.cpp."""
    words = _strip(pair_style.split(), "pair_style")
    if not words:
        if pair_coeffs:
            raise ConvertError("[REFERENCE] has pair_coeff lines but no pair_style")
        return "", [], []
    style = words[0]
    if style.startswith("hybrid/scaled"):
        raise ConvertError(f"[REFERENCE] pair_style {style} cannot be rewritten for MD; use "
                           "hybrid/overlay")
    if style in ("hybrid", "hybrid/overlay"):
        subs, rest, i = [], words[1:], 0
        while i < len(rest):
            if rest[i] != "zero":
                subs.append(rest[i])
            else:
                if i + 1 < len(rest) and _is_number(rest[i + 1]):
                    i += 1
                if i + 1 < len(rest) and rest[i + 1] == "nocoeff":
                    i += 1
            i += 1
        names = {w for w in subs if not _is_number(w)}
        lines = []
        for line in pair_coeffs:
            w = _strip(line.split(), "pair_coeff")
            if len(w) < 3:
                raise ConvertError(f"[REFERENCE] pair_coeff '{line}' needs two atom types and "
                                   f"a sub-style of {style}")
            if w[2] == "zero":
                continue
            if w[2] not in names:
                raise ConvertError(f"[REFERENCE] pair_coeff '{line}' names no sub-style of "
                                   f"pair_style {pair_style}")
            lines.append("pair_coeff " + " ".join(w))
        if not subs:
            if lines:
                raise ConvertError("[REFERENCE] has pair_coeff lines for styles other than "
                                   f"zero but pair_style '{pair_style}' has none")
            return "", [], []
        notes = []
        if style == "hybrid":
            notes.append("the reference's pair_style hybrid became hybrid/overlay so that "
                         "mliap acts on every pair")
        if len(subs) + 1 < len(words):
            notes.append("the reference's zero style (a neighbour list for training only) "
                         "was dropped")
        return " ".join(subs), lines, notes
    if style == "zero":
        return "", [], ["the reference is pair_style zero only: no reference potential in MD"]
    lines = []
    for line in pair_coeffs:
        w = _strip(line.split(), "pair_coeff")
        if len(w) < 2:
            raise ConvertError(f"[REFERENCE] pair_coeff '{line}' needs two atom types")
        lines.append("pair_coeff " + " ".join(w[:2] + [style] + w[2:]))
    return " ".join(words), lines, [f"the reference's pair_style {style} became a sub-style "
                                    "of hybrid/overlay"]


def include_text(settings: dict, elements, model_clause: str, descriptor_file: str,
                 about: str) -> str:
    for f in (model_clause, descriptor_file):
        if any(c in f for c in "#'\""):
            raise ConvertError(f"'{f}' cannot appear in a LAMMPS command (quotes and '#')")
    if any(c in descriptor_file for c in " \t"):
        raise ConvertError(f"the file name '{descriptor_file}' contains a space")
    args, lines, notes = reference_overlay(settings["pair_style"], settings["pair_coeffs"])
    mliap = f"mliap {model_clause} descriptor sna {descriptor_file}"
    el = "".join(" " + e for e in elements)
    s = (f"# FitNN converter potential for LAMMPS: {about}\n"
         f"# Use with: units {settings['units']}, atom_style {settings['atom_style']} (the "
         "[REFERENCE] settings of the fit);\n"
         f"# atom types 1..{len(elements)} are{el} (the [BISPECTRUM] type order).\n"
         "# File names are relative to LAMMPS's working directory: run LAMMPS in this folder\n"
         "# or edit them.\n")
    s += "".join(f"# Note: {n}.\n" for n in notes)
    if not args:
        return s + f"pair_style {mliap}\npair_coeff * *{el}\n"
    s += f"pair_style hybrid/overlay {args} {mliap}\n"
    s += "".join(line + "\n" for line in lines)
    return s + f"pair_coeff * * mliap{el}\n"


def relative_to(path: str, folder: str) -> str:
    return os.path.relpath(os.path.abspath(path), os.path.abspath(folder))
