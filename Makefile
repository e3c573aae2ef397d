# Shortcuts for developers; the README's commands work without make.
PG_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/labelbay_test

run:
	pip install . && labelbay serve
test:
	pip install -e ".[test]" && python -m pytest
test-pg:
	LABELBAY_TEST_DATABASE_URL=$(PG_URL) python -m pytest
lint:
	ruff check src tests bench && ruff format --check src tests bench
ci:
	bash .ci/run
.PHONY: run test test-pg lint ci
