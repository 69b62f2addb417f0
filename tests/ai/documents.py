"""A household's real notes and files, and questions whose answer is one sentence of them."""

from __future__ import annotations

from hameau.accounts import members
from hameau.node.datadir import Node
from hameau.node.db import transaction
from hameau.notes import service as notes

TART = """La tarte aux pommes de Mamie

Pour 6 personnes.
Ingrédients : 6 pommes, 250 g de farine, 125 g de beurre, 100 g de sucre, un œuf.
Préparer la pâte brisée avec la farine, le beurre, l'œuf et une pincée de sel.
Étaler la pâte dans un moule beurré.
Éplucher les pommes et les couper en fines lamelles.
Disposer les pommes en rosace et saupoudrer de sucre.
Cuire 35 minutes à 180 degrés.
Servir tiède, avec une boule de glace à la vanille.
"""
BOILER = """Chaudière

La chaudière est une Saunier Duval installée en 2015.
L'entretien annuel est fait par M. Ferrand, plombier à Brioude : 04 71 50 12 34.
Le contrat d'entretien se renouvelle en octobre.
Si la pression descend sous 1 bar, ouvrir le robinet bleu sous la chaudière.
"""
GARDEN = """# Potager 2026

Les tomates sont au fond, le long du mur.
Semer les radis de mars à septembre, tous les quinze jours.
Arroser le soir, jamais en plein soleil.
Les clés de l'abri de jardin sont dans la boîte aux lettres.
"""
# question: (the sentence that answers it, the document it is in)
QUESTIONS = {
    "Combien de temps faut-il cuire la tarte aux pommes de Mamie ?": (
        "Cuire 35 minutes à 180 degrés.",
        "tarte-mamie.txt",
    ),
    "Quel est le numéro du plombier pour l'entretien de la chaudière ?": (
        "L'entretien annuel est fait par M. Ferrand, plombier à Brioude : 04 71 50 12 34.",
        "Chaudière",
    ),
    "Quand faut-il semer les radis ?": (
        "Semer les radis de mars à septembre, tous les quinze jours.",
        "potager.md",
    ),
    "Quel est le temps de cuisson de la tarte ?": (  # "cuisson" finds "Cuire"
        "Cuire 35 minutes à 180 degrés.",
        "tarte-mamie.txt",
    ),
}


def put_documents(node: Node, name: str) -> None:
    """A text file of the member's, a file of the household's (through the files API, with an
    app password) and a note."""
    from tests.files.test_http import token
    from tests.helpers import browser

    client, auth = browser(node), token(node, name)
    for where, content in (("mine/tarte-mamie.txt", TART), ("household/potager.md", GARDEN)):
        put = client.put(f"/api/files/{where}", content=content.encode(), headers=auth)
        assert put.status_code in (200, 201), put.text
    with transaction(node.sessions) as session:
        notes.create(session, members.find_member(session, name), BOILER)
