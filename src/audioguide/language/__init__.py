"""The routine language: YAML read with its lines kept, the grammar of step kinds, the loader
that makes a validated Routine, translations, programs, and the routines that ship with the tool.
"""
