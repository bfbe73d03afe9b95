"""Alerts, whatever raised them: the neutral ``Alert`` with its stable fingerprint, what a
detection finding becomes on its way to one (``Explained``), and the acts people take on
them with what each allows."""
