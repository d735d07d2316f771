#!/usr/bin/env bash
# Installs the Debian packages hangar needs, only those that are missing.
set -euo pipefail
pkgs=(runc containernetworking-plugins iptables iproute2 erofs-utils busybox-static skopeo buildah mmdebstrap libc6-dev gcc make jq docker-registry util-linux curl zstd sqlite3 apache2-utils)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing Debian packages: ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then echo "hangar needs root to install packages and run sandboxes" >&2; exit 1; fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
