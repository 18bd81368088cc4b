"""The light look at a Hexabase target every plan takes: does the datastore exist, and how many
items it holds (one items/search of one item).  A datastore keeps no marker of syncer's: it is
judged by its item count alone."""

from __future__ import annotations

from ...errors import TargetError
from ...model.manifest import DatasetSpec
from ..base import Found
from ..http import message_of
from .api import Api
from .config import HexabaseTarget


class HexabaseProbe:
    def __init__(self, target: HexabaseTarget) -> None:
        self.api = Api(target)  # the target's own retry policy: a 429 is not an outage
        self.target = target

    def look(self, dataset: DatasetSpec) -> Found:
        response = self.api.call("POST", f"{self.api.datastore_path(dataset)}/items/search",
                                 json={"page": 1, "per_page": 1, "use_display_id": True})
        if response.status_code == 404:
            return Found(False)
        if response.status_code != 200:
            raise TargetError(f"hexabase target '{self.target.name}': cannot count the items of "
                              f"'{dataset.table_name}': {message_of(response)}")
        return Found(True, int(response.json().get("totalItems", 0)))

    def close(self) -> None:
        self.api.close()
