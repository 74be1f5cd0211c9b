"""Putting credits around an app's work: ``metered`` (a hold around one piece of work), a
FastAPI dependency (``creditkit.integrations.fastapi``) and a Flask decorator
(``creditkit.integrations.flask``). See docs/integrations.md."""

from creditkit.integrations.metered import Meter, Metering

__all__ = ["Meter", "Metering"]
