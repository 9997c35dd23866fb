# The two commands of the README. Both create/reuse .venv (see tools/setup_env.sh) first.
PY := .venv/bin/python
PYTEST_ARGS ?=

.PHONY: demo test setup

setup:
	bash tools/setup_env.sh --tests --optional

# Install, then the main job on the built-in default: generate the toy face dataset, train a small SCRFD with
# keypoints on the CPU, score it with the WIDER FACE protocol and save a picture of detections.
demo:
	bash tools/setup_env.sh
	$(PY) tools/toy_demo.py

# Install, then the whole test suite (what CI runs).
test: setup
	$(PY) -m pytest tests -ra $(PYTEST_ARGS)
