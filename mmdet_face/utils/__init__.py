"""Small shared helpers with no model knowledge, light enough for any command-line tool (no torch at import):
:mod:`.output_file` (atomic writes, refuse-to-overwrite, outputs that are inputs) and :mod:`.config_file` (config
files read so that errors name the file and line; ``--cfg-options`` checked against the keys the code reads). They
sit on the lowest floor so that every part of the package, the API included, can use them."""
