#!/usr/bin/env bash
# Installs the Debian packages the Python environment needs, only when they are missing:
#   libusb-1.0-0            Open3D 0.20 from PyPI fails to import without it
#   sweethome3d-furniture   ~820 real CC0/CC-BY furniture models for the synthetic worlds
set -euo pipefail
missing=()
dpkg -s libusb-1.0-0 >/dev/null 2>&1 || missing+=(libusb-1.0-0)
[ -d /usr/share/sweethome3d/furniture ] || missing+=(sweethome3d-furniture)
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing Debian packages: ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then sudo=''; else sudo='sudo'; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq || true
$sudo apt-get install -y -qq "${missing[@]}"
