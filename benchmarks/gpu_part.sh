# Sourced by the GPU scripts (benchmarks/gpu_*.sh), which set LOG first: the environment they share and
# `part SECONDS MODULE ARGS...`, one benchmark bounded in time, its warnings filtered out, its output
# on the terminal and in $LOG, and a line saying so when it failed or ran out of time.
PY=${PYTHON:-python3}
export PYTHONUNBUFFERED=1 PYTHONPATH=.${PYTHONPATH:+:$PYTHONPATH}
part() {
  local limit=$1; shift
  echo "\$ $*" | tee -a "$LOG"
  timeout "$limit" "$PY" -m "$@" 2>&1 | grep -v -e '^W[0-9]' -e 'Warning' -e 'warn' -e 'logprint' | tee -a "$LOG"
  local status=${PIPESTATUS[0]} why=""
  [ "$status" = 124 ] && why=", out of time after $limit s"
  [ "$status" = 0 ] || echo "(exit $status$why)" | tee -a "$LOG"
}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee -a "$LOG"
