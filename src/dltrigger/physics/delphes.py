"""The Delphes ROOT layout: written by the generation stage, read by the ingestion (shared I/O).

A TTree named ``Delphes`` with one counter per collection (``Electron_size``) and one branch per field
(``Electron.PT``), float32 kinematics like Delphes. Real Delphes files nest these branches
(``Electron/Electron.PT``); readers ask for full branch names, which works for both.
"""

from __future__ import annotations

import os

import awkward as ak
import numpy as np
import uproot

from ..core.faults import interrupt_once
from ..core.files import atomic_path
from ..core.sources import open_root

TREE = "Delphes"
F4, I4, I8 = np.float32, np.int32, np.int64
SCHEMA = {
    "Event": {"Number": I8, "Weight": F4},
    "EFlowTrack": {"PID": I4, "Charge": I4, "PT": F4, "Eta": F4, "Phi": F4, "X": F4, "Y": F4, "Z": F4},
    "EFlowPhoton": {"ET": F4, "Eta": F4, "Phi": F4, "E": F4},
    "EFlowNeutralHadron": {"ET": F4, "Eta": F4, "Phi": F4, "E": F4},
    "Electron": {"PT": F4, "Eta": F4, "Phi": F4, "Charge": I4},
    "MuonTight": {"PT": F4, "Eta": F4, "Phi": F4, "Charge": I4},
    "Jet": {"PT": F4, "Eta": F4, "Phi": F4, "Mass": F4, "BTag": I4},
    "MissingET": {"MET": F4, "Phi": F4},
}
BASKET_EVENTS = 2000


def _empty(fields: dict) -> ak.Array:
    return ak.zip({name: ak.unflatten(np.zeros(0, dtype), np.zeros(0, np.int64)) for name, dtype in fields.items()})


def empty_collections() -> dict:
    """Collections of zero events (a chunk where the filter kept nothing is still a valid, empty file)."""
    return {name: _empty(fields) for name, fields in SCHEMA.items()}


def write_delphes(path: str | os.PathLike, collections: dict) -> None:
    """Write the collections (jagged records, one entry per event) as a Delphes tree, atomically.

    The file appears under its final name only when complete, so a killed job leaves no partial ROOT file.
    """
    n_events = len(collections["Event"])
    with atomic_path(path) as temporary:
        with uproot.recreate(temporary) as output:
            tree = output.mktree(
                TREE,
                {name: _empty(fields).type.content for name, fields in SCHEMA.items()},
                counter_name=lambda collection: f"{collection}_size",
                field_name=lambda collection, field: f"{collection}.{field}",
            )
            for start in range(0, n_events, BASKET_EVENTS):
                tree.extend(
                    {
                        name: ak.zip(
                            {
                                field: ak.values_astype(collections[name][field][start : start + BASKET_EVENTS], dtype)
                                for field, dtype in fields.items()
                            }
                        )
                        for name, fields in SCHEMA.items()
                    }
                )
                interrupt_once("generate-write")  # the reliability tests kill a job here, its file half written


def read_delphes(path: str | os.PathLike, collections: dict, entry_start=None, entry_stop=None, remote: dict | None = None) -> dict:
    """Read the given fields of the given collections as jagged records, by full branch name
    (``Electron.PT``), which finds flat branches as well as the nested ones of real Delphes files.
    ``path`` may be a URL (opened with the bounded retries ``remote`` of ``sources.open_root``) or a file
    object."""
    with open_root(path if hasattr(path, "read") else os.fspath(path), remote) as file:
        branches = [f"{name}.{field}" for name, fields in collections.items() for field in fields]
        arrays = file[TREE].arrays(branches, entry_start=entry_start, entry_stop=entry_stop, how=dict)
    return {name: ak.zip({field: arrays[f"{name}.{field}"] for field in fields}) for name, fields in collections.items()}
