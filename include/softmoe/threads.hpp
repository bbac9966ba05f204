#pragma once
// The thread count of a whole run, for the commands: OpenBLAS's pool and the engine's own
// (kernels/parallel.hpp) both get `threads` (kernels::set_blas_threads). Set once at start-up.
namespace softmoe {

void use_threads(int threads);

}  // namespace softmoe
