"""Sphinx configuration for skmice's documentation.

Build with ``sphinx-build -W -b html docs docs/_build/html`` (warnings are
errors). The API lists in ``api.rst`` are generated here from each module's
``__all__``, so a new public name appears without editing the docs.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import skmice  # noqa: E402

project = "skmice"
author = "the skmice developers"
copyright = "the skmice developers"
version = release = skmice.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
]
autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": False}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
exclude_patterns = ["_build", "_autogen", "generated/*.tmp"]
templates_path = []
source_suffix = {".rst": "restructuredtext"}
root_doc = "index"
default_role = "literal"
# skmice.diagnostics.split_rhat writes |x - median| in plain text, which reST
# reads as a substitution; define it until that docstring is escaped.
rst_prolog = r"""
.. |x - median| replace:: \|x - median\|
"""

try:  # the Read the Docs theme when installed, else Sphinx's default
    import sphinx_rtd_theme  # noqa: F401

    html_theme = "sphinx_rtd_theme"
except ImportError:  # pragma: no cover - depends on the environment
    html_theme = "alabaster"
html_title = f"skmice {release}"

# --------------------------------------------------------------------------- #
# API lists from __all__
# --------------------------------------------------------------------------- #
API_MODULES = {
    "skmice": "The main API",
    "skmice.methods": "Conditional imputation methods",
    "skmice.pooling": "Pooling (Rubin's rules, D1-D3)",
    "skmice.analysis": "Analysis adapters",
    "skmice.mixed": "Linear mixed models (lme4's lmer) for the analysis",
    "skmice.smc": "Imputation compatible with the analysis model",
    "skmice.datasets": "Simulated datasets",
    "skmice.diagnostics": "Diagnostics",
    "skmice.plotting": "Plots",
    "skmice.sensitivity": "Sensitivity analysis (delta adjustment, tipping points)",
    "skmice.amputation": "Amputation",
    "skmice.exceptions": "Warnings and exceptions",
}


def _write_stub(module: str, name: str, obj) -> None:
    """One page per public name (what autosummary would generate)."""
    stubs = HERE / "generated"
    stubs.mkdir(exist_ok=True)
    full = f"{module}.{name}"
    if isinstance(obj, type):
        body = f".. autoclass:: {name}\n   :members:\n"
    elif callable(obj):
        body = f".. autofunction:: {name}\n"
    else:
        body = f".. autodata:: {name}\n   :annotation:\n"
    text = f"{full}\n{'=' * len(full)}\n\n.. currentmodule:: {module}\n\n{body}"
    path = stubs / f"{full}.rst"
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def _write_api_lists() -> None:
    out = HERE / "_autogen"
    out.mkdir(exist_ok=True)
    for name, title in API_MODULES.items():
        try:
            module = importlib.import_module(name)
        except ImportError as exc:  # an optional dependency (matplotlib) is missing
            text = f"{title}\n{'-' * len(title)}\n\n``{name}`` is unavailable here: {exc}.\n"
        else:
            names = [n for n in getattr(module, "__all__", []) if not n.startswith("_")]
            if name != "skmice":  # each name is listed once, under its first module
                names = [n for n in names if not hasattr(skmice, n)]
            lines = [title, "-" * len(title), "", f".. currentmodule:: {name}", ""]
            if names:
                lines += [".. autosummary::", "   :toctree: generated", ""]
                lines += [f"   {n}" for n in sorted(names, key=str.lower)]
            else:
                lines.append("(Everything here is also in the main API above.)")
            text = "\n".join(lines) + "\n"
            for n in names:
                _write_stub(name, n, getattr(module, n))
        path = out / f"{name}.rst"
        if not path.exists() or path.read_text() != text:
            path.write_text(text)


_write_api_lists()


def _skip_member(app, what, name, obj, skip, options):
    """Leave out scikit-learn's generated metadata-routing setters."""
    if name.startswith("set_") and name.endswith("_request"):
        return True
    if name == "get_metadata_routing":
        return True
    return skip


def setup(app):
    app.connect("autodoc-skip-member", _skip_member)
