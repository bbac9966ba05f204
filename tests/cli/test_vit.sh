#!/usr/bin/env bash
# `softmoe train --model vit` (and specialize, sweep on it) from the command line, on a tiny ViT and a
# small slice of MNIST: runs, resume, the dense baseline, checkpoints, bad flags.
source "$(dirname "$0")/lib.sh"
data="$WORK/data"
small_mnist "$data" 512 200
vit=(train --model vit --data-dir "$data" --patch 7 --dim 16 --depth 2 --heads 2 --batch 64 --quiet)

"$SOFTMOE" train --help > "$WORK/help" || fail "--help exited non-zero"
for flag in --model --patch --dim --depth --heads --mlp-hidden --pool --moe-layers --moe-residual --experts \
            --expert-hidden --expert-params --slots --schedule --warmup --label-smoothing --shift --optimizer \
            --weight-decay --no-shuffle; do
  grep -q -- "$flag" "$WORK/help" || fail "train --help does not mention $flag"
done
grep -q "2e-3 (vit)" "$WORK/help" || fail "train --help does not give the vit defaults"

# Bad command lines: exit 2, one line naming the flag, nothing created.
expect_exit 2 "--patch" -- "$SOFTMOE" "${vit[@]}" --patch 5 --out "$WORK/r"
expect_exit 2 "--heads" -- "$SOFTMOE" "${vit[@]}" --heads 3 --out "$WORK/r"
expect_exit 2 "--depth" -- "$SOFTMOE" "${vit[@]}" --depth 0 --out "$WORK/r"
expect_exit 2 "--moe-layers" -- "$SOFTMOE" "${vit[@]}" --experts 4 --moe-layers 2 --out "$WORK/r"
expect_exit 2 "--moe-layers" -- "$SOFTMOE" "${vit[@]}" --experts 4 --moe-layers 1,1 --out "$WORK/r"
expect_exit 2 "--moe-residual" -- "$SOFTMOE" "${vit[@]}" --moe-residual maybe --out "$WORK/r"
expect_exit 2 "--pool" -- "$SOFTMOE" "${vit[@]}" --pool max --out "$WORK/r"
expect_exit 2 "--expert-params" -- "$SOFTMOE" "${vit[@]}" --experts 64 --expert-params 1000 --out "$WORK/r"
expect_exit 2 "--expert-params" -- "$SOFTMOE" "${vit[@]}" --experts 4 --expert-params 4096 --expert-hidden 8 --out "$WORK/r"
expect_exit 2 "--experts" -- "$SOFTMOE" "${vit[@]}" --experts -1 --out "$WORK/r"
expect_exit 2 "--label-smoothing" -- "$SOFTMOE" "${vit[@]}" --label-smoothing 1.5 --out "$WORK/r"
expect_exit 2 "--warmup" -- "$SOFTMOE" "${vit[@]}" --warmup -1 --out "$WORK/r"
expect_exit 2 "--warmup" -- "$SOFTMOE" "${vit[@]}" --schedule constant --warmup 1 --out "$WORK/r"
expect_exit 2 "--schedule" -- "$SOFTMOE" "${vit[@]}" --schedule step --out "$WORK/r"
expect_exit 2 "--shift" -- "$SOFTMOE" "${vit[@]}" --shift 30 --out "$WORK/r"
expect_exit 2 "--shift" -- "$SOFTMOE" train --data-dir "$data" --shift 2 --quiet --out "$WORK/r"
expect_exit 2 "--activation" -- "$SOFTMOE" "${vit[@]}" --activation gelu --out "$WORK/r"
[ -e "$WORK/r" ] && fail "a refused command created $WORK/r"

# A Soft MoE ViT run: the usual four files, train.csv's columns, the architecture in config.json and the
# checkpoint, the parameter names of vit.hpp.
moe=("${vit[@]}" --experts 4 --expert-params 2048)
"$SOFTMOE" "${moe[@]}" --epochs 3 --out "$WORK/moe" > "$WORK/stdout" || fail "vit run failed"
for f in model.safetensors optimizer.safetensors train.csv config.json; do
  [ -s "$WORK/moe/$f" ] || fail "vit run directory lacks $f"
done
head -1 "$WORK/moe/train.csv" | grep -q "^epoch,train_loss,train_accuracy,test_loss,test_accuracy,train_seconds,eval_seconds,samples_per_second,threads,lr$" \
  || fail "vit train.csv header: $(head -1 "$WORK/moe/train.csv")"
[ "$(wc -l < "$WORK/moe/train.csv")" = 4 ] || fail "expected 3 epochs in train.csv"
awk -F, 'NR > 1 && ($5 < 0 || $5 > 1) { exit 1 }' "$WORK/moe/train.csv" || fail "accuracy out of [0, 1]"
grep -q "test accuracy" "$WORK/stdout" || fail "no final accuracy on stdout"
for key in '"model": "vit"' '"patch": 7' '"dim": 16' '"depth": 2' '"experts": 4' '"expert_hidden": 16' \
           '"moe_layers": \[' '"schedule": "cosine"' '"optimizer": "adamw"' '"input_mean"'; do
  grep -q "$key" "$WORK/moe/config.json" || fail "config.json lacks $key"
