"""Every label people see for a stored value, in one place: the same value gets the same label
on every page, chart and CSV."""

from __future__ import annotations

# An API key of null: usage from the Console's Workbench, not from a key.
CONSOLE_KEY = "Console / Workbench"
# A workspace of null: the organization's default workspace (Console organizations).
DEFAULT_WORKSPACE = "Default workspace"
NONE_LABEL = "(none)"
# Web search and code execution costs have no model, token type or tier: say so.
NON_TOKEN = "Web search & code execution"
# Console organizations report no product: their spend is the Claude API itself.
CONSOLE_PRODUCT = "Claude API (Console)"
NONE_LABELS = {
    "model": NON_TOKEN,
    "token_type": NON_TOKEN,
    "service_tier": NON_TOKEN,
    "product": CONSOLE_PRODUCT,
}
NO_WORKSPACES = "Claude Enterprise (no workspaces)"
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
USAGE_GROUPS = {
    "model": "Model",
    "workspace": "Workspace",
    "api_key": "API key",
    "service_tier": "Service tier",
    "organization": "Organization",
    "provider": "Provider",
    "product": "Product",
}
TOKEN_TYPES = {
    "uncached_input_tokens": "Uncached input",
    "cache_creation_5m_input_tokens": "Cache write (5m)",
    "cache_creation_1h_input_tokens": "Cache write (1h)",
    "cache_read_input_tokens": "Cache read",
    "output_tokens": "Output",
}
