"""Template mining: Drain over masked log contents, with caches so repeated contents skip the tree.

The miner's state is handed out as bytes (``to_bytes``) and handed back in (``from_bytes``): storage is the
caller's business, as with drain3's ``PersistenceHandler``.
"""
from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from typing import Iterable

import jsonpickle
import numpy as np
from drain3.drain import Drain
from drain3.masking import MaskingInstruction
from drain3.persistence_handler import PersistenceHandler
from drain3.template_miner_config import TemplateMinerConfig

# Order matters: a block id or an IP contains numbers, so the specific masks run before <NUM>.
MASKS: tuple[tuple[str, str], ...] = (
    (r"blk_-?\d+", "<BLK>"),
    (r"(?<![\w.])\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?(?![\w.])", "<IP>"),
    (r"(?<![\w/])(?:/[\w.\-@:+]+){2,}/?", "<PATH>"),
    (r"(?<![A-Za-z0-9])0[xX][0-9a-fA-F]+(?![A-Za-z0-9])", "<HEX>"),
    (r"(?<![A-Za-z0-9])[0-9a-fA-F]{8,}(?![A-Za-z0-9])", "<HEX>"),
    (r"(?<![A-Za-z0-9])[-+]?\d+(?:\.\d+)?(?![A-Za-z0-9])", "<NUM>"),
)
# A mask can only match where its literal is present; an ``in`` test is far cheaper than a regex pass.
_TRIGGERS = {"<BLK>": "blk_", "<IP>": ".", "<PATH>": "/"}

_STATE_MAGIC = b"LADRAIN1"


@dataclass(frozen=True)
class ParseConfig:
    """Drain settings (drain3 defaults) and whether variable fields are masked first."""

    depth: int = 4
    sim_th: float = 0.4
    max_children: int = 100
    mask: bool = True


def drain3_config(config: ParseConfig) -> TemplateMinerConfig:
    """The equivalent drain3 ``TemplateMinerConfig``, built explicitly so no ``drain3.ini`` is ever read."""
    tmc = TemplateMinerConfig()
    tmc.drain_depth = config.depth
    tmc.drain_sim_th = config.sim_th
    tmc.drain_max_children = config.max_children
    tmc.mask_prefix, tmc.mask_suffix = "<", ">"
    tmc.masking_instructions = (
        [MaskingInstruction(pattern, mask.strip("<>")) for pattern, mask in MASKS] if config.mask else []
    )
    return tmc


class Masker:
    """Replaces variable fields (numbers, hex, IPs, paths, block ids) by typed placeholders."""

    def __init__(self, masks: Iterable[tuple[str, str]] = MASKS):
        self._masks = [(re.compile(pattern), repl, _TRIGGERS.get(repl, "")) for pattern, repl in masks]
        self._digit = re.compile(r"\d")
        self._path_only = [m for m in self._masks if m[1] == "<PATH>"]

    def __call__(self, content: str) -> str:
        # Every mask but <PATH> needs a digit somewhere.
        masks = self._masks if self._digit.search(content) else self._path_only
        for pattern, repl, trigger in masks:
            if trigger in content:
                content = pattern.sub(repl, content)
        return content


class TemplateParser:
    """Maps log contents to Drain cluster ids (>= 1); id 0 means "unknown" in read-only matching."""

    def __init__(self, config: ParseConfig | None = None, drain: Drain | None = None):
        self.config = config or ParseConfig()
        self._drain = drain or Drain(
            depth=self.config.depth, sim_th=self.config.sim_th, max_children=self.config.max_children,
            param_str="<*>",
        )
        self._mask = Masker() if self.config.mask else (lambda s: s)
        # Contents repeat a lot in logs: the raw cache skips masking, the masked cache skips the tree.
        self._raw_cache: dict[str, int] = {}
        self._masked_cache: dict[str, int] = {}

    def add(self, content: str) -> int:
        """Mine one content; returns its cluster id."""
        cid = self._raw_cache.get(content)
        if cid is not None:
            return cid
        masked = self._mask(content)
        cid = self._masked_cache.get(masked)
        if cid is None:
            cluster, _ = self._drain.add_log_message(masked)
            cid = cluster.cluster_id
            self._masked_cache[masked] = cid
        if len(self._raw_cache) < 1_000_000:
            self._raw_cache[content] = cid
        return cid

    def add_many(self, contents: Iterable[str]) -> np.ndarray:
        """Mine many contents; returns their cluster ids as int64."""
        add = self.add
        return np.fromiter((add(c) for c in contents), dtype=np.int64)

    def match(self, content: str) -> int:
        """Cluster id of an existing template matching ``content``, or 0; never changes the tree."""
        cid = self._raw_cache.get(content)
        if cid is not None:
            return cid
        masked = self._mask(content)
        cid = self._masked_cache.get(masked)
        if cid is not None:
            return cid
        cluster = self._drain.match(masked, full_search_strategy="fallback")
        return cluster.cluster_id if cluster is not None else 0

    def match_masked(self, masked: str) -> int:
        """Like ``match`` for a content that is already masked (for callers that cache by masked text)."""
        cid = self._masked_cache.get(masked)
        if cid is not None:
            return cid
        cluster = self._drain.match(masked, full_search_strategy="fallback")
        return cluster.cluster_id if cluster is not None else 0

    def match_many(self, contents: Iterable[str]) -> np.ndarray:
        match = self.match
        return np.fromiter((match(c) for c in contents), dtype=np.int64)

    def mask(self, content: str) -> str:
        return self._mask(content)

    def templates(self) -> dict[int, str]:
        """Current template text of every cluster (a template can generalise as more lines arrive)."""
        return {c.cluster_id: c.get_template() for c in self._drain.clusters}

    def __len__(self) -> int:
        return len(self._drain.clusters)

    def to_bytes(self) -> bytes:
        """The Drain tree, serialised like drain3's snapshots (jsonpickle + zlib)."""
        return _STATE_MAGIC + zlib.compress(jsonpickle.dumps(self._drain, keys=True).encode("utf-8"))

    def save(self, store: PersistenceHandler) -> None:
        """Hands the state to a drain3-style store (file, Redis, memory, or the app's database)."""
        store.save_state(self.to_bytes())

    @classmethod
    def load(cls, store: PersistenceHandler, config: ParseConfig | None = None) -> "TemplateParser":
        """The parser saved in ``store``, or a fresh one when the store is empty."""
        data = store.load_state()
        return cls(config) if data is None else cls.from_bytes(data, config)

    @classmethod
    def from_bytes(cls, data: bytes, config: ParseConfig | None = None) -> "TemplateParser":
        if not data.startswith(_STATE_MAGIC):
            raise ValueError("not a LogAction parser state")
        drain = jsonpickle.loads(zlib.decompress(data[len(_STATE_MAGIC):]).decode("utf-8"), keys=True)
        if not isinstance(drain, Drain):
            raise ValueError("parser state does not hold a Drain tree")
        return cls(config, drain=drain)