done
# expert params per layer: 4 x (16 x 16 + 16 + 16 x 16 + 16) = 2176, one MoE layer (block 1 of 2)
grep -q '"expert_parameters": 2176' "$WORK/moe/config.json" || fail "expert_parameters: $(grep expert_parameters "$WORK/moe/config.json")"
header=$(head -c 100000 "$WORK/moe/model.safetensors" | tr -d '\0')
for name in patch_embed.proj.weight cls_token pos_embed blocks.0.attn.in_proj_weight blocks.0.mlp.fc1.weight \
            blocks.1.moe.router.phi blocks.1.moe.experts.w1 norm.weight head.bias softmoe.model; do
  grep -q "$name" <<< "$header" || fail "model.safetensors lacks $name"
done

# Interrupted after one epoch and resumed: the same checkpoint bytes and train.csv (the schedule, the
# shuffles and the shifts continue exactly).
"$SOFTMOE" "${moe[@]}" --epochs 3 --out "$WORK/part" > /dev/null 2>&1 &
pid=$!
for _ in $(seq 1 600); do
  [ -f "$WORK/part/train.csv" ] && [ "$(wc -l < "$WORK/part/train.csv")" -ge 2 ] && break
  sleep 0.02
done
kill -9 "$pid" 2> /dev/null
wait "$pid" 2> /dev/null
"$SOFTMOE" "${moe[@]}" --epochs 3 --out "$WORK/part" --resume > /dev/null || fail "vit resume failed"
cmp -s "$WORK/moe/model.safetensors" "$WORK/part/model.safetensors" || fail "resumed vit checkpoint differs"
[ "$(without_timing "$WORK/moe/train.csv")" = "$(without_timing "$WORK/part/train.csv")" ] \
  || fail "resumed vit train.csv differs"
# The cosine schedule spans the planned epochs: resuming with more is refused.
expect_exit 2 "epochs" -- "$SOFTMOE" "${moe[@]}" --epochs 4 --out "$WORK/part" --resume

# Another seed trains another model; shifts off train another model too.
"$SOFTMOE" "${moe[@]}" --epochs 1 --seed 1 --out "$WORK/seed1" > /dev/null || fail "seed 1 failed"
"$SOFTMOE" "${moe[@]}" --epochs 1 --out "$WORK/seed0" > /dev/null || fail "seed 0 failed"
"$SOFTMOE" "${moe[@]}" --epochs 1 --shift 0 --out "$WORK/noshift" > /dev/null || fail "shift 0 failed"
cmp -s "$WORK/seed0/model.safetensors" "$WORK/seed1/model.safetensors" && fail "seeds 0 and 1 gave the same model"
cmp -s "$WORK/seed0/model.safetensors" "$WORK/noshift/model.safetensors" && fail "--shift 0 changed nothing"

# The dense baseline: no expert parameters, dense MLPs in every block; mean pooling and no MoE residual run.
"$SOFTMOE" "${vit[@]}" --experts 0 --epochs 1 --out "$WORK/dense" > /dev/null || fail "dense vit failed"
grep -q '"expert_parameters": 0' "$WORK/dense/config.json" || fail "dense run has expert parameters"
head -c 100000 "$WORK/dense/model.safetensors" | tr -d '\0' | grep -q "blocks.1.mlp.fc1.weight" \
  || fail "dense run lacks blocks.1.mlp"
"$SOFTMOE" "${vit[@]}" --experts 4 --pool mean --moe-residual off --moe-layers 0,1 --epochs 1 --out "$WORK/mean" \
  > /dev/null || fail "mean-pool vit failed"
grep -q '"moe_residual": false' "$WORK/mean/config.json" || fail "config.json lacks moe_residual false"

# specialize on a ViT run: every method in every MoE layer; all = train's accuracy; top-k with k = n keeps
# every expert; work shrinks with k; the oracle is refused when asked for, skipped by the default list.
two=("${vit[@]}" --experts 4 --moe-layers 0,1 --epochs 2)
"$SOFTMOE" "${two[@]}" --out "$WORK/two" > /dev/null || fail "two-layer vit run failed"
sp=(specialize --run "$WORK/two" --k all,4 --methods all,topk,topk-renorm,random --random-trials 3 --batch 64 --quiet)
"$SOFTMOE" "${sp[@]}" --out "$WORK/sp.csv" > "$WORK/table" || fail "specialize on a vit failed"
head -1 "$WORK/sp.csv" | grep -q "^experts,k,method,trial,accuracy,accuracy_std,n_trials,inputs,expert_flops,total_flops,seconds,threads,topk_is_oracle$" \
  || fail "specialize header: $(head -1 "$WORK/sp.csv")"
