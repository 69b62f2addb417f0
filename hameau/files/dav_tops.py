"""The WebDAV folders above the spaces: the root (`mine`, `household`, `shared`) and
`shared/` (what others shared with the member). Neither can be written, nor locked."""

from __future__ import annotations

from typing import Any

from wsgidav.dav_provider import DAVCollection

from hameau.files import shares

TOP = ("mine", "household", "shared")


class RootCollection(DAVCollection):
    def __init__(self, path: str, environ: dict[str, Any]) -> None:
        super().__init__(path, environ)

    def get_member_names(self) -> list[str]:
        return list(TOP)

    def prevent_locking(self) -> bool:
        return True  # a folder of folders, not something a member can write

    def get_member(self, name: str) -> Any:
        return self.provider.get_resource_inst("/" + name, self.environ)

    def get_display_info(self) -> dict[str, str]:
        return {"type": "Directory"}


class SharedCollection(DAVCollection):
    """`/shared/`: one folder or file per share, named after the entry."""

    def __init__(self, path: str, environ: dict[str, Any], context: Any) -> None:
        super().__init__(path, environ)
        self.context = context

    def get_member_names(self) -> list[str]:
        return self.context.run(lambda s, m: [entry.name for entry in shares.shared_with(s, m)])

    def prevent_locking(self) -> bool:
        return True

    def get_member(self, name: str) -> Any:
        return self.provider.get_resource_inst(f"{self.path.rstrip('/')}/{name}", self.environ)

    def get_display_info(self) -> dict[str, str]:
        return {"type": "Directory"}
