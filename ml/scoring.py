"""Scoring fresh log lines with a trained model, fast enough to answer a request while the client waits.

The pieces, each a pure function or object (no web, no database):

- ``read_contents``: the ``Content`` field of each line (and its session id), one regex match per line;
- ``TemplateMatcher``: read-only matching against a parser's templates (the Drain tree is never changed),
  with bounded caches, so repeated contents cost a dictionary lookup;
- ``fixed_windows_of`` / ``session_windows_of``: windows as table rows plus, for every event, the line it
  came from (attribution needs that map);
- ``FastScorer``: the LogAction network unrolled by hand. The first LSTM layer's input projection is
  precomputed once per template row (a lookup instead of a matrix product per event), the upper layers'
  two matrix products are fused into one, and the hidden states can be kept for occlusion;
- ``FastScorer.occlude``: the change in log-odds when all lines of one template are removed from a window.
  The LSTM reads left to right, so a window without template t is identical to the original up to t's first
  occurrence: each variant restarts from the stored state there and only runs the rest of the window.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import numpy as np
import torch

from ml.formats import LogFormat
from ml.parsing import TemplateParser
from ml.reading import session_of
from ml.windowing import segment_starts


class LineFormatError(ValueError):
    """A line that does not match the system's format; ``index`` is its position in the request."""

    def __init__(self, index: int, message: str):
        super().__init__(message)
        self.index = index


@dataclass
class ReadLines:
    index: np.ndarray  # (n,) position in the request of each non-blank line
    contents: list[str]
    sessions: list[str | None] | None


@functools.lru_cache(maxsize=64)
def _content_pattern(pattern: str) -> re.Pattern:
    """The format's regex with a greedy last field when that field is the content: ``(?P<Content>.*?)$`` can
    only ever stop at the end of the line, so ``.*`` finds the same split without testing ``$`` per char."""
    lazy_tail = "(?P<Content>.*?)$"
    if pattern.endswith(lazy_tail):
        pattern = pattern[:-len(lazy_tail)] + "(?P<Content>.*)$"
    return re.compile(pattern)


def read_contents(lines: list[str], fmt: LogFormat, *, strip_prefix: bool = False,
                  session_regex: str | None = None) -> ReadLines:
    """The content (and session id) of every non-blank line, read as ``ml.reading.iter_records`` reads it.

    :raises LineFormatError: the first line that does not match ``fmt``
    """
    match = _content_pattern(fmt.pattern.pattern).match
    session_re = re.compile(session_regex) if session_regex else None
    index, contents = [], []
    sessions: list[str | None] | None = [] if session_re is not None else None
    for i, line in enumerate(lines):
        line = line.rstrip("\r\n")
        if strip_prefix:
            parts = line.split(None, 1)
            line = parts[1] if len(parts) == 2 else ""
        if not line.strip():
            continue
        found = match(line)
        if found is None:
            raise LineFormatError(i, f"does not match format {fmt.name}: {line[:200]!r}")
        content = found.group("Content") or ""
        index.append(i)
        contents.append(content)
        if sessions is not None:
            sessions.append(session_of(content, session_re))
    return ReadLines(np.asarray(index, np.int64), contents, sessions)


# Digits 1-9 as "1" ("0" stays: the hex mask's "0x" reads it).
_DIGITS_TO_ONE = str.maketrans("23456789", "11111111")
_ANY_DIGIT = re.compile(r"\d")


def digit_blind(patterns) -> bool:
    """True when no pattern tells the digits 1-9 apart (each reads them all as \\d, 0-9, \\w or not at
    all): then two contents equal up to those digits are masked alike wherever a digit gets masked."""
    for pattern in patterns:
        text = re.sub(r"\{\d+(,\d*)?\}", "", pattern).replace("0-9", "")  # quantifiers and 0-9 ranges
        if re.search(r"(?<!\\)[1-9]", text):
            return False
    return True


