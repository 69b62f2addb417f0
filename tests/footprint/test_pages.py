"""The footprint's pages: a member's share and the household's (admins), in French first, with
charts drawn as SVG on the server, and the inventory's forms."""

from __future__ import annotations

import re

from hameau.accounts import devices
from hameau.node.datadir import Node
from hameau.node.db import transaction
from tests.helpers import add_member, browser, log_in, post_form


def household(node: Node) -> None:
    add_member(node, "alex", admin=True)
    add_member(node, "sam")
    with transaction(node.sessions) as db:
        devices.add_device(db, "salon", "laptop", True)


def test_a_member_sees_their_share_with_a_chart_and_every_label(node: Node) -> None:
    household(node)
    client = browser(node)
    log_in(client, "sam")
    page = client.get("/footprint", headers={"Accept-Language": "fr"})
    assert page.status_code == 200
    assert "Votre empreinte" in page.text
    svg = re.search(r"<svg class=\"chart\" role=\"img\".*?</svg>", page.text, re.S)
    assert svg and "<title>" in svg.group(0) and "<rect" in svg.group(0)
    assert "<script" not in page.text.split("<main>")[1]
    # Each verdict and label is said; the cloud share is written unknown, not drawn.
    assert "non mesurable ici" in page.text
    assert "estimé" in page.text and "inconnu" in page.text
    # What each scenario counts, and what it leaves out.
    assert "Le foyer : les appareils inscrits" in page.text and "Chacun le sien" in page.text
    # A member does not reach the household's page nor its forms.
    assert client.get("/footprint/household").status_code == 403


def test_an_admin_corrects_a_device_and_describes_the_node(node: Node) -> None:
    household(node)
    client = browser(node)
    log_in(client, "alex")
    with transaction(node.sessions) as db:
        salon = devices.find_device(db, "salon").id
    done = post_form(client, "/footprint/household", f"/footprint/household/devices/{salon}",
                     kind="desktop", usage="shared", owner="", acquired="2015-02-01",
                     lifetime_years="12")  # fmt: skip
    assert done.status_code == 303
    done = post_form(client, "/footprint/household", "/footprint/household/node",
                     kind="box", country="BEL", acquired="", lifetime_years="8")  # fmt: skip
    assert done.status_code == 303
    page = client.get(done.headers["location"], headers={"Accept-Language": "fr"})
    assert "électricité : Belgique" in page.text
    with transaction(node.sessions) as db:
        salon_now = devices.find_device(db, "salon")
        assert (salon_now.kind, salon_now.lifetime_years) == ("desktop", 12)
    assert 'value="8"' in page.text and '<option value="box" selected>' in page.text


def test_an_admin_names_the_node_s_cpu_from_boavizta_s_table(node: Node) -> None:
    household(node)
    client = browser(node)
    log_in(client, "alex")
    page = client.get("/footprint/household").text
    assert '<datalist id="cpu-names">' in page and '<option value="AMD EPYC 7282">' in page
    refused = post_form(client, "/footprint/household", "/footprint/household/node",
                        kind="server", country="FRA", cpu="AMD EPYC", memory_gb="")  # fmt: skip
    assert refused.status_code == 400 and 'role="alert"' in refused.text
    assert "« AMD EPYC » n’est pas dans la table des processeurs de Boavizta" in refused.text
    done = post_form(client, "/footprint/household", "/footprint/household/node",
                     kind="server", country="FRA", cpu="amd epyc 7282", memory_gb="64")  # fmt: skip
    assert done.status_code == 303
    page = client.get("/footprint/household", headers={"Accept-Language": "en"}).text
    assert "CPU named by the admin: AMD EPYC 7282 (TDP 120 W" in page
    assert 'value="AMD EPYC 7282"' in page and 'value="64"' in page


def test_a_bad_meter_reading_is_refused_with_one_sentence(node: Node) -> None:
    household(node)
    client = browser(node)
    log_in(client, "alex")
    refused = post_form(client, "/footprint/household", "/footprint/household/meter",
                        kwh="3", hours="", watts="")  # fmt: skip
    assert refused.status_code == 400
    assert 'role="alert"' in refused.text
    done = post_form(client, "/footprint/household", "/footprint/household/meter",
                     kwh="1.2", hours="48", watts="")  # fmt: skip
    assert done.status_code == 303
    page = client.get("/footprint/household", headers={"Accept-Language": "en"})
    assert "25 W, measured" in page.text and "entered by alex" in page.text


def test_a_member_sees_shared_devices_and_their_own_not_the_others(node: Node) -> None:
    from hameau.accounts import members

    household(node)
    with transaction(node.sessions) as db:
        sam = members.find_member(db, "sam")
        alex = members.find_member(db, "alex")
        devices.add_device(db, "tel-sam", "phone", False, owner=sam)
        devices.add_device(db, "tel-alex", "phone", False, owner=alex)
    client = browser(node)
    log_in(client, "sam")
    page = client.get("/footprint").text
    assert "tel-sam" in page and "salon" in page
    assert "tel-alex" not in page


def test_the_household_page_draws_its_charts_without_script_and_labels_each_figure(
    node: Node,
) -> None:
    household(node)
    client = browser(node)
    log_in(client, "alex")
    page = client.get("/footprint/household", headers={"Accept-Language": "en"}).text
    main = page.split("<main>")[1].split("</main>")[0]
    charts = re.findall(r"<svg class=\"chart\" role=\"img\".*?</svg>", main, re.S)
    assert len(charts) == 2 and all("<title>" in chart for chart in charts)
    assert "<script" not in main and " on" + "click=" not in main
    # Every claim's verdict, and the sync's energy with how it was reached.
    for verdict in ("met", "not measurable here"):
        assert verdict in main
    assert "sync requests of satellites" in main and "power shared over its" in main
    # Each scenario's boundary, written out under the chart.
    assert "left out unless registered" in main and "is a lower bound" in main
    # Every figure of the table says how it is known, in words, with a source.
    table = main.split('class="footprint-figures"', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr>\s*<td>.*?</tr>", table, re.S)
    assert len(rows) > 30
    for row in rows:
        label = re.search(r'<span class="label-(measured|estimated|unknown)">([^<]*)</span>', row)
        assert label, row
        assert label.group(2).endswith(label.group(1)), row
        assert re.search(r'<td class="muted">[^<\s]', row), row


def test_a_figure_is_written_the_reader_s_way() -> None:
    from hameau.footprint.figures import Figure
    from hameau.footprint.views import Words

    cut = Figure.estimated(0.0935, "%", "by hand", -0.482, 0.518)
    # A decimal comma in French, and a real minus sign before a negative bound.
    assert Words(str, "fr").said(cut) == "9,35 (−48,2–51,8) %, estimated"
    assert Words(str, "en").said(cut) == "9.35 (−48.2–51.8) %, estimated"
