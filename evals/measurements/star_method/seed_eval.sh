#!/usr/bin/env bash
# Resume run N through its seed eval stage (dev 200 + human 60), then stop it before iteration 1.
n=$1
( until grep -q '"eval"' /work/star/run${n}/seed/stages.json 2>/dev/null; do sleep 15; done
  sleep 5; pkill -f "deepstar star .*--out /work/star/run${n} "; sleep 5
  DEEPSTAR_HOME=/work/star/home${n} PYTHONPATH=/work/wt/run${n}code /work/main/.venv/bin/deepstar serve --stop ) &
/work/star/run${n}.sh
wait