class TemplateMatcher:
    """Cluster ids of contents by read-only matching (0 = no template matches), with the masked text of
    each unknown content so callers can group and embed them.

    Masking is most of the cost, and contents rarely repeat (they carry ids, counts, durations), but their
    shapes do. So the masked text is also cached by the content with the digits 1-9 written as 1, used only
    where the masked text kept no digit: with masks that read all such digits alike (``digit_blind``), every
    content of that shape then masks to exactly the same text.

    :param cache_size: entries per cache before it is emptied (bounds memory under unbounded vocabularies)
    """

    def __init__(self, parser: TemplateParser, cache_size: int = 200_000):
        from ml.parsing import MASKS

        self.parser = parser
        self.cache_size = cache_size
        self._raw: dict[str, tuple[int, str | None]] = {}
        self._masked: dict[str, int] = {}
        self._shapes: dict[str, str] | None = {} if digit_blind(p for p, _ in MASKS) else None

    def _mask(self, content: str) -> str:
        shapes = self._shapes
        if shapes is None:
            return self.parser.mask(content)
        shape = content.translate(_DIGITS_TO_ONE)
        masked = shapes.get(shape)
        if masked is None:
            masked = self.parser.mask(content)
            if _ANY_DIGIT.search(masked) is None:
                if len(shapes) >= self.cache_size:
                    shapes.clear()
                shapes[shape] = masked
        return masked

    def match(self, contents: list[str]) -> tuple[np.ndarray, dict[int, str]]:
        """(cluster ids, {position: masked text} for the contents no template matches)."""
        raw, lookup = self._raw, self._lookup
        ids = [0] * len(contents)  # a list: assigning numpy items one by one costs more than the lookups
        unknown: dict[int, str] = {}
        for i, content in enumerate(contents):
            hit = raw.get(content)
            if hit is None:
                hit = lookup(content)
            cid, masked = hit
            ids[i] = cid
            if not cid:
                unknown[i] = masked
        return np.array(ids, np.int64), unknown

    def _lookup(self, content: str) -> tuple[int, str | None]:
        """A content the raw cache does not know: mask it, match the masked text (cached too)."""
        masked = self._mask(content)
        cid = self._masked.get(masked)
        if cid is None:
            cid = self.parser.match_masked(masked)
            if len(self._masked) >= self.cache_size:
                self._masked.clear()
            self._masked[masked] = cid
        hit = (cid, None if cid else masked)
        if len(self._raw) >= self.cache_size:
            self._raw.clear()
        self._raw[content] = hit
        return hit


@dataclass
class WindowBatch:
    events: np.ndarray  # (w, L) table rows, 0 = padding on the left
    positions: np.ndarray  # (w, L) index (into the scored lines) of each event, -1 for padding
    first: np.ndarray  # (w,) index of the window's first line
    last: np.ndarray  # (w,) index of its last line


def fixed_windows_of(rows: np.ndarray, size: int, stride: int) -> WindowBatch:
    """Windows of ``size`` lines every ``stride`` lines, left-padded, as ``ml.windowing.fixed_windows`` cuts
    them (a last window aligned to the end so no line is left out)."""
    n = len(rows)
    if n == 0:
        empty = np.zeros((0, size), np.int64)
        return WindowBatch(empty, empty.copy(), np.zeros(0, np.int64), np.zeros(0, np.int64))
    first = np.asarray(segment_starts(n, size, stride), np.int64)
    last = np.minimum(first + size, n) - 1
    length = last - first + 1
    offsets = first[:, None] + np.arange(size)[None, :] - (size - length)[:, None]
    valid = offsets >= first[:, None]
    positions = np.where(valid, offsets, -1)
    events = np.where(valid, rows[np.clip(offsets, 0, n - 1)], 0)
    return WindowBatch(events.astype(np.int64), positions.astype(np.int64), first, last)


def session_windows_of(rows: np.ndarray, sessions: list[str | None], max_len: int) -> WindowBatch:
    """One window per session id in order of first appearance, keeping its first ``max_len`` events, as
    ``ml.windowing.session_windows`` cuts them. Lines without a session id are left out.

    :raises ValueError: no line carries a session id
    """
    groups: dict[str, list[int]] = {}
    for i, sid in enumerate(sessions):
        if sid is not None:
            groups.setdefault(sid, []).append(i)
    if not groups:
        raise ValueError("no line carries a session id: check the system's session regex")
    size = min(max_len, max(len(g) for g in groups.values()))
    events = np.zeros((len(groups), size), np.int64)
    positions = np.full((len(groups), size), -1, np.int64)
    first = np.empty(len(groups), np.int64)
    last = np.empty(len(groups), np.int64)
    for w, idx in enumerate(groups.values()):
        kept = np.asarray(idx[:size], np.int64)
        events[w, size - len(kept):] = rows[kept]
        positions[w, size - len(kept):] = kept
        first[w], last[w] = idx[0], idx[-1]
    return WindowBatch(events, positions, first, last)


