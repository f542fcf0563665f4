"""What a click on a workspace a chart names without its organization filters to (issue 15):
that organization's workspace only, found by (organization, id) as the charts name them, not
every organization's workspace of that name."""

from __future__ import annotations

from app.ui.charts import Drill

OPTIONS = (
    ("ws_a", "Production · Acme Corp"),
    ("ws_a2", "Staging · Acme Corp"),
    ("ws_g", "Production · Globex"),
    ("ws_g2", "Research · Globex"),
    ("", "Default workspace (every organization)"),
)
ORGS = (
    ("ws_a", "org-acme"),
    ("ws_a2", "org-acme"),
    ("ws_g", "org-globex"),
    ("ws_g2", "org-globex"),
)


def drill(in_view: tuple[str, ...]) -> Drill:
    return Drill("Workspace", "spend_workspaces", OPTIONS, "note", ORGS, in_view)


def test_the_one_organization_chosen_is_the_one_clicked() -> None:
    assert drill(("org-globex",)).values_of("Production") == ["ws_g"]
    assert drill(("org-acme",)).values_of("Production") == ["ws_a"]


def test_with_both_in_view_the_chart_s_other_workspaces_tell_which_organization() -> None:
    # Both organizations in view, yet the chart names workspaces bare: only Globex has data in
    # the range, and its other workspace ("Research") is only Globex's.
    names = ["Production", "Research", "Other (3 workspaces)", "Default workspace"]
    assert drill(("org-acme", "org-globex")).values_of("Production", names) == ["ws_g"]
    names = ["Production", "Staging"]
    assert drill(("org-acme", "org-globex")).values_of("Production", names) == ["ws_a"]


def test_a_named_workspace_and_other_are_as_before() -> None:
    both = drill(("org-acme", "org-globex"))
    assert both.values_of("Production · Globex") == ["ws_g"]
    assert both.values_of("Other (3 workspaces)") == []
    # Nothing tells the two apart: both, which the view itself narrows to the one shown.
    assert sorted(both.values_of("Production", ["Production"])) == ["ws_a", "ws_g"]
