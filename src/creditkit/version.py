"""The installed distribution's version, as ``creditkit.__version__`` and the HTTP API's
document name it (a module of its own, so that the server reads it without the package's
re-exports of every layer)."""

from importlib.metadata import version

__version__ = version("creditkit")