@dataclass
class WindowScores:
    p_anomaly: np.ndarray
    free_energy: np.ndarray
    logit: np.ndarray  # log P(anomalous) - log P(normal): the score occlusion compares


class FastScorer:
    """Inference of a trained ``LogActionNet`` (float32, CPU) without the per-event input matrix product.

    Gives the network's own numbers (to float rounding) for windows of table rows. Rows past the model's
    table (templates the model never saw) are added with ``add_rows``.
    """

    def __init__(self, net, table: np.ndarray):
        lstm = net.lstm
        self.hidden, self.layers = lstm.hidden_size, lstm.num_layers
        h = self.hidden
        # PyTorch orders the gates i, f, g, o. Reordered to i, f, o, g with g's rows doubled, one sigmoid covers
        # all four: tanh(x) = 2 sigmoid(2x) - 1, and this build's tanh costs five sigmoids on CPU. The cell
        # keeps 2c and the negated hidden state -h (the weights reading h are negated to match), which
        # turns the cell update into six elementwise operations instead of ten (see _cell).
        order = torch.cat([torch.arange(0, 2 * h), torch.arange(3 * h, 4 * h), torch.arange(2 * h, 3 * h)])
        scale = torch.ones(4 * h)
        scale[3 * h:] = 2.0

        def gate_rows(w: torch.Tensor) -> torch.Tensor:
            w = w.detach().float()[order]
            return w * scale.view(-1, *([1] * (w.dim() - 1)))

        with torch.no_grad():
            self._w_in0 = gate_rows(lstm.weight_ih_l0).T.contiguous()
            self._b0 = gate_rows(lstm.bias_ih_l0 + lstm.bias_hh_l0)
            self._w_rec0 = -gate_rows(lstm.weight_hh_l0).T.contiguous()
            # Layer l >= 1 reads [h_{l-1}, h_l]: one matrix product over both halves.
            self._w_cat = [-torch.cat([gate_rows(getattr(lstm, f"weight_ih_l{l}")).T,
                                       gate_rows(getattr(lstm, f"weight_hh_l{l}")).T]).contiguous()
                           for l in range(1, self.layers)]
            self._b_cat = [gate_rows(getattr(lstm, f"bias_ih_l{l}") + getattr(lstm, f"bias_hh_l{l}"))
                           for l in range(1, self.layers)]
            self.proj = self._project(torch.as_tensor(table, dtype=torch.float32))
            self._fc_w = -net.fc.weight.detach().float().cpu().T.contiguous()
            self._fc_b = net.fc.bias.detach().float().cpu().clone()
        self._classifier = net.classifier.cpu().float()

    @classmethod
    def from_bundle(cls, bundle) -> "FastScorer":
        """A scorer with its own CPU copy of the weights (the bundle's cached network may live on a GPU)."""
        from ml.model import LogActionNet

        net = LogActionNet(bundle.table, bundle.model_config)
        net.load_state_dict(bundle.state)
        return cls(net.eval(), bundle.table)

    def _project(self, vectors: torch.Tensor) -> torch.Tensor:
        return torch.addmm(self._b0, vectors, self._w_in0)

    @property
    def n_rows(self) -> int:
        return int(self.proj.shape[0])

    def add_rows(self, vectors: np.ndarray) -> int:
        """Append template vectors; returns the row of the first one. Readers see the old or the new table."""
        start = self.n_rows
        if len(vectors):
            with torch.no_grad():
                extra = self._project(torch.as_tensor(np.asarray(vectors, np.float32)))
            self.proj = torch.cat([self.proj, extra])  # a new tensor: a concurrent forward keeps the old one
        return start

    # --- the recurrence -------------------------------------------------------------------------------------

    def _inputs(self, x: torch.Tensor, n: int) -> torch.Tensor:
        """Layer 0's gate inputs for a (steps, n) block of rows, gathered in one call: ``index_select`` costs
        a quarter of ``proj[x]``, and once per block instead of once per step."""
        return self.proj.index_select(0, x.reshape(-1)).view(x.shape[0], n, 4 * self.hidden)

    def _step(self, inp: torch.Tensor, hs: torch.Tensor, cs: torch.Tensor, k: int) -> None:
        """One time step for rows [:k]: ``hs``/``cs`` (B, layers*H) hold each layer's h and c side by side."""
        h = self.hidden
        gates = torch.addmm(inp[:k], hs[:k, :h], self._w_rec0)
        self._cell(gates, hs[:k, :h], cs[:k, :h])
        for l in range(1, self.layers):
            gates = torch.addmm(self._b_cat[l - 1], hs[:k, (l - 1) * h:(l + 1) * h], self._w_cat[l - 1])
            self._cell(gates, hs[:k, l * h:(l + 1) * h], cs[:k, l * h:(l + 1) * h])

    def _cell(self, gates: torch.Tensor, h_out: torch.Tensor, c: torch.Tensor,
              c_out: torch.Tensor | None = None) -> None:
        """c <- f c + i g and h <- o tanh(c), held as c2 = 2c and h_out = -h (the new c goes to ``c_out``
        when given, else replaces ``c``).

        With s = sigmoid of the doubled g row, g = 2s - 1, so 2 i g = 4 i s - 2 i; and with t = sigmoid(2c),
        tanh(c) = 2t - 1, so -h = o - 2 o t.
        """
        hd = self.hidden
        gates.sigmoid_()
        i, f, o, s = gates[:, :hd], gates[:, hd:2 * hd], gates[:, 2 * hd:3 * hd], gates[:, 3 * hd:]
        if c_out is None:
            c_out = c.mul_(f)
        else:
            torch.mul(c, f, out=c_out)
        c_out.addcmul_(i, s, value=4.0).sub_(i, alpha=2.0)
        torch.addcmul(o, o, torch.sigmoid(c_out), value=-2.0, out=h_out)

    def _head(self, neg_h_top: torch.Tensor) -> torch.Tensor:
        logits = self._classifier(torch.tanh(torch.addmm(self._fc_b, neg_h_top, self._fc_w)))
        return logits  # = -energies

    def run(self, events: np.ndarray, *, keep_states: bool = False):
        """Scores of windows (n, L) of table rows; with ``keep_states``, also every step's (h, c).

        Layer by layer rather than step by step: a layer's inputs from the layer below are then known for
        every step before its recurrence starts, and are projected in one large matrix product (faster per
        flop than many small ones), leaving one (n, H) x (H, 4H) product per step and layer.
        """
        n, steps = events.shape
        h, layers = self.hidden, self.layers
        width = layers * h
        with torch.inference_mode():
            inp = self._inputs(torch.as_tensor(events, dtype=torch.long).T, n)
            if keep_states:
                kept_h, kept_c = torch.zeros(steps + 1, n, width), torch.zeros(steps + 1, n, width)
            else:
                kept_h, kept_c = torch.zeros(steps + 1, n, h), torch.zeros(2, n, h)
            for l in range(layers):
                cols = slice(l * h, (l + 1) * h) if keep_states else slice(0, h)
                if l == 0:
                    w_rec = self._w_rec0
                else:
                    below = kept_h[1:, :, (l - 1) * h:l * h] if keep_states else kept_h[1:]
                    w_in, w_rec = self._w_cat[l - 1][:h], self._w_cat[l - 1][h:]
                    inp = torch.addmm(self._b_cat[l - 1], below.reshape(steps * n, h), w_in).view(steps, n, 4 * h)
                    if not keep_states:
                        kept_c.zero_()  # the layer below's h stays in kept_h until the product above read it
                for t in range(steps):
                    gates = torch.addmm(inp[t], kept_h[t, :, cols], w_rec)
                    if keep_states:
                        self._cell(gates, kept_h[t + 1, :, cols], kept_c[t, :, cols], kept_c[t + 1, :, cols])
                    else:
                        self._cell(gates, kept_h[t + 1, :, cols], kept_c[0])
            logits = self._head(kept_h[steps, :, (layers - 1) * h:layers * h] if keep_states else kept_h[steps])
        return _scores(logits), ((kept_h, kept_c) if keep_states else (None, None))

    def occlude(self, events: np.ndarray, states, windows: np.ndarray) -> list[tuple[int, int, float]]:
        """For each window in ``windows`` and each distinct template row in it: the drop in log-odds when all
        of that template's lines are removed. Returns (window, row, drop) triples; drop > 0 = raised the score.

        :param events: the windows ``run`` scored, (n, L)
        :param states: ``run(..., keep_states=True)``'s second value
        """
        variants = []  # (window, row, start step, remaining rows)
        for w in windows.tolist():
            seq = events[w]
            for row in np.unique(seq[seq > 0]).tolist():
                hit = seq == row
                start = int(np.argmax(hit))
                variants.append((w, row, start, seq[start:][~hit[start:]]))
        if not variants:
            return []
        logits = self._run_variants(variants, states)
        base = self._base_logits(states, np.array([v[0] for v in variants]))
        drops = (base - logits).tolist()
        return [(v[0], v[1], d) for v, d in zip(variants, drops)]

    def _base_logits(self, states, windows: np.ndarray) -> np.ndarray:
        kept_h = states[0]
        with torch.inference_mode():
            h_top = kept_h[-1][torch.as_tensor(windows)][:, (self.layers - 1) * self.hidden:]
            return _scores(self._head(h_top)).logit

    def _run_variants(self, variants, states) -> np.ndarray:
        kept_h, kept_c = states
        # Longest remainder first: at step j the active rows are a prefix, so every step works on a slice.
        order = sorted(range(len(variants)), key=lambda i: -len(variants[i][3]))
        lengths = np.array([len(variants[i][3]) for i in order], np.int64)
        longest = int(lengths[0])
        x = np.zeros((len(order), max(longest, 1)), np.int64)
        for r, i in enumerate(order):
            rest = variants[i][3]
            if len(rest):
                x[r, longest - len(rest):] = rest
        wins = torch.as_tensor([variants[i][0] for i in order])
        starts = torch.as_tensor([variants[i][2] for i in order])
        with torch.inference_mode():
            hs = kept_h[starts, wins].clone()
            cs = kept_c[starts, wins].clone()
            inp = self._inputs(torch.as_tensor(x).T, len(order))
            active = np.searchsorted(-lengths, -(longest - np.arange(longest)), side="right")
            for j in range(longest):
                k = int(active[j])
                if k:
                    self._step(inp[j], hs, cs, k)
            logits = self._head(hs[:, (self.layers - 1) * self.hidden:])
        out = np.empty(len(order))
        out[np.asarray(order)] = _scores(logits).logit
        return out


