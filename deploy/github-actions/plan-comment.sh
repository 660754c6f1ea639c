#!/usr/bin/env bash
# The pull-request plan step: writes the plan as a markdown comment body to $2 and exits 0 when
# there are no changes or changes (the comment says which), 1 on errors (invalid manifests,
# a refused plan, an unreachable target). Runs the same locally: the tests do.
# `--refresh changed`: a pull request's plan reads only the objects its manifests change (and
# says the others were not refreshed); the nightly `drift` job reads everything.
set -uo pipefail
manifests=${1:-manifests}
out=${2:-tenantsync-plan.md}
tenantsync plan --refresh changed --format markdown --detailed-exitcode "$manifests" >"$out.body" 2>"$out.err"
code=$?
case "$code" in
  0|2)
    cat "$out.body" >"$out"
    if [ "$code" = 2 ]; then
      printf '\n_Merging applies this plan._\n' >>"$out"
    fi
    ;;
  *)
    {
      echo '<!-- tenantsync-plan -->'
      echo '### tenantsync plan failed'
      echo
      echo '```'
      cat "$out.err"
      echo '```'
    } >"$out"
    ;;
esac
rm -f "$out.body" "$out.err"
[ "$code" = 1 ] && exit 1
exit 0
