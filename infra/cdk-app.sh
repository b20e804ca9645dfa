#!/bin/sh
# The CDK app command of cdk.json (repository root). The CLI starts it in the
# root and hands it relative paths (CDK_OUTDIR, CDK_ERROR_FILE, ...); the Go
# module lives in infra/, so anchor those paths before changing directory.
set -eu
root=$(pwd)
for v in CDK_OUTDIR CDK_ERROR_FILE CDK_PERF_COUNTERS_FILE; do
	eval "p=\${$v:-}"
	case "$p" in
	'' | /*) ;;
	*) export "$v=$root/$p" ;;
	esac
done
cd "$root/infra"
exec go run .
