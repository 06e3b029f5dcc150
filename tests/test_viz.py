"""cr.viz: the computation graph as DOT text, a text tree, and rendered images."""

import subprocess
import sys

import numpy as np
import pytest

import chainrule as cr
from chainrule import autograd, nn, viz


def small_graph():
    w = cr.tensor(np.array([2.0, -1.0]), requires_grad=True)
    x = cr.tensor(np.array([1.0, 3.0]))
    loss = (w * x).sum()
    return w, x, loss


def test_op_name_and_inputs_read_the_recorded_graph():
    w, x, loss = small_graph()
    assert autograd.op_name(loss) == "sum" and autograd.op_name(w) is None
    (prod,) = autograd.graph_inputs(loss)
    assert autograd.op_name(prod) == "mul"
    assert autograd.graph_inputs(prod) == (w, x)
    loss.backward()
    assert autograd.op_name(loss) == "<freed>" and autograd.graph_inputs(loss) == ()


def test_dot_has_ops_shapes_names_and_gradients_after_backward():
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    x = cr.tensor(np.ones((5, 3), dtype=np.float32))
    loss = (model(x) ** 2).mean()
    g = viz.graph(loss, params=model.named_parameters())
    before = g.to_dot()
    assert "grad None" in before                       # captured before backward
    loss.backward()
    dot = g.to_dot()
    assert dot.startswith("digraph chainrule {") and dot.rstrip().endswith("}")
    ops = [n["op"] for n in g.nodes if n["op"] is not None]
    assert ops[0] == "mean" and "pow" in ops and "tanh" in ops and ops.count("linear") == 2
    names = {n["name"] for n in g.nodes if n["op"] is None}
    assert {"0.weight", "0.bias", "2.weight", "2.bias", "input"} <= names
    assert "(5, 4) float32" in dot and "(4, 3) float32" in dot
    norm = np.linalg.norm(model[0].weight.grad)
    assert f"|g| = {norm:.4g}" in dot                  # the leaf's gradient, after backward
    assert "grad None" not in dot
    assert len(g.edges) == len(g.nodes) - 1            # a tree: no tensor is used twice
    for a, b in g.edges:
        assert f"n{a} -> n{b};" in dot


def test_a_tensor_used_twice_has_two_edges_and_is_shown_once_in_the_text():
    x = cr.tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = x.exp()
    loss = (y * y).sum()
    g = viz.graph(loss)
    mul = next(n["id"] for n in g.nodes if n["op"] == "mul")
    exp = next(n["id"] for n in g.nodes if n["op"] == "exp")
    assert g.edges.count((exp, mul)) == 2
    text = g.text()
    assert text.count("exp") == 1 and text.count(f"(#{exp}, above)") == 1


def test_text_tree_is_exact():
    w, x, loss = small_graph()
    g = viz.graph(loss, params={"w": w})
    loss.backward()
    assert str(g) == ("sum  () float64\n"
                      "└─ mul  (2,) float64\n"
                      "   ├─ w  (2,) float64  grad [1. 3.]\n"
                      "   └─ input  (2,) float64")
    assert repr(g) == "<viz.Graph: 2 ops, 2 leaves>"


def test_a_freed_graph_says_how_to_keep_it():
    _, _, loss = small_graph()
    loss.backward()
    g = viz.graph(loss)
    assert g.freed and len(g.nodes) == 1
    assert "retain_graph=True" in g.text() and "retain_graph=True" in g.to_dot()


def test_retain_graph_keeps_it_drawable_after_backward():
    w, _, loss = small_graph()
    loss.backward(retain_graph=True)
    g = viz.graph(loss, params={"w": w})
    assert not g.freed and "grad [1. 3.]" in g.text()


def test_a_long_chain_needs_no_recursion():
    x = cr.tensor(np.array([1.0]), requires_grad=True)
    y = x
    for _ in range(2000):
        y = y * 1.0
    g = viz.graph(y.sum())
    assert len(g.text().splitlines()) == len(g.nodes)
    assert g.to_dot().count("->") == len(g.edges)


def test_labels_are_escaped():
    w, _, loss = small_graph()
    dot = viz.graph(loss, params={'w "quoted"\\': w}).to_dot()
    assert 'label="w \\"quoted\\"\\\\\\n' in dot


def test_render_falls_back_to_dot_text_without_graphviz(tmp_path, monkeypatch):
    monkeypatch.setattr(viz, "can_render", lambda: False)
    _, _, loss = small_graph()
    g = viz.graph(loss)
    with pytest.warns(UserWarning, match="Graphviz is not installed"):
        written = g.render(tmp_path / "graph.svg")
    assert written == tmp_path / "graph.dot" and not (tmp_path / "graph.svg").exists()
    assert written.read_text() == g.to_dot()
    assert g._repr_svg_() is None
    assert g.render(tmp_path / "g.gv").read_text() == g.to_dot()
    with pytest.raises(ValueError, match="format must be one of"):
        g.render(tmp_path / "graph.jpeg")


def test_bad_argument_is_named():
    with pytest.raises(TypeError, match="expected a Tensor, got ndarray"):
        viz.graph(np.ones(3))


@pytest.mark.skipif(not viz.can_render(), reason="needs the graphviz package and 'dot'")
def test_render_svg_and_png(tmp_path):
    _, _, loss = small_graph()
    g = viz.graph(loss)
    svg = g.render(tmp_path / "graph.svg")
    assert svg == tmp_path / "graph.svg" and "<svg" in svg.read_text()
    assert "mul" in svg.read_text()
    png = g.render(tmp_path / "graph.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<svg" in g._repr_svg_()


def test_viz_is_imported_on_first_use_only():
    code = ("import sys, chainrule as cr; assert 'chainrule.viz' not in sys.modules; "
            "cr.viz.graph; assert 'chainrule.viz' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
