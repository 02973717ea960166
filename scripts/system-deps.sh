#!/usr/bin/env bash
# Debian packages the test suite needs (real SNMP agents, ethtool, browser), installed when missing.
set -euo pipefail
need=()
command -v snmpd >/dev/null 2>&1 || need+=(snmpd)
command -v snmpbulkwalk >/dev/null 2>&1 || need+=(snmp)
# The node agent reads driver stats by ioctl; a test checks it against `ethtool -S`.
command -v ethtool >/dev/null 2>&1 || need+=(ethtool)
# Dashboard tests and screenshots drive a real headless Chromium through its WebDriver.
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
[ ${#need[@]} -eq 0 ] && exit 0
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "installing Debian packages: ${need[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
