"""Shopify: webhooks and a poll of orders in, inventory levels, fulfillments and cancellations out (Admin REST API).
Declared as the connector kind `shopify` in connector.py; README.md has the mapping table."""
