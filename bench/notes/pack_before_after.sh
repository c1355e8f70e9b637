#!/bin/sh
# Before/after table of bench/notes/packs.md: ganbench at commit $1 (before) against commit $2 (after), one
# process per version and round, alternated for $3 rounds (so that the machine's load falls on both alike); each
# process measures bare, steps and run (or what the options after the fourth argument say) for K in {1, 2, 16} once, and bench/notes/pack_table.py keeps the best.
set -e
BEFORE=$1; AFTER=$2; ROUNDS=${3:-3}; OUT=${4:-/tmp/pack-before-after}; shift 4 || true  # the rest: pack_profile options
for v in before after; do
  rm -rf "$OUT/$v-tree"; mkdir -p "$OUT/$v-tree"
done
git archive "$BEFORE" | tar -x -C "$OUT/before-tree"
git archive "$AFTER" | tar -x -C "$OUT/after-tree"
for r in $(seq "$ROUNDS"); do
  PYTHONPATH="$OUT/before-tree" python bench/notes/pack_profile.py --repeats 1 --json "$OUT/before-$r.json" "$@"
  PYTHONPATH="$OUT/after-tree" python bench/notes/pack_profile.py --repeats 1 --json "$OUT/after-$r.json" "$@"
done
python bench/notes/pack_table.py "$OUT"
