#pragma once
// The exact best-subset search the paper calls intractable, made exact for small n. After the Soft MoE
// layer the model is linear (flatten, then the head), so the logits of any expert subset K are
//   logits(K) = bias + sum over e in K of contribution[e],
//   contribution[e] = head.weight * flatten(sum over e's slots s of C[:, s] Ys[s])
// with the original C: each subset costs k vector additions instead of a forward pass.
#include <cstdint>

#include "softmoe/data/token_dataset.hpp"
#include "softmoe/eval/subset_evaluator.hpp"
#include "softmoe/layers/softmoe.hpp"
#include "softmoe/models/moe_model.hpp"

namespace softmoe {

// contributions [B, n, classes] from combine [B, m, S], slot_out [n, B, p, d_out] of an unmasked forward,
// head_weight [classes, m d_out]. scratch holds m * d_out floats.
void expert_logit_contributions(float* contributions, const float* combine, const float* slot_out,
                                const float* head_weight, int B, const SoftMoeShape& shape, int classes,
                                float* scratch);

// Whether some k-subset of the n experts classifies one input correctly. contributions [n, classes],
// bias [classes] or null, first_try [n] (a subset to test first, e.g. the top-k one; may be null).
// Stops at the first correct subset.
bool some_subset_correct(const float* contributions, const float* bias, int n, int classes, int k, int label,
                         const std::uint8_t* first_try);

// Whether the given subset (keep [n]) classifies the input correctly, by the same arithmetic.
bool subset_correct(const float* contributions, const float* bias, int n, int classes, int label,
                    const std::uint8_t* keep);

// The oracle row over the first `inputs` test inputs: the share of inputs that some k-subset of experts
// classifies correctly, and (topk_is_oracle) the share of those that the top-k subset classifies
// correctly. Only for the paper's model, the one model here that is linear after its Soft MoE layer.
SelectionRow oracle_row(MoeModel<float>& model, const TokenDataset& test, int k, int inputs);

// C(n, k) as a double (inexact beyond 2^53, enough for budgets).
double binomial(int n, int k);

}  // namespace softmoe
