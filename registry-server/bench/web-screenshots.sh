#!/usr/bin/env bash
# Refreshes the package browser screenshots the book shows: runs the browser test with
# WEB_SCREENSHOTS_OUT set, so it copies its screenshots there. Needs chromium and chromedriver
# (`apt-get install -y chromium chromium-driver`).
set -euo pipefail
cd "$(dirname "$0")/../.."
out="book/src/images/browser"
mkdir -p "$out"
WEB_SCREENSHOTS_OUT="$PWD/$out" cargo test -p wtool-registry --test web -- browser_ --nocapture
ls "$out"
