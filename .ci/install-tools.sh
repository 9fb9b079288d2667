#!/usr/bin/env bash
# Installs every tool a fresh machine lacks to build and test EXITON.
# Idempotent: each step checks first. See shared notes on the toolchain for why
# cargo-leptos and wasm-bindgen-cli are built from patched lockfiles.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_LEPTOS_VERSION=0.3.11
# wasm-bindgen-cli must match the wasm-bindgen version in Cargo.lock exactly.
WASM_BINDGEN_VERSION=$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/version = |"/,""); print; exit}' Cargo.lock 2>/dev/null || true)
WASM_BINDGEN_VERSION=${WASM_BINDGEN_VERSION:-0.2.130}

with_browser=false
[ "${1:-}" = "--with-browser" ] && with_browser=true

log() { printf '\033[1;34m[install]\033[0m %s\n' "$*"; }

# Build tools need neither link-time optimisation nor optimisation at all,
# but for the few crates their own work spends its time in: they mostly
# wait for rustc, while optimising every dependency was most of a fresh
# machine's first run. These installs only, never EXITON's own profiles
# (figures: BENCHMARKS.md, "First run"). `optimised` names the crates kept
# at opt-level 3 for the next install.
optimised=()
tool_install() {
  # Locals: bash scopes names dynamically, and the caller has its own `crate`.
  local config=() name
  for name in ${optimised[@]+"${optimised[@]}"}; do
    config+=(--config "profile.release.package.$name.opt-level=3")
  done
  CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
    CARGO_PROFILE_RELEASE_OPT_LEVEL=0 CARGO_PROFILE_RELEASE_DEBUG=false \
    cargo install ${config[@]+"${config[@]}"} "$@"
}

# Runs "$@" while printing, every 30 s, how long it has taken against an
# estimate (a long compile is otherwise silent: its log goes to a file).
with_progress() {
  local label=$1 estimate=$2
  shift 2
  local start=$SECONDS
  "$@" &
  local pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    kill -0 "$pid" 2>/dev/null || break
    local spent=$((SECONDS - start))
    log "$label: $((spent / 60)) min $((spent % 60)) s so far, about $((estimate / 60)) min in all"
  done
  local rc=0
  wait "$pid" || rc=$?
  log "$label: done in $(((SECONDS - start) / 60)) min $(((SECONDS - start) % 60)) s"
  return $rc
}

# Installs a crate whose published lockfile pins something this toolchain or
# registry cannot use: let the first install fail (it unpacks the source), then
# re-pin one package and install from the patched copy.
install_patched() {
  local crate=$1 version=$2 pkg=$3 precise=$4
  if tool_install "$crate" --version "$version" --locked >/tmp/install-$crate.log 2>&1; then
    return 0
  fi
  local src
  src=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/"$crate-$version" 2>/dev/null | head -n1)
  if [ -z "$src" ]; then
    echo "cargo install $crate $version failed before unpacking its source; see /tmp/install-$crate.log" >&2
    tail -n 20 "/tmp/install-$crate.log" >&2
    return 1
  fi
  log "re-pinning $pkg to $precise for $crate (its lockfile does not build here)"
  local work
  work=$(mktemp -d)
  cp -r "$src" "$work/"
  # The build directory is removed afterwards: on a CI machine every
  # gigabyte left behind is one the test build cannot use.
  local rc=0
  (cd "$work/$crate-$version" && cargo update -p "$pkg" --precise "$precise" && tool_install --path . --locked) || rc=$?
  rm -rf "$work"
  return $rc
}

if ! rustup target list --installed | grep -q wasm32-unknown-unknown; then
  log "adding wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

if ! cargo leptos --version 2>/dev/null | grep -q "$CARGO_LEPTOS_VERSION"; then
  log "installing cargo-leptos $CARGO_LEPTOS_VERSION"
  # Brotli and gzip (--precompress), the wasm splitter, the JS minifier:
  # with them optimised, a build of the site takes about 5 s longer than
  # with an opt-level 1 cargo-leptos, at a third of its compile time.
  optimised=(brotli brotli-decompressor alloc-no-stdlib alloc-stdlib libflate libflate_lz77
    crc32fast adler32 dary_heap wasmparser wasm_split_cli_support swc_ecma_minifier)
  with_progress "cargo-leptos" 330 install_patched cargo-leptos "$CARGO_LEPTOS_VERSION" cargo-util-schemas 0.14.1
fi

if ! wasm-bindgen --version 2>/dev/null | grep -q "$WASM_BINDGEN_VERSION"; then
  log "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION"
  # The wasm reader and rewriter it spends its time in.
  optimised=(walrus wasmparser wasm-bindgen-cli-support wasm-bindgen-wasm-interpreter id-arena leb128)
  with_progress "wasm-bindgen-cli" 90 install_patched wasm-bindgen-cli "$WASM_BINDGEN_VERSION" webpki-roots 1.0.10
fi

# libgit2 (built from its vendored source by the git2 crate) speaks https
# through the system's OpenSSL, found with pkg-config; the tests use the git
# CLI as their oracle.
missing_debs=()
for deb in libssl-dev pkg-config git; do
  dpkg -s "$deb" >/dev/null 2>&1 || missing_debs+=("$deb")
done
if [ ${#missing_debs[@]} -gt 0 ]; then
  log "installing ${missing_debs[*]}"
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing: ${missing_debs[*]} (sudo apt-get install ${missing_debs[*]})" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing_debs[@]}" >/dev/null
fi

if $with_browser && ! command -v chromium >/dev/null 2>&1; then
  log "installing chromium"
  if [ "$(id -u)" -ne 0 ]; then
    echo "Chromium is missing: install Debian's chromium package (sudo apt-get install chromium)" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi

if [ ! -x node_modules/.bin/tailwindcss ] || [ ! -d node_modules/playwright-core ] || [ ! -x node_modules/.bin/wasm-opt ]; then
  log "installing npm packages (tailwind, binaryen, playwright-core)"
  if [ -f package-lock.json ]; then
    npm ci --no-audit --no-fund --loglevel=error
  else
    npm install --no-audit --no-fund --loglevel=error
  fi
fi
log "tools ready"
