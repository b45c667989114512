#!/usr/bin/env bash
# The GPU checks in one command (a few minutes on one CUDA GPU): the CUDA tests (bf16 engine vs
# the CPU, MedSAM2 Hiera-T 512 under the official attention kernels alone, hole filling on CUDA
# tensors), then the GPU figure of bench/inference_speed.py (gpu_slices_per_s, Hiera-T 512, bf16,
# random weights unless a medsam2_t512 checkpoint is given as $1).
set -euo pipefail
cd "$(dirname "$0")/.."
python -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device')"
python -m pytest -q -p no:cacheprovider -rs tests/inference/test_cuda.py tests/inference/test_hole_filling.py
args=(--gpu-only --depth 64 --size 512)
if [[ $# -ge 1 ]]; then args+=(--checkpoint "$1" --config medsam2_t512); fi
python bench/inference_speed.py "${args[@]}"
