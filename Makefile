# Two commands do everything on a fresh Python 3.11 machine:
#   make run    install, build the demo study if missing, serve the dashboard on 127.0.0.1:8501
#   make test   install (Chromium included, for the browser tests) and run the whole suite
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
STUDY  ?= data/demo.duckdb
PORT   ?= 8501

.PHONY: run test install browser demo clean-demo bench
.DELETE_ON_ERROR:

install: $(STAMP)

$(STAMP): requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check -q --upgrade pip
	$(BIN)/pip install --disable-pip-version-check -q -r requirements.txt
	touch $(STAMP)

browser:
	@bash scripts/install-browser.sh

demo: $(STUDY)

$(STUDY): | $(STAMP)
	bash scripts/build-demo.sh $(STUDY)

clean-demo:
	rm -rf $(STUDY) $(STUDY:.duckdb=.study) $(STUDY).wal data/demo_cohort

run: $(STAMP) $(STUDY)
	$(BIN)/streamlit run dashboard/app.py --server.address 127.0.0.1 --server.port $(PORT) \
		--server.headless true -- --study $(STUDY)

test: $(STAMP) browser
	$(BIN)/python -m pytest

bench: $(STAMP) $(STUDY)
	$(BIN)/python bench/extraction.py
	$(BIN)/python bench/analysis.py
	$(BIN)/python bench/dashboard.py
