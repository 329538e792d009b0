# Each service's tests in a venv of its own, holding only what its image holds: taxifare-core, the
# service and their declared dependencies (plus their `test` extras). The shared .venv has every
# package, so it would hide a dependency a service uses without declaring it. Included by the Makefile.
#
#   make test-isolated              every service, one after the other
#   make test-isolated-<service>    one service, e.g. make test-isolated-trainer
#
# A venv is rebuilt from scratch when constraints.txt or one of its pyproject files changes, so a
# dependency dropped from a pyproject file does not linger in it. TEST_DATABASE_URL reaches the tests
# as it does in `make test`.

ISOLATED_VENVS := .venvs
ISOLATED_TARGETS := $(addprefix test-isolated-,$(SERVICES))

.PHONY: test-isolated $(ISOLATED_TARGETS)

test-isolated: $(ISOLATED_TARGETS) ## run each service's tests in a venv holding only its own dependencies (.venvs/<service>)

$(ISOLATED_TARGETS): test-isolated-%: $(ISOLATED_VENVS)/%/.installed
	$(ISOLATED_VENVS)/$*/bin/pytest -p no:cacheprovider services/$*/tests

# Only names that are not services reach this rule (the rule above is more specific); it carries the
# help line for the one-service form.
test-isolated-%: ## run one service's tests in its own venv, e.g. make test-isolated-trainer
	@echo "no service named '$*' (have: $(SERVICES))" >&2; exit 2

$(ISOLATED_VENVS)/%/.installed: constraints.txt libs/core/pyproject.toml services/%/pyproject.toml
	rm -rf $(ISOLATED_VENVS)/$*
	$(PYTHON) -m venv $(ISOLATED_VENVS)/$*
	$(ISOLATED_VENVS)/$*/bin/pip install -q --upgrade pip
	$(ISOLATED_VENVS)/$*/bin/pip install -q -c constraints.txt -e 'libs/core[test]' -e 'services/$*[test]'
	touch $@
