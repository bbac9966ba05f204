#pragma once
// Which experts each input keeps (expert subset selection, Algorithm 1 of Chung et al.):
//   keep [B, n] bytes, 1 = the expert is evaluated for that input.
// Scores are the total combine weight an expert receives from the full, unmasked C:
//   score[b, e] = sum over tokens i and the expert's slots s of C[b, i, s].
#include <cstdint>

namespace softmoe {

class Rng;

// scores [B, n] from combine [B, m, S], S = n p.
void expert_scores(float* scores, const float* combine, int B, int m, int n, int p);

// keep [B, n]: the k highest-scoring experts per input (ties go to the lower index).
void keep_top_k(std::uint8_t* keep, const float* scores, int B, int n, int k);

// keep [B, n]: k experts drawn uniformly without replacement, independently per input.
void keep_random(std::uint8_t* keep, int B, int n, int k, Rng& rng);

}  // namespace softmoe
