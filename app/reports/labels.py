"""Every label people see for a stored value, in one place: the same value gets the same label
on every page (Spend, Usage, Overview, Claude Code, Enterprise), chart, filter option and chart
CSV. ``finops export`` keeps the stored values (its columns are a contract). Each comment says
where a label applies.

An empty value is labelled by why it is empty: a Claude Enterprise organization does not report
the dimension ("Claude Enterprise (not by token type)"), a Console cost that is not a token cost
has no model, token type or tier (it reads as its cost type, "Web search"), the Console's null
workspace is its default workspace and its null API key the Workbench.
"""

from __future__ import annotations

from app.models import Provider
from app.reports.model_names import model_name

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
# One series over every group (usage by token type; web search requests of every group).
ALL = "All"
# Console organizations report no product: their spend is the Claude API itself.
CONSOLE_PRODUCT = "Claude API (Console)"
# Between a workspace's (or API key's) name and its organization's, where more than one
# organization is in view: "Production · Acme Corp".
ORG_SEPARATOR = " · "
# Where the directory knows two workspaces (keys) of one name in one organization: the end of
# each one's id tells them apart, "prod-backend (…hiGd)".
ID_TAIL = 4

# The stored token types of cost rows (cost_line.token_type) and the token columns of usage
# rows: the same five kinds, one label each.
TOKEN_TYPES = {
    "uncached_input_tokens": "Uncached input",
    "cache_creation_5m_input_tokens": "Cache write (5m)",
    "cache_creation_1h_input_tokens": "Cache write (1h)",
    "cache_read_input_tokens": "Cache read",
    "output_tokens": "Output",
}
COST_TOKEN_TYPES = {
    "uncached_input_tokens": TOKEN_TYPES["uncached_input_tokens"],
    "cache_creation.ephemeral_5m_input_tokens": TOKEN_TYPES["cache_creation_5m_input_tokens"],
    "cache_creation.ephemeral_1h_input_tokens": TOKEN_TYPES["cache_creation_1h_input_tokens"],
    "cache_read_input_tokens": TOKEN_TYPES["cache_read_input_tokens"],
    "output_tokens": TOKEN_TYPES["output_tokens"],
}
# Service tiers as Anthropic's pages name them; the API adds tiers, which show as they are.
SERVICE_TIERS = {
    "standard": "Standard",
    "batch": "Batch",
    "priority": "Priority",
    "priority_on_demand": "Priority (on demand)",
    "flex": "Flex",
    "flex_discount": "Flex (discount)",
}
# Cost types of the cost report (open: new ones show as they are).
COST_TYPES = {
    "tokens": "Tokens",
    "web_search": "Web search",
    "code_execution": "Code execution",
    "session_usage": "Session usage",
}
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
# The Spend groups of per-key billed cost (the Usage and Cost Analytics API), offered where an
# organization has it: by API key, and by actor (the user, service account or key behind it).
KEY_COST_GROUPS = {"api_key": "API key", "actor": "Actor"}
# Where a Console organization's key may not read per-key cost, Spend by key shows an estimate
# (``app.store.key_estimate``): each of its keys' and actors' labels says so.
ESTIMATE_SUFFIX = " (estimate)"
# Spend by token type of an estimated key: the estimate divides cost rows, which have no type.
ESTIMATED_TOKEN_TYPES = "All token types"
# Said under an organization whose key may not read per-key cost.
KEY_ESTIMATE_NOTE = (
    "Until it can, Spend and Usage show its per-key cost estimated from each key's tokens at "
    "list price, labelled as an estimate."
)
KEY_ESTIMATE_CAPTION = (
    "“(estimate)”: the organization's key may not read per-key billed cost (Anthropic's Usage "
    "and Cost Analytics API; see Organizations), so each workspace's billed cost of a day, "
    "model and tier is divided among its API keys by their tokens at list price. The parts add "
    "up to the bill; a key's own discounts or contract prices are not known to it."
)
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
    "claude-tag": "Claude in Slack",  # the product's current value (reference §14)
}
# The Analytics API reports each day's top 100 groups; the rest of the day has no product/model.
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


def product_label(product: str | None, *, enterprise: bool = True) -> str:
    """A product as every page shows it; null is the Claude API for a Console organization."""
    if product is None:
        return NO_PRODUCT if enterprise else CONSOLE_PRODUCT
    return PRODUCT_LABELS.get(product, product)


def model_label(model: str | None, *, show_ids: bool = False) -> str:
    """A model of a Claude Enterprise organization (null: no model reported)."""
    if model is None:
        return NO_MODEL
    return model if show_ids else model_name(model)


# --- Empty values, by why they are empty (Spend, Usage, Overview, filters) ---------------------

