#!/bin/bash
# Submit a sweep as a Slurm job array of SHARDS tasks (one node each) and a merge job that runs when all of
# them have succeeded. Each sweep gets its own RUN_DIR, so its merge sees only its own shards.
#
#   examples/slurm/submit.sh CONFIG.json RUN_DIR [SHARDS]      (SHARDS default 4)
#
# Prints the two job ids. Check a shard's part and time first with:
#   python sweep.py --config CONFIG.json --dry-run --shard 0/SHARDS
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
[ -f "${1:?usage: submit.sh CONFIG.json RUN_DIR [SHARDS]}" ] || { echo "submit.sh: no config file at $1: nothing submitted" >&2; exit 2; }
config=$(realpath "$1")
run_dir=${2:?usage: submit.sh CONFIG.json RUN_DIR [SHARDS]}
shards=${3:-4}
mkdir -p "$run_dir"
run_dir=$(realpath "$run_dir")
array=$(sbatch --parsable --chdir="$run_dir" --array="0-$((shards - 1))" "$here/sweep-array.sbatch" "$config")
array=${array%%;*}
merge=$(sbatch --parsable --chdir="$run_dir" --dependency=afterok:"$array" --kill-on-invalid-dep=yes \
  "$here/merge.sbatch" results)
merge=${merge%%;*}
echo "sweep array job $array ($shards tasks), merge job $merge; results in $run_dir/results"
