#include "softmoe/kernels/gemm.hpp"
#include "softmoe/threads.hpp"

#include <cblas.h>

#include "softmoe/kernels/parallel.hpp"

namespace softmoe::kernels {
namespace {

CBLAS_TRANSPOSE cblas_trans(Trans t) { return t == Trans::yes ? CblasTrans : CblasNoTrans; }

constexpr double kMinParallelWork = 1 << 20;  // multiply-adds below which one call is faster

template <class T>
void gemm_split(Trans trans_a, Trans trans_b, int M, int N, int K, T alpha, const T* A, int lda, const T* B, int ldb,
                T beta, T* C, int ldc) {
  const int t = threads();
  if (t == 1 || static_cast<double>(M) * N * K < kMinParallelWork) {  // one single-threaded call
    const int blas = openblas_get_num_threads();
    if (blas != 1) openblas_set_num_threads(1);
    gemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    if (blas != 1) openblas_set_num_threads(blas);
    return;
  }
  const bool by_rows = M >= N;
  parallel([&](int thread) {
    const Range r = split(by_rows ? M : N, thread, t);
    const int count = static_cast<int>(r.end - r.begin);
    if (count == 0) return;
    if (by_rows) {
      const T* a = trans_a == Trans::no ? A + r.begin * lda : A + r.begin;
      gemm(trans_a, trans_b, count, N, K, alpha, a, lda, B, ldb, beta, C + r.begin * ldc, ldc);
    } else {
      const T* b = trans_b == Trans::no ? B + r.begin : B + r.begin * ldb;
      gemm(trans_a, trans_b, M, count, K, alpha, A, lda, b, ldb, beta, C + r.begin, ldc);
    }
  });
}

}  // namespace

void gemm(Trans trans_a, Trans trans_b, int M, int N, int K, float alpha, const float* A, int lda,
          const float* B, int ldb, float beta, float* C, int ldc) {
  if (M == 0 || N == 0) return;
  cblas_sgemm(CblasRowMajor, cblas_trans(trans_a), cblas_trans(trans_b), M, N, K, alpha, A, lda, B,
              ldb, beta, C, ldc);
}

void gemm(Trans trans_a, Trans trans_b, int M, int N, int K, double alpha, const double* A, int lda,
          const double* B, int ldb, double beta, double* C, int ldc) {
  if (M == 0 || N == 0) return;
  cblas_dgemm(CblasRowMajor, cblas_trans(trans_a), cblas_trans(trans_b), M, N, K, alpha, A, lda, B,
              ldb, beta, C, ldc);
}

void gemm_parallel(Trans trans_a, Trans trans_b, int M, int N, int K, float alpha, const float* A, int lda,
                   const float* B, int ldb, float beta, float* C, int ldc) {
  gemm_split(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void gemm_parallel(Trans trans_a, Trans trans_b, int M, int N, int K, double alpha, const double* A, int lda,
                   const double* B, int ldb, double beta, double* C, int ldc) {
  gemm_split(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void set_blas_threads(int threads) {
  openblas_set_num_threads(threads);
  set_threads(threads);
}

int blas_threads() { return openblas_get_num_threads(); }

}  // namespace softmoe::kernels

namespace softmoe {

void use_threads(int threads) { kernels::set_blas_threads(threads); }

}  // namespace softmoe
