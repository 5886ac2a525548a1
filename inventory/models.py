"""Inventory sources, products and stock levels arrive with the inventory-sources issue."""
