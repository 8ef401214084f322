#!/usr/bin/env bash
# Refreshes the package browser screenshots the book shows: runs the browser test with
# WEB_SCREENSHOTS_OUT set, so it copies its screenshots there. Needs chromium and chromedriver
# (`apt-get install -y chromium chromium-driver`).
set -euo pipefail
cd "$(dirname "$0")/../.."
out="book/src/images/browser"
mkdir -p "$out"
all="$(mktemp -d)"
WEB_SCREENSHOTS_OUT="$all" cargo test -p wtool-registry --test web -- browser_ --nocapture
# The book shows four of the sixteen.
for shot in index-desktop-light version-desktop-dark package-phone-light version-phone-dark; do
  cp "$all/$shot.png" "$out/"
done
rm -rf "$all"
ls "$out"
