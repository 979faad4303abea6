"""The QAPI code generator: a schema in QEMU's dialect in, C++ out.

The front end reads and checks the schema: error (source positions and
QAPIError), parser (file syntax and '##' documentation blocks), schema
(the model and its semantic checks) and examples (the QMP exchanges of the
documentation, checked against the model).

The back ends turn the model into text, one module per generated file
pair: builtin_types, types, commands, events, introspect and examples.
common holds the C++ naming rules and text helpers they share, gen the
skeleton of a generated file and the writing of the files, and main the
command line that qapi-gen.py runs.
"""
