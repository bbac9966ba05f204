#!/usr/bin/env bash
# Sparse routers from the command line: bad settings refused, runs reproducible with router noise,
# resume identity, the train.csv diagnostics, specialize's `all` row, a sweep with a router.
source "$(dirname "$0")/lib.sh"
data="$WORK/data"
small_mnist "$data" 1024 200
base=(--data-dir "$data" --quiet --batch 128 --epochs 2)

"$SOFTMOE" train --help > "$WORK/help" || fail "--help exited non-zero"
for flag in --router --router-k --capacity-factor --group-images --bpr --router-noise --aux-loss --aux-weight; do
  grep -q -- "$flag" "$WORK/help" || fail "train --help does not mention $flag"
done

# Bad router settings: exit 2, one line, nothing written.
tc=(--router tokens-choice --experts 8)
expect_exit 2 "--router-k: must be in 1..8" -- "$SOFTMOE" train "${base[@]}" "${tc[@]}" --router-k 9 --out "$WORK/r"
expect_exit 2 "--router-k: must be in" -- "$SOFTMOE" train "${base[@]}" "${tc[@]}" --router-k 0 --out "$WORK/r"
expect_exit 2 "--capacity-factor: must be a positive" -- "$SOFTMOE" train "${base[@]}" "${tc[@]}" --capacity-factor 0 --out "$WORK/r"
expect_exit 2 "--capacity-factor: must be a positive" -- "$SOFTMOE" train "${base[@]}" "${tc[@]}" --capacity-factor -1 --out "$WORK/r"
expect_exit 2 "--capacity-factor: must be a positive" -- "$SOFTMOE" train "${base[@]}" "${tc[@]}" --capacity-factor nan --out "$WORK/r"
expect_exit 2 "--group-images: must be at least 1" -- "$SOFTMOE" train "${base[@]}" "${tc[@]}" --group-images 0 --out "$WORK/r"
expect_exit 2 "--bpr: only with --router tokens-choice" -- "$SOFTMOE" train "${base[@]}" --router experts-choice --bpr --out "$WORK/r"
expect_exit 2 "--router-k: only with --router tokens-choice" -- "$SOFTMOE" train "${base[@]}" --router experts-choice --router-k 2 --out "$WORK/r"
expect_exit 2 "use --group-images 16 or more" -- "$SOFTMOE" train "${base[@]}" --router experts-choice --experts 128 --out "$WORK/r"
expect_exit 2 "only with a sparse --router" -- "$SOFTMOE" train "${base[@]}" --router-k 2 --out "$WORK/r"
expect_exit 2 "--router: 'sparse' is not one of" -- "$SOFTMOE" train "${base[@]}" --router sparse --out "$WORK/r"
expect_exit 2 "--aux-loss" -- "$SOFTMOE" train "${base[@]}" "${tc[@]}" --aux-loss entropy --out "$WORK/r"
expect_exit 2 "--aux-weight: must be non-negative" -- "$SOFTMOE" train "${base[@]}" "${tc[@]}" --aux-weight -1 --out "$WORK/r"
expect_exit 2 "--slots: a Soft MoE setting" -- "$SOFTMOE" train "${base[@]}" "${tc[@]}" --slots 2 --out "$WORK/r"
expect_exit 2 "--router tokens-choice: needs --experts 1 or more" -- "$SOFTMOE" train "${base[@]}" --model vit --router tokens-choice --experts 0 --out "$WORK/r"
expect_exit 2 "use --group-images" -- "$SOFTMOE" train "${base[@]}" --model vit --router experts-choice --experts 512 --group-images 1 --out "$WORK/r"
[ -e "$WORK/r" ] && fail "a refused command created $WORK/r"

# Reproducible with router noise: two runs give the same files apart from timing and provenance.
run=("${base[@]}" "${tc[@]}" --router-k 2 --capacity-factor 1.25 --bpr --router-noise 1 --threads 2)
"$SOFTMOE" train "${run[@]}" --out "$WORK/a" > /dev/null || fail "tokens-choice run failed"
"$SOFTMOE" train "${run[@]}" --out "$WORK/b" > /dev/null || fail "second tokens-choice run failed"
cmp -s "$WORK/a/model.safetensors" "$WORK/b/model.safetensors" || fail "same command, different model.safetensors"
[ "$(without_timing "$WORK/a/train.csv")" = "$(without_timing "$WORK/b/train.csv")" ] || fail "same command, different train.csv"
head -1 "$WORK/a/train.csv" | grep -q "drop_rate,capacity_factor,tokens_per_expert_min,tokens_per_expert_max,aux_loss$" \
  || fail "train.csv lacks the routing columns: $(head -1 "$WORK/a/train.csv")"
