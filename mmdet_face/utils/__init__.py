"""Small shared helpers with no model knowledge, light enough for any command-line tool (no torch, no mmengine):
:mod:`.output_file` (atomic writes, refuse-to-overwrite, outputs that are inputs)."""
