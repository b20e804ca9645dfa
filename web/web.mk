# Makefile fragment for the web UI; the root Makefile includes it, so paths are from the repo root.
# Targets: web-deps web-build web-test web-e2e web-clean.

WEB_DIR    := web
WEB_STAMP  := $(WEB_DIR)/node_modules/.flotilla-deps
WEB_SOURCES := $(shell find $(WEB_DIR)/src $(WEB_DIR)/public -type f 2>/dev/null) \
	$(WEB_DIR)/index.html $(WEB_DIR)/vite.config.ts $(WEB_DIR)/tsconfig.json $(WEB_DIR)/package.json

.PHONY: web-deps web-build web-test web-e2e web-clean

# npm ci only when node_modules is older than the lockfile.
web-deps: $(WEB_STAMP)
$(WEB_STAMP): $(WEB_DIR)/package-lock.json $(WEB_DIR)/package.json
	cd $(WEB_DIR) && npm ci --no-audit --no-fund
	touch $@

# Type-check and bundle to web/dist, only when a source changed.
web-build: $(WEB_DIR)/dist/index.html
$(WEB_DIR)/dist/index.html: $(WEB_STAMP) $(WEB_SOURCES)
	cd $(WEB_DIR) && npm run build

# Vitest, once (not watch mode).
web-test: $(WEB_STAMP)
	cd $(WEB_DIR) && npm test

# Playwright (playwright-core + Debian's /usr/bin/chromium) against a real `bin/flotilla serve`
# that the script starts on a random port with a temporary data dir.
web-e2e: web-build build
	cd $(WEB_DIR) && FLOTILLA_BIN=$(CURDIR)/bin/flotilla npm run e2e

web-clean:
	rm -rf $(WEB_DIR)/dist $(WEB_DIR)/e2e-screenshots
