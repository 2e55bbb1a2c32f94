"""Sampled-source betweenness (DRGO's reference set): exact against networkx with every source,
a good estimate from a sample, and a clear error on a directed (asymmetric) graph."""

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp

from recsys.nn.centrality import betweenness, top_fraction
from recsys.nn.graph import bipartite_adjacency


@pytest.fixture(scope="module")
def graph():
    r = sp.random(60, 80, density=0.05, random_state=1, format="csr")
    return bipartite_adjacency(r)


def test_all_sources_give_networkx_exact_betweenness(graph):
    exact = nx.betweenness_centrality(nx.from_scipy_sparse_array(graph), normalized=False)
    mine = betweenness(graph, sources=None, batch=16)
    assert np.allclose(mine, [exact[i] for i in range(graph.shape[0])], atol=1e-9)
    assert mine.max() > 10  # a connected core, not an all-zero graph


def test_sampled_sources_estimate_it(graph):
    exact = betweenness(graph, sources=None)
    estimate = betweenness(graph, sources=70, seed=3)
    assert np.corrcoef(exact, estimate)[0, 1] > 0.9
    top_exact, top_est = set(top_fraction(exact, 0.1)), set(top_fraction(estimate, 0.1))
    assert len(top_exact & top_est) >= 0.6 * len(top_exact)


def test_directed_graph_is_refused():
    a = sp.csr_matrix(np.array([[0, 1], [0, 0]], dtype=float))
    with pytest.raises(ValueError, match="symmetric"):
        betweenness(a)
