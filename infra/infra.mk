# infra/infra.mk: CDK targets, included by the root Makefile (`include infra/infra.mk`).
# `synth` and `deploy` need the root Makefile's `lambdas` target, which builds
# build/lambdas/<fn>/bootstrap for linux/arm64. The UI is deployed from web/dist
# when it exists (a placeholder page otherwise): make `deploy` depend on the UI
# build in the root Makefile, e.g. `deploy: web`.

GO ?= go
INFRA_CDK := infra/_cdkcli/node_modules/.bin/cdk
# Node 20 is end-of-life for jsii (banner only); no telemetry, notices or version check.
INFRA_ENV := JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20 CDK_DISABLE_CLI_TELEMETRY=true CDK_DISABLE_VERSION_CHECK=1
# Extra CLI flags, e.g. CDK_FLAGS='--profile prod' or CDK_FLAGS='-c flotilla:auth_domain_prefix=acme-flotilla'.
CDK_FLAGS ?=
# The deployment's stage: stages live side by side in one account and Region
# (stack Flotilla-<stage>, every name and IAM scope flotilla-<stage>-…).
STAGE ?= prod
CDK_ALL := -c flotilla:stage=$(STAGE) $(CDK_FLAGS)

.PHONY: infra-test infra-fresh-test synth deploy destroy cdk-bootstrap proof-deps

# CDK assertion and cdk-nag tests, and the offline proofs (IAM calls evaluated
# by a real policy simulator, resources checked against CloudFormation's
# resource specification): no CLI, no Docker, no credentials; needs node.
infra-test: proof-deps web-build $(IAM_RECORDS) ## the CDK assertion, cdk-nag and proof tests (offline)
	cd infra && $(INFRA_ENV) $(GO) test ./...

# synth, cdk-bootstrap and destroy from a fresh clone of HEAD (no build/):
# no panic, no missing asset, and no AWS call gets anywhere.
infra-fresh-test: ## the CDK make targets in a fresh clone (committed work only)
	bash infra/fresh-clone-test.sh

# The proofs' npm packages, pinned in infra/proof/package-lock.json.
INFRA_PROOF := infra/proof/node_modules/.package-lock.json
proof-deps: $(INFRA_PROOF)
$(INFRA_PROOF): infra/proof/package.json infra/proof/package-lock.json
	cd infra/proof && npm ci --no-audit --no-fund
	touch $@

# The CDK CLI, pinned in infra/_cdkcli/package-lock.json.
$(INFRA_CDK): infra/_cdkcli/package.json infra/_cdkcli/package-lock.json
	cd infra/_cdkcli && npm ci --no-audit --no-fund
	touch $@

# Offline. Fails on any cdk-nag AwsSolutions error that is not suppressed with a reason.
synth: lambdas $(INFRA_CDK) ## synthesize the CloudFormation template offline (cdk-nag errors fail it)
	$(INFRA_ENV) $(INFRA_CDK) synth -q $(CDK_ALL)

# Once per AWS account and region. Without an environment argument the CLI
# synthesizes the app to find it, and the app needs the Lambdas' bootstraps.
cdk-bootstrap: lambdas $(INFRA_CDK) ## once per AWS account and region, before the first deploy
	$(INFRA_ENV) $(INFRA_CDK) bootstrap $(CDK_ALL)

deploy: lambdas $(INFRA_CDK) ## deploy Flotilla to the AWS account in your environment (see docs/deploy.md)
	$(INFRA_ENV) $(INFRA_CDK) deploy Flotilla-$(STAGE) --require-approval broadening $(CDK_ALL)

# destroy synthesizes the app too (to find the stack), so it needs the bootstraps.
destroy: lambdas $(INFRA_CDK) ## tear the deployment down (data kept unless configured otherwise)
	$(INFRA_ENV) $(INFRA_CDK) destroy Flotilla-$(STAGE) $(CDK_ALL)
