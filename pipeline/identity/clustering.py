"""Transitive clusters of source records, with steward overrides and precision guards.

Links are accepted greedily, strongest first, into a union-find structure. A link that would put
two records a steward declared different (`never_merge`), or two records the guards consider
different people (see `pipeline.identity.guards`), in one cluster is refused. Checking whole
clusters, not just the two linked records, is what stops chains: A~B and B~C are each
plausible, but if A and C are twins, the second link is refused and B stays with the first.
`force_merge` pairs are applied first and bypass the guards (a steward's decision), but never a
`never_merge` pair.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from pipeline.identity.guards import Profile, clusters_conflict, conflict

log = logging.getLogger(__name__)

#: Rule names, in the order a tie on score is broken (steward first, then deterministic).
RULE_PRIORITY = {"force_merge": 0, "email_exact": 1, "splink": 2}


@dataclass(frozen=True)
class Link:
    """A candidate link between two source records: which rule proposed it and how strongly."""

    id_l: str
    id_r: str
    rule: str
    score: float


@dataclass
class ClusterResult:
    """Clusters (representative = smallest source id -> sorted member ids) and link outcomes."""

    clusters: dict[str, list[str]]
    accepted: list[Link]
    rejected: Counter = field(default_factory=Counter)

    def cluster_of(self) -> dict[str, str]:
        """Source id -> representative of its cluster (records without links are absent)."""
        return {member: rep for rep, members in self.clusters.items() for member in members}


class _UnionFind:
    """Union-find over source ids that tracks, per cluster, its members and forbidden ids."""

    def __init__(self, profiles: dict[str, Profile], never: dict[str, set[str]]):
        self.parent: dict[str, str] = {}
        self.members: dict[str, list[str]] = {}
        self.forbidden: dict[str, set[str]] = {}
        self._profile_of = profiles
        self._never = never

    def _add(self, node: str) -> None:
        self.parent[node] = node
        self.members[node] = [node]
        self.forbidden[node] = set(self._never.get(node, ()))

    def find(self, node: str) -> str:
        if node not in self.parent:
            self._add(node)
        root = node
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[node] != root:  # path compression keeps later finds O(1)
            self.parent[node], node = root, self.parent[node]
        return root

    def refusal(self, link: Link, ra: str, rb: str, use_guards: bool) -> str | None:
        """Why clusters ra and rb must stay apart (joined by `link`), or None."""
        for small, other in ((ra, rb), (rb, ra)):
            if any(self.find(x) == other for x in self.forbidden[small]):
                return "never_merge"
        if not use_guards:
            return None
        pl, pr = self._profile_of.get(link.id_l), self._profile_of.get(link.id_r)
        if pl is not None and pr is not None:
            reason = conflict(pl, pr, strict=True)
            if reason:
                return reason
        return clusters_conflict(self._member_profiles(ra), self._member_profiles(rb))

    def _member_profiles(self, root: str) -> list[Profile]:
        """One profile per record of the cluster (the household vote counts records)."""
        return [p for m in self.members[root] if (p := self._profile_of.get(m)) is not None]

    def union(self, ra: str, rb: str) -> None:
        if len(self.members[ra]) < len(self.members[rb]):
            ra, rb = rb, ra
        self.parent[rb] = ra
        self.members[ra].extend(self.members.pop(rb))
        self.forbidden[ra] |= self.forbidden.pop(rb)


def _pairs_by_id(pairs: Iterable[Sequence[str]]) -> dict[str, set[str]]:
    """Symmetric adjacency of override pairs."""
    out: dict[str, set[str]] = {}
    for a, b in pairs:
        out.setdefault(a, set()).add(b)
        out.setdefault(b, set()).add(a)
    return out


def cluster_links(
    links: Iterable[Link],
    profiles: dict[str, Profile],
    never_merge: Iterable[Sequence[str]] = (),
    force_merge: Iterable[Sequence[str]] = (),
    known_ids: set[str] | None = None,
) -> ClusterResult:
    """Cluster linked records (connected components under guards and overrides).

    `profiles` holds the guard fields of linked records; `known_ids` (when given) restricts
    overrides to ids that exist in this run, others are logged and skipped. Only records in a
    cluster of two or more appear in the result.
    """
    never_pairs = [tuple(p) for p in never_merge]
    force_pairs = [tuple(p) for p in force_merge]
    if known_ids is not None:
        for kind, pairs in (("never_merge", never_pairs), ("force_merge", force_pairs)):
            unknown = sorted({i for p in pairs for i in p if i not in known_ids})
            if unknown:
                log.warning("%s: unknown source customer ids ignored: %s", kind, unknown[:20])
        never_pairs = [p for p in never_pairs if all(i in known_ids for i in p)]
        force_pairs = [p for p in force_pairs if all(i in known_ids for i in p)]

    uf = _UnionFind(profiles, _pairs_by_id(never_pairs))
    accepted: list[Link] = []
    rejected: Counter = Counter()
    forced = [Link(min(a, b), max(a, b), "force_merge", 1.0) for a, b in force_pairs if a != b]
    ranked = sorted(links, key=lambda k: (-k.score, RULE_PRIORITY.get(k.rule, 9), k.id_l, k.id_r))
    for link, use_guards in [(k, False) for k in forced] + [(k, True) for k in ranked]:
        ra, rb = uf.find(link.id_l), uf.find(link.id_r)
        if ra == rb:
            if link.rule == "force_merge":
                accepted.append(link)
            continue
        reason = uf.refusal(link, ra, rb, use_guards)
        if reason:
            rejected[reason] += 1
            if link.rule == "force_merge":
                log.warning("force_merge %s/%s refused: %s wins", link.id_l, link.id_r, reason)
            continue
        uf.union(ra, rb)
        accepted.append(link)

    clusters = {}
    for members in uf.members.values():
        if len(members) > 1:
            ordered = sorted(members)
            clusters[ordered[0]] = ordered
    return ClusterResult(clusters=clusters, accepted=accepted, rejected=rejected)
