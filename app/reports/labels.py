"""Every label people see for a stored value, in one place: the same value gets the same label
on every page, chart and CSV. Each comment says where a label applies.

Known differences, kept as they are for now (the pages and their tests read them): a null model
or product of an Enterprise organization's cost is NON_TOKEN / CONSOLE_PRODUCT on the Spend and
Usage pages but NO_MODEL / NO_PRODUCT on the Enterprise page, and product ids are shown raw on
Spend and Usage but through PRODUCT_LABELS on the Enterprise page.
"""

from __future__ import annotations

from app.models import Provider

# --- Organizations: the connection types, wherever an organization is named ------------------

PROVIDER_LABELS: dict[str, str] = {
    Provider.CONSOLE: "Anthropic",
    Provider.ENTERPRISE: "Anthropic (Analytics API)",
}


def provider_label(provider: str) -> str:
    """What people see of a stored provider value (an unknown one as it is)."""
    return PROVIDER_LABELS.get(provider, provider)


# --- Spend, Usage and Overview (cost_line, usage_bucket, their rollups; the CSV export) ------

# An API key of null: usage from the Console's Workbench, not from a key.
CONSOLE_KEY = "Console / Workbench"
# A workspace of null: the organization's default workspace (Console organizations).
DEFAULT_WORKSPACE = "Default workspace"
# A null value of any other group (cost type, description) on Spend and Usage.
NONE_LABEL = "(none)"
# One series over every group (usage by token type; web search requests of every group).
ALL = "All"
# Web search and code execution costs have no model, token type or tier: say so.
NON_TOKEN = "Web search & code execution"
# Console organizations report no product: their spend is the Claude API itself.
CONSOLE_PRODUCT = "Claude API (Console)"
# Spend and Usage: the label of null for each group that has one of its own.
NONE_LABELS = {
    "model": NON_TOKEN,
    "token_type": NON_TOKEN,
    "service_tier": NON_TOKEN,
    "product": CONSOLE_PRODUCT,
}
# A workspace of null of a Claude Enterprise organization (it has no workspaces); by the
# labeler also its null API key on Usage by API key.
NO_WORKSPACES = "Claude Enterprise (no workspaces)"
# The Spend page's "Group by" choices, the group column of its tables and CSVs, and the noun of
# "Other (N …)".
SPEND_GROUPS = {
    "model": "Model",
    "workspace": "Workspace",
    "service_tier": "Service tier",
    "token_type": "Token type",
    "cost_type": "Cost type",
    "organization": "Organization",
    "provider": "Provider",
    "product": "Product",
    "description": "Description",
}
# The Usage page's "Group by" choices, as SPEND_GROUPS.
USAGE_GROUPS = {
    "model": "Model",
    "workspace": "Workspace",
    "api_key": "API key",
    "service_tier": "Service tier",
    "organization": "Organization",
    "provider": "Provider",
    "product": "Product",
}
# Only when a group shown by name is itself called like the "Other (N …)" group of the smaller
# ones (a workspace named "Other (3 workspaces)"): the folded group's label gets this suffix, so
# the two stay two groups.
OTHER_SUFFIX = " (added up)"
# The token columns of usage (Usage charts, tables and the Enterprise token table).
TOKEN_TYPES = {
    "uncached_input_tokens": "Uncached input",
    "cache_creation_5m_input_tokens": "Cache write (5m)",
    "cache_creation_1h_input_tokens": "Cache write (1h)",
    "cache_read_input_tokens": "Cache read",
    "output_tokens": "Output",
}

# --- Claude Code (table claude_code_day, Console organizations) ---------------------------------

