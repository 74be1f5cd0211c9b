# The two commands a newcomer runs (see README.md): `make demo` and `make test`.
# Everything is installed into .venv from this project's own files: the engine extra (the
# embedded kit, the server, the CLI; `pip install creditkit` alone is the HTTP client) and dev.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
# The browser the page tests drive: Debian's Chromium (Playwright's own download is neither
# needed nor reachable). Installed with apt, as root or through sudo.
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo serve test test-slow typescript react screenshots lint bench clean

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[engine,dev]'
	touch $(INSTALLED)

# The npm standardwebhooks package, that the webhook tests verify deliveries with under node.
NODE_VERIFIER := tests/notify/node/node_modules/.package-lock.json

$(NODE_VERIFIER): tests/notify/node/package.json tests/notify/node/package-lock.json
	npm ci --prefix tests/notify/node --no-audit --no-fund --silent

# The npm tools that check the OpenAPI contract (Redocly, openapi-typescript, tsc), from the lock.
CONTRACT_TOOLS := contract/node_modules/.package-lock.json
$(CONTRACT_TOOLS): contract/package-lock.json
	npm ci --prefix contract --no-audit --no-fund --loglevel=error

# The TypeScript client's own dependencies (openapi-fetch, standardwebhooks; tsc, express and
# openapi-typescript for its tests), from its lock.
TYPESCRIPT_CLIENT := clients/typescript/node_modules/.package-lock.json
$(TYPESCRIPT_CLIENT): clients/typescript/package-lock.json
	npm ci --prefix clients/typescript --no-audit --no-fund --loglevel=error

# @creditkit/react's own dependencies (react, react-dom, their types, tsc), and the React demo's
# (react, react-dom, esbuild), each from its lock.
REACT_PACKAGE := clients/react/node_modules/.package-lock.json
$(REACT_PACKAGE): clients/react/package-lock.json
	npm ci --prefix clients/react --no-audit --no-fund --loglevel=error
REACT_DEMO := examples/react-seed-003/node_modules/.package-lock.json
$(REACT_DEMO): examples/react-seed-003/package-lock.json
	npm ci --prefix examples/react-seed-003 --no-audit --no-fund --loglevel=error

$(CHROMIUM):
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium \
	  || ($(SUDO) apt-get update -q && $(SUDO) env DEBIAN_FRONTEND=noninteractive \
	      apt-get install -y -q --no-install-recommends chromium)

demo: $(INSTALLED)
	$(BIN)/creditkit demo

# `make serve PORT=8123 CATALOG=examples/seed_003_b2b_tenant/catalog.yaml`: the port (else
# $$CREDITKIT_PORT, else 8000) and the catalog (else $$CREDITKIT_CATALOG, else the bundled example);
# `creditkit link` then makes links to that port (serve records where it answers in the ledger).
serve: $(INSTALLED)
	$(BIN)/creditkit serve --payments sandbox $(if $(PORT),--port $(PORT)) $(if $(CATALOG),--catalog $(CATALOG))

test: $(INSTALLED) $(CHROMIUM) $(NODE_VERIFIER) $(CONTRACT_TOOLS) $(TYPESCRIPT_CLIENT) $(REACT_PACKAGE) $(REACT_DEMO)
	$(BIN)/pytest -n 2 --dist loadfile

# The stress tests marked slow, left out of `make test`: CI runs them in a step of their own, each
# bounded by its own count and time limits (none marked yet is not a failure: pytest's exit 5).
test-slow: $(INSTALLED)
	$(BIN)/pytest -q -m slow || [ $$? -eq 5 ]

# The TypeScript client on its own: its installable tarball (`npm pack`: tsc --strict builds its
# ES module and CommonJS halves, with types for both) in clients/typescript/, then its node tests
# against a creditkit it serves (the seed 001 and 003 flows) and the tarball installed into fresh
# CommonJS and ES module projects (`make test` runs them as well, in tests/api).
TYPESCRIPT_TARBALL := clients/typescript/creditkit-client-0.1.0.tgz
typescript: $(INSTALLED) $(TYPESCRIPT_CLIENT)
	cd clients/typescript && npm pack --silent >/dev/null && echo "built $(TYPESCRIPT_TARBALL)"
	$(BIN)/pytest -q tests/api/test_typescript_client.py tests/api/test_typescript_package.py

# @creditkit/react on its own: its tarball (tsc --strict) in clients/react/, its node tests (it
# renders on a server), then the demo page (examples/react-seed-003) in Chromium against a served
# creditkit (`make test` runs them as well, in tests/web/test_react_demo.py).
REACT_TARBALL := clients/react/creditkit-react-0.1.0.tgz
react: $(INSTALLED) $(CHROMIUM) $(REACT_PACKAGE) $(REACT_DEMO)
	cd clients/react && npm pack --silent >/dev/null && echo "built $(REACT_TARBALL)"
	$(BIN)/pytest -q tests/web/test_react_demo.py

# Rewrites docs/screenshots/*.png from the page tests (the README and docs/web.md show them):
# desktop shots from the SQLite half of tests/web, phone-width (390 px) ones from test_phone_pages.
screenshots: $(INSTALLED) $(CHROMIUM) $(REACT_DEMO)
	CREDITKIT_SCREENSHOTS=1 $(BIN)/pytest -q tests/web -k "sqlite or test_phone_pages or test_react_demo"

lint: $(INSTALLED)
	$(BIN)/ruff check src tests bench examples
	$(BIN)/ruff format --check src tests bench examples
	$(BIN)/mypy src

bench: $(INSTALLED)
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) tests/notify/node/node_modules contract/node_modules clients/typescript/node_modules clients/typescript/dist clients/typescript/build $(TYPESCRIPT_TARBALL) clients/react/node_modules clients/react/dist clients/react/build $(REACT_TARBALL) examples/react-seed-003/node_modules examples/react-seed-003/public creditkit-demo.db creditkit-demo.db-wal creditkit-demo.db-shm creditkit.db creditkit.db-wal creditkit.db-shm creditkit.db.secret-key creditkit-demo.db.secret-key
