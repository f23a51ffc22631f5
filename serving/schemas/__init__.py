"""Request and response models of the API (/v1): the contract. Field names follow the canonical data
model (docs/data-model.md). Unknown fields are rejected; NaN and infinity are rejected."""

from funnelcast.serving.schemas.alerts import *  # noqa: F403
from funnelcast.serving.schemas.analytics import *  # noqa: F403
from funnelcast.serving.schemas.book import *  # noqa: F403
from funnelcast.serving.schemas.common import *  # noqa: F403
from funnelcast.serving.schemas.common import _In, _Out  # noqa: F401
from funnelcast.serving.schemas.leads import *  # noqa: F403
from funnelcast.serving.schemas.opportunities import *  # noqa: F403
from funnelcast.serving.schemas.ops import *  # noqa: F403
