"""The read side: what the dashboards, charts and exports show, summed in the database.

``labels`` names every value the same way on every page.
"""