awk -F, 'NR > 1 && ($11 < 0 || $11 > 1 || $12 < 1.25 || $12 > 1.5 || $15 <= 0) { bad = 1 } END { exit bad }' "$WORK/a/train.csv" \
  || fail "implausible routing columns: $(cat "$WORK/a/train.csv")"
grep -q '"router": "tokens-choice"' "$WORK/a/config.json" || fail "config.json does not record the router"
grep -q '"bpr": true' "$WORK/a/config.json" || fail "config.json does not record --bpr"

# Noise changes the run (the noise is really drawn), and a soft run keeps the old train.csv columns.
"$SOFTMOE" train "${base[@]}" "${tc[@]}" --router-k 2 --capacity-factor 1.25 --bpr --router-noise 0 --threads 2 --out "$WORK/c" \
  > /dev/null || fail "noiseless run failed"
cmp -s "$WORK/a/model.safetensors" "$WORK/c/model.safetensors" && fail "--router-noise 0 and 1 gave the same model"

# Resume: an interrupted run continues to the same result; a changed router setting is named.
one=(--data-dir "$data" --quiet --batch 128 --epochs 1 "${tc[@]}" --router-k 2 --capacity-factor 1.25 --bpr --router-noise 1 --threads 2)
"$SOFTMOE" train "${one[@]}" --out "$WORK/d" > /dev/null || fail "1-epoch run failed"
expect_exit 2 "router_k" -- "$SOFTMOE" train "${base[@]}" "${tc[@]}" --router-k 1 --capacity-factor 1.25 --bpr --router-noise 1 \
  --threads 2 --out "$WORK/d" --resume
"$SOFTMOE" train "${run[@]}" --out "$WORK/d" --resume > /dev/null || fail "resume failed"
cmp -s "$WORK/a/model.safetensors" "$WORK/d/model.safetensors" || fail "resumed run differs from the uninterrupted one"

# Experts Choice and dense train; specialize reports the router's own work and refuses subsets.
"$SOFTMOE" train "${base[@]}" --router experts-choice --experts 8 --out "$WORK/ec" > /dev/null || fail "experts-choice run failed"
"$SOFTMOE" train "${base[@]}" --router dense --experts 8 --out "$WORK/dense" > /dev/null || fail "dense run failed"
grep -q '"hidden": 784' "$WORK/dense/config.json" || fail "dense is not one MLP of hidden 784"
"$SOFTMOE" specialize --run "$WORK/a" --data-dir "$data" --batch 100 --quiet --out "$WORK/a.csv" > /dev/null || fail "specialize on tokens-choice failed"
[ "$(wc -l < "$WORK/a.csv")" = 2 ] || fail "specialize on a sparse run wrote more than the all row: $(cat "$WORK/a.csv")"
acc=$(tail -1 "$WORK/a/train.csv" | cut -d, -f5)
grep -q "^8,8,all,all,$acc," "$WORK/a.csv" || fail "specialize's all row differs from train.csv's accuracy $acc: $(cat "$WORK/a.csv")"
flops=$(tail -1 "$WORK/a.csv" | cut -d, -f9)
# K = 2 pairs per token of at most 4 tokens, experts of hidden 98: at most 8 x 2 (196 x 98 x 2) FLOPs per image
[ "$flops" -gt 0 ] && [ "$flops" -le 614656 ] || fail "expert_flops $flops outside (0, 614656]"
expect_exit 2 "chooses its own experts" -- "$SOFTMOE" specialize --run "$WORK/ec" --data-dir "$data" --methods topk --out "$WORK/ec.csv"
[ -e "$WORK/ec.csv" ] && fail "a refused specialize wrote $WORK/ec.csv"

