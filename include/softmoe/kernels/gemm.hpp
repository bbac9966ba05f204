#pragma once
// Row-major GEMM on raw pointers, backed by OpenBLAS, for float and double:
//   C[M, N] = alpha * op(A)[M, K] * op(B)[K, N] + beta * C
// op(A) is A [M, K] (lda >= K) or, transposed, A stored as [K, M] (lda >= M); likewise for B.
// beta = 1 accumulates, which is how every backward pass adds into its gradients.
// Raw CBLAS lives in gemm.cpp alone: <cblas.h> clashes with xtensor-blas in one translation unit.

namespace softmoe::kernels {

enum class Trans { no, yes };

void gemm(Trans trans_a, Trans trans_b, int M, int N, int K, float alpha, const float* A, int lda,
          const float* B, int ldb, float beta, float* C, int ldc);
void gemm(Trans trans_a, Trans trans_b, int M, int N, int K, double alpha, const double* A, int lda,
          const double* B, int ldb, double beta, double* C, int ldc);

// The same product split over the engine's threads (parallel.hpp) by rows of C, or by columns when C
// has more columns than rows; each piece is one single-threaded GEMM. Small products run as one
// single-threaded call (OpenBLAS's own pool is not woken for them).
void gemm_parallel(Trans trans_a, Trans trans_b, int M, int N, int K, float alpha, const float* A, int lda,
                   const float* B, int ldb, float beta, float* C, int ldc);
void gemm_parallel(Trans trans_a, Trans trans_b, int M, int N, int K, double alpha, const double* A, int lda,
                   const double* B, int ldb, double beta, double* C, int ldc);

// OpenBLAS's own thread pool (it ignores OMP_NUM_THREADS) and the engine's (parallel.hpp), both set to
// `threads`. Set once at start-up.
void set_blas_threads(int threads);
int blas_threads();

}  // namespace softmoe::kernels
