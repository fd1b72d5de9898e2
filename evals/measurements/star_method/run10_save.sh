#!/usr/bin/env bash
# Save a stopped run 10's stage artifacts (not adapters, not demos.jsonl: rebuilt) under run10/, gzipped,
# so that run10.sh resumes from them in a later session. usage: run10_save.sh [OUT=/work/star/run10]
set -euo pipefail
OUT=${1:-/work/star/run10}
DEST=$(dirname "$0")/run10
rm -rf "$DEST"; mkdir -p "$DEST"
(cd "$OUT" && find . -type f \( -name '*.json' -o -name '*.jsonl' \) ! -name demos.jsonl ! -path '*adapter*' ! -path './seed/*') |
while read -r f; do
  mkdir -p "$DEST/$(dirname "$f")"
  case "$f" in *.jsonl) gzip -9 -c "$OUT/$f" > "$DEST/$f.gz" ;; *) cp "$OUT/$f" "$DEST/$f" ;; esac
done
du -sh "$DEST"
