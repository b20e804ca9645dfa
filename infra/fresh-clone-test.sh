#!/usr/bin/env bash
# The CDK make targets from a fresh clone (no build/, no node_modules): each
# must synthesize the app without a panic or a missing asset, and stop at
# its first AWS call, which goes nowhere (credentials are fake and every
# AWS endpoint is a closed loopback port).
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git clone -q "$root" "$work/flotilla"
cd "$work/flotilla"
export AWS_ACCESS_KEY_ID=AKIDFRESHCLONE AWS_SECRET_ACCESS_KEY=fake AWS_REGION=eu-west-1 AWS_DEFAULT_REGION=eu-west-1
export AWS_ENDPOINT_URL=http://127.0.0.1:9 AWS_EC2_METADATA_DISABLED=true AWS_MAX_ATTEMPTS=1
unset AWS_PROFILE
fail=0
run() { # name, expected exit (0 or "any"), make arguments…
	local name=$1 want=$2; shift 2
	echo "fresh clone: make $*"
	timeout 600 make "$@" </dev/null >"$work/$name.log" 2>&1
	local rc=$?
	if grep -qE 'Cannot find asset|panic:|is not built' "$work/$name.log"; then
		echo "FAIL make $*: the app could not be synthesized"; tail -20 "$work/$name.log"; fail=1; return
	fi
	if [ "$want" = 0 ] && [ $rc -ne 0 ]; then
		echo "FAIL make $* exited $rc"; tail -20 "$work/$name.log"; fail=1; return
	fi
	echo "ok   make $* (exit $rc)"
}
run synth 0 synth
# Both synthesize the app, then call AWS (STS, CloudFormation): that fails here.
run bootstrap any cdk-bootstrap
run destroy any destroy CDK_FLAGS=--force
for log in bootstrap destroy; do
	if ! grep -qiE 'ECONNREFUSED|127\.0\.0\.1:9|credentials|Unable to resolve AWS account|Could not|Need to perform AWS calls' "$work/$log.log"; then
		echo "FAIL make $log: it did not stop at an AWS call:"; tail -20 "$work/$log.log"; fail=1
	fi
done
exit $fail
