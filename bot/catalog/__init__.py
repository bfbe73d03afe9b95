"""The endpoint catalog: endpoints discovered from the metrics, plus what the settings add.

Nobody lists routes by hand: ``Catalog.build`` takes what the metrics backend discovered,
drops the excluded routes, and lays the settings' overrides (owner, channel, aliases, SLO)
over them (``overrides.py``). ``Catalog.resolve`` turns what a person typed ("checkout",
"order history", "chekout", "payments") into endpoints (``resolve.py``), using the name index
(``index.py``) computed once at build time.
"""

from bot.catalog.catalog import Catalog
from bot.catalog.model import EndpointInfo, Resolution

__all__ = ["Catalog", "EndpointInfo", "Resolution"]
