"""The node's access line (`serve.AccessLine`) is uvicorn's, byte for byte, secrets redacted."""

from __future__ import annotations

import asyncio
import copy
import io
import logging
import logging.config

from uvicorn.config import LOGGING_CONFIG

from hameau.node.serve import AccessLine, RedactSecrets
from tests.helpers import in_thread

FORMAT = '%s - "%s %s HTTP/%s" %d'
ASKED = (FORMAT, "127.0.0.1:5555", "PUT", "/dav/files/mine/a%20b.bin", "1.1")


def test_the_line_is_uvicorns_own_with_secrets_redacted() -> None:
    config = copy.deepcopy(LOGGING_CONFIG)
    config["formatters"]["access"]["use_colors"] = False
    logging.config.dictConfig(config)
    logger = logging.getLogger("uvicorn.access")
    logger.addFilter(RedactSecrets())
    try:
        written = io.StringIO()
        logger.handlers[0].setStream(written)  # type: ignore[attr-defined]
        login = (FORMAT, "127.0.0.1:5556", "GET", "/login?device=s3cret&x=1", "1.1", 200)
        calls = [(*ASKED, 201), login, (*ASKED, 599)]
        for call in calls:
            logger.info(*call)
        theirs, _ = written.getvalue(), written.truncate(0)
        written.seek(0)
        line = AccessLine.replacing(logger)
        assert line is not None

        async def log() -> None:
            for call in calls:
                line.info(*call)

        in_thread(asyncio.run, log())
        assert written.getvalue() == theirs
        assert "s3cret" not in theirs and "device=[redacted]&x=1" in theirs
        logger.addFilter(logging.Filter("other"))  # a filter of its own: the logger is kept
        assert AccessLine.replacing(logger) is None
    finally:
        logging.config.dictConfig(LOGGING_CONFIG)
