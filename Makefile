# The two commands of the quickstart: `make demo` (or `make up`) and `make test`.
# Each creates or refreshes .venv and installs what it needs.

DATA_DIR ?= $(HOME)/.local/share/tailsight

.PHONY: demo up test lint bench venv screenshots report-example

venv:
	@scripts/venv.sh dev

# A simulated GPU fleet with injected faults on a fresh store: a day of history, then live.
demo:
	@scripts/venv.sh
	.venv/bin/tailsight demo

up:
	@scripts/venv.sh
	.venv/bin/tailsight up --data-dir $(DATA_DIR)

lint: venv
	.venv/bin/ruff check tailsight tests bench
	.venv/bin/mypy

test: venv
	@scripts/system-deps.sh
	.venv/bin/ruff check tailsight tests bench
	.venv/bin/mypy
	.venv/bin/pytest -q -p no:cacheprovider --durations=25 -n 2 --dist loadfile tests

bench: venv
	@for b in bench/*.py; do echo "== $$b"; .venv/bin/python $$b || exit 1; done

# Every dashboard page at 1920x1080, from the browser tests against a simulated fleet.
screenshots: venv
	@scripts/system-deps.sh
	SCREENSHOTS_DIR=docs/screenshots .venv/bin/pytest -q -p no:cacheprovider \
		tests/dashboards/test_browser.py -k every_page
# The example weekly SLO report linked from the README: PDF, HTML and its pages as PNGs.
report-example: venv
	@scripts/system-deps.sh
	.venv/bin/python scripts/report_example.py docs/report-example
