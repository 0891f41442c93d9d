"""The scripts of scripts/ that have no .py (publish, test, ...) loaded as modules, for their parts."""

import importlib.machinery
import importlib.util
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent


def load(name):
    """scripts/NAME as a module (its __name__ is not "__main__", so it runs nothing)."""
    loader = importlib.machinery.SourceFileLoader(name.replace("-", "_"), str(SCRIPTS / name))
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader(loader.name, loader))
    loader.exec_module(module)
    return module
