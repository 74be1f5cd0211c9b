"""Putting credits around an app's work: ``metered`` (a hold around one piece of work),
``metered_tokens`` (one around a model call priced by tokens, grown while it streams), a
FastAPI dependency (``creditkit.integrations.fastapi``) and a Flask decorator
(``creditkit.integrations.flask``). See docs/integrations.md and docs/streams.md."""

from creditkit.integrations.metered import Meter, Metering
from creditkit.integrations.metered_tokens import TokenMeter

__all__ = ["Meter", "Metering", "TokenMeter"]
