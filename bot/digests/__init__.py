"""Scheduled digests: a daily one for each team and a weekly one for managers.

``model`` is the pure ``Digest`` data; ``build`` reads the metrics, catalog, incident store
and findings into one; ``capacity`` reads the saturation forecasts; ``schedule`` says when
one is due; ``service`` posts the due ones exactly once. ``bot.render.digest`` renders.
"""
