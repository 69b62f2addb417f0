"""The credit pages through the app, as a browser uses them: French first, amounts in euros,
refusals as one sentence with a 4xx, the cooperative's page for admins only."""

from __future__ import annotations

import re
from pathlib import Path

from hameau.ledger.verify import verify
from tests.helpers import add_member, browser, log_in, make_node, post_form
from tests.ledger.ledgers import small_ledger, sql


def _option(page: str, label: str) -> str:
    match = re.search(r'<option value="([^"]+)"[^>]*>' + re.escape(label), page)
    assert match, f"no option for {label}"
    return match.group(1)


def test_a_member_pays_another_and_sees_it(tmp_path: Path) -> None:
    node = make_node(tmp_path / "node")
    add_member(node, "camille", admin=True)
    add_member(node, "dominique")
    admin = browser(node)
    log_in(admin, "camille")
    page = admin.get("/credit")
    assert page.status_code == 200
    assert "Crédit" in page.text and "Payer un membre" in page.text and "0,00" in page.text
    cooperative = admin.get("/credit/admin").text
    done = post_form(
        admin,
        "/credit/admin",
        "/credit/admin/issue",
        account=_option(cooperative, "camille"),
        amount="20",
    )
    assert done.status_code == 303
    paid = post_form(
        admin, "/credit", "/credit/transfer", to="dominique", amount="12,50", memo="pain"
    )
    assert paid.status_code == 303 and paid.headers["location"] == "/credit?done=paid"
    page = admin.get("/credit?done=paid").text
    assert "Paiement inscrit au registre." in page and "7,50" in page and "pain" in page

    refused = post_form(admin, "/credit", "/credit/transfer", to="dominique", amount="8")
    assert refused.status_code == 400
    assert "Crédit insuffisant" in refused.text
    unreadable = post_form(admin, "/credit", "/credit/transfer", to="dominique", amount="huit")
    assert unreadable.status_code == 400 and "en euros" in unreadable.text

    other = browser(node, "192.0.2.11")
    log_in(other, "dominique")
    assert "12,50" in other.get("/credit").text
    assert other.get("/credit/admin").status_code == 403
    with node.sessions() as session:
        assert verify(session).ok
    node.close()


def test_the_cooperative_sets_limits_and_redeems(tmp_path: Path) -> None:
    node = make_node(tmp_path / "node")
    add_member(node, "camille", admin=True)
    add_member(node, "dominique")
    other = browser(node, "192.0.2.11")
    log_in(other, "dominique")
    other.get("/credit")  # the account is opened on first use
    admin = browser(node)
    log_in(admin, "camille")
    cooperative = admin.get("/credit/admin").text
    dominique = _option(cooperative, "dominique")
    assert (
        post_form(
            admin, "/credit/admin", "/credit/admin/limit", account=dominique, amount="30"
        ).status_code
        == 303
    )
    assert "Vous pouvez descendre jusqu’à −30,00" in other.get("/credit").text
    assert (
        post_form(other, "/credit", "/credit/transfer", to="camille", amount="25").status_code
        == 303
    )
    refused = post_form(
        admin, "/credit/admin", "/credit/admin/redeem", account=dominique, amount="1"
    )
    assert refused.status_code == 400 and "Crédit insuffisant" in refused.text
    page = admin.get("/credit/admin").text
    assert "Notaires" in page and "ce serveur" in page
    node.close()


def test_any_member_verifies_the_ledger_from_the_page(tmp_path: Path) -> None:
    node, _ = small_ledger(tmp_path / "node")
    client = browser(node)
    log_in(client, "sam")
    sound = post_form(client, "/credit", "/credit/verify")
    assert sound.status_code == 200
    assert "Le registre est intact : 6 écritures" in sound.text
    sql(
        node,
        "UPDATE ledger_entries SET entry = replace(entry, '\"cents\":250', '\"cents\":25') WHERE seq = 6",
    )
    broken = post_form(client, "/credit", "/credit/verify")
    assert "Le registre est rompu à la position 6 : une écriture falsifiée." in broken.text
    node.close()


def test_the_cooperative_names_the_notaries_and_history_says_final(tmp_path: Path) -> None:
    node, _ = small_ledger(tmp_path / "node")
    admin = browser(node)
    log_in(admin, "alex")
    page = admin.get("/credit/admin").text
    assert "Nommer les notaires" in page and "définitive dès que 1 des 1 notaires" in page
    assert f'value="{node.identity.node_id}" checked' in page
    unknown = post_form(admin, "/credit/admin", "/credit/notaries", notary="nobody")
    assert unknown.status_code == 404 and "nobody" in unknown.text
    named = post_form(admin, "/credit/admin", "/credit/notaries", notary=node.identity.node_id)
    assert named.status_code == 303 and named.headers["location"] == "/credit/admin?done=notaries"
    assert "Notaires nommés." in admin.get("/credit/admin?done=notaries").text
    history = admin.get("/credit").text
    assert "définitive" in history and "en attente" not in history
    with node.sessions() as session:
        assert verify(session).ok
    node.close()


def test_a_members_open_contracts_are_on_their_page_until_settled(tmp_path: Path) -> None:
    """An escrow camille pays (what lent compute opens) is listed on her page, in euros, with
    its deadline; once released it is gone from the list and in her history."""
    import time

    from hameau.accounts import members
    from hameau.ledger import service
    from hameau.ledger.embedded_escrow import EmbeddedEscrow
    from hameau.ledger.escrow import Conditions
    from hameau.node.db import transaction

    node = make_node(tmp_path / "node")
    add_member(node, "camille")
    with transaction(node.sessions) as session:
        member = members.find_member(session, "camille")
        camille = service.member_account(node, session, member).id
    escrow = EmbeddedEscrow(node)
    provider = escrow.account("provider")
    escrow.issue(camille, 2000)
    opened = escrow.open_escrow(
        camille, 1250, Conditions((provider,), camille, int(time.time()) + 3600)
    )
    client = browser(node)
    log_in(client, "camille")
    page = client.get("/credit").text
    assert f"Contrat {opened[:8]} : 12,50" in page and "Aucun contrat en cours." not in page
    assert "7,50" in page  # her balance: what the contract holds is not hers to spend
    escrow.release(escrow.sign_receipt(opened, {provider: 1000}, camille))
    page = client.get("/credit").text
    assert "Aucun contrat en cours." in page and f"Contrat {opened[:8]}" not in page
    assert "contrat réglé" in page and "10,00" in page  # 7,50 + the 2,50 back
    node.close()