# The ViT: a sparse router in its MoE blocks trains and reports; --router dense is the dense baseline.
vit=(--model vit --depth 2 --dim 16 --heads 2 --epochs 1 --data-dir "$data" --quiet --batch 128)
"$SOFTMOE" train "${vit[@]}" --router tokens-choice --experts 4 --bpr --out "$WORK/vit-tc" > /dev/null || fail "vit tokens-choice failed"
grep -q '"router": "tokens-choice"' "$WORK/vit-tc/config.json" || fail "the ViT's config.json lacks its router"
grep -q "blocks.1.moe.router.weight" "$WORK/vit-tc/model.safetensors" || fail "the ViT's checkpoint lacks the router weights"
head -1 "$WORK/vit-tc/train.csv" | grep -q "drop_rate" || fail "the ViT's train.csv lacks the routing columns"
"$SOFTMOE" specialize --run "$WORK/vit-tc" --data-dir "$data" --quiet --out "$WORK/vit-tc.csv" > /dev/null || fail "specialize on a sparse ViT failed"
grep -q "^4,4,all,all," "$WORK/vit-tc.csv" || fail "sparse ViT specialize: $(cat "$WORK/vit-tc.csv")"
"$SOFTMOE" train "${vit[@]}" --router dense --out "$WORK/vit-dense" > /dev/null || fail "vit --router dense failed"
"$SOFTMOE" train "${vit[@]}" --experts 0 --out "$WORK/vit-zero" > /dev/null || fail "vit --experts 0 failed"
cmp -s "$WORK/vit-dense/model.safetensors" "$WORK/vit-zero/model.safetensors" || fail "vit --router dense differs from --experts 0"

# The routing ablations: constant dispatch and/or combine, recorded, and only `all` in specialize.
expect_exit 2 "--router identity: needs experts x slots = 4 tokens" -- "$SOFTMOE" train "${base[@]}" --router identity --experts 8 --out "$WORK/r"
expect_exit 2 "only with a sparse --router" -- "$SOFTMOE" train "${base[@]}" --router uniform --capacity-factor 2 --out "$WORK/r"
for r in soft-uniform-combine uniform-soft uniform identity; do
  "$SOFTMOE" train "${base[@]}" --router "$r" --experts 4 --out "$WORK/abl-$r" > /dev/null || fail "--router $r failed"
  grep -q "\"mixing\": \"$r\"" "$WORK/abl-$r/config.json" || fail "--router $r not recorded in config.json"
done
"$SOFTMOE" train "${base[@]}" --experts 4 --out "$WORK/abl-soft" > /dev/null || fail "soft run failed"
grep -q '"mixing"' "$WORK/abl-soft/config.json" && fail "a Soft MoE run's architecture gained a mixing key"
cmp -s "$WORK/abl-uniform/model.safetensors" "$WORK/abl-soft/model.safetensors" && fail "--router uniform trained the Soft MoE"
expect_exit 2 "has no soft dispatch and combine" -- "$SOFTMOE" specialize --run "$WORK/abl-uniform" --data-dir "$data" --methods topk --k 1 --out "$WORK/u.csv"
"$SOFTMOE" specialize --run "$WORK/abl-uniform" --data-dir "$data" --quiet --out "$WORK/u.csv" > /dev/null || fail "specialize on an ablation failed"
[ "$(wc -l < "$WORK/u.csv")" = 2 ] || fail "specialize on an ablation: $(cat "$WORK/u.csv")"
expect_exit 2 "mixing" -- "$SOFTMOE" train "${base[@]}" --experts 4 --out "$WORK/abl-uniform" --resume
"$SOFTMOE" train "${vit[@]}" --router identity --patch 7 --experts 17 --out "$WORK/vit-id" > /dev/null || fail "vit identity (17 tokens) failed"

# A sweep with a router: its columns, and the identity refuses another router on resume.
"$SOFTMOE" sweep --task mnist --data-dir "$data" --experts 4,8 --epochs 1 --router experts-choice --capacity-factor 2 \
  --specialize 1 --out "$WORK/sw" --quiet || fail "sweep with experts-choice failed"
head -1 "$WORK/sw/results.csv" | grep -q "router,drop_rate,capacity_factor,method" || fail "sweep lacks the router columns"
[ "$(grep -c ',experts-choice,' "$WORK/sw/results.csv")" = 2 ] || fail "sweep rows: $(cat "$WORK/sw/results.csv")"
expect_exit 2 "" -- "$SOFTMOE" sweep --task mnist --data-dir "$data" --experts 4,8 --epochs 1 --router tokens-choice \
  --specialize 1 --out "$WORK/sw" --quiet
finish
