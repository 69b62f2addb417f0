"""Asking another home's AI: a member of this node chooses a paired home that opened its AI
to this one, and their question goes there over the hamlet's signed channel
(`hameau.hamlet.client`, the one client toward peers), with a pseudonym instead of who
they are. The other home answers from its model alone; extracts of the member's own
documents, when they asked for them, were put in the question here, before it left.

The pseudonym is an HMAC of the member's id with this node's secret and the other home's
node id: the same for a member at one lender (so it can count them), different at each
lender, and meaningless without this node's secret."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from dataclasses import dataclass
from typing import Any

from hameau.ai.engines import Job, Result
from hameau.errors import HameauError, NotFound
from hameau.node.datadir import Node
from hameau.node.peer import STATUS, PeerFailed

log = logging.getLogger("hameau.ai")
CHAT, MODELS = "/api/hamlet/ai/chat", "/api/hamlet/ai/models"
PREFIX = "hamlet:"  # how the history says where a question was answered: "hamlet:NAME"
OFFERS_SECONDS, DOWN_SECONDS, LOOKUP_SECONDS = 300.0, 60.0, 3.0


class RefusedElsewhere(HameauError):
    """The other home refused (403: not open, 429: its quota for the day), or failed."""

    status = 502


def pseudonym(node: Node, member_id: int, lender: str) -> str:
    """Stable per member and lender, meaningless elsewhere (see the module's docstring)."""
    said = f"ai-pseudonym\0{member_id}\0{lender}".encode()
    return hmac.new(node.secret, said, hashlib.sha256).hexdigest()[:24]


def ran_on(peer_name: str) -> str:
    return PREFIX + peer_name


def answered_at(ran: str) -> str | None:
    """The home a history entry was answered at, or None when it was answered by this node."""
    return ran[len(PREFIX) :] if ran.startswith(PREFIX) else None


def _peers(node: Node) -> list[Any]:
    from hameau.hamlet import service

    with node.sessions() as db:
        found = [peer for peer in service.peers(db) if peer.revoked_at is None]
        db.expunge_all()  # read after the session: only loaded columns are used
    return found


def _peer(node: Node, name: str) -> Any:
    for peer in _peers(node):
        if peer.name == name:
            return peer
    raise NotFound("No paired home is called %(peer)s; choose another place to ask.", peer=name)


def _refused(peer_name: str, failed: PeerFailed) -> RefusedElsewhere:
    if failed.kind == STATUS and failed.code in (403, 429):
        error = RefusedElsewhere(
            "%(peer)s refused this question: %(why)s", peer=peer_name, why=failed.why
        )
        error.status = failed.code
        return error
    return RefusedElsewhere("%(peer)s could not answer: %(why)s", peer=peer_name, why=str(failed))


def _usage(answer: dict[str, Any], started: float) -> Result:
    choice = (answer.get("choices") or [{}])[0]
    usage = answer.get("usage") or {}
    return Result(
        text=str((choice.get("message") or {}).get("content") or ""),
        prompt_tokens=int(usage.get("prompt_tokens") or 0),
        completion_tokens=int(usage.get("completion_tokens") or 0),
        finish_reason=str(choice.get("finish_reason") or "stop"),
        seconds=time.perf_counter() - started,
    )


async def ask(node: Node, member_id: int, at: str, model: str, job: Job) -> Result:
    """The answer of home `at`'s model to this chat (not streamed: the answer is signed whole)."""
    from hameau.hamlet.client import to_peer_async

    peer = _peer(node, at)
    body = {"model": model, "messages": job.messages, "max_tokens": job.max_tokens,
            "temperature": job.temperature, "stop": job.stop,
            "pseudonym": pseudonym(node, member_id, peer.node_id)}  # fmt: skip
    client = to_peer_async(node, peer, timeout=600)
    started = time.perf_counter()
    try:
        answer = await client.call("POST", CHAT, json=body)
    except PeerFailed as failed:
        raise _refused(peer.name, failed) from None
    finally:
        await client.aclose()
    return _usage(answer, started)


@dataclass
class Offered:
    peer: str
    models: list[str]
    left_today: int


class Offers:
    """What each peer opened to this node, asked when a page or `/v1/models` needs it and
    kept a few minutes (a peer down is asked again after a minute), so that listing where a
    member may ask costs at most one short wait now and then, never one per page."""

    def __init__(self) -> None:
        self._known: dict[str, tuple[float, Offered | None]] = {}

    async def _ask(self, node: Node, peer: Any) -> Offered | None:
        from hameau.hamlet.client import to_peer_async

        client = to_peer_async(node, peer, timeout=LOOKUP_SECONDS, connect=LOOKUP_SECONDS)
        try:
            said = await client.call("GET", MODELS)
            return Offered(peer.name, list(said["models"]), int(said["left_today"]))
        except (HameauError, KeyError, TypeError, ValueError) as error:
            log.info("the AI offer of %s is not known: %s", peer.name, error)
            return None
        finally:
            await client.aclose()

    async def of(self, node: Node) -> list[Offered]:
        """The peers whose AI is open to this node, with the models they opened."""
        peers, now = _peers(node), time.monotonic()
        stale = [p for p in peers if self._stale(p.node_id, now)]
        for peer, offered in zip(
            stale, await asyncio.gather(*(self._ask(node, p) for p in stale)), strict=True
        ):
            self._known[peer.node_id] = (now, offered)
        found = [self._known.get(p.node_id, (0.0, None))[1] for p in peers]
        return [offered for offered in found if offered is not None and offered.models]

    def _stale(self, node_id: str, now: float) -> bool:
        at, offered = self._known.get(node_id, (-1e9, None))
        return now - at > (OFFERS_SECONDS if offered is not None else DOWN_SECONDS)

    def forget(self) -> None:
        self._known.clear()


def where(node: Node, model: str | None, at: str | None) -> tuple[str, str]:
    """Where a question is answered and by which model: `at` names a paired home, or the
    model is "HOME/model" (as `/v1/models` lists another home's); else here."""
    default = node.settings.ai_model
    if at and at != "here":
        _peer(node, at)  # 404 now if it is not a paired home
        return at, model or default
    if model and "/" in model:
        home, _, name = model.partition("/")
        if any(peer.name == home for peer in _peers(node)):
            return home, name or default
    return "here", model or default
