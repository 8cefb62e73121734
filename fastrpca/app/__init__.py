"""The application layer: command line, image / video reading, pictures, output folders, demos.

Nothing in the solver families imports this package; its optional dependencies (imageio, av,
matplotlib) are imported when first needed.
"""
