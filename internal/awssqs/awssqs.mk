# Makefile fragment for internal/awssqs, included by the root Makefile.
#
#   make fauxqs-deps   installs the fauxqs SQS emulator the awssqs tests run,
#                      exactly as fauxqs/package-lock.json pins it (npm ci),
#                      only when node_modules is older than the lockfile.

AWSSQS_DIR := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))
FAUXQS_DIR := $(AWSSQS_DIR)/fauxqs

.PHONY: fauxqs-deps
fauxqs-deps: $(FAUXQS_DIR)/node_modules/.package-lock.json

# npm writes node_modules/.package-lock.json on every install; the touch
# marks this install newer than the lockfile even when npm kept its mtime.
$(FAUXQS_DIR)/node_modules/.package-lock.json: $(FAUXQS_DIR)/package-lock.json $(FAUXQS_DIR)/package.json
	cd $(FAUXQS_DIR) && npm ci --no-audit --no-fund
	touch $@
