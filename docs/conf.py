"""Sphinx configuration: the docs are Markdown pages (MyST) plus API pages built from the code."""

from __future__ import annotations

import os
from pathlib import Path

# Importing the API modules imports Airflow, which writes a default airflow.cfg into AIRFLOW_HOME:
# keep that inside the build directory, not in the user's ~/airflow.
os.environ.setdefault("AIRFLOW_HOME", str(Path(__file__).parent / "_build" / "airflow-home"))

import airflow_provider_tia  # noqa: E402

project = "airflow-provider-tia"
author = "airflow-provider-tia developers"
copyright = "the airflow-provider-tia developers"
release = version = airflow_provider_tia.__version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]

# The code's docstrings use reST field lists (``:param x:``); napoleon also reads Google style.
# Type hints go into the parameter descriptions, where unresolved names cost nothing: the API pages
# document our classes, not Airflow's or the SDK's, so references into those are not checked.
autodoc_typehints = "description"
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_preserve_defaults = True
nitpicky = False

myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

html_theme = "furo"
html_title = f"airflow-provider-tia {release}"


def _config_lines() -> list[str]:
    """The ``config`` section of ``get_provider_info()`` as a reST definition list."""
    lines: list[str] = []
    for section, spec in airflow_provider_tia.get_provider_info().get("config", {}).items():
        for option, details in spec["options"].items():
            lines += [
                f"``[{section}] {option}``",
                f"   {details['description']}",
                "",
                f"   Type ``{details.get('type', 'string')}``, default ``{details.get('default')}``;"
                f" environment variable ``AIRFLOW__{section.upper()}__{option.upper()}``.",
                "",
            ]
    return lines


def setup(app):  # Sphinx calls it with the application
    """Register ``provider-config``: the provider's configuration options, read from the code."""
    from docutils import nodes
    from docutils.statemachine import StringList
    from sphinx.util.docutils import SphinxDirective

    class ProviderConfig(SphinxDirective):
        def run(self) -> list[nodes.Node]:
            container = nodes.container()
            self.state.nested_parse(StringList(_config_lines(), source="get_provider_info()"), 0, container)
            return container.children

    app.add_directive("provider-config", ProviderConfig)
    return {"parallel_read_safe": True}
