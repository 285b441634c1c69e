# The two commands of the README. Both build the environment first (envs/setup.sh).
#   make run    - the default workflow, to its final target and the HTML report results/report.html
#                 (extra options: SNAKEMAKE_ARGS="...")
#   make test   - the linters (make lint), then the test suite (the fast subset; `make test-all` adds the slow tests)
#   make studies - the side studies (throughput vs Spark workers, framework comparison), then the report
SNAKEMAKE_ARGS ?=
PYTEST_ARGS ?=
# The HTCondor executor plugin warns at every Snakemake start where no HTCondor is configured: not the
# user's business unless they use profiles/htcondor (which needs a configured HTCondor anyway).
export PYTHONWARNINGS = ignore:The environment variable CONDOR_CONFIG is unset

.PHONY: setup run studies test test-all bench lint

setup:
	@bash envs/setup.sh

run: setup
	.venv/bin/snakemake $(SNAKEMAKE_ARGS) --report results/report.html --report-after-run

studies: setup
	.venv/bin/snakemake studies all $(SNAKEMAKE_ARGS) --report results/report.html --report-after-run

# pytest exits 5 when it collects no test: that is a broken suite, reported as such.
test:
	@bash envs/setup.sh --test
	@$(MAKE) --no-print-directory lint
	@tests/loopback.sh .venv/bin/python -m pytest -m "not slow" $(PYTEST_ARGS); status=$$?; \
	if [ $$status -eq 5 ]; then echo "make test: pytest collected no tests" >&2; exit 1; fi; exit $$status

test-all:
	@bash envs/setup.sh --test
	tests/loopback.sh .venv/bin/python -m pytest $(PYTEST_ARGS)

bench: setup
	.venv/bin/python bench/bench_generate.py
	.venv/bin/snakemake raw_samples
	.venv/bin/python bench/bench_ingest.py

lint: setup
	.venv/bin/ruff check src scripts tests bench
	.venv/bin/ruff format --check src scripts tests bench
	.venv/bin/snakefmt --check Snakefile rules
	.venv/bin/snakemake --lint
