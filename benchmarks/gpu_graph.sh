#!/usr/bin/env bash
# The CUDA graph projector (issue #18) on a lent GPU: its speed at 1024 px (fp32 and bf16, each replayed
# as CUDA graphs and run eagerly) and at 256 px, then whether graph replays match eager steps. Each part
# has its own time limit and may fail alone; the official projector is left out (measured before).
# Output goes to the terminal and to ${OUT:-.}/gpu_graph.log. About 5 minutes on an H200, 6 at most.
# Usage: bash benchmarks/gpu_graph.sh
set -u
LOG=${OUT:-.}/gpu_graph.log
. "$(dirname "$0")/gpu_part.sh"  # part(), and the GPU named in the log
# Four 1000-step runs at 1024 px: ~20 s each replayed, ~90 s each eager (the graph rows come first).
part 255 benchmarks.projection_speed --device cuda --size 1024 --steps 1000 --bf16
part 60 benchmarks.projection_speed --device cuda --size 256 --steps 1000
CUBLAS_WORKSPACE_CONFIG=:4096:8 part 60 benchmarks.check_graph --deterministic
