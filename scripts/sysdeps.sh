#!/usr/bin/env bash
# Installs the Debian packages the project needs, only where they are missing.
# A CJK font (labels render Chinese), poppler-utils and librsvg2-bin (tests rasterise PDF
# and SVG labels to read their QR codes back), Chromium (the browser tests in tests/browser/ drive
# Debian's build at /usr/bin/chromium; Playwright's own browser download needs the internet),
# Go and golang.org/x/mod (tests/interop builds a client on sumdb/note and sumdb/tlog offline).
set -euo pipefail
missing=()
# reportlab embeds TrueType outlines only, so Noto CJK (CFF) is not enough: WenQuanYi it is.
[ -f /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || missing+=(fonts-wqy-microhei fontconfig)
command -v pdftoppm >/dev/null 2>&1 || missing+=(poppler-utils)
command -v rsvg-convert >/dev/null 2>&1 || missing+=(librsvg2-bin)
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing+=(fonts-dejavu-core)  # a non-CJK font, for tests
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v go >/dev/null 2>&1 || missing+=(golang-go)
[ -d /usr/share/gocode/src/golang.org/x/mod/sumdb/tlog ] || missing+=(golang-golang-x-mod-dev)
if [ ${#missing[@]} -eq 0 ]; then exit 0; fi
echo "sysdeps: installing ${missing[*]}" >&2
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null || true
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