# A Claude Enterprise organization's null: the Analytics API does not report that dimension.
ENTERPRISE_NULLS = {
    "workspace": "Claude Enterprise (no workspaces)",
    "api_key": "Claude Enterprise (not by API key)",
    "model": NO_MODEL,
    "token_type": "Claude Enterprise (not by token type)",
    "service_tier": "Claude Enterprise (not by service tier)",
    "cost_type": "Claude Enterprise (not by cost type)",
    "description": "Claude Enterprise (no descriptions)",
    "product": NO_PRODUCT,
}
# A Console organization's null. Its costs that are not tokens (web search, code execution)
# have no model, token type or tier: those read as their cost type instead (``null_label``).
CONSOLE_NULLS = {
    "workspace": DEFAULT_WORKSPACE,
    "api_key": CONSOLE_KEY,
    "actor": f"No actor ({CONSOLE_KEY}, code execution)",
    "model": "(no model reported)",
    "token_type": "(no token type reported)",
    "service_tier": "(no service tier reported)",
    "cost_type": "(no cost type reported)",
    "description": "(no description reported)",
    "product": CONSOLE_PRODUCT,
}
# The groups whose null, in a Console organization's cost, is a cost without tokens.
BY_COST_TYPE = frozenset({"model", "token_type", "service_tier"})
# The Spend and Usage groups "models by id" (the "Show model ids" choice) stands for.
MODEL_IDS = "model_id"


def null_label(group: str, *, enterprise: bool, cost_type: str | None = None) -> str:
    """The label of a null ``group`` value: why it is empty. ``cost_type``: the cost type of
    a Console cost row (its web search has no token type: "Web search")."""
    group = "model" if group == MODEL_IDS else group
    if enterprise:
        return ENTERPRISE_NULLS.get(group, f"Claude Enterprise (not by {group})")
    if group in BY_COST_TYPE and cost_type is not None and cost_type != "tokens":
        return cost_type_label(cost_type)
    return CONSOLE_NULLS.get(group, f"(no {group} reported)")


def token_type_label(token_type: str) -> str:
    """A token type, as a cost row (``cache_creation.ephemeral_1h_input_tokens``) or a usage
    column (``cache_creation_1h_input_tokens``) names it; an unknown one as it is."""
    return COST_TOKEN_TYPES.get(token_type) or TOKEN_TYPES.get(token_type, token_type)


def service_tier_label(tier: str) -> str:
    return SERVICE_TIERS.get(tier, tier)


def cost_type_label(cost_type: str) -> str:
    return COST_TYPES.get(cost_type, cost_type)


def value_label(
    group: str,
    value: str | None,
    *,
    enterprise: bool = False,
    cost_type: str | None = None,
) -> str:
    """What a person reads for a stored value of a Spend or Usage group (workspaces and API
    keys are named by the directory: ``app.reports.names``). ``enterprise``: the row is a
    Claude Enterprise organization's; ``cost_type``: that of a null's cost row."""
    if value is None:
        return null_label(group, enterprise=enterprise, cost_type=cost_type)
    if group == "model":
        return model_name(value)
    if group == "token_type":
        return token_type_label(value)
    if group == "service_tier":
        return service_tier_label(value)
    if group == "cost_type":
        return cost_type_label(value)
    if group == "product":
        return product_label(value)
    if group == "provider":
        return provider_label(value)
    return value


def group_noun(group: str) -> str:
    """The name of a Spend or Usage group ("Model" for models by id too; an allocation's own
    name, "Team", for spend by it)."""
    allocation = allocation_of(group)
    if allocation is not None:
        return allocation
    group = "model" if group == MODEL_IDS else group
    return (SPEND_GROUPS | USAGE_GROUPS | KEY_COST_GROUPS)[group]


# Spend grouped by an allocation's values (app/finops/allocation): the group "allocation:Team".
ALLOCATION_GROUP = "allocation:"


def allocation_group(name: str) -> str:
    """The Spend group of an allocation's values."""
    return ALLOCATION_GROUP + name


def allocation_of(group: str) -> str | None:
    """The allocation a Spend group is by (None: an ordinary group)."""
    return group.removeprefix(ALLOCATION_GROUP) if group.startswith(ALLOCATION_GROUP) else None


# --- Unit economics (the Spend page's by model, the Enterprise page's per active user) ---------

# The columns of the unit economics table by model (its CSV's names) and its headers.
ECONOMICS_HEADERS = {
    "Model": "Model",
    "token_spend_usd": "Token spend (USD)",
    "tokens": "Tokens",
    "usd_per_million_tokens": "USD per million tokens",
    "cache_read_tokens": "Cache reads",
    "cache_savings_usd": "Cache savings (USD, list price)",
    "batch_savings_usd": "Batch savings (USD)",
}
# The Enterprise page's table by month: spend per monthly active user and idle seats.
SEAT_HEADERS = {
    "month": "Month",
    "days": "Days in range",
    "amount_usd": SPEND_USD,
    "monthly_active_users": ENGAGEMENT_COUNTS["monthly_active_users"],
    "assigned_seats": ENGAGEMENT_COUNTS["assigned_seats"],
    "idle_seats": "Idle seats",
    "usd_per_active_user": "Spend per active user (USD)",
    "snapshot": "Users as of",
}

# --- Table headers of token counts (Usage and Enterprise tables) --------------------------------

USAGE_COLUMNS = {**TOKEN_TYPES, "web_search_requests": "Web searches", "tokens": "All tokens"}
