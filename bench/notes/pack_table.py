"""The before/after table from bench/notes/pack_before_after.sh's JSON files: per version, case and K the best
member-steps per CPU second over the rounds, and its ratio to K = 1 of the same version and case."""
import json
import sys
from pathlib import Path

out = Path(sys.argv[1])
best: dict = {}
for f in sorted(out.glob("*-*.json")):
    version = f.name.split("-")[0]
    for key, v in json.loads(f.read_text()).items():
        case, k = key.split()
        best[version, case, int(k)] = max(best.get((version, case, int(k)), 0.0), v)
print("| version | case | K | member-steps per CPU second | x K = 1 |\n|---|---|---|---|---|")
for (version, case, k), v in sorted(best.items(), key=lambda x: (x[0][0] != "before", x[0][1], x[0][2])):
    print(f"| {version} | {case} | {k} | {v:.1f} | {v / best[version, case, 1]:.2f} |")
