#pragma once
// The Tokens Choice auxiliary losses of one group of S tokens over n experts (Shazeer et al. 2017,
// vmoe; Fedus et al. 2022). Rows are tokens: probs, logits [S, n]. CV2(v) = population variance / mean^2.
//   importance: CV2(Imp),  Imp_e = sum_s softmax(clean logits)[s, e]
//   load:       CV2(Load), Load_e = mean_s (1 - Phi((tau_s - clean[s, e]) / sigma)),
//               tau_s = the k-th largest noisy logit of token s (its gradient reaches that logit)
//   switch:     n sum_e f_e P_e, f_e = share of tokens whose top-1 gate is e (constant), P_e = mean_s gates[s, e]
// Backward passes accumulate scale * dLoss into their outputs. scratch holds 2 n values, iscratch 2 n ints.
namespace softmoe {

template <class T>
T cv_squared(const T* v, int n);
// dv[e] += scale * dCV2/dv[e]
template <class T>
void cv_squared_backward(T* dv, const T* v, int n, T scale);

template <class T>
T importance_loss(const T* probs, int S, int n, T* scratch);
template <class T>
void importance_loss_backward(T* dprobs, const T* probs, int S, int n, T scale, T* scratch);

template <class T>
T load_loss(const T* clean, const T* noisy, int S, int n, int k, T sigma, T* scratch, int* iscratch);
// dclean into clean logits, dnoisy into the noisy logits (the thresholds)
template <class T>
void load_loss_backward(T* dclean, T* dnoisy, const T* clean, const T* noisy, int S, int n, int k, T sigma, T scale,
                        T* scratch, int* iscratch);

template <class T>
T switch_loss(const T* gates, int S, int n, T* scratch);
template <class T>
void switch_loss_backward(T* dgates, const T* gates, int S, int n, T scale, T* scratch);

}  // namespace softmoe
