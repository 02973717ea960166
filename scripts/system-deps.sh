#!/usr/bin/env bash
# Debian packages the test suite needs (real SNMP agents, ethtool, browser), installed when missing.
set -euo pipefail
need=()
command -v snmpd >/dev/null 2>&1 || need+=(snmpd)
command -v snmpbulkwalk >/dev/null 2>&1 || need+=(snmp)
# The node agent reads driver stats by ioctl; a test checks it against `ethtool -S`.
command -v ethtool >/dev/null 2>&1 || need+=(ethtool)
# Real Prometheus peers: node_exporter is scraped live, and a Prometheus server remote-writes
# into tailsight (tests/pipeline/test_prom_peers.py). Debian installs both under /usr/bin.
command -v prometheus-node-exporter >/dev/null 2>&1 || need+=(prometheus-node-exporter)
command -v prometheus >/dev/null 2>&1 || need+=(prometheus)
# Dashboard tests and screenshots drive a real headless Chromium through its WebDriver.
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
# The weekly report's PDF is laid out by WeasyPrint on pango; `make report-example` turns
# its pages into PNGs with poppler's pdftoppm.
ldconfig -p 2>/dev/null | grep -q libpango-1.0 || need+=(libpango-1.0-0 libpangoft2-1.0-0)
command -v pdftoppm >/dev/null 2>&1 || need+=(poppler-utils)
[ ${#need[@]} -eq 0 ] && exit 0
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "installing Debian packages: ${need[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
