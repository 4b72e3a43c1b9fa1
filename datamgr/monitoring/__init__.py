"""Watching the model run: evaluation of stored predictions, feed health (status), and the HTML report."""
