"""Kedro-style pipelines without Kedro: nodes are pure functions, pipelines only wire them."""
