# Two commands for a new user: `make run` and `make test`. Everything else is installed here.
PYTHON ?= python3
UV_VERSION := 0.13.9
UV := .tools/bin/uv
VENV := .venv
export UV_PYTHON_DOWNLOADS := never

.PHONY: install run test lint format openapi clean browser tools

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --locked --python $(PYTHON)
	touch $@

install: $(VENV)/.synced

run: install  ## serve the hub on http://127.0.0.1:8000 (embedded PostgreSQL unless DATABASE_URL)
	MDM_LOG_FORMAT=$${MDM_LOG_FORMAT:-text} $(VENV)/bin/mdm-hub serve

test: install lint browser tools  ## the whole suite against a real PostgreSQL (and Node.js's oidc-provider: tests/auth)
	$(VENV)/bin/pytest

# The console's browser tests (tests/console) drive Debian's Chromium with Playwright, which
# cannot download browsers of its own here; the CJK fonts make Japanese render in screenshots.
browser:
	@if [ ! -x /usr/bin/chromium ] || [ ! -d /usr/share/fonts/opentype/noto ]; then \
		apt-get install -y chromium fonts-noto-cjk || \
		(apt-get update && apt-get install -y chromium fonts-noto-cjk); \
	fi

# The backup test uploads with rclone, as the chart's backup CronJob does (Debian's rclone).
tools:
	@if [ ! -x /usr/bin/rclone ]; then \
		apt-get install -y rclone || (apt-get update && apt-get install -y rclone); \
	fi

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

openapi: install  ## regenerate openapi/openapi.json from the code
	$(VENV)/bin/mdm-hub openapi --output openapi/openapi.json

clean:
	rm -rf .tools $(VENV) .pytest_cache .ruff_cache tests/auth/oidc/node_modules
