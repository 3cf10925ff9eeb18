"""Exercise checkers: the framework (framework.py) and one module per notebook, named after its slug."""
