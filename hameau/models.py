"""Every domain's tables, imported in one place so migrations see the whole schema."""

from hameau.accounts import models as accounts  # noqa: F401
from hameau.ai import models as ai  # noqa: F401
from hameau.files import journal as files_journal  # noqa: F401
from hameau.files import models as files  # noqa: F401
from hameau.messages import models as messages  # noqa: F401
from hameau.node import models as node  # noqa: F401
from hameau.notes import models as notes  # noqa: F401
