"""The HTTP API's routers: thin routers over ``CreditKit``. The server's assembly, that mounts
them beside the pages, is ``creditkit.server``."""
