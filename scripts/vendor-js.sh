#!/usr/bin/env bash
# Copies the browser builds of the npm packages in package.json into api/static/vendor/, with
# their licences, so pages load them from our own origin (no CDN; the app needs no npm at run
# time: the copied files are committed). Run it after changing a version in package.json.
#
#   scripts/vendor-js.sh            # install exactly what package-lock.json pins, copy
#   scripts/vendor-js.sh --update   # re-resolve package.json (npm install), rewrite the lock, copy
set -euo pipefail
cd "$(dirname "$0")/.."
command -v npm >/dev/null 2>&1 || { echo "vendor-js: npm is needed (Debian: apt-get install npm)" >&2; exit 1; }

if [ "${1:-}" = "--update" ] || [ ! -f package-lock.json ]; then
    npm install --ignore-scripts --no-audit --no-fund
else
    npm ci --ignore-scripts --no-audit --no-fund
fi

NM=node_modules
OUT=api/static/vendor

version() { node -p "require('./$NM/$1/package.json').version"; }

# copy PACKAGE DEST-FOLDER FILE... : each FILE (relative to the package) into DEST-FOLDER,
# replacing what was there, so a file the new version no longer ships does not linger.
copy() {
    local pkg=$1 dest=$OUT/$2; shift 2
    rm -rf "$dest"
    mkdir -p "$dest"
    for f in "$@"; do cp "$NM/$pkg/$f" "$dest/"; done
    echo "vendor-js: $pkg $(version "$pkg") -> $dest/: $(cd "$dest" && ls | tr '\n' ' ')"
}

# jsQR: QR decoding from camera frames. UMD; as a classic script it defines window.jsQR.
copy jsqr jsqr dist/jsQR.js LICENSE
# idb: Promise wrapper over IndexedDB. index.js is an ES module (no imports); umd.js a classic
# script defining window.idb.
copy idb idb build/index.js build/umd.js LICENSE
# Chart.js: the UMD bundle (it includes @kurkle/color, hence its licence too); defines
# window.Chart. The ESM build imports bare specifiers, which a browser cannot resolve.
copy chart.js chart.js dist/chart.umd.min.js LICENSE.md
cp "$NM/@kurkle/color/LICENSE.md" "$OUT/chart.js/LICENSE-kurkle-color.md"
# canonicalize: RFC 8785 JSON canonicalisation; an ES module whose default export is the function.
copy canonicalize canonicalize lib/canonicalize.js LICENSE
# @noble/ed25519: Ed25519 in JavaScript (an ES module, no imports; hashes with WebCrypto's
# SHA-512), the fallback where the browser's WebCrypto has no Ed25519 (ledger.js).
copy @noble/ed25519 noble-ed25519 index.js LICENSE

# The README states the versions; say so when it no longer does.
for pkg in jsqr idb chart.js canonicalize @noble/ed25519; do
    v=$(version "$pkg")
    grep -q "| $pkg | $v |" "$OUT/README.md" \
        || echo "vendor-js: update $OUT/README.md: $pkg is now $v" >&2
done
