#!/usr/bin/env bash
# The MNIST suite (experiments/mnist_suite.sh) on Fashion-MNIST, from Debian's dataset-fashion-mnist.
# Usage: experiments/fashion_mnist_suite.sh [OUT_DIR]   (default results/fashion-mnist-suite)
set -euo pipefail
cd "$(dirname "$0")/.."
make data
DATASET=fashion-mnist exec experiments/mnist_suite.sh "${1:-results/fashion-mnist-suite}"
