"""The plug-ins' own code: one importable, tested file per module.

Generated models do not import this package: ``plugscaffold.inline`` copies the classes
a model needs into its model.py. See the README ("Adding a module") for the rules.
"""
