# The two commands of the README. Both create/reuse .venv (see tools/setup_env.sh) first.
PY := .venv/bin/python
PYTEST_ARGS ?=

.PHONY: demo test test-fast setup search-demo

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

# Install, then the edit loop's lane: every test not marked slow (the distributed runs, the trainings, the
# end-to-end search, the parity runs against the releases are); a few minutes on 2 cores. CI runs `make test`.
test-fast: setup
	$(PY) -m pytest tests -ra -m "not slow" $(PYTEST_ARGS)

# A toy architecture search on the CPU (search_tools/README.md): 4 candidates of 0.2 GFLOPs at 320x320 (the toy
# SCRFD's budget) sampled, each trained 3 epochs on the toy faces, then the ranking table, the plots and the
# winner's config in $(SEARCH_DIR)/ (an earlier study there is moved aside, not deleted).
SEARCH_DIR ?= work_dirs/search_toy
search-demo:
	bash tools/setup_env.sh --search
	test -f data/toy_widerface/val/gt/wider_hard_val.mat || $(PY) tools/make_toy_widerface.py --out data/toy_widerface
	$(PY) search_tools/search.py sample --space mobilenet --gflops 0.2 --input 320x320 \
		--template configs/toy/search_scrfd_toy.py --num 4 --seed 0 --proxy-epochs 3 \
		--export-bases configs/_base_/datasets/toy_widerface.py configs/_base_/schedules/toy_12e.py \
		--out $(SEARCH_DIR) --force
	$(PY) search_tools/search.py run --study $(SEARCH_DIR)
	$(PY) search_tools/search.py report --study $(SEARCH_DIR)
	$(PY) search_tools/search.py export --study $(SEARCH_DIR) --rank 1 --out $(SEARCH_DIR)/ --force
