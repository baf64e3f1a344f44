#!/usr/bin/env bash
# Installs what the test suite needs from Debian's packages: swaks (a scanner-like SMTP client),
# docker-compose (only to validate compose.yaml with `config`; no Docker engine is needed) and
# Dovecot's IMAP and POP3 servers (the mailbox tests start their own instance; see
# test/helpers/dovecot.ts), and Debian's chromium for the browser tests (test/e2e, driven by
# playwright-core at /usr/bin/chromium; never a downloaded browser), and strace.
set -euo pipefail
need=()
command -v swaks >/dev/null 2>&1 || need+=(swaks)
if ! command -v dovecot >/dev/null 2>&1 || [ ! -x /usr/lib/dovecot/imap ]; then need+=(dovecot-imapd); fi
if ! command -v dovecot >/dev/null 2>&1 || [ ! -x /usr/lib/dovecot/pop3 ]; then need+=(dovecot-pop3d); fi
[ -x /usr/bin/chromium ] || need+=(chromium)
# strace: the durability tests (test/durability) prove that an acknowledgement follows a flush
command -v strace >/dev/null 2>&1 || need+=(strace)
# getmail6: the mailbox-import reference of `npm run bench` (scripts/bench/getmail.ts)
command -v getmail >/dev/null 2>&1 || need+=(getmail6)
# Postfix only for its smtp-sink (a plain SMTP sink for the outbox tests); no mail system is configured or started
[ -x /usr/sbin/smtp-sink ] || need+=(postfix)
if ! docker compose version >/dev/null 2>&1 && ! command -v docker-compose >/dev/null 2>&1; then need+=(docker-compose); fi
[ ${#need[@]} -eq 0 ] && exit 0
echo "Installing test dependencies from Debian: ${need[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "Please install as root: apt-get install -y ${need[*]}" >&2; exit 1; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
# postfix: "No configuration", and no daemon started by the package (policy-rc.d answers 101 while installing),
# so that nothing listens on port 25 afterwards
if [[ " ${need[*]} " == *" postfix "* ]]; then
  echo "postfix postfix/main_mailer_type select No configuration" | $sudo debconf-set-selections
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
    $sudo chmod 755 /usr/sbin/policy-rc.d
    trap '$sudo rm -f /usr/sbin/policy-rc.d' EXIT
  fi
fi
$sudo apt-get install -y -qq "${need[@]}" >/dev/null 2>&1 || {
  $sudo apt-get update -qq >/dev/null
  $sudo apt-get install -y -qq "${need[@]}" >/dev/null
}
