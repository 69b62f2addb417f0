"""The credit pages: a member's balance, history, open contracts and a transfer form to another
member (of this home, or of a home sharing the ledger); the cooperative's admin page (accounts
and limits, issuance and redemption, the notaries). Amounts are typed in euros and kept in
cents."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Form
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from hameau.accounts.models import Member
from hameau.errors import N_, HameauError
from hameau.ledger import finality, journal, service, verify
from hameau.ledger.models import LedgerAccount, LedgerKey
from hameau.web.auth import DB, AdminVisitor, MemberVisitor, member_of

router = APIRouter(prefix="/credit", include_in_schema=False)

KINDS = {
    "open": N_("account opened"),
    "transfer": N_("transfer"),
    "issue": N_("credit issued"),
    "redeem": N_("credit redeemed"),
    "limit": N_("limit set"),
    "escrow_open": N_("contract opened"),
    "escrow_release": N_("contract released"),
    "escrow_refund": N_("contract refunded"),
    "notaries": N_("notaries named"),
}
NOTICES = {
    "paid": N_("Payment recorded on the ledger."),
    "limit": N_("Limit set."),
    "issue": N_("Credit issued."),
    "redeem": N_("Credit redeemed."),
    "notaries": N_("Notaries named."),
}


def _date(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _page(request: Request, db: Session, visitor: Any, status: int = 200, **more: Any) -> Response:
    node = request.app.state.node
    member = member_of(visitor)
    account = service.member_account(node, db, member)
    others = db.scalars(
        select(Member)
        .where(Member.id != member.id, Member.disabled_at.is_(None))
        .order_by(Member.name)
    ).all()
    # Members of paired homes, known from the shared ledger: accounts whose key is kept elsewhere.
    kept_here = select(LedgerKey.account)
    elsewhere = db.scalars(
        select(LedgerAccount)
        .where(LedgerAccount.kind == "member", LedgerAccount.id.not_in(kept_here))
        .order_by(LedgerAccount.label)
    ).all()
    context = {
        "title": N_("Credit"),
        "account": account,
        "lines": service.pending(node, db, account) + service.history(db, account, 50),
        "contracts": service.open_contracts(db, account),
        "others": others,
        "elsewhere": elsewhere,
        "kinds": KINDS,
        "euros": service.euros,
        "date": _date,
        "notice": NOTICES.get(request.query_params.get("done", "")),
        **more,
    }
    return request.app.state.pages.render(request, "ledger/page.html", context, status)


@router.get("")
async def credit_page(request: Request, db: DB, visitor: MemberVisitor) -> Response:
    from hameau.ledger import remote

    # A replica reads what its notary sealed since (in a thread: a call to a peer).
    await anyio.to_thread.run_sync(remote.fresh, request.app.state.node, db)
    db.commit()
    return _page(request, db, visitor)


@router.post("/transfer")
async def transfer(
    request: Request,
    db: DB,
    visitor: MemberVisitor,
    to: Annotated[str, Form(max_length=120)],
    amount: Annotated[str, Form(max_length=40)],
    memo: Annotated[str, Form(max_length=140)] = "",
) -> Response:
    node = request.app.state.node

    def pay() -> None:  # in a thread: at a replica, it calls the notary
        from hameau.ledger import remote

        cents = service.parse_euros(amount)
        remote.fresh(node, db)
        payer = service.member_account(node, db, member_of(visitor))
        service.transfer(node, db, payer, service.recipient(node, db, to), cents, memo)

    try:
        await anyio.to_thread.run_sync(pay)
    except HameauError as failure:
        db.rollback()
        said = failure.render(request.app.state.pages.gettext(request))
        given = {"to": to, "amount": amount, "memo": memo}
        return _page(request, db, visitor, failure.status, error=said, given=given)
    db.commit()
    threading.Thread(target=_nudge, args=(node,), daemon=True).start()  # peers pull it
    return RedirectResponse("/credit?done=paid", 303)


def _nudge(node: Any) -> None:
    from hameau.ledger import nudges

    nudges.quietly(node)


# What a member reads of verify's findings (verify.Problem.reason).
BREAKS = {
    "fork": N_("two entries at one position (a fork)"),
    "gap": N_("a missing position"),
    "link": N_("a broken link to the previous position"),
    "hash": N_("a tampered entry"),
    "bad_signature": N_("a tampered entry"),
    "malformed": N_("a tampered entry"),
    "notary": N_("a position the notaries did not sign"),
    "forged": N_("a forged notary signature"),
    "insufficient": N_("a double spend"),
    "replayed_nonce": N_("a replayed entry"),
    "reordered_nonce": N_("an entry out of order"),
}
OTHER_BREAK = N_("stored balances that are not the ledger's")


@router.post("/verify")
async def verify_ledger(request: Request, db: DB, visitor: MemberVisitor) -> Response:
    """Any member may recompute the whole ledger from its first entry."""
    node = request.app.state.node

    def recompute() -> verify.Report:
        with node.sessions() as session:
            return verify.verify(session)

    report = await anyio.to_thread.run_sync(recompute)
    gettext = request.app.state.pages.gettext(request)
    if report.problem is None:
        said = gettext(
            "The ledger is sound: %(count)s entries recomputed from the first, every signature and link checked, balances summing to zero."
        ) % {"count": report.positions}
        return _page(request, db, visitor, verified=said)
    why = gettext(BREAKS.get(report.problem.reason, OTHER_BREAK))
    said = gettext(
        "The ledger breaks at position %(seq)s: %(why)s. Tell the cooperative's admins."
    ) % {"seq": report.problem.seq, "why": why}
    return _page(request, db, visitor, broken=said)


def _admin(request: Request, db: Session, status: int = 200, **more: Any) -> Response:
    node = request.app.state.node
    service.ensure_ledger(node, db)
    found = journal.head(db)
    context = {
        "title": N_("Cooperative"),
        "accounts": service.accounts(db),
        "unopened": service.members_without_account(db),
        "head": found,
        "notaries": service.notaries(db),
        "candidates": service.notary_candidates(node, db),
        "majority": finality.majority(len(service.notaries(db))),
        "this_notary": node.identity.node_id,
        "euros": service.euros,
        "notice": NOTICES.get(request.query_params.get("done", "")),
        **more,
    }
    return request.app.state.pages.render(request, "ledger/admin.html", context, status)


@router.get("/admin")
async def admin_page(request: Request, db: DB, visitor: AdminVisitor) -> Response:
    return _admin(request, db)


@router.post("/notaries")
async def name_notaries(
    request: Request,
    db: DB,
    visitor: AdminVisitor,
    notary: Annotated[list[str], Form(max_length=40)],
) -> Response:
    """The cooperative names the ledger's notaries among this home and its paired homes."""
    node = request.app.state.node

    def name() -> None:  # in a thread: with several notaries, the entry goes through them
        from hameau.ledger import remote

        remote.fresh(node, db)
        service.set_notaries(node, db, notary)

    try:
        await anyio.to_thread.run_sync(name)
    except HameauError as failure:
        db.rollback()
        said = failure.render(request.app.state.pages.gettext(request))
        return _admin(request, db, failure.status, error=said)
    db.commit()
    threading.Thread(target=_nudge, args=(node,), daemon=True).start()
    return RedirectResponse("/credit/admin?done=notaries", 303)


@router.post("/admin/{action}")
async def cooperative(
    request: Request,
    db: DB,
    visitor: AdminVisitor,
    action: str,
    account: Annotated[str, Form(max_length=120)],
    amount: Annotated[str, Form(max_length=40)],
) -> Response:
    node = request.app.state.node
    done = {"limit": service.set_limit, "issue": service.issue, "redeem": service.redeem}.get(
        action
    )
    if done is None:
        return Response(status_code=404)
    try:
        zero = action == "limit" and amount.strip() in ("0", "0,00", "0.00")
        cents = 0 if zero else service.parse_euros(amount)
        done(node, db, service.recipient(node, db, account), cents)
    except HameauError as failure:
        db.rollback()
        said = failure.render(request.app.state.pages.gettext(request))
        return _admin(
            request,
            db,
            failure.status,
            error=said,
            given={"account": account, "amount": amount, "action": action},
        )
    return RedirectResponse(f"/credit/admin?done={action}", 303)
