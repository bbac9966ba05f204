#!/usr/bin/env bash
# Expert subset selection on Soft MoE ViTs (issue #7): does selection work better with many small
# experts? n = 4, 16, 64 experts at a fixed expert weight budget per MoE layer, P = 131072 = 1024 x 2 x 64
# (hidden width floor(P / (2 n dim)) = 256, 64, 16), each trained with the recipe of
# experiments/fashion_mnist_vit.sh (so n = 16 is that recipe's run, byte for byte), then `softmoe
# specialize` in both MoE layers per input: topk, topk-renorm and random (10 trials) at every k for
# n = 4 and 16 and at 15 values of k for n = 64, plus all experts.
# Writes OUT/nN (run directories with specialize.csv) and OUT/selection.csv (every specialize row with n).
# Resumable: finished runs are kept (an interrupted one resumes), and so is a specialize.csv newer than
# its checkpoint.
# TRAIN_ONLY=1 stops after training; NS="4 64" chooses the n; MOE_RESIDUAL=off drops the residual around
# the Soft MoE layers (then n = 16 is not the recipe's run).
# Usage: experiments/fashion_mnist_vit_selection.sh [OUT]   (default results/fashion-mnist-vit-selection)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-results/fashion-mnist-vit-selection}
threads=${THREADS:-2}
softmoe=${SOFTMOE:-build/softmoe}
[ -x "$softmoe" ] || make build
mkdir -p "$out"
recipe=(--dataset fashion-mnist --model vit --patch 7 --dim 64 --depth 4 --heads 4 --epochs 15 --seed 0
        --threads "$threads" --expert-params 131072 --moe-residual "${MOE_RESIDUAL:-on}")
ns=(${NS:-4 16 64})
declare -A ks=([4]=all [16]=all [64]=1,2,3,4,6,8,12,16,20,24,32,40,48,56,63)

for n in "${ns[@]}"; do
  # finished runs are left alone (a resume would rewrite their files with the same bytes)
  [ -f "$out/n$n/train.csv" ] && [ "$(($(wc -l < "$out/n$n/train.csv") - 1))" -ge 15 ] && continue
  resume=()
  [ -f "$out/n$n/optimizer.safetensors" ] && resume=(--resume)
  "$softmoe" train "${recipe[@]}" --experts "$n" --out "$out/n$n" "${resume[@]}"
done
[ "${TRAIN_ONLY:-0}" = 1 ] && exit 0

for n in "${ns[@]}"; do
  [ "$out/n$n/specialize.csv" -nt "$out/n$n/model.safetensors" ] && continue  # done (and the run unchanged)
  "$softmoe" specialize --run "$out/n$n" --k "${ks[$n]}" --methods all,topk,topk-renorm,random --random-trials 10 \
    --batch 1000 --threads "$threads" --quiet --out "$out/n$n/specialize.csv"
done
{
  head -1 "$out/n${ns[0]}/specialize.csv"
  for n in "${ns[@]}"; do tail -n +2 "$out/n$n/specialize.csv"; done
} > "$out/selection.csv.tmp" && mv "$out/selection.csv.tmp" "$out/selection.csv"
# OUT/summary.csv: per n, the all-expert accuracy and, at k = 1, n/4, n/2 and 3n/4, top-k, top-k
# renormalised and random (mean, sd); retained = top-k / all.
awk -F, 'NR == 1 { next }
  $4 != "all" { next }
  { key = $1 "," $2 }
  $3 == "all" { all[$1] = $5 }
  $3 == "topk" { top[key] = $5 } $3 == "topk-renorm" { ren[key] = $5 } $3 == "random" { rnd[key] = $5; sd[key] = $6 }
  END {
    print "experts,k,k_over_n,all,topk,topk_renorm,random_mean,random_std,topk_retained"
    for (i = 1; i <= split(list, ns, " "); i++) {
      n = ns[i]
      split(1 " " n / 4 " " n / 2 " " 3 * n / 4, ks, " ")
      for (j = 1; j <= 4; j++) {
        k = ks[j]; key = n "," k
        if (!(key in top) || (key in done)) continue
        done[key] = 1
        printf "%d,%d,%.4g,%s,%s,%s,%s,%s,%.4f\n", n, k, k / n, all[n], top[key], ren[key], rnd[key], sd[key], top[key] / all[n]
      }
    }
  }' list="${ns[*]}" "$out/selection.csv" > "$out/summary.csv.tmp" && mv "$out/summary.csv.tmp" "$out/summary.csv"
column -s, -t "$out/summary.csv"
echo "wrote $out/selection.csv and $out/summary.csv"