# all + k = 1..4: topk, renorm, 3 trials, aggregate (6 each)
[ "$(($(wc -l < "$WORK/sp.csv") - 1))" = 25 ] || fail "expected 25 specialize rows, got $(($(wc -l < "$WORK/sp.csv") - 1))"
reported=$(tail -1 "$WORK/two/train.csv" | cut -d, -f5)
all=$(awk -F, '$3 == "all" { print $5 }' "$WORK/sp.csv")
[ "$all" = "$reported" ] || fail "vit all-expert accuracy $all differs from train's $reported"
top4=$(awk -F, '$3 == "topk" && $2 == 4 { print $5 }' "$WORK/sp.csv")
awk -v a="$all" -v t="$top4" 'BEGIN { d = a - t; exit !(d < 0.011 && d > -0.011) }' \
  || fail "top-4 of 4 experts ($top4) should match all experts ($all)"
awk -F, '$3 == "topk" && $2 == 1 { t = $9 } $3 == "all" { a = $9 } END { exit !(t * 4 == a && a > 0) }' "$WORK/sp.csv" \
  || fail "top-1 of 4 experts should cost a quarter of the expert FLOPs of all"
awk -F, '$3 == "topk" && $2 == 1 { t = $10 } $3 == "all" { a = $10 } END { exit !(t < a) }' "$WORK/sp.csv" \
  || fail "total FLOPs should shrink with k"
"$SOFTMOE" "${sp[@]}" --out "$WORK/sp2.csv" > /dev/null || fail "second specialize failed"
[ "$(without_timing "$WORK/sp.csv")" = "$(without_timing "$WORK/sp2.csv")" ] || fail "vit specialize reruns differ"
expect_exit 2 "oracle" -- "$SOFTMOE" specialize --run "$WORK/two" --k 1 --methods topk,oracle --out "$WORK/o.csv"
"$SOFTMOE" specialize --run "$WORK/two" --k 1 --random-trials 2 --out "$WORK/d.csv" > /dev/null 2> "$WORK/stderr" \
  || fail "default methods on a vit failed"
grep -q "oracle: skipped" "$WORK/stderr" || fail "the default list should say it skips the oracle"
grep -q ",oracle," "$WORK/d.csv" && fail "oracle rows on a vit"
expect_exit 2 "dense" -- "$SOFTMOE" specialize --run "$WORK/dense" --k 1 --out "$WORK/dd.csv"
# A truncated ViT checkpoint: specialize names the file, writes nothing; resume refuses, changes nothing.
mkdir -p "$WORK/cut" && cp "$WORK/two"/* "$WORK/cut"/
head -c 5000 "$WORK/two/model.safetensors" > "$WORK/cut/model.safetensors"
expect_exit 2 "model.safetensors" -- "$SOFTMOE" specialize --run "$WORK/cut" --k 1 --methods topk --out "$WORK/cut.csv"
[ -e "$WORK/cut.csv" ] && fail "a refused specialize wrote its output"
head -c 5000 "$WORK/two/optimizer.safetensors" > "$WORK/cut/optimizer.safetensors"
sum_before=$(md5sum "$WORK/cut"/* | md5sum)
expect_exit 1 "optimizer.safetensors" -- "$SOFTMOE" "${two[@]}" --out "$WORK/cut" --resume
[ "$(md5sum "$WORK/cut"/* | md5sum)" = "$sum_before" ] || fail "a refused vit resume changed the run directory"

# sweep --model vit: n = 2, 4 at one expert budget, trained and specialised; reproducible.
sw=(sweep --task mnist --model vit --data-dir "$data" --patch 7 --dim 16 --depth 2 --heads 2 --batch 64 --epochs 1
    --experts 2,4 --expert-params 1024 --specialize 1 --methods all,topk,topk-renorm,random --random-trials 2 --quiet)
"$SOFTMOE" "${sw[@]}" --out "$WORK/sweep" || fail "vit sweep failed"
head -1 "$WORK/sweep/results.csv" | grep -q "^experts,expert_budget,seed,hidden," || fail "vit sweep header: $(head -1 "$WORK/sweep/results.csv")"
grep -q "^2,1024,0,16," "$WORK/sweep/results.csv" || fail "n=2 at budget 1024 should have hidden 16"
grep -q "^4,1024,0,8,.*,topk-renorm," "$WORK/sweep/results.csv" || fail "n=4 row with topk-renorm missing"
grep -q '"model": "vit"' "$WORK/sweep/runs/experts2_expert_budget1024_seed0/config.json" || fail "sweep point is not a vit"
"$SOFTMOE" "${sw[@]}" --jobs 2 --out "$WORK/sweep2" || fail "second vit sweep failed"
[ "$(without_timing "$WORK/sweep/results.csv")" = "$(without_timing "$WORK/sweep2/results.csv")" ] || fail "vit sweeps differ"
expect_exit 2 "different sweep" -- "$SOFTMOE" "${sw[@]}" --moe-residual off --out "$WORK/sweep"
finish
