"""Where each provider's rows come from: the Console's Admin API, Claude Enterprise's Analytics
API. Each source turns a dataset's window into chunks, fetched lazily one after another."""