# Anthropic's own estimate at list prices: shown wherever a Claude Code cost appears, so it is
# never read as billed spend.
ESTIMATE_LABEL = "Estimated cost (not billed)"
ESTIMATE_CAPTION = (
    "Estimated cost (not billed) is Anthropic's own estimate of what these Claude Code sessions "
    "would cost at list prices, from their token counts. It is not an invoice amount and is never "
    "added to billed spend: the Spend and Overview pages show only Anthropic's cost report."
)
# A Claude Code record of null actor (neither a person nor an API key was reported).
NO_ACTOR = "(unknown actor)"
# The part of a Claude Code record's estimate no model was reported for.
NO_CODE_MODEL = "(model not reported)"
# The line over every tool in the tool acceptance chart.
ALL_TOOLS = "All tools"
ACTOR_TYPES = {"user_actor": "User", "api_actor": "API key"}
# Claude Code's own names for its tools; tools it adds later show under their API key.
TOOL_LABELS = {
    "edit_tool": "Edit",
    "multi_edit_tool": "MultiEdit",
    "write_tool": "Write",
    "notebook_edit_tool": "NotebookEdit",
}
# The activity measures: the Claude Code page's headline numbers and its actors table's headers.
ACTIVITY_LABELS = {
    "sessions": "Sessions",
    "lines_added": "Lines added",
    "lines_removed": "Lines removed",
    "commits": "Commits",
    "pull_requests": "Pull requests",
}
# The headers of the Claude Code page's tables (accepted and rejected counts are in the CSV).
ACTOR_HEADERS = {
    "actor": "Actor",
    "actor_type": "Type",
    **ACTIVITY_LABELS,
    "acceptance_rate": "Acceptance",
    "estimated_cost_usd": ESTIMATE_LABEL,
}
CODE_MODEL_HEADERS = {
    "Model": "Model",
    "input_tokens": "Input tokens",
    "output_tokens": "Output tokens",
    "cache_read_tokens": "Cache read",
    "cache_creation_tokens": "Cache write",
    "estimated_cost_usd": ESTIMATE_LABEL,
}
# The measures charted side by side on the Claude Code page.
SESSIONS = {"sessions": ACTIVITY_LABELS["sessions"]}
LINE_CHANGES = {"lines_added": "Added", "lines_removed": "Removed"}
SHIPPED = {"commits": "Commits", "pull_requests": "Pull requests"}


def actor_label(actor: str | None) -> str:
    return NO_ACTOR if actor is None else actor


def tool_label(tool: str) -> str:
    return TOOL_LABELS.get(tool, tool)


# --- Claude Enterprise (the Enterprise page) ----------------------------------------------------

PRODUCT_LABELS = {
    "chat": "Chat",
    "claude_code": "Claude Code",
    "cowork": "Cowork",
    "office_agent": "Office agent",
    "claude_in_chrome": "Claude in Chrome",
    "claude_design": "Claude Design",
    "claude-in-slack": "Claude in Slack",
}
# The Analytics API reports each day's top 100 groups; the rest of the day has no product/model.
# On the Enterprise page; the Spend and Usage pages label null with NONE_LABELS above.
NO_PRODUCT = "(no product reported)"
NO_MODEL = "No model (web search and other)"
ENTERPRISE_GROUPS = {"product": "Product", "model": "Model"}
ENGAGEMENT_COUNTS = {
    "daily_active_users": "Daily active users",
    "weekly_active_users": "Weekly active users",
    "monthly_active_users": "Monthly active users",
    "assigned_seats": "Assigned seats",
}
ADOPTION_RATES = {
    "daily_adoption_rate": "Daily adoption",
    "weekly_adoption_rate": "Weekly adoption",
    "monthly_adoption_rate": "Monthly adoption",
}
# Billed spend in USD (the Spend and Enterprise tables), and the same at list price (Enterprise).
SPEND_USD = "Spend (USD)"
AT_LIST_PRICE = "At list price"
# The headers of the Enterprise page's per-user table.
USER_HEADERS = {
    "user": "User",
    "email": "E-mail",
    "deleted": "Deleted",
    "amount_usd": SPEND_USD,
    "list_amount_usd": AT_LIST_PRICE,
}
# After the name of a seat user Anthropic reports as deleted.
DELETED_MARK = " (deleted user)"
UNKNOWN_USER = "(unknown user)"


def product_label(product: str | None) -> str:
    """A product as the Enterprise page shows it."""
    return NO_PRODUCT if product is None else PRODUCT_LABELS.get(product, product)


def model_label(model: str | None) -> str:
    """A model as the Enterprise page shows it."""
    return NO_MODEL if model is None else model


# --- Table headers of token counts (Usage and Enterprise tables) --------------------------------

USAGE_COLUMNS = {**TOKEN_TYPES, "web_search_requests": "Web searches", "tokens": "All tokens"}