def _scores(logits: torch.Tensor) -> WindowScores:
    """Probabilities and free energy as ``ml.training.score`` computes them (energies = -logits)."""
    p = torch.softmax(logits, dim=1)[:, 1]
    fe = -torch.logsumexp(logits, dim=1)
    return WindowScores(p.numpy().astype(np.float64), fe.numpy().astype(np.float64),
                        (logits[:, 1] - logits[:, 0]).numpy().astype(np.float64))


def ranked_templates(drops: list[tuple[int, int, float]]) -> dict[int, list[int]]:
    """Per window, the template rows whose removal lowered its score, the largest drop first."""
    by_window: dict[int, list[tuple[float, int]]] = {}
    for w, row, drop in drops:
        if drop > 0:
            by_window.setdefault(w, []).append((drop, row))
    return {w: [row for _, row in sorted(ranked, reverse=True)] for w, ranked in by_window.items()}


def lines_of_templates(batch: WindowBatch, w: int, rows: list[int], limit: int = 5) -> list[int]:
    """Positions (into the scored lines) of window ``w``'s lines of ``rows``, in the order of ``rows``."""
    picked: list[int] = []
    for row in rows:
        picked.extend(batch.positions[w][batch.events[w] == row].tolist())
        if len(picked) >= limit:
            break
    return picked[:limit]


def distinct_per_window(keys: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """How many distinct non-zero ``keys`` (one per scored line) each window's lines hold."""
    if positions.size == 0:
        return np.zeros(len(positions), np.int64)
    padded = np.concatenate([[0], keys])
    held = np.sort(padded[positions + 1], axis=1)
    fresh = (held[:, 1:] != held[:, :-1]) & (held[:, 1:] > 0)
    return fresh.sum(axis=1) + (held[:, 0] > 0)
