"""Putting credits around an app's routes: a FastAPI dependency
(``creditkit.integrations.fastapi``) and a Flask decorator (``creditkit.integrations.flask``),
built on ``metered`` (``creditkit.metering``, whose ``Meter``, ``Metering`` and ``TokenMeter``
are importable from here too). See docs/integrations.md and docs/streams.md."""

from creditkit.metering import Meter, Metering, TokenMeter

__all__ = ["Meter", "Metering", "TokenMeter"]
