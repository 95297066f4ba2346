# shellcheck shell=bash
# The one rule for installing Debian packages, sourced by services.sh, e2e-deps.sh and
# interop-deps.sh. apt-get runs only
#   - in CI (CI=true): as root, or through sudo when sudo needs no password;
#   - in a root shell that has apt-get.
# Anywhere else (a developer's laptop, say) nothing is installed: the caller stops with a
# message naming the package to install. The scripts never edit files under /etc themselves.

# Prints how packages may be installed here: `root`, `sudo`, or nothing when they may not.
install_mode() {
  command -v apt-get >/dev/null 2>&1 || return 0
  if [ "$(id -u)" = 0 ]; then
    echo root
  elif [ "${CI:-}" = true ] && command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    echo sudo
  fi
}

# The message naming what to install, one line per package.
install_hint() {
  local p
  for p in "$@"; do
    echo "install $p (Debian: apt-get install $p)"
  done
}

# Installs the Debian packages named, when the policy allows it. Otherwise prints which
# packages to install (and why nothing was installed) on stderr and returns 1.
apt_install() {
  local mode
  mode=$(install_mode)
  if [ -z "$mode" ]; then
    install_hint "$@" >&2
    echo "(nothing is installed here: packages are installed only in CI, CI=true, or from a root shell with apt-get)" >&2
    return 1
  fi
  local run=(env DEBIAN_FRONTEND=noninteractive)
  if [ "$mode" = sudo ]; then run=(sudo -n "${run[@]}"); fi
  if [ -z "${_jobs_apt_updated:-}" ]; then
    echo "[install] apt-get update" >&2
    "${run[@]}" apt-get update -qq || return 1
    _jobs_apt_updated=1
  fi
  echo "[install] apt-get install $*" >&2
  "${run[@]}" apt-get install -y -qq "$@" >/dev/null || return 1
}
