#!/usr/bin/env bash
# Every GPU figure of the speed issue in one run, since a lent GPU's time is short. Each part has its
# own time limit and may fail alone. Output goes to the terminal and to ${OUT:-.}/gpu.log.
# Usage: bash benchmarks/gpu_suite.sh OFFICIAL_DIR   (a checkout of NVlabs/stylegan2-ada-pytorch)
# About 8 minutes on an H200, 1-2 of them building the official CUDA kernels.
set -u
OFF=${1:?give a stylegan2-ada-pytorch checkout}
LOG=${OUT:-.}/gpu.log
. "$(dirname "$0")/gpu_part.sh"  # part(), and the GPU named in the log
# The first part builds the official CUDA kernels (cached for the later parts).
part 200 benchmarks.vs_official --official "$OFF" --device cuda --sizes 1024 --batches 1,8 --repeats 10 --profile
part 60 benchmarks.vs_official --official "$OFF" --device cuda --sizes 1024 --batches 1,8 --repeats 10 --bf16
part 60 benchmarks.vs_official --device cuda --sizes 256,1024 --scaling --repeats 5
part 60 benchmarks.edit_latency --device cuda --sizes 256,1024 --moves 20
part 240 benchmarks.projection_speed --official "$OFF" --device cuda --size 1024 --steps 1000
