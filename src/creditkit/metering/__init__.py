"""Credits around an app's work, the same on ``CreditKit`` and on ``Client`` (both hand
themselves to these): ``metered`` (a hold around one piece of work), ``metered_tokens`` (one
around a model call priced by tokens, grown while it streams) and ``lease`` (a hold a worker
spends against locally). See docs/integrations.md and docs/streams.md.

It sits below the kit and the client, which offer it, and above the ledger's types; the web
framework adapters built on it are ``creditkit.integrations``."""

from creditkit.metering.lease import Lease
from creditkit.metering.metered import Meter, Metering
from creditkit.metering.metered_tokens import TokenMeter

__all__ = ["Lease", "Meter", "Metering", "TokenMeter"]
