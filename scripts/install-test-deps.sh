#!/usr/bin/env bash
# Installs what the test suite needs from Debian's packages: swaks (a scanner-like SMTP client),
# docker-compose (only to validate compose.yaml with `config`; no Docker engine is needed) and
# Dovecot's IMAP and POP3 servers (the mailbox tests start their own instance; see
# test/helpers/dovecot.ts), and Debian's chromium for the browser tests (test/e2e, driven by
# playwright-core at /usr/bin/chromium; never a downloaded browser).
set -euo pipefail
need=()
command -v swaks >/dev/null 2>&1 || need+=(swaks)
if ! command -v dovecot >/dev/null 2>&1 || [ ! -x /usr/lib/dovecot/imap ]; then need+=(dovecot-imapd); fi
if ! command -v dovecot >/dev/null 2>&1 || [ ! -x /usr/lib/dovecot/pop3 ]; then need+=(dovecot-pop3d); fi
[ -x /usr/bin/chromium ] || need+=(chromium)
if ! docker compose version >/dev/null 2>&1 && ! command -v docker-compose >/dev/null 2>&1; then need+=(docker-compose); fi
[ ${#need[@]} -eq 0 ] && exit 0
echo "Installing test dependencies from Debian: ${need[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "Please install as root: apt-get install -y ${need[*]}" >&2; exit 1; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get install -y -qq "${need[@]}" >/dev/null 2>&1 || {
  $sudo apt-get update -qq >/dev/null
  $sudo apt-get install -y -qq "${need[@]}" >/dev/null
}
